//! MySQL/MariaDB: a new database per call, migrated. (The server has no template databases,
//! and its DDL commits implicitly, so there is nothing cheaper to copy.)

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

use super::{TestDatabase, failed, unique_name, with_database};
use crate::error::BoxError;
use crate::{Migrations, Migrator, Result};

const BACKEND: &str = "mysql";
/// How long (seconds) the drop of a test database waits for a metadata lock that a session it
/// could not end holds, instead of the server's `lock_wait_timeout` (a day by default).
const DROP_LOCK_WAIT: u32 = 10;

/// A new MySQL/MariaDB database with every migration of `migrations` applied, for one test;
/// dropped when the returned value drops.
///
/// The drop first ends (`KILL CONNECTION`) the other sessions whose current database it is,
/// such as a pool made from [`TestDatabase::url`]: an open transaction of theirs holds
/// metadata locks `DROP DATABASE` would wait for. A session that uses the tables from another
/// current database is not ended; the drop waits 10 s for it, then fails with a warning
/// (`log::warn!`) and leaves the database.
///
/// `url` is a server the tests may create databases on (`mysql://user:password@host:port/db`;
/// its database is used only to connect). The test database is named
/// `strata_test_<pid>_<n>_<time>_<random>`.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mysql::prelude::Queryable;
/// # let migrations = strata::Migrations::new([])?;
/// let mut db = strata::testing::mysql("mysql://root@127.0.0.1:3306/test", &migrations)?;
/// db.query_drop("CREATE TABLE scratch (id INTEGER)")?; // `db` derefs to `mysql::Conn`
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A URL that does not parse, a server that cannot be reached or refuses to create a database,
/// or a migration error (the database is dropped).
pub fn mysql(url: &str, migrations: &Migrations) -> Result<TestDatabase<Conn>> {
    let opts = Opts::from_url(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
    let admin_name = opts.get_db_name().unwrap_or_default().to_owned();
    let name = unique_name("strata_test");
    Conn::new(opts.clone())
        .map_err(|e| failed("connect", BACKEND, &admin_name, e))?
        .query_drop(format!("CREATE DATABASE `{name}`"))
        .map_err(|e| failed("create the test database", BACKEND, &name, e))?;
    let db_opts = OptsBuilder::from_opts(opts.clone()).db_name(Some(&name));
    let dropper = move |name: &str| drop_database(&opts, name);
    let conn = match Conn::new(db_opts) {
        Ok(conn) => conn,
        Err(e) => {
            if let Err(drop_error) = dropper(&name) {
                log::warn!("failed to drop test database `{name}`: {drop_error}");
            }
            return Err(failed("connect", BACKEND, &name, e));
        }
    };
    let url = with_database(url, &name);
    let mut db = TestDatabase::new(conn, name, url, None, dropper);
    db.migrate(migrations)?;
    Ok(db)
}

/// Drops database `name`, after ending the other sessions whose current database it is.
fn drop_database(opts: &Opts, name: &str) -> std::result::Result<(), BoxError> {
    let mut admin = Conn::new(opts.clone())?;
    admin.query_drop(format!("SET SESSION lock_wait_timeout = {DROP_LOCK_WAIT}"))?;
    let sessions: Vec<u64> = admin.exec(
        "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
        (name,),
    )?;
    for id in sessions {
        // Gone meanwhile, or not this user's to end: the drop tells whether it mattered.
        if let Err(e) = admin.query_drop(format!("KILL CONNECTION {id}")) {
            log::debug!("failed to end session {id} on test database `{name}`: {e}");
        }
    }
    admin.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))?;
    Ok(())
}
