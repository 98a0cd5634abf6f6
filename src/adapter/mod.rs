//! The adapter trait: the few primitives a database must offer. Everything else (planning,
//! checksums, policy, reports) lives once in the core and comes with [`Migrator`].
//!
//! strata implements [`Adapter`] for the drivers' own connection types, behind a cargo feature
//! named after the driver. A third-party adapter implements it for a newtype around its
//! driver's connection (the orphan rule forbids implementing it on a foreign type directly)
//! and gets the whole [`Migrator`] API.
//!
//! [`Migrator`]: crate::Migrator

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::error::{BoxError, Database, Direction, Error, ErrorKind, InFlight, Result};
use crate::sql::Syntax;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

/// What the core must know about a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The backend's name, shown in errors and logs: `sqlite`, `postgres`, `mysql`.
    pub backend: &'static str,
    /// How to split migration files into statements.
    pub syntax: Syntax,
    /// Whether DDL statements can be rolled back. When they cannot, the core records progress
    /// after every statement so that a half-applied migration is visible as `dirty`.
    pub transactional_ddl: bool,
    /// Whether the history table may be schema-qualified (`schema.table`).
    pub schemas: bool,
}

/// How a granted migration lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// [`Adapter::lock`] began a transaction that holds the lock until it commits or rolls
    /// back (SQLite's `BEGIN IMMEDIATE`). The core re-takes the lock for every transaction of
    /// the run and re-reads the history under it.
    Transaction,
    /// The lock is held by the connection until [`Adapter::unlock`] (or until the connection
    /// closes); transactions are opened with [`Adapter::begin`].
    Session,
    /// The lock is a lease row with an expiry (MariaDB Galera, where `GET_LOCK` is node-local).
    /// Held like [`Lock::Session`]; the core also calls [`Adapter::renew`] before every statement
    /// and history write, which fails once another process has taken over an expired lease.
    Lease,
}

/// One row of the history table, neutral across databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The migration's set.
    pub set: String,
    /// The migration's version.
    pub version: u64,
    /// The migration's name.
    pub name: String,
    /// SHA-256 of the normalised up migration, as 64 hex digits.
    pub checksum: String,
    /// The normalisation the checksum was taken under ([`NORMALIZATION`](crate::NORMALIZATION)).
    pub normalization: u32,
    /// The down SQL at the time it was applied, so that an older binary can revert it.
    pub down_sql: Option<String>,
    /// The version of the set that applied it.
    pub set_version: String,
    /// When it was applied, UTC, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Applied, dirty or partial.
    pub state: RecordState,
    /// For a dirty row: the statement sent after the `completed` ones, which may or may not
    /// have committed (written before it is sent). `None` for other rows, and for a dirty row
    /// whose failing statement is known not to have committed. Stored in the `in_flight`
    /// column as [`InFlight::to_column`] writes it; a history table created by an older strata
    /// lacks the column until [`Adapter::upgrade_history`] adds it, and reads as `None`.
    pub in_flight: Option<InFlight>,
}

impl Record {
    /// `set@version_name`.
    #[must_use]
    pub fn id(&self) -> String {
        crate::migration::id(&self.set, self.version, &self.name)
    }
}

/// The state of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// The migration completed.
    Applied,
    /// The migration started outside a transaction and has not completed: it is running, or
    /// it failed after `completed` statements had committed.
    Dirty {
        /// Statements that had completed.
        completed: u32,
        /// Whether it was being applied (`Up`) or reverted (`Down`).
        direction: Direction,
    },
    /// A dirty row the operator repaired: exactly the first `completed` statements took
    /// effect. The next run resumes after them, never running them again: an up migration is
    /// pending with its first `completed` statements skipped, a down migration still applied
    /// with its first `completed` down statements skipped.
    Partial {
        /// Statements known to have committed.
        completed: u32,
        /// Whether it was being applied (`Up`) or reverted (`Down`).
        direction: Direction,
    },
}

