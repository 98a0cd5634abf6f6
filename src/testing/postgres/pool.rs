//! The shared database of a fingerprint, copied from the template once, and a per-process pool
//! of connections to it, for [`postgres_transaction`](super::postgres_transaction).
//!
//! A shared database a test committed into is marked dirty with a comment (`COMMENT ON
//! DATABASE`, visible to every process); the next checkout, of any process, sees the mark at
//! `BEGIN` and rebuilds the database from the template first. The process that saw the commit
//! also remembers the database (by oid), and rebuilds it even if the mark could not be written.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, SimpleQueryMessage};

use super::{BACKEND, Locks, SHARED, TEMPLATE, admin_name, connect, copy_template, drop_database};
use crate::error::BoxError;
use crate::testing::{failed, short_fingerprint};
use crate::{Migrations, Result};

/// The comment that marks a shared database as changed by a test that committed.
const DIRTY: &str = "strata: dirty";
/// How long a rebuild waits for this process's other handles on the dirty database to drop.
const DRAIN: Duration = Duration::from_secs(10);
/// How many times [`Pool::checkout`] starts over (a stale pooled connection, a rebuild).
const ATTEMPTS: u32 = 5;

/// The pools of this process, by URL and fingerprint.
static POOLS: Mutex<BTreeMap<(String, String), Arc<Pool>>> = Mutex::new(BTreeMap::new());

/// A transaction `BEGIN` opened.
pub(super) struct Begun {
    /// Its id, assigned at `BEGIN` (so that the drop can ask whether it committed).
    pub(super) xid: i64,
    /// The oid of the shared database it runs in.
    pub(super) oid: u32,
}

/// `BEGIN`, with a transaction id assigned now: the transaction, or `None` when the database
/// is marked dirty.
fn begin(client: &mut Client) -> std::result::Result<Option<Begun>, BoxError> {
    let messages = client.simple_query(&format!(
        "BEGIN; SELECT txid_current(), shobj_description(oid, 'pg_database') IS NOT DISTINCT \
         FROM '{DIRTY}', oid FROM pg_database WHERE datname = current_database()"
    ))?;
    let row = messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .ok_or("`BEGIN` returned no transaction id")?;
    if row.get(1) == Some("t") {
        client.batch_execute("ROLLBACK")?;
        return Ok(None);
    }
    let xid = row.get(0).ok_or("`txid_current()` returned null")?;
    let oid = row.get(2).ok_or("the shared database has no oid")?;
    Ok(Some(Begun {
        xid: i64::from_str(xid)?,
        oid: u32::from_str(oid)?,
    }))
}

/// Whether `e` is a connection the server closed or terminated (`DROP DATABASE ... WITH
/// (FORCE)` of a rebuild).
fn is_lost(e: &BoxError) -> bool {
    e.downcast_ref::<postgres::Error>()
        .is_some_and(|e| e.is_closed() || e.code() == Some(&SqlState::ADMIN_SHUTDOWN))
}

/// The connections of this process to one shared database.
pub(super) struct Pool {
    config: Config,
    hex: String,
    pub(super) name: String,
    pub(super) template: String,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Client>,
    /// Handles out.
    in_use: usize,
    /// Whether this process made sure the database exists, clean.
    ready: bool,
    /// Whether a handle found it dirty: wait for the other handles, then rebuild.
    dirty: bool,
    /// The oid of the database a test of this process committed into: rebuilt even when the
    /// server's dirty mark is missing (its `COMMENT` failed), unless it was rebuilt since.
    committed: Option<u32>,
    /// Whether a thread is making or rebuilding it.
    preparing: bool,
}

/// A thread's preparation of the database: when it drops, a panic of a migration included,
/// `preparing` is cleared (the state made ready if it `succeeded`) and the waiters wake.
struct Preparation<'a> {
    pool: &'a Pool,
    succeeded: bool,
}

impl Drop for Preparation<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.preparing = false;
        if self.succeeded {
            state.ready = true;
            state.dirty = false;
            state.committed = None;
        }
        self.pool.changed.notify_all();
    }
}

