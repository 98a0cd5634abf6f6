//! MariaDB Galera: `GET_LOCK` is node-local there, so the migration lock is a lease row.

use std::time::{Duration, Instant};

use mysql::Conn;
use mysql::prelude::Queryable;

use super::{
    ER_DUP_ENTRY, ER_LOCK_DEADLOCK, ER_NO_SUCH_TABLE, ER_UNKNOWN_SYSTEM_VARIABLE, database,
    server_code,
};
use crate::adapter::{Lock, Table};
use crate::error::{BoxError, Error, ErrorKind};

/// The table that holds lease rows on Galera, one per history table.
const LEASES: &str = "strata_locks";

/// How long a lease lasts without renewal. The core renews it before every statement, so only
/// a single statement running longer than this lets another process take the lock over (and
/// that process then finds the statement's migration dirty instead of running it again).
const LEASE_SECONDS: u32 = 60;

/// [`LEASES`] on a Galera node (`wsrep_on`), where the lock is a lease row in it; none elsewhere.
pub(super) fn tables(conn: &mut Conn) -> Result<Vec<String>, BoxError> {
    let galera = match conn.query_first::<Option<i64>, _>("SELECT @@GLOBAL.wsrep_on") {
        Err(e) if server_code(&e) == Some(ER_UNKNOWN_SYSTEM_VARIABLE) => false, // MySQL
        other => other?.flatten() == Some(1),
    };
    Ok(if galera {
        vec![LEASES.to_owned()]
    } else {
        Vec::new()
    })
}

/// Galera: a row in [`LEASES`] is the lock, since a conflicting insert of one key on two nodes
/// fails on one of them (error 1062 or 1213) while `GET_LOCK` would be granted on both.
pub(super) fn lease(
    conn: &mut Conn,
    table: &Table,
    timeout: Duration,
) -> Result<Option<Lock>, BoxError> {
    // The owner token lives in the session, so that renew and unlock find it.
    conn.query_drop("SET @strata_lease_owner = COALESCE(@strata_lease_owner, UUID())")?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match try_lease(conn, table) {
            Ok(true) => break,
            Ok(false) => {}
            // Another node's write to the lease row won certification: busy.
            Err(e) if matches!(server_code(&e), Some(ER_DUP_ENTRY | ER_LOCK_DEADLOCK)) => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        if pause == Duration::from_millis(10) {
            log::info!(
                "waiting up to {:.1}s for the migration lock lease of `{table}` on {} (Galera)",
                timeout.as_secs_f64(),
                database(conn)
            );
        }
        std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
    // Reads must see every write the cluster committed before the lease was granted.
    conn.query_drop(
        "SET @strata_sync_wait = @@SESSION.wsrep_sync_wait, \
         SESSION wsrep_sync_wait = @@SESSION.wsrep_sync_wait | 1",
    )?;
    Ok(Some(Lock::Lease))
}

/// Inserts the lease row; when it exists and has expired, deletes it and inserts again.
/// `Ok(false)` when someone else holds a live lease.
fn try_lease(conn: &mut Conn, table: &Table) -> mysql::Result<bool> {
    let insert = format!(
        "INSERT INTO {LEASES} (name, owner, expires_at) \
         VALUES (?, @strata_lease_owner, UTC_TIMESTAMP(6) + INTERVAL {LEASE_SECONDS} SECOND)"
    );
    match conn.exec_drop(&insert, (table.name(),)) {
        Ok(()) => return Ok(true),
        Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => {}
        Err(e) if server_code(&e) == Some(ER_NO_SUCH_TABLE) => {
            // Only when missing: DDL runs in total order on every node and would abort the
            // lease holder's open statements on the table (error 1213), so no
            // `CREATE TABLE IF NOT EXISTS` on every attempt.
            conn.query_drop(format!(
                "CREATE TABLE IF NOT EXISTS {LEASES} (
                    name VARCHAR(64) NOT NULL PRIMARY KEY,
                    owner VARCHAR(64) NOT NULL,
                    expires_at DATETIME(6) NOT NULL
                ) ENGINE=InnoDB"
            ))?;
            conn.exec_drop(&insert, (table.name(),))?;
            return Ok(true);
        }
        Err(e) => return Err(e),
    }
    conn.exec_drop(
        format!("DELETE FROM {LEASES} WHERE name = ? AND expires_at < UTC_TIMESTAMP(6)"),
        (table.name(),),
    )?;
    if conn.affected_rows() == 0 {
        return Ok(false);
    }
    log::warn!(
        "took over the expired migration lock lease of `{table}` on {}",
        database(conn)
    );
    conn.exec_drop(&insert, (table.name(),))?;
    Ok(true)
}

pub(super) fn renew(conn: &mut Conn, table: &Table) -> Result<(), BoxError> {
    conn.exec_drop(
        format!(
            "UPDATE {LEASES} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL {LEASE_SECONDS} SECOND \
             WHERE name = ? AND owner = @strata_lease_owner"
        ),
        (table.name(),),
    )?;
    if conn.affected_rows() == 0 {
        let database = database(conn);
        return Err(Box::new(Error::new(ErrorKind::LockLost { database })));
    }
    Ok(())
}

/// Deletes our lease row and restores the session's `wsrep_sync_wait`.
pub(super) fn release(conn: &mut Conn, table: &Table) -> mysql::Result<()> {
    conn.exec_drop(
        format!("DELETE FROM {LEASES} WHERE name = ? AND owner = @strata_lease_owner"),
        (table.name(),),
    )?;
    conn.query_drop("SET SESSION wsrep_sync_wait = @strata_sync_wait")
}
