//! Fresh, fully migrated databases for unit tests: one per test, fast, and safe when tests run
//! in parallel (feature `testing`).
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use strata::{Migration, Migrations, Set};
//!
//! let mut set = Set::new("app", "1.0.0")?;
//! set.add(Migration::sql(1, "create_users", "CREATE TABLE users (name TEXT NOT NULL)")?)?;
//! let migrations = Migrations::new([set])?;
//!
//! // In each test: a new in-memory database, copied from a template migrated once per process.
//! let conn = strata::testing::sqlite(&migrations)?;
//! conn.execute("INSERT INTO users (name) VALUES ('ada')", [])?;
//! let other = strata::testing::sqlite(&migrations)?;
//! let n: i64 = other.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?;
//! assert_eq!(n, 0); // every test has its own database
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```
//!
//! | database   | function     | how                                                          |
//! |------------|--------------|--------------------------------------------------------------|
//! | SQLite     | [`sqlite()`], [`sqlite_file`] | an in-memory template migrated once per process, copied per call |
//! | PostgreSQL | [`postgres()`] | a template database migrated once per server, `CREATE DATABASE ... TEMPLATE` per call |
//! | PostgreSQL | [`postgres_transaction`] | a transaction, rolled back on drop, in one shared copy of that template |
//! | MySQL      | [`mysql()`]    | a new database per call, migrated                            |
//!
//! Templates are keyed by a fingerprint of the [`Migrations`](crate::Migrations): strata's
//! version, the history table, each set's name and version, and each migration's version,
//! name, checksums, no-transaction flag and dependencies. Editing a migration file makes a new
//! template. A Rust-function migration counts by its name only: after changing its code,
//! restart the test process (SQLite) or drop the PostgreSQL template of the set with
//! [`drop_postgres_template`].
//!
//! The server databases come as a [`TestDatabase`], which derefs to the driver's connection
//! and drops its database when it drops; a [`TestTransaction`] derefs to a `postgres::Client`
//! inside `BEGIN` and rolls back when it drops. [`check_reversible`] (from [`crate::schema`]) checks
//! in a unit test that every down migration undoes its up migration. See `docs/testing.md` in
//! the repository for the guide.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::error::BoxError;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

#[cfg(feature = "mysql")]
pub use self::mysql::mysql;
#[cfg(feature = "postgres")]
pub use self::postgres::{
    TestTransaction, drop_postgres_template, drop_postgres_templates, postgres,
    postgres_transaction,
};
#[cfg(feature = "rusqlite")]
pub use self::sqlite::{sqlite, sqlite_file};

/// The reversibility check, here too because it belongs in the same unit tests: apply each
/// migration, revert it, apply it again, comparing [schema snapshots](crate::schema).
pub use crate::schema::{Reversibility, check_reversible};

/// A uniquely named database on a server, for one test: derefs to the driver's connection
/// `C`, and drops the database when it drops, ending the other sessions connected to it
/// (PostgreSQL: `DROP DATABASE ... WITH (FORCE)`; MySQL: `KILL` of the sessions whose current
/// database it is, then `DROP DATABASE` with a `lock_wait_timeout` of 10 s, which a session
/// using its tables from another database can still make wait and fail).
///
/// A failure to drop the database is logged (`log::warn!`), not raised: it runs in `Drop`.
/// Its `Debug` shows the database name, never the URL.
pub struct TestDatabase<C> {
    // Fields drop in order: the connection closes before the database is dropped.
    conn: C,
    database: Dropper,
}

/// Drops a test database when it drops.
struct Dropper {
    name: String,
    url: String,
    template: Option<String>,
    drop: Box<DropFn>,
}

/// Drops the database of the given name.
type DropFn = dyn FnMut(&str) -> Result<(), BoxError> + Send + Sync;

impl<C> TestDatabase<C> {
    /// A database `name` at `url` (with the database name in it), reached by `conn`;
    /// `drop(name)` drops it.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn new(
        conn: C,
        name: String,
        url: String,
        template: Option<String>,
        drop: impl FnMut(&str) -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> TestDatabase<C> {
        TestDatabase {
            conn,
            database: Dropper {
                name,
                url,
                template,
                drop: Box::new(drop),
            },
        }
    }

    /// The database's name, such as `strata_test_1f2e_0_19a7c3e2b4d5f601_8c2d`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.database.name
    }

    /// The URL of the database: the URL given, with this database's name (as its path, any
    /// `dbname` or `db_name` query parameter of the given URL removed, since the drivers let
    /// it override the path). For more connections (a pool); it carries the password the
    /// given URL had, so keep it out of logs.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.database.url
    }

    /// The template database this one was copied from (PostgreSQL), such as
    /// `strata_tpl_0123456789abcdef`.
    #[must_use]
    pub fn template(&self) -> Option<&str> {
        self.database.template.as_deref()
    }
}

impl<C> Deref for TestDatabase<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> DerefMut for TestDatabase<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

impl<C> fmt::Debug for TestDatabase<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.database.name)
            .field("template", &self.database.template)
            .finish_non_exhaustive()
    }
}

impl Drop for Dropper {
    fn drop(&mut self) {
        match (self.drop)(&self.name) {
            Ok(()) => log::debug!("dropped test database `{}`", self.name),
            Err(e) => log::warn!("failed to drop test database `{}`: {e}", self.name),
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// A database name no other test, process or run uses: `<prefix>_<pid>_<n>_<time>_<random>`,
/// lowercase hexadecimal, at most `prefix.len() + 48` characters (PostgreSQL allows 63, MySQL 64).
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // `RandomState` is seeded randomly per process (and varies per call within one).
    let random = RandomState::new().hash_one(n) & 0xffff;
    format!(
        "{prefix}_{:x}_{n:x}_{:x}_{random:04x}",
        std::process::id(),
        nanos & u128::from(u64::MAX)
    )
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// `url` with its database replaced by `name`: the path of a `scheme://...` URL (its query
/// kept but for the parameters that would override the path, PostgreSQL's `dbname` and
/// MySQL's `db_name`), or a `dbname=` appended to a PostgreSQL key-value string (the last one
/// wins).
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url} dbname={name}");
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let query: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !pair.is_empty() && key != "dbname" && key != "db_name"
        })
        .collect();
    if query.is_empty() {
        format!("{scheme}://{authority}/{name}")
    } else {
        format!("{scheme}://{authority}/{name}?{}", query.join("&"))
    }
}

