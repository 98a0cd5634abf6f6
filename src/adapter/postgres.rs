//! PostgreSQL on `postgres::Client`: transactional DDL, a transaction-scoped advisory lock.
//!
//! Everything runs through the simple query protocol or unnamed statements
//! (`query_typed`/`execute_typed`), never a named prepared statement: that is what keeps the
//! adapter correct behind PgBouncer in transaction pooling, where a named statement may be
//! missing on the next server connection. The lock is `pg_advisory_xact_lock`, taken inside
//! the transaction it protects, for the same reason: a session advisory lock is shared, fails
//! to unlock and leaks behind such a pooler.

use std::any::Any;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

use super::{Adapter, Dialect, Lock, Record, RecordState, Table};
use crate::error::{BoxError, Database, Error, ErrorKind, InFlight};
use crate::script::{Flavor, IN_FLIGHT, advisory_key};
use crate::sql::Syntax;

const DIALECT: Dialect = Dialect {
    backend: "postgres",
    syntax: Syntax::POSTGRES,
    transactional_ddl: true,
    schemas: true,
};

/// `table` as a string literal for `to_regclass` (valid names hold no quotes).
fn regclass(table: &Table) -> String {
    format!("'{}'", table.quoted('"'))
}

fn rows(messages: Vec<SimpleQueryMessage>) -> impl Iterator<Item = SimpleQueryRow> {
    messages.into_iter().filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })
}

fn text<'r>(row: &'r SimpleQueryRow, column: &str) -> Result<&'r str, BoxError> {
    row.try_get(column)?
        .ok_or_else(|| format!("unexpected NULL in column `{column}` of the history table").into())
}

fn record(row: &SimpleQueryRow) -> Result<Record, BoxError> {
    // A table an older strata created has no `in_flight` column until a run adds it.
    let in_flight = if row.columns().iter().any(|c| c.name() == IN_FLIGHT) {
        row.try_get(IN_FLIGHT)?
            .map(InFlight::from_column)
            .transpose()?
    } else {
        None
    };
    Ok(Record {
        set: text(row, "set_name")?.to_owned(),
        version: text(row, "version")?.parse()?,
        name: text(row, "name")?.to_owned(),
        checksum: text(row, "checksum")?.to_owned(),
        normalization: text(row, "normalization")?.parse()?,
        down_sql: row.try_get("down_sql")?.map(str::to_owned),
        set_version: text(row, "set_version")?.to_owned(),
        applied_at: text(row, "applied_at")?.to_owned(),
        duration_ms: text(row, "duration_ms")?.parse()?,
        state: RecordState::from_columns(
            text(row, "state")?,
            row.try_get("completed")?.map(str::parse).transpose()?,
        )?,
        in_flight,
    })
}

/// `*`: tolerates a missing `in_flight` column.
fn select(table: &Table) -> String {
    format!("SELECT * FROM {} ORDER BY id", table.quoted('"'))
}

fn i64_of(value: u64, what: &str) -> Result<i64, BoxError> {
    i64::try_from(value)
        .map_err(|_| format!("{what} {value} does not fit PostgreSQL's BIGINT").into())
}

impl Adapter for Client {
    fn dialect(&self) -> Dialect {
        DIALECT
    }

    fn database(&mut self) -> Database {
        let name = self
            .simple_query("SELECT current_database()")
            .ok()
            .and_then(|m| rows(m).next())
            .and_then(|row| row.get(0).map(str::to_owned))
            .unwrap_or_else(|| "(unknown)".to_owned());
        Database {
            backend: DIALECT.backend,
            name,
        }
    }

    fn connection(&mut self) -> &mut dyn Any {
        self
    }

