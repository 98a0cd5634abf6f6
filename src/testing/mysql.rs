//! MySQL/MariaDB: a new database per call, migrated. (The server has no template databases,
//! and its DDL commits implicitly, so there is nothing cheaper to copy.)

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

use super::{TestDatabase, failed, unique_name, with_database};
use crate::{Migrations, Migrator, Result};

const BACKEND: &str = "mysql";

/// A new MySQL/MariaDB database with every migration of `migrations` applied, for one test;
/// dropped when the returned value drops.
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
    let dropper = move |name: &str| -> std::result::Result<(), crate::BoxError> {
        Conn::new(opts.clone())?.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))?;
        Ok(())
    };
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
