//! SQLite: an in-memory template migrated once per process and fingerprint, serialized; each
//! call deserializes a copy into a new in-memory connection.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rusqlite::{Connection, MAIN_DB};

use super::failed;
use crate::{Migrations, Migrator, Result};

/// One template: empty until its first user has migrated it.
type Slot = Arc<Mutex<Option<Arc<[u8]>>>>;

const MEMORY: &str = ":memory:";

/// A new in-memory SQLite database with every migration of `migrations` applied, for one test.
///
/// The first call for a given [`Migrations`] (by fingerprint, see [the module](super)) migrates
/// an in-memory template and keeps its bytes for the life of the process; every call copies
/// them into a new connection (`sqlite3_deserialize`), which is writable and independent of
/// the others. Threads that ask for the same template at once wait for the one migrating it.
/// Connection settings such as `PRAGMA foreign_keys` are those of any new connection (they are
/// not part of the database file); settings stored in the file, such as `user_version`, are
/// the template's.
///
/// # Errors
///
/// The migration error of the first call (each later call migrates again and fails the same
/// way), or SQLite failing to open or copy the database.
pub fn sqlite(migrations: &Migrations) -> Result<Connection> {
    let bytes = template(migrations)?;
    let copy =
        |conn: &mut Connection| conn.deserialize_read_exact(MAIN_DB, &*bytes, bytes.len(), false);
    let mut conn = Connection::open_in_memory().map_err(|e| failed("open", "sqlite", MEMORY, e))?;
    copy(&mut conn).map_err(|e| failed("copy the template database", "sqlite", MEMORY, e))?;
    Ok(conn)
}

/// A new SQLite database file at `path` with every migration of `migrations` applied: the
/// template of [`sqlite()`] written out, then opened. For tests that need a file (several
/// connections, another process); the caller removes it (a temporary directory does).
///
/// # Errors
///
/// As [`sqlite()`], and a file that already exists at `path` or cannot be written or opened.
pub fn sqlite_file(migrations: &Migrations, path: impl AsRef<Path>) -> Result<Connection> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = template(migrations)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(&bytes))
        .map_err(|e| failed("write the database file", "sqlite", &name, e))?;
    Connection::open(path).map_err(|e| failed("open", "sqlite", &name, e))
}

/// The bytes of the migrated template of `migrations`, migrating it on first use.
fn template(migrations: &Migrations) -> Result<Arc<[u8]>> {
    static TEMPLATES: OnceLock<Mutex<HashMap<[u8; 32], Slot>>> = OnceLock::new();
    let slot = {
        let mut templates = TEMPLATES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(templates.entry(migrations.fingerprint()).or_default())
    };
    // Held while migrating: a second thread wanting this template waits, then copies it. (A
    // migration that panicked poisons the lock with the slot still empty: the next call retries.)
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(bytes) = &*slot {
        return Ok(Arc::clone(bytes));
    }
    let mut conn = Connection::open_in_memory().map_err(|e| failed("open", "sqlite", MEMORY, e))?;
    conn.migrate(migrations)?;
    let bytes: Arc<[u8]> = Arc::from(
        &*conn
            .serialize(MAIN_DB)
            .map_err(|e| failed("serialize the template database", "sqlite", MEMORY, e))?,
    );
    log::debug!(
        "migrated a sqlite template of {} bytes for the tests of this process",
        bytes.len()
    );
    *slot = Some(Arc::clone(&bytes));
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Migration, Set};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn users() -> Result<Migrations> {
        let mut set = Set::new("unit", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "users",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
             CREATE TABLE posts (user_id INTEGER NOT NULL REFERENCES users (id));\n\
             PRAGMA user_version = 7;",
        )?)?;
        Migrations::new([set])
    }

    fn pragma(conn: &Connection, name: &str) -> rusqlite::Result<String> {
        conn.query_row(&format!("SELECT * FROM pragma_{name}"), [], |row| {
            row.get::<_, rusqlite::types::Value>(0)
                .map(|v| format!("{v:?}"))
        })
    }

    #[test]
    fn copies_are_migrated_writable_and_configured_like_new_connections() -> TestResult {
        let migrations = users()?;
        let mut conn = sqlite(&migrations)?;
        assert!(conn.migrate(&migrations)?.is_empty());
        conn.execute("INSERT INTO users (name) VALUES ('ada')", [])?;
        let fresh = Connection::open_in_memory()?;
        for name in [
            "foreign_keys",
            "journal_mode",
            "recursive_triggers",
            "busy_timeout",
        ] {
            assert_eq!(pragma(&conn, name)?, pragma(&fresh, name)?, "{name}");
        }
        assert_eq!(pragma(&conn, "user_version")?, "Integer(7)");
        Ok(())
    }

    #[test]
    fn file_copies_refuse_to_overwrite() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("app.db");
        let migrations = users()?;
        let mut conn = sqlite_file(&migrations, &path)?;
        assert!(conn.migrate(&migrations)?.is_empty());
        let err = sqlite_file(&migrations, &path)
            .err()
            .ok_or("overwrote a file")?;
        assert_eq!(
            err.to_string(),
            format!(
                "failed to write the database file on sqlite database `{}`",
                path.display()
            )
        );
        Ok(())
    }
}
