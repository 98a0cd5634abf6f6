//! SQLite on `rusqlite::Connection`: transactional DDL, `BEGIN IMMEDIATE` as the lock.

use std::any::Any;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{Adapter, Dialect, Lock, Record, RecordState, Table};
use crate::error::{BoxError, Database, InFlight};
use crate::script::Flavor;
use crate::sql::Syntax;

const DIALECT: Dialect = Dialect {
    backend: "sqlite",
    syntax: Syntax::SQLITE,
    transactional_ddl: true,
    schemas: false,
};

/// `?1` to `?12`.
static PARAMS: std::sync::LazyLock<[String; 12]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|i| format!("?{}", i + 1)));

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn version_param(version: u64) -> Result<i64, BoxError> {
    i64::try_from(version).map_err(|_| {
        format!("version {version} does not fit SQLite's 64-bit signed INTEGER").into()
    })
}

impl Adapter for Connection {
    fn dialect(&self) -> Dialect {
        DIALECT
    }

    fn database(&mut self) -> Database {
        let name = match self.path() {
            Some(path) if !path.is_empty() => path.to_owned(),
            _ => ":memory:".to_owned(),
        };
        Database {
            backend: DIALECT.backend,
            name,
        }
    }

    fn connection(&mut self) -> &mut dyn Any {
        self
    }

    fn read_history(&mut self, table: &Table) -> Result<Option<Vec<Record>>, BoxError> {
        let exists = self
            .prepare_cached(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
            )?
            .query_row([table.name()], |_| Ok(()))
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        // `*`: a table an older strata created has no `in_flight` column until a run adds it.
        // Not cached: a cached `*` statement keeps the columns it had when first prepared.
        let sql = format!("SELECT * FROM {} ORDER BY rowid", table.quoted('"'));
        let mut stmt = self.prepare(&sql)?;
        // A table without strata's columns is an error even when it holds no row.
        for column in crate::script::COLUMNS.split(", ") {
            stmt.column_index(column)?;
        }
        let in_flight = stmt.column_index("in_flight").ok();
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let state: String = row.get("state")?;
            let in_flight = match in_flight {
                Some(i) => row.get::<_, Option<String>>(i)?,
                None => None,
            };
            out.push(Record {
                set: row.get("set_name")?,
                version: u64::try_from(row.get::<_, i64>("version")?)?,
                name: row.get("name")?,
                checksum: row.get("checksum")?,
                normalization: row.get("normalization")?,
                down_sql: row.get("down_sql")?,
                set_version: row.get("set_version")?,
                applied_at: row.get("applied_at")?,
                duration_ms: u64::try_from(row.get::<_, i64>("duration_ms")?).unwrap_or(0),
                state: RecordState::from_columns(&state, row.get("completed")?)?,
                in_flight: in_flight
                    .as_deref()
                    .map(InFlight::from_column)
                    .transpose()?,
            });
        }
        Ok(Some(out))
    }

    fn create_history(&mut self, table: &Table) -> Result<(), BoxError> {
        Ok(self.execute_batch(&Flavor::Sqlite.create_history(table))?)
    }

    fn upgrade_history(&mut self, table: &Table) -> Result<(), BoxError> {
        let has = self
            .prepare_cached("SELECT 1 FROM pragma_table_info(?1) WHERE name = 'in_flight'")?
            .query_row([table.name()], |_| Ok(()))
            .optional()?;
        if has.is_none() {
            self.execute_batch(&Flavor::Sqlite.add_in_flight(table))?;
        }
        Ok(())
    }

    fn execute(&mut self, statement: &str) -> Result<(), BoxError> {
        Ok(self.execute_batch(statement)?)
    }

    fn error_offset(&self, error: &BoxError, _statement: &str) -> Option<usize> {
        match error.downcast_ref::<rusqlite::Error>()? {
            rusqlite::Error::SqlInputError { offset, .. } => usize::try_from(*offset).ok(),
            _ => None,
        }
    }

    fn begin(&mut self) -> Result<(), BoxError> {
        Ok(self.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&mut self) -> Result<(), BoxError> {
        Ok(self.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) -> Result<(), BoxError> {
        if self.is_autocommit() {
            // SQLite already rolled back (some errors end the transaction by themselves).
            return Ok(());
        }
        Ok(self.execute_batch("ROLLBACK")?)
    }

    fn write_record(&mut self, table: &Table, r: &Record) -> Result<(), BoxError> {
        let sql = Flavor::Sqlite.upsert_record(table, &PARAMS);
        self.prepare_cached(&sql)?.execute(params![
            r.set,
            version_param(r.version)?,
            r.name,
            r.checksum,
            r.normalization,
            r.down_sql,
            r.set_version,
            r.applied_at,
            i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
            r.state.as_str(),
            r.state.completed(),
            r.in_flight.as_ref().map(InFlight::to_column),
        ])?;
        Ok(())
    }

    fn delete_record(&mut self, table: &Table, set: &str, version: u64) -> Result<(), BoxError> {
        let sql = Flavor::Sqlite.delete(table, "?1", "?2");
        self.prepare_cached(&sql)?
            .execute(params![set, version_param(version)?])?;
        Ok(())
    }

    fn is_in_transaction(&mut self) -> Option<bool> {
        Some(!self.is_autocommit())
    }

    fn data_version(&mut self) -> Result<Option<u64>, BoxError> {
        let version: i64 = self
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        Ok(u64::try_from(version).ok())
    }

    fn lock(&mut self, _table: &Table, timeout: Duration) -> Result<Option<Lock>, BoxError> {
        // The write lock of `BEGIN IMMEDIATE` covers the whole database file, so it serves
        // every history table in it. Try without waiting first, so that waiting can be logged.
        let previous: i64 = self
            .prepare_cached("PRAGMA busy_timeout")?
            .query_row([], |row| row.get(0))?;
        self.busy_timeout(Duration::ZERO)?;
        let mut result = self.execute_batch("BEGIN IMMEDIATE");
        if matches!(&result, Err(e) if is_busy(e)) {
            log::info!(
                "waiting up to {:.1}s for the migration lock on {} (another connection is writing)",
                timeout.as_secs_f64(),
                self.database()
            );
            let start = Instant::now();
            // rusqlite takes the timeout in `i32` milliseconds: about 24 days is "forever".
            let max = Duration::from_millis(u64::try_from(i32::MAX).unwrap_or(u64::MAX));
            self.busy_timeout(timeout.min(max))?;
            result = self.execute_batch("BEGIN IMMEDIATE");
            log::debug!("waited {:?} for the migration lock", start.elapsed());
        }
        self.busy_timeout(Duration::from_millis(u64::try_from(previous).unwrap_or(0)))?;
        match result {
            Ok(()) => Ok(Some(Lock::Transaction)),
            Err(e) if is_busy(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn unlock(&mut self, _table: &Table, _lock: Lock) -> Result<(), BoxError> {
        // The lock is the transaction; committing or rolling back released it.
        Ok(())
    }
}
