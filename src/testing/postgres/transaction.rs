//! PostgreSQL transactional tests: one shared database per fingerprint, copied from the template
//! once, and a per-process pool of connections to it; each handle is a transaction rolled back
//! when it drops.
//!
//! A test that commits (or ends the transaction some other way) is caught at drop: the shared
//! database is marked dirty with a comment (`COMMENT ON DATABASE`, visible to every process),
//! and the next handle, of any process, rebuilds it from the template first.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, SimpleQueryMessage};

use super::{BACKEND, admin_name, connect, copy_template, drop_database, locked};
use crate::error::BoxError;
use crate::testing::{failed, short_fingerprint};
use crate::{Migrations, Result};

const SHARED: &str = "strata_shared_";
/// The comment that marks a shared database as changed by a test that committed.
const DIRTY: &str = "strata: dirty";
/// How long a rebuild waits for this process's other handles on the dirty database to drop.
const DRAIN: Duration = Duration::from_secs(10);
/// How many times [`Pool::checkout`] starts over (a stale pooled connection, a rebuild).
const ATTEMPTS: u32 = 5;

/// The pools of this process, by URL and fingerprint.
static POOLS: Mutex<BTreeMap<(String, String), Arc<Pool>>> = Mutex::new(BTreeMap::new());

/// A transaction in a migrated PostgreSQL database shared by the tests of one set of
/// migrations, for one test: derefs to a `postgres::Client` inside an open transaction
/// (`BEGIN` already sent), and rolls it back when it drops. Made by [`postgres_transaction`].
///
/// On drop the connection goes back to a pool of this process for the next test. If the test
/// ended the transaction itself (a `COMMIT` or `ROLLBACK` in its SQL, or a
/// [`Client::transaction`], which sends `START TRANSACTION` inside the open one, where
/// PostgreSQL ignores it with a warning, then `COMMIT` or `ROLLBACK` for the whole transaction),
/// the drop logs a warning (`log::warn!`), closes the connection and marks the shared database
/// dirty: the next handle, in any process, rebuilds it from the template first. Its `Debug`
/// shows the database name, never the URL.
pub struct TestTransaction {
    client: Option<Client>,
    /// The id of the transaction, assigned at `BEGIN`.
    xid: i64,
    pool: Arc<Pool>,
}

/// A new transaction in the shared database of `migrations`, a copy of the template
/// [`postgres()`](super::postgres) uses, for a test that needs a migrated schema and commits
/// nothing; rolled back when the returned value drops. Much faster than
/// [`postgres()`](super::postgres): no `CREATE DATABASE` per test, and the connection comes
/// from a pool of this process.
///
/// The shared database, `strata_shared_<16 hex digits of the fingerprint>`, is copied from the
/// template by the first call that does not find it, under the template's advisory lock, and
/// reused by later calls, processes and runs: nobody commits into it.
/// [`drop_postgres_templates`](super::drop_postgres_templates) drops it with the templates.
///
/// The tests of one migration set share that database: a row or DDL lock another test holds
/// until its rollback can make a statement wait (it never sees the other test's data),
/// sequences advance, and other connections do not see the test's data. Code that commits or
/// opens its own transaction with [`Client::transaction`] needs [`postgres()`](super::postgres);
/// a [`TestTransaction`] catches it and rebuilds the database (see there).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let migrations = strata::Migrations::new([])?;
/// let url = "postgres://postgres@127.0.0.1/test";
/// let mut tx = strata::testing::postgres_transaction(url, &migrations)?;
/// tx.execute("CREATE TABLE scratch (id INTEGER)", &[])?; // `tx` derefs to `postgres::Client`
/// drop(tx); // `ROLLBACK`: the table is gone, the connection goes back to the pool
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A URL that does not parse, a server that cannot be reached or refuses to create a database,
/// the migration error of the template's build, or a failed `BEGIN`.
pub fn postgres_transaction(url: &str, migrations: &Migrations) -> Result<TestTransaction> {
    let pool = Pool::of(url, migrations)?;
    let (client, xid) = pool.checkout(migrations)?;
    Ok(TestTransaction {
        client: Some(client),
        xid,
        pool,
    })
}

impl TestTransaction {
    /// The shared database's name, such as `strata_shared_0123456789abcdef`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.pool.name
    }

    /// The template database the shared database was copied from, such as
    /// `strata_tpl_0123456789abcdef`.
    #[must_use]
    pub fn template(&self) -> &str {
        &self.pool.template
    }

    fn client(&self) -> &Client {
        // Taken only by `Drop`.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Deref for TestTransaction {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client()
    }
}

impl DerefMut for TestTransaction {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl fmt::Debug for TestTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestTransaction")
            .field("name", &self.pool.name)
            .field("template", &self.pool.template)
            .finish_non_exhaustive()
    }
}

impl Drop for TestTransaction {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let name = &self.pool.name;
        let kept = match finish(&mut client, self.xid) {
            // After its `ROLLBACK` the connection is outside any transaction block: idle.
            Ok(Outcome::RolledBack) => Some(client).filter(|client| !client.is_closed()),
            Ok(Outcome::Ended { committed }) => {
                let what = if committed {
                    "committed its transaction"
                } else {
                    "ended its transaction before the end of the test"
                };
                log::warn!(
                    "a test {what} in shared database `{name}`: rebuilding it before the next \
                     test; use `strata::testing::postgres` for tests that commit"
                );
                self.pool.mark_dirty(&mut client);
                None
            }
            Err(e) => {
                // The server rolls back what a lost connection left open.
                log::warn!("failed to roll back a test transaction in `{name}`: {e}");
                None
            }
        };
        self.pool.release(kept);
    }
}

