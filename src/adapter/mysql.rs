//! MySQL and MariaDB on `mysql::Conn` and `mysql::PooledConn`: DDL commits implicitly, so the
//! core records progress after every statement. The lock is `GET_LOCK`, or a lease row on a
//! MariaDB Galera cluster, where `GET_LOCK` is node-local.

use std::any::Any;
use std::time::Duration;

use mysql::prelude::{FromValue, Queryable};
use mysql::{Conn, PooledConn, Row};

use super::{Adapter, Dialect, Lock, Record, RecordState, Table};
use crate::error::{BoxError, Database, InFlight};
use crate::script::{Flavor, IN_FLIGHT, mysql_lock_name};
use crate::sql::Syntax;

mod galera;

const DIALECT: Dialect = Dialect {
    backend: "mysql",
    syntax: Syntax::MYSQL,
    transactional_ddl: false,
    schemas: false,
};

const ER_NO_SUCH_TABLE: u16 = 1146;
const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
const ER_DUP_ENTRY: u16 = 1062;
const ER_LOCK_DEADLOCK: u16 = 1213;

fn server_code(e: &mysql::Error) -> Option<u16> {
    match e {
        mysql::Error::MySqlError(e) => Some(e.code),
        _ => None,
    }
}

fn take<T: FromValue>(row: &mut Row, column: &str) -> Result<T, BoxError> {
    match row.take_opt::<T, &str>(column) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(format!("column `{column}` of the history table: {e}").into()),
        None => Err(format!("column `{column}` missing from the history table").into()),
    }
}

fn record(mut row: Row) -> Result<Record, BoxError> {
    let state: String = take(&mut row, "state")?;
    // A table an older strata created has no `in_flight` column until a run adds it.
    let in_flight: Option<String> = match row.take_opt::<Option<String>, &str>(IN_FLIGHT) {
        Some(v) => v.map_err(|e| format!("column `{IN_FLIGHT}` of the history table: {e}"))?,
        None => None,
    };
    Ok(Record {
        set: take(&mut row, "set_name")?,
        version: take(&mut row, "version")?,
        name: take(&mut row, "name")?,
        checksum: take(&mut row, "checksum")?,
        normalization: take(&mut row, "normalization")?,
        down_sql: take(&mut row, "down_sql")?,
        set_version: take(&mut row, "set_version")?,
        applied_at: take(&mut row, "applied_at")?,
        duration_ms: take(&mut row, "duration_ms")?,
        state: RecordState::from_columns(&state, take(&mut row, "completed")?)?,
        in_flight: in_flight
            .as_deref()
            .map(InFlight::from_column)
            .transpose()?,
    })
}

fn database(conn: &mut Conn) -> Database {
    let name = conn
        .query_first::<Option<String>, _>("SELECT DATABASE()")
        .ok()
        .flatten()
        .flatten()
        .unwrap_or_else(|| "(none)".to_owned());
    Database {
        backend: DIALECT.backend,
        name,
    }
}

