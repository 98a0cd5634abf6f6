//! PostgreSQL transactional tests: each handle is a transaction, from [`Pool`], rolled back when
//! it drops. A test that commits (or ends the transaction some other way) is caught at drop,
//! and the pool's shared database marked dirty.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use postgres::error::SqlState;
use postgres::{Client, SimpleQueryMessage};

use super::pool::{Begun, Pool};
use crate::error::BoxError;
use crate::{Migrations, Result};

/// A transaction in a migrated PostgreSQL database shared by the tests of one set of
/// migrations, for one test: derefs to a `postgres::Client` inside an open transaction
/// (`BEGIN` already sent), and rolls it back when it drops. Made by [`postgres_transaction`].
///
/// On drop the connection goes back to a pool of this process for the next test. If the test
/// ended the transaction itself (a `COMMIT` or `ROLLBACK` in its SQL, or a
/// [`Client::transaction`], which sends `START TRANSACTION` inside the open one, where
/// PostgreSQL ignores it with a warning, then `COMMIT` or `ROLLBACK` for the whole transaction),
/// the drop logs a warning (`log::warn!`), closes the connection and marks the shared database
/// dirty: the next handle, in any process, rebuilds it from the template first. A test process
/// killed between a commit and the drop leaves the committed rows in the shared database for
/// later runs; [`drop_postgres_template`](super::drop_postgres_template) drops it, and the next
/// handle copies the template again. Its `Debug` shows the database name, never the URL.
pub struct TestTransaction {
    client: Option<Client>,
    /// The transaction `BEGIN` opened.
    begun: Begun,
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
/// [`drop_postgres_template`](super::drop_postgres_template) drops it with its template.
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
///
/// # Panics
///
/// When a Rust-function migration panics while the call builds the template: the next call
/// builds it again.
pub fn postgres_transaction(url: &str, migrations: &Migrations) -> Result<TestTransaction> {
    let pool = Pool::of(url, migrations)?;
    let (client, begun) = pool.checkout(migrations)?;
    Ok(TestTransaction {
        client: Some(client),
        begun,
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
        let kept = match finish(&mut client, self.begun.xid) {
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
                self.pool.mark_dirty(&mut client, self.begun.oid);
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
#[derive(Debug, PartialEq)]
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
    Ok(Outcome::of(open, status.as_deref()))
}

impl Outcome {
    /// From whether the transaction was still open at the drop (`None`: an aborted transaction
    /// hid which one was open) and its `txid_status` after the `ROLLBACK`.
    fn of(open: Option<bool>, status: Option<&str>) -> Outcome {
        let committed = status == Some("committed");
        if committed || open == Some(false) {
            Outcome::Ended { committed }
        } else {
            Outcome::RolledBack
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_or_committed_transaction_is_caught() {
        for (open, status, expected) in [
            (Some(true), Some("aborted"), Outcome::RolledBack),
            // A failed statement aborted the transaction `BEGIN` opened.
            (None, Some("aborted"), Outcome::RolledBack),
            (None, Some("committed"), Outcome::Ended { committed: true }),
            (
                Some(false),
                Some("committed"),
                Outcome::Ended { committed: true },
            ),
            // A `ROLLBACK` by the test: what ran after it autocommitted.
            (
                Some(false),
                Some("aborted"),
                Outcome::Ended { committed: false },
            ),
            (Some(false), None, Outcome::Ended { committed: false }),
        ] {
            assert_eq!(Outcome::of(open, status), expected, "{open:?} {status:?}");
        }
    }
}