impl RecordState {
    /// The text stored in the `state` column: `applied`, `dirty` (stopped while applying),
    /// `dirty_down` (stopped while reverting), `partial` and `partial_down` (repaired dirty
    /// rows, resumed by the next run).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordState::Applied => "applied",
            RecordState::Dirty {
                direction: Direction::Up,
                ..
            } => "dirty",
            RecordState::Dirty {
                direction: Direction::Down,
                ..
            } => "dirty_down",
            RecordState::Partial {
                direction: Direction::Up,
                ..
            } => "partial",
            RecordState::Partial {
                direction: Direction::Down,
                ..
            } => "partial_down",
        }
    }

    /// The value of the `completed` column: `None` for applied rows.
    #[must_use]
    pub fn completed(&self) -> Option<u32> {
        match self {
            RecordState::Applied => None,
            RecordState::Dirty { completed, .. } | RecordState::Partial { completed, .. } => {
                Some(*completed)
            }
        }
    }

    /// Whether the row blocks every run until it is repaired.
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        matches!(self, RecordState::Dirty { .. })
    }

    /// Rebuilds the state from the `state` and `completed` columns.
    ///
    /// # Errors
    ///
    /// A `state` other than `applied`, `dirty`, `dirty_down`, `partial` or `partial_down`.
    pub fn from_columns(
        state: &str,
        completed: Option<u32>,
    ) -> std::result::Result<Self, BoxError> {
        let completed = completed.unwrap_or(0);
        match state {
            "applied" => Ok(RecordState::Applied),
            "dirty" => Ok(RecordState::Dirty {
                completed,
                direction: Direction::Up,
            }),
            "dirty_down" => Ok(RecordState::Dirty {
                completed,
                direction: Direction::Down,
            }),
            "partial" => Ok(RecordState::Partial {
                completed,
                direction: Direction::Up,
            }),
            "partial_down" => Ok(RecordState::Partial {
                completed,
                direction: Direction::Down,
            }),
            other => Err(format!("unknown state `{other}` in the history table").into()),
        }
    }
}

/// A validated history table name: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes, optionally
/// `schema.table` on databases with schemas. Adapters quote it with [`Table::quoted`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    schema: Option<String>,
    name: String,
}

const TABLE_NAME: &str = "an identifier of ASCII letters, digits and `_` (at most 63, not starting with a digit), optionally `schema.table`";

impl Table {
    /// Validates `name` (`table` or `schema.table`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for anything else, such as quotes, spaces or semicolons.
    pub fn parse(name: &str) -> Result<Table> {
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && !part.as_bytes()[0].is_ascii_digit()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        let invalid = || {
            Error::new(ErrorKind::InvalidName {
                what: "history table",
                name: name.to_owned(),
                expected: TABLE_NAME,
            })
        };
        let (schema, table) = match name.split_once('.') {
            Some((s, t)) => (Some(s), t),
            None => (None, name),
        };
        if !valid(table) || schema.is_some_and(|s| !valid(s)) {
            return Err(invalid());
        }
        Ok(Table {
            schema: schema.map(str::to_owned),
            name: table.to_owned(),
        })
    }

    /// The schema, if the name is qualified.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table name without schema.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that `dialect` can use this name: a schema-qualified name needs
    /// [`Dialect::schemas`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for `schema.table` on a database without schemas.
    pub fn check(&self, dialect: &Dialect) -> Result<()> {
        if self.schema.is_some() && !dialect.schemas {
            return Err(Error::new(ErrorKind::InvalidName {
                what: "history table",
                name: self.to_string(),
                expected: "a table name without schema on this database",
            }));
        }
        Ok(())
    }