fn read_history(conn: &mut Conn, table: &Table) -> Result<Option<Vec<Record>>, BoxError> {
    // `*`: tolerates a missing `in_flight` column.
    let sql = format!("SELECT * FROM {} ORDER BY id", table.quoted('`'));
    match conn.query::<Row, _>(sql) {
        Ok(rows) => rows
            .into_iter()
            .map(record)
            .collect::<Result<_, _>>()
            .map(Some),
        Err(e) if server_code(&e) == Some(ER_NO_SUCH_TABLE) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn create_history(conn: &mut Conn, table: &Table) -> Result<(), BoxError> {
    conn.query_drop(Flavor::Mysql.create_history(table))?;
    Ok(())
}

/// MySQL says where a syntax error is as `near '<text>' at line <n>` (of the statement).
fn error_offset(error: &BoxError, statement: &str) -> Option<usize> {
    let mysql::Error::MySqlError(e) = error.downcast_ref::<mysql::Error>()? else {
        return None;
    };
    let (before, line) = e.message.rsplit_once("' at line ")?;
    let line: usize = line.trim().parse().ok()?;
    let line_start = if line <= 1 {
        0
    } else {
        statement.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let near = before.split_once(" near '").map_or("", |(_, near)| near);
    // The quoted text may be cut short; its start is enough to find the spot.
    let probe: String = near.chars().take(20).collect();
    let within = (!probe.is_empty())
        .then(|| statement[line_start..].find(&probe))
        .flatten()
        .unwrap_or(0);
    Some(line_start + within)
}

fn upgrade_history(conn: &mut Conn, table: &Table) -> Result<(), BoxError> {
    let has: Option<i64> = conn.exec_first(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name = ? AND column_name = ?",
        (table.name(), IN_FLIGHT),
    )?;
    if has.unwrap_or(0) == 0 {
        conn.query_drop(Flavor::Mysql.add_in_flight(table))?;
    }
    Ok(())
}

fn write_record(conn: &mut Conn, table: &Table, r: &Record) -> Result<(), BoxError> {
    let sql = Flavor::Mysql.upsert_record(table, &std::array::from_fn(|_| "?".to_owned()));
    conn.exec_drop(
        sql,
        (
            &r.set,
            r.version,
            &r.name,
            &r.checksum,
            r.normalization,
            &r.down_sql,
            &r.set_version,
            &r.applied_at,
            r.duration_ms,
            r.state.as_str(),
            r.state.completed(),
            r.in_flight.as_ref().map(InFlight::to_column),
        ),
    )?;
    Ok(())
}

fn delete_record(conn: &mut Conn, table: &Table, set: &str, version: u64) -> Result<(), BoxError> {
    let sql = Flavor::Mysql.delete(table, "?", "?");
    conn.exec_drop(sql, (set, version))?;
    Ok(())
}

fn lock(conn: &mut Conn, table: &Table, timeout: Duration) -> Result<Option<Lock>, BoxError> {
    let name = format!("@strata_lock := {}", mysql_lock_name(table));
    // One round trip on MariaDB: Galera or not, and the lock without waiting when not.
    let galera_or_lock =
        format!("SELECT CASE WHEN @@GLOBAL.wsrep_on THEN -1 ELSE GET_LOCK({name}, 0) END");
    let got = match conn.query_first::<Option<i64>, _>(galera_or_lock) {
        Err(e) if server_code(&e) == Some(ER_UNKNOWN_SYSTEM_VARIABLE) => {
            // MySQL proper has no wsrep variables.
            conn.query_first::<Option<i64>, _>(format!("SELECT GET_LOCK({name}, 0)"))?
        }
        other => other?,
    };
    match got.flatten() {
        Some(1) => return Ok(Some(Lock::Session)),
        Some(-1) => return galera::lease(conn, table, timeout),
        Some(_) => {}
        None => return Err("GET_LOCK returned NULL".into()),
    }
    if timeout.is_zero() {
        return Ok(None);
    }
    let holder: Option<Option<u64>> = conn.query_first("SELECT IS_USED_LOCK(@strata_lock)")?;
    log::info!(
        "waiting up to {:.1}s for the migration lock on {}, held by connection {}",
        timeout.as_secs_f64(),
        database(conn),
        holder.flatten().map_or("?".to_owned(), |id| id.to_string())
    );
    // GET_LOCK takes whole seconds on every server version. MariaDB answers NULL to a negative
    // timeout and 0 at once to 1e11 s or more: "forever" is 1e9 s (31 years).
    let seconds = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0))
        .min(1_000_000_000);
    let got: Option<Option<i64>> =
        conn.query_first(format!("SELECT GET_LOCK(@strata_lock, {seconds})"))?;
    match got.flatten() {
        Some(1) => Ok(Some(Lock::Session)),
        Some(_) => Ok(None),
        None => Err("GET_LOCK returned NULL".into()),
    }
}

/// Only asked after a Rust-function migration (SQL migrations run outside transactions here):
/// a function whose DDL committed implicitly, or that committed itself, ended the run's
/// transaction. MariaDB's `@@in_transaction`; `None` where the server has no such variable.
fn is_in_transaction(conn: &mut Conn) -> Option<bool> {
    conn.query_first::<i64, _>("SELECT @@in_transaction")
        .ok()
        .flatten()
        .map(|v| v != 0)
}

fn unlock(conn: &mut Conn, table: &Table, lock: Lock) -> Result<(), BoxError> {
    match lock {
        Lock::Lease => galera::release(conn, table)?,
        Lock::Session => conn.query_drop("DO RELEASE_LOCK(@strata_lock)")?,
        Lock::Transaction => {}
    }
    Ok(())
}

/// Implements [`Adapter`] for a connection type that gives `&mut Conn`.
macro_rules! mysql_adapter {
    ($conn:ty, $as_conn:ident) => {
        impl Adapter for $conn {
            fn dialect(&self) -> Dialect {
                DIALECT
            }

            fn database(&mut self) -> Database {
                database($as_conn(self))
            }

            fn connection(&mut self) -> &mut dyn Any {
                self
            }

            fn read_history(&mut self, table: &Table) -> Result<Option<Vec<Record>>, BoxError> {
                read_history($as_conn(self), table)
            }

            fn create_history(&mut self, table: &Table) -> Result<(), BoxError> {
                create_history($as_conn(self), table)
            }

            fn upgrade_history(&mut self, table: &Table) -> Result<(), BoxError> {
                upgrade_history($as_conn(self), table)
            }

            fn execute(&mut self, statement: &str) -> Result<(), BoxError> {
                Ok($as_conn(self).query_drop(statement)?)
            }

            fn error_offset(&self, error: &BoxError, statement: &str) -> Option<usize> {
                error_offset(error, statement)
            }

            fn begin(&mut self) -> Result<(), BoxError> {
                Ok($as_conn(self).query_drop("START TRANSACTION")?)
            }

            fn commit(&mut self) -> Result<(), BoxError> {
                Ok($as_conn(self).query_drop("COMMIT")?)
            }

            fn rollback(&mut self) -> Result<(), BoxError> {
                Ok($as_conn(self).query_drop("ROLLBACK")?)
            }

            fn write_record(&mut self, table: &Table, record: &Record) -> Result<(), BoxError> {
                write_record($as_conn(self), table, record)
            }

            fn delete_record(
                &mut self,
                table: &Table,
                set: &str,
                version: u64,
            ) -> Result<(), BoxError> {
                delete_record($as_conn(self), table, set, version)
            }

            fn is_in_transaction(&mut self) -> Option<bool> {
                is_in_transaction($as_conn(self))
            }

            fn bookkeeping_tables(&mut self) -> Result<Vec<String>, BoxError> {
                galera::tables($as_conn(self))
            }

            fn lock(&mut self, table: &Table, timeout: Duration) -> Result<Option<Lock>, BoxError> {
                lock($as_conn(self), table, timeout)
            }

            fn renew(&mut self, table: &Table) -> Result<(), BoxError> {
                galera::renew($as_conn(self), table)
            }

            fn unlock(&mut self, table: &Table, lock: Lock) -> Result<(), BoxError> {
                unlock($as_conn(self), table, lock)
            }
        }
    };
}

fn plain(conn: &mut Conn) -> &mut Conn {
    conn
}

fn pooled(conn: &mut PooledConn) -> &mut Conn {
    conn.as_mut()
}

mysql_adapter!(Conn, plain);
mysql_adapter!(PooledConn, pooled);