    fn read_history(&mut self, table: &Table) -> Result<Option<Vec<Record>>, BoxError> {
        let exists = self.simple_query(&format!(
            "SELECT to_regclass({}) IS NOT NULL",
            regclass(table)
        ))?;
        if rows(exists).next().and_then(|r| r.get(0).map(|v| v == "t")) != Some(true) {
            return Ok(None);
        }
        rows(self.simple_query(&select(table))?)
            .map(|row| record(&row))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn create_history(&mut self, table: &Table) -> Result<(), BoxError> {
        Ok(self.batch_execute(&Flavor::Postgres.create_history(table))?)
    }

    fn read_or_create_history(&mut self, table: &Table) -> Result<Vec<Record>, BoxError> {
        // One round trip: create the table when it is missing (no notice when it exists), then
        // read it.
        let sql = format!(
            "DO $strata$ BEGIN IF to_regclass({}) IS NULL THEN {}{}; END IF; END $strata$; {}",
            regclass(table),
            // Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            // when the schema exists.
            table.schema().map_or_else(String::new, |s| format!(
                "IF to_regnamespace('\"{s}\"') IS NULL THEN CREATE SCHEMA \"{s}\"; END IF; "
            )),
            Flavor::Postgres.create_table(table),
            select(table)
        );
        rows(self.simple_query(&sql)?)
            .map(|row| record(&row))
            .collect()
    }

    fn upgrade_history(&mut self, table: &Table) -> Result<(), BoxError> {
        // One round trip, and no lock on the table when the column exists.
        Ok(self.batch_execute(&format!(
            "DO $strata$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass({}) \
             AND attname = '{IN_FLIGHT}' AND NOT attisdropped) THEN {}; END IF; END $strata$",
            regclass(table),
            Flavor::Postgres.add_in_flight(table)
        ))?)
    }

    fn execute(&mut self, statement: &str) -> Result<(), BoxError> {
        Ok(self.batch_execute(statement)?)
    }

    fn error_offset(&self, error: &BoxError, statement: &str) -> Option<usize> {
        let error = error.downcast_ref::<postgres::Error>()?.as_db_error()?;
        match error.position()? {
            // A 1-based character position in the statement.
            postgres::error::ErrorPosition::Original(at) => {
                let at = usize::try_from(*at).ok()?.checked_sub(1)?;
                // Just past the last character: "syntax error at end of input".
                statement
                    .char_indices()
                    .nth(at)
                    .map(|(offset, _)| offset)
                    .or_else(|| (at == statement.chars().count()).then_some(statement.len()))
            }
            postgres::error::ErrorPosition::Internal { .. } => None,
        }
    }

    fn begin(&mut self) -> Result<(), BoxError> {
        Ok(self.batch_execute("BEGIN")?)
    }

    fn commit(&mut self) -> Result<(), BoxError> {
        Ok(self.batch_execute("COMMIT")?)
    }

    fn rollback(&mut self) -> Result<(), BoxError> {
        Ok(self.batch_execute("ROLLBACK")?)
    }

    fn write_record(&mut self, table: &Table, r: &Record) -> Result<(), BoxError> {
        let placeholders: [String; 12] = std::array::from_fn(|i| format!("${}", i + 1));
        let sql = Flavor::Postgres.upsert_record(table, &placeholders);
        let version = i64_of(r.version, "version")?;
        let normalization = i32::try_from(r.normalization)?;
        let duration = i64::try_from(r.duration_ms).unwrap_or(i64::MAX);
        let completed = r.state.completed().map(i32::try_from).transpose()?;
        let in_flight = r.in_flight.as_ref().map(InFlight::to_column);
        let params: [(&(dyn ToSql + Sync), Type); 12] = [
            (&r.set, Type::TEXT),
            (&version, Type::INT8),
            (&r.name, Type::TEXT),
            (&r.checksum, Type::TEXT),
            (&normalization, Type::INT4),
            (&r.down_sql, Type::TEXT),
            (&r.set_version, Type::TEXT),
            (&r.applied_at, Type::TEXT),
            (&duration, Type::INT8),
            (&r.state.as_str(), Type::TEXT),
            (&completed, Type::INT4),
            (&in_flight, Type::TEXT),
        ];
        self.execute_typed(&sql, &params)?;
        Ok(())
    }

    fn delete_record(&mut self, table: &Table, set: &str, version: u64) -> Result<(), BoxError> {
        let sql = Flavor::Postgres.delete(table, "$1", "$2");
        let version = i64_of(version, "version")?;
        self.execute_typed(&sql, &[(&set, Type::TEXT), (&version, Type::INT8)])?;
        Ok(())
    }

    fn lock(&mut self, table: &Table, timeout: Duration) -> Result<Option<Lock>, BoxError> {
        let result = lock_in_new_transaction(self, table, timeout);
        if !matches!(result, Ok(Some(_))) {
            // Not granted, a standby, or an error after BEGIN: leave no transaction open.
            let _ = self.batch_execute("ROLLBACK");
        }
        result
    }

    fn unlock(&mut self, _table: &Table, _lock: Lock) -> Result<(), BoxError> {
        // The lock is transaction-scoped: committing or rolling back released it.
        Ok(())
    }
}

/// `BEGIN`, then the lock; the caller rolls back unless it is granted.
fn lock_in_new_transaction(
    client: &mut Client,
    table: &Table,
    timeout: Duration,
) -> Result<Option<Lock>, BoxError> {
    let key = advisory_key(table);
    // One round trip: begin, refuse a hot standby, try the lock without waiting.
    let first = client.simple_query(&format!(
        "BEGIN; SELECT pg_is_in_recovery(), pg_try_advisory_xact_lock({key}), \
         current_setting('lock_timeout')"
    ))?;
    let row = rows(first).next().ok_or("the lock query returned no row")?;
    if row.get(0) == Some("t") {
        let database = client.database();
        return Err(Box::new(Error::new(ErrorKind::ReadOnly { database })));
    }
    if row.get(1) == Some("t") {
        return Ok(Some(Lock::Transaction));
    }
    if timeout.is_zero() {
        return Ok(None);
    }
    let previous = row.get(2).unwrap_or("0").replace('\'', "");
    let holder = rows(client.simple_query(&format!(
        "SELECT string_agg(l.pid::text || coalesce(' (' || nullif(a.application_name, '') || ')', ''), ', ') \
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
         (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((l.classid::bigint << 32) | l.objid::bigint) = {key}"
    ))?)
    .next()
    .and_then(|r| r.get(0).map(str::to_owned))
    .unwrap_or_else(|| "another session".to_owned());
    log::info!(
        "waiting up to {:.1}s for the migration lock on {}, held by backend {holder}",
        timeout.as_secs_f64(),
        client.database()
    );
    // lock_timeout is in milliseconds, at most i32::MAX; 0 would mean "wait forever".
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
    let waited = client.batch_execute(&format!(
        "SET LOCAL lock_timeout = {millis}; SELECT pg_advisory_xact_lock({key}); \
         SET LOCAL lock_timeout = '{previous}'"
    ));
    match waited {
        Ok(()) => Ok(Some(Lock::Transaction)),
        // The lock timeout, or a shorter statement_timeout of the session.
        Err(e)
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                || e.code() == Some(&SqlState::QUERY_CANCELED) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