impl Pool {
    /// The pool of `migrations` at `url`, made on first use.
    pub(super) fn of(url: &str, migrations: &Migrations) -> Result<Arc<Pool>> {
        let hex = short_fingerprint(migrations);
        let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&(url.to_owned(), hex.clone())) {
            return Ok(Arc::clone(pool));
        }
        let config = Config::from_str(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
        let pool = Arc::new(Pool {
            config,
            name: format!("{SHARED}{hex}"),
            template: format!("{TEMPLATE}{hex}"),
            hex: hex.clone(),
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        pools.insert((url.to_owned(), hex), Arc::clone(&pool));
        Ok(pool)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection inside a new transaction, and the transaction.
    pub(super) fn checkout(&self, migrations: &Migrations) -> Result<(Client, Begun)> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let pooled = self.reserve(migrations)?;
            let fresh = pooled.is_none();
            let mut client = match pooled {
                Some(client) => client,
                None => match self.config.clone().dbname(&self.name).connect(NoTls) {
                    Ok(client) => client,
                    Err(e) => {
                        let gone = e.code() == Some(&SqlState::UNDEFINED_DATABASE);
                        self.release_without(|state| state.ready &= !gone);
                        if gone {
                            // Dropped since (a rebuild, `drop_postgres_templates`): make it again.
                            last = Some(BoxError::from(e));
                            continue;
                        }
                        return Err(failed("connect", BACKEND, &self.name, e));
                    }
                },
            };
            match begin(&mut client) {
                Ok(Some(begun)) => return Ok((client, begun)),
                Ok(None) => {
                    drop(client);
                    self.release_without(|state| state.dirty = true);
                    last = Some("the shared database was marked dirty again".into());
                }
                // A pooled connection a rebuild or the server closed, likely with the others,
                // or a new one a rebuild in another process cut off: take another.
                Err(e) if !fresh || is_lost(&e) => {
                    log::debug!("discarding the pooled connections to `{}`: {e}", self.name);
                    self.release_without(|state| state.idle.clear());
                }
                Err(e) => {
                    self.release_without(|_| ());
                    return Err(failed("begin a transaction", BACKEND, &self.name, e));
                }
            }
        }
        let last = last.unwrap_or_else(|| "pooled connections kept failing".into());
        Err(failed("begin a transaction", BACKEND, &self.name, last))
    }

    /// Counts a handle out, after making the database (or rebuilding a dirty one) when needed,
    /// and returns an idle connection if there is one.
    fn reserve(&self, migrations: &Migrations) -> Result<Option<Client>> {
        let deadline = Instant::now() + DRAIN;
        let mut state = self.lock();
        loop {
            if state.preparing {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if state.ready && !state.dirty {
                state.in_use += 1;
                return Ok(state.idle.pop());
            }
            let now = Instant::now();
            if state.dirty && state.in_use > 0 && now < deadline {
                // Let this process's other tests finish before the rebuild cuts them off.
                state = self
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            state.preparing = true;
            let committed = state.committed;
            let idle = std::mem::take(&mut state.idle);
            drop(state);
            drop(idle);
            let mut preparation = Preparation {
                pool: self,
                succeeded: false,
            };
            let prepared = self.prepare(migrations, committed);
            preparation.succeeded = prepared.is_ok();
            drop(preparation);
            prepared?;
            state = self.lock();
        }
    }

    /// Makes the shared database from the template unless it exists and is clean (not marked
    /// dirty, and not the database of oid `committed`), under the template's advisory lock.
    fn prepare(&self, migrations: &Migrations, committed: Option<u32>) -> Result<()> {
        let mut admin = connect(&self.config, admin_name(&self.config))?;
        let mut locks = Locks::connect(&mut admin, &self.config)?;
        locks.hold(&self.hex, || {
            let admin = &mut admin;
            let found = admin
                .query_opt(
                    "SELECT oid, shobj_description(oid, 'pg_database') FROM pg_database \
                     WHERE datname = $1",
                    &[&self.name],
                )
                .and_then(|row| {
                    row.map(|row| {
                        Ok((
                            row.try_get::<_, u32>(0)?,
                            row.try_get::<_, Option<String>>(1)?,
                        ))
                    })
                    .transpose()
                })
                .map_err(|e| failed("look for the shared database", BACKEND, &self.name, e))?;
            match found {
                Some((oid, comment))
                    if comment.as_deref() != Some(DIRTY) && committed != Some(oid) =>
                {
                    return Ok(());
                }
                Some(_) => {
                    log::warn!(
                        "rebuilding shared database `{}`: a test committed",
                        self.name
                    );
                    drop_database(admin, &self.name)
                        .map_err(|e| failed("drop the shared database", BACKEND, &self.name, e))?;
                }
                None => {}
            }
            copy_template(admin, &self.config, &self.hex, migrations, &self.name, true)?;
            log::info!("made shared database `{}`", self.name);
            Ok(())
        })
    }

    /// Marks the database of oid `oid` dirty, on the server (for every process) and here.
    pub(super) fn mark_dirty(&self, client: &mut Client, oid: u32) {
        let comment = format!("COMMENT ON DATABASE \"{}\" IS '{DIRTY}'", self.name);
        let marked = client.batch_execute(&comment).or_else(|_| {
            connect(&self.config, admin_name(&self.config))
                .map_err(BoxError::from)
                .and_then(|mut admin| Ok(admin.batch_execute(&comment)?))
        });
        if let Err(e) = marked {
            log::warn!("failed to mark shared database `{}` dirty: {e}", self.name);
        }
        let mut state = self.lock();
        state.dirty = true;
        state.committed = Some(oid);
    }

    /// Counts a handle back in, with its connection if it can serve another test.
    pub(super) fn release(&self, client: Option<Client>) {
        let mut state = self.lock();
        state.in_use = state.in_use.saturating_sub(1);
        if let Some(client) = client.filter(|_| !state.dirty) {
            state.idle.push(client);
        }
        self.changed.notify_all();
    }

    /// Counts back in a handle that got no connection, after `change` to the state.
    fn release_without(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.release(None);
    }
}