/// A failure of `operation` on database `name` of `backend`, caused by `source`.
#[cfg(any(feature = "rusqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn failed(
    operation: &'static str,
    backend: &'static str,
    name: &str,
    source: impl Into<BoxError>,
) -> crate::Error {
    crate::Error::with_source(
        crate::ErrorKind::Database {
            operation,
            database: crate::Database {
                backend,
                name: name.to_owned(),
            },
        },
        source.into(),
    )
}

/// The first 8 bytes of `migrations`' fingerprint in hexadecimal: names templates.
#[cfg(feature = "postgres")]
pub(crate) fn short_fingerprint(migrations: &crate::Migrations) -> String {
    use fmt::Write as _;
    migrations.fingerprint()[..8]
        .iter()
        .fold(String::with_capacity(16), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Migration, Migrations, Set};

    fn migrations(sql: &'static str, down: Option<&'static str>) -> crate::Result<Migrations> {
        let mut set = Set::new("app", "1.0.0")?;
        let mut m = Migration::sql(1, "a", sql)?;
        if let Some(down) = down {
            m = m.with_down(down)?;
        }
        set.add(m)?;
        Migrations::new([set])
    }

    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[test]
    fn unique_names_differ_and_fit_identifiers() {
        let a = unique_name("strata_test");
        let b = unique_name("strata_test");
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
    }

    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[test]
    fn with_database_replaces_the_database() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/test?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            (
                "mysql://root@127.0.0.1:3306",
                "mysql://root@127.0.0.1:3306/x",
            ),
            (
                "postgres://u@h/test?dbname=test&sslmode=disable",
                "postgres://u@h/x?sslmode=disable",
            ),
            ("postgres://u@h?dbname=test", "postgres://u@h/x"),
            (
                "mysql://root@h:3306/test?db_name=test&prefer_socket=false",
                "mysql://root@h:3306/x?prefer_socket=false",
            ),
            (
                "host=h user=u dbname=test",
                "host=h user=u dbname=test dbname=x",
            ),
        ] {
            assert_eq!(with_database(url, "x"), expected);
        }
    }

    #[test]
    fn fingerprint_follows_what_the_schema_depends_on() -> crate::Result<()> {
        let base = migrations("CREATE TABLE a (id INTEGER)", None)?;
        let same = migrations("CREATE TABLE a (id INTEGER)", None)?;
        assert_eq!(base.fingerprint(), same.fingerprint());
        let changed = [
            migrations("CREATE TABLE b (id INTEGER)", None)?,
            migrations("CREATE TABLE a (id INTEGER)", Some("DROP TABLE a"))?,
            migrations("CREATE TABLE a (id INTEGER)", None)?.table("other")?,
            migrations(
                "-- strata:no-transaction\nCREATE TABLE a (id INTEGER)",
                None,
            )?,
        ];
        for other in changed {
            assert_ne!(base.fingerprint(), other.fingerprint());
        }
        Ok(())
    }

    #[test]
    fn debug_shows_the_name_not_the_url() {
        let db = TestDatabase {
            conn: (),
            database: Dropper {
                name: "strata_test_1".to_owned(),
                url: "postgres://u:secret@h/strata_test_1".to_owned(),
                template: None,
                drop: Box::new(|_| Ok(())),
            },
        };
        let debug = format!("{db:?}");
        assert!(
            debug.contains("strata_test_1") && !debug.contains("secret"),
            "{debug}"
        );
    }
}
