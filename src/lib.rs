//! Embedded, synchronous database schema migrations.
//!
//! strata compiles a crate's `migrations/` directory into its binary and applies it at start-up
//! from `main()`: under a lock, in one transaction by default, with the history row of each
//! migration written in the same transaction as the migration itself. Migrations can go down
//! as well as up, be Rust functions, skip the transaction, and come from several crates (sets).
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! use strata::{Migration, Migrations, Migrator, Set};
//!
//! # #[cfg(feature = "rusqlite")]
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut set = Set::new("app", "1.0.0")?;
//!     set.add(
//!         Migration::sql(1, "create_users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")?
//!             .with_down("DROP TABLE users;")?,
//!     )?;
//!     set.add(
//!         Migration::function(2, "seed_admin", |tx| {
//!             tx.execute("INSERT INTO users (name) VALUES ('admin')")
//!         })?
//!         .with_down_function(|tx| tx.execute("DELETE FROM users WHERE name = 'admin'")),
//!     )?;
//!     let migrations = Migrations::new([set])?;
//!
//!     let mut conn = rusqlite::Connection::open_in_memory()?;
//!     let report = conn.migrate(&migrations)?;
//!     assert_eq!(report.applied(), ["app@1_create_users", "app@2_seed_admin"]);
//!     assert!(conn.migrate(&migrations)?.is_empty()); // a second boot applies nothing
//!
//!     conn.downgrade(&migrations, "base")?;
//!     assert!(conn.history(&migrations)?.is_empty());
//!     Ok(())
//! }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! | feature    | adapter for                 | transactional DDL | lock                          |
//! |------------|-----------------------------|-------------------|-------------------------------|
//! | `rusqlite` | `rusqlite::Connection`      | yes               | `BEGIN IMMEDIATE`, busy timeout |
//! | `postgres` | `postgres::Client`          | yes               | `pg_advisory_xact_lock`; hot standbys refused |
//! | `mysql`    | `mysql::Conn`, `mysql::PooledConn` | no: progress per statement, `dirty` row on failure | `GET_LOCK`; a lease row on Galera |
//!
//! The `postgres` crate panics when it is called inside a Tokio runtime: migrate before the
//! runtime starts, or inside `spawn_blocking`.
//!
//! Two features add tools rather than adapters:
//!
//! | feature   | adds |
//! |-----------|------|
//! | `testing` | `strata::testing`: a fresh migrated database per unit test (SQLite template copies, PostgreSQL template databases, MySQL databases) |
//! | `cli`     | `strata::cli`: an application's `migrate` subcommands (clap), and the `strata` binary (`strata new`, running a migrations directory by database URL) |
//!
//! [`schema`] (snapshots, drift, the reversibility check) needs no feature of its own.
//! Features only add adapters and tools; they never change a type, a checksum or the table
//! format. Other databases plug in through the [`Adapter`] trait.
//!
//! # Transactions and locking
//!
//! By default ([`Mode::AllOrNothing`]) every pending migration and its history row run in one
//! transaction: a boot reaches the target or leaves the database as the previous binary knew
//! it. [`Mode::PerMigration`] commits each migration with its row. A migration starting with
//! `-- strata:no-transaction` runs statement by statement outside any transaction, behind a
//! `dirty` history row that becomes `applied` when it completes. On MySQL/MariaDB, where DDL
//! commits implicitly, every SQL migration runs that way.
//!
//! The lock is taken before the history is read and held through the run, so processes that
//! boot together apply each migration once; whoever waited finds the work done.
//!
//! # Logging
//!
//! Through [`log`]: one `info` line per migration applied or reverted, with its duration;
//! `debug` per statement. No URL or password is ever logged.
//!
//! See the `docs/` directory of the repository for the guide.

pub mod adapter;
pub mod build;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
mod migration;
mod migrator;
mod plan;
mod report;
pub mod schema;
pub mod script;
mod setup;
mod source;
pub mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod transaction_control;

pub use adapter::{Adapter, Record, RecordState, Table};
pub use error::{
    BoxError, Database, Direction, Error, ErrorKind, InFlight, InFlightOutcome, Position, Result,
};
pub use migration::{
    Checksum, Dependency, Migration, MigrationFn, NORMALIZATION, Set, Transaction,
};
pub use migrator::{DEFAULT_TABLE, Migrations, Migrator, Mode};
pub use plan::{PlannedStep, Target};
pub use report::{Action, Progress, Report, ReportStep, State, Status, StatusEntry};
pub use script::Flavor;
pub use source::Embedded;

// The README's examples run as doctests, so the README cannot drift from the API.
#[cfg(all(doctest, feature = "rusqlite"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use include_dir;
    pub use strata_macros::include_manifest_dir;
}