    /// The name quoted with `quote` (`"` or `` ` ``), schema first when there is one. Valid
    /// names hold no quote characters, so this is always safe to put into SQL.
    #[must_use]
    pub fn quoted(&self, quote: char) -> String {
        match &self.schema {
            Some(s) => format!("{quote}{s}{quote}.{quote}{}{quote}", self.name),
            None => format!("{quote}{}{quote}", self.name),
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The primitives a database offers to strata. Implement it to add a database; the core does
/// the rest.
///
/// Every method works on the connection as it is: the core calls them in this order for a run
/// with a transaction-scoped lock: [`lock`](Adapter::lock) (which begins the transaction),
/// [`read_history`](Adapter::read_history), then [`execute`](Adapter::execute) and
/// [`write_record`](Adapter::write_record) / [`delete_record`](Adapter::delete_record) per
/// migration, then [`commit`](Adapter::commit). On any error or panic it calls
/// [`rollback`](Adapter::rollback) (and [`unlock`](Adapter::unlock) for session locks).
pub trait Adapter {
    /// What the database can do.
    fn dialect(&self) -> Dialect;

    /// The database, for errors and logs: backend and name, never a URL or password. It may ask
    /// the server (the drivers do not keep the name); the core calls it only to report an
    /// error or a wait, after rolling back any failed transaction, so it costs nothing on the
    /// normal path.
    fn database(&mut self) -> Database;

    /// The driver's connection, for Rust-function migrations that need it
    /// ([`Transaction::downcast_mut`](crate::Transaction::downcast_mut)).
    fn connection(&mut self) -> &mut dyn Any;

    /// Reads every row of the history table in the order they were written, or `None` when the
    /// table does not exist.
    ///
    /// # Errors
    ///
    /// The driver's error when the table exists but cannot be read or holds a row that is not
    /// a valid [`Record`].
    fn read_history(&mut self, table: &Table) -> Result<Option<Vec<Record>>, BoxError>;

    /// Creates the history table if it does not exist.
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn create_history(&mut self, table: &Table) -> Result<(), BoxError>;

    /// Adds the columns a history table created by an older strata lacks (today `in_flight`,
    /// nullable text), doing nothing when they exist. The core calls it under the migration lock
    /// once per run that writes history rows, before the first write; never on a run with
    /// nothing to do. The default does nothing: an adapter whose tables always have the column
    /// (or that does not store [`Record::in_flight`]) need not implement it.
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn upgrade_history(&mut self, table: &Table) -> Result<(), BoxError> {
        let _ = table;
        Ok(())
    }

    /// Reads the history under the migration lock, creating the table first when it does not
    /// exist. The default calls [`read_history`](Adapter::read_history) and then
    /// [`create_history`](Adapter::create_history) when needed; an adapter may do both in one
    /// round trip.
    ///
    /// # Errors
    ///
    /// As [`read_history`](Adapter::read_history) and [`create_history`](Adapter::create_history).
    fn read_or_create_history(&mut self, table: &Table) -> Result<Vec<Record>, BoxError> {
        match self.read_history(table)? {
            Some(rows) => Ok(rows),
            None => {
                self.create_history(table)?;
                Ok(Vec::new())
            }
        }
    }

    /// Executes one statement of a migration (it may return rows; they are discarded).
    ///
    /// # Errors
    ///
    /// The driver's error for the statement; the core turns it into a migration failure that
    /// names the statement and its line.
    fn execute(&mut self, statement: &str) -> Result<(), BoxError>;

    /// The byte offset in `statement` where `error` (returned by [`execute`](Adapter::execute)
    /// for it) occurred, when the database says. Used to point at the exact line.
    fn error_offset(&self, error: &BoxError, statement: &str) -> Option<usize> {
        let _ = (error, statement);
        None
    }

    /// Begins a transaction (under a [`Lock::Session`] lock).
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn begin(&mut self) -> Result<(), BoxError>;

    /// Commits the open transaction.
    ///
    /// # Errors
    ///
    /// The driver's error; the core then rolls back.
    fn commit(&mut self) -> Result<(), BoxError>;

    /// Rolls back the open transaction.
    ///
    /// # Errors
    ///
    /// The driver's error; the core logs it.
    fn rollback(&mut self) -> Result<(), BoxError>;

    /// Writes a history row, replacing the row of the same set and version if there is one, in
    /// one statement (an upsert), keeping the row's place in the history order. Every field is
    /// written, [`Record::in_flight`] included (a `None` clears it).
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn write_record(&mut self, table: &Table, record: &Record) -> Result<(), BoxError>;

    /// Deletes the history row of `set@version`.
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn delete_record(&mut self, table: &Table, set: &str, version: u64) -> Result<(), BoxError>;

    /// Whether a transaction is open on the connection, or `None` when the driver cannot tell
    /// (the default). The core checks it after each statement of a migration that runs in the
    /// run's transaction, to catch a migration that commits or rolls back by itself.
    fn is_in_transaction(&mut self) -> Option<bool> {
        None
    }

    /// A number that changes whenever another connection commits to the database (SQLite's
    /// `PRAGMA data_version`), or `None` when the database cannot tell (the default). With a
    /// [`Lock::Transaction`] lock, the core skips re-reading the history after re-taking the
    /// lock when this number is the one it saw after its own last commit.
    ///
    /// # Errors
    ///
    /// The driver's error; the core then re-reads the history.
    fn data_version(&mut self) -> Result<Option<u64>, BoxError> {
        Ok(None)
    }

    /// The tables besides the history table that the adapter creates for itself in this
    /// connection's database, which [`check_reversible`](crate::schema::check_reversible)
    /// leaves out of its snapshots: the MySQL adapter's lease table `strata_locks` on a Galera
    /// cluster. The default: none.
    ///
    /// # Errors
    ///
    /// The driver's error.
    fn bookkeeping_tables(&mut self) -> Result<Vec<String>, BoxError> {
        Ok(Vec::new())
    }

    /// Takes the migration lock for this database and history table, waiting at most
    /// `timeout`, and logs (`info`) when it has to wait. Returns how the lock is held, or `None`
    /// when it was not granted in time (with no transaction left open).
    ///
    /// # Errors
    ///
    /// The driver's error for anything but the lock being busy (which is `Ok(None)` after
    /// `timeout`). A boxed [`crate::Error`] (such as [`ErrorKind::ReadOnly`]) is passed on to
    /// the caller as it is.
    fn lock(&mut self, table: &Table, timeout: Duration) -> Result<Option<Lock>, BoxError>;

    /// Extends a [`Lock::Lease`] lock. The default does nothing.
    ///
    /// # Errors
    ///
    /// A boxed [`ErrorKind::LockLost`] when another process holds the lease now; the driver's
    /// error otherwise.
    fn renew(&mut self, table: &Table) -> Result<(), BoxError> {
        let _ = table;
        Ok(())
    }

    /// Releases a [`Lock::Session`] or [`Lock::Lease`] lock (`lock` says which).
    ///
    /// # Errors
    ///
    /// The driver's error; the core logs it.
    fn unlock(&mut self, table: &Table, lock: Lock) -> Result<(), BoxError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated_and_quoted() -> Result<()> {
        assert_eq!(
            Table::parse("strata_migrations")?.quoted('"'),
            "\"strata_migrations\""
        );
        assert_eq!(
            Table::parse("ops.History_1")?.quoted('`'),
            "`ops`.`History_1`"
        );
        for bad in [
            "",
            "1table",
            "a b",
            "x\"; DROP TABLE users; --",
            "a.b.c",
            ".t",
            "t.",
            &"x".repeat(64),
        ] {
            let err = Table::parse(bad).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::InvalidName { .. }), "{bad}");
        }
        assert_eq!(
            Table::parse("bad-name").unwrap_err().to_string(),
            "invalid history table name `bad-name`: expected an identifier of ASCII letters, digits and `_` (at most 63, not starting with a digit), optionally `schema.table`"
        );
        Ok(())
    }
}