/// How a test left its transaction.
enum Outcome {
    /// Open until the drop rolled it back.
    RolledBack,
    /// Ended by the test: `committed` if it committed the transaction `BEGIN` opened. After a
    /// `ROLLBACK`, statements ran outside any transaction and may have committed.
    Ended { committed: bool },
}

/// Rolls back the transaction `xid` of `client`, and tells whether the test had ended it.
fn finish(client: &mut Client, xid: i64) -> std::result::Result<Outcome, BoxError> {
    let status = format!("SELECT txid_status({xid})");
    let (open, status) = match client.simple_query(&format!(
        "SELECT txid_current_if_assigned() = {xid}; ROLLBACK; {status}"
    )) {
        Ok(messages) => {
            let values = values(&messages);
            let open = values.first().copied().flatten() == Some("t");
            (
                Some(open),
                values.get(1).copied().flatten().map(str::to_owned),
            )
        }
        // A failed statement left a transaction aborted; which one, only `txid_status` tells.
        Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
            let messages = client.simple_query(&format!("ROLLBACK; {status}"))?;
            let values = values(&messages);
            (None, values.first().copied().flatten().map(str::to_owned))
        }
        Err(e) => return Err(e.into()),
    };
    let committed = status.as_deref() == Some("committed");
    if committed || open == Some(false) {
        Ok(Outcome::Ended { committed })
    } else {
        Ok(Outcome::RolledBack)
    }
}

/// The first column of each row of a simple query's results.
fn values(messages: &[SimpleQueryMessage]) -> Vec<Option<&str>> {
    messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0)),
            _ => None,
        })
        .collect()
}

/// `BEGIN`, with a transaction id assigned now (so that the drop can ask whether it committed):
/// the id, or `None` when the database is marked dirty.
fn begin(client: &mut Client) -> std::result::Result<Option<i64>, BoxError> {
    let messages = client.simple_query(&format!(
        "BEGIN; SELECT txid_current(), shobj_description(oid, 'pg_database') IS NOT DISTINCT \
         FROM '{DIRTY}' FROM pg_database WHERE datname = current_database()"
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
    Ok(Some(i64::from_str(xid)?))
}

/// The connections of this process to one shared database.
struct Pool {
    config: Config,
    hex: String,
    name: String,
    template: String,
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
    /// Whether a thread is making or rebuilding it.
    preparing: bool,
}

impl Pool {
    /// The pool of `migrations` at `url`, made on first use.
    fn of(url: &str, migrations: &Migrations) -> Result<Arc<Pool>> {
        let hex = short_fingerprint(migrations);
        let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&(url.to_owned(), hex.clone())) {
            return Ok(Arc::clone(pool));
        }
        let config = Config::from_str(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
        let pool = Arc::new(Pool {
            config,
            name: format!("{SHARED}{hex}"),
            template: format!("{}{hex}", super::TEMPLATE),
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

    /// A connection inside a new transaction, and the transaction's id.
    fn checkout(&self, migrations: &Migrations) -> Result<(Client, i64)> {
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
                Ok(Some(xid)) => return Ok((client, xid)),
                Ok(None) => {
                    drop(client);
                    self.release_without(|state| state.dirty = true);
                    last = Some("the shared database was marked dirty again".into());
                }
                // A pooled connection a rebuild or the server closed, likely with the others.
                Err(e) if !fresh => {
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
            let idle = std::mem::take(&mut state.idle);
            drop(state);
            drop(idle);
            let prepared = self.prepare(migrations);
            state = self.lock();
            state.preparing = false;
            if prepared.is_ok() {
                state.ready = true;
                state.dirty = false;
            }
            self.changed.notify_all();
            prepared?;
        }
    }

    /// Makes the shared database from the template unless it exists and is clean, under the
    /// template's advisory lock.
    fn prepare(&self, migrations: &Migrations) -> Result<()> {
        let mut admin = connect(&self.config, admin_name(&self.config))?;
        locked(&mut admin, &self.hex, |admin| {
            let found = admin
                .query_opt(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database \
                     WHERE datname = $1",
                    &[&self.name],
                )
                .and_then(|row| {
                    row.map(|row| row.try_get::<_, Option<String>>(0))
                        .transpose()
                })
                .map_err(|e| failed("look for the shared database", BACKEND, &self.name, e))?;
            match found {
                Some(comment) if comment.as_deref() != Some(DIRTY) => return Ok(()),
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
            copy_template(admin, &self.config, &self.hex, migrations, &self.name)?;
            log::info!("made shared database `{}`", self.name);
            Ok(())
        })
    }

    /// Marks the database dirty, on the server (for every process) and here.
    fn mark_dirty(&self, client: &mut Client) {
        let comment = format!("COMMENT ON DATABASE \"{}\" IS '{DIRTY}'", self.name);
        let marked = client.batch_execute(&comment).or_else(|_| {
            connect(&self.config, admin_name(&self.config))
                .map_err(BoxError::from)
                .and_then(|mut admin| Ok(admin.batch_execute(&comment)?))
        });
        if let Err(e) = marked {
            log::warn!("failed to mark shared database `{}` dirty: {e}", self.name);
        }
        self.lock().dirty = true;
    }

    /// Counts a handle back in, with its connection if it can serve another test.
    fn release(&self, client: Option<Client>) {
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
