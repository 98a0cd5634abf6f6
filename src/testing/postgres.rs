//! PostgreSQL: a template database per fingerprint, made once per server under an advisory
//! lock; per call `CREATE DATABASE ... TEMPLATE`.
//!
//! A template is built under a temporary name (`strata_tmp_<hex>`), migrated, closed, marked
//! `IS_TEMPLATE` with connections disallowed, and only then renamed to `strata_tpl_<hex>`: a
//! database of that name is always complete. A build cut short (a killed process, a panicking
//! migration) leaves the temporary database, which the next build drops first.
//!
//! Advisory locks are per database, and two clients may name different databases in their
//! URLs: the locks are taken in one database of strata's own, `strata_locks`, made by the
//! first client that needs it, so that every client of the server waits for the same lock.
//!
//! [`postgres_transaction`] (in `transaction.rs` and `pool.rs`) copies the template once more, into the
//! shared database its transactions run in.

use std::str::FromStr;
use std::thread;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use super::{TestDatabase, failed, short_fingerprint, unique_name, with_database};
use crate::{Migrations, Migrator, Result};

mod pool;
mod transaction;

pub use self::transaction::{TestTransaction, postgres_transaction};

const BACKEND: &str = "postgres";
const TEMPLATE: &str = "strata_tpl_";
const BUILDING: &str = "strata_tmp_";
const SHARED: &str = "strata_shared_";
/// The database of the advisory locks, the same for every client of the server.
const LOCKS: &str = "strata_locks";
/// The first key of the advisory locks that serialize building templates (`strt`); the second
/// is the first 4 bytes of the fingerprint.
const LOCK_CLASS: i32 = 0x7374_7274;
/// How many times a statement waits for the last connections to a database to close.
const BUSY_RETRIES: u32 = 100;

/// A new PostgreSQL database with every migration of `migrations` applied, for one test,
/// copied from a template database with `CREATE DATABASE ... TEMPLATE`; dropped (with
/// `WITH (FORCE)`) when the returned value drops.
///
/// `url` is a server the tests may create databases on (`CREATEDB`), as a URL or a key-value
/// string, reached without TLS. The template, `strata_tpl_<16 hex digits of the fingerprint>`
/// (see [the module](super)), is made by the first call that needs it, under a session advisory
/// lock, so that test threads and test processes (nextest runs one per test) wait for one build
/// instead of racing; later calls, later runs included, reuse it. Advisory locks are per
/// database: strata takes them in database `strata_locks` (created on first use), so clients
/// whose URLs name different databases exclude each other too. Talk to the server directly,
/// not through a transaction-pooling PgBouncer, where session locks do not hold. The test
/// database is named `strata_test_<pid>_<n>_<time>_<random>`.
///
/// Templates stay on the server after the tests: a changed set makes a new one,
/// [`drop_postgres_template`] drops the one of a migration set and [`drop_postgres_templates`]
/// drops them all.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let migrations = strata::Migrations::new([])?;
/// let mut db = strata::testing::postgres("postgres://postgres@127.0.0.1/test", &migrations)?;
/// db.execute("CREATE TABLE scratch (id INTEGER)", &[])?; // `db` derefs to `postgres::Client`
/// drop(db); // closes the connection, then drops the database
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A URL that does not parse, a server that cannot be reached or refuses to create a database,
/// or the migration error of the template's build.
///
/// # Panics
///
/// When a Rust-function migration panics while the call builds the template: the next call
/// builds it again.
pub fn postgres(url: &str, migrations: &Migrations) -> Result<TestDatabase<Client>> {
    let config = Config::from_str(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
    let mut admin = connect(&config, admin_name(&config))?;
    let name = unique_name("strata_test");
    let template = copy_template(
        &mut admin,
        &config,
        &short_fingerprint(migrations),
        migrations,
        &name,
        false,
    )?;
    drop(admin);
    let admin_config = config.clone();
    let dropper = move |name: &str| -> std::result::Result<(), crate::BoxError> {
        let mut admin = admin_config.connect(NoTls)?;
        Ok(drop_database(&mut admin, name)?)
    };
    match connect(config.clone().dbname(&name), &name) {
        Ok(conn) => Ok(TestDatabase::new(
            conn,
            name.clone(),
            with_database(url, &name),
            Some(template),
            dropper,
        )),
        Err(e) => {
            if let Err(drop_error) = dropper(&name) {
                log::warn!("failed to drop test database `{name}`: {drop_error}");
            }
            Err(e)
        }
    }
}

/// Drops every template database [`postgres()`] made on the server at `url` (and any build a
/// killed process left) and every shared database of [`postgres_transaction`], and returns
/// their names, sorted. Run it when no test uses the server: it drops the databases of every
/// migration set, those other test processes are using included. After changing a
/// Rust-function migration, or to recover a dirty shared database of one migration set,
/// [`drop_postgres_template`] is enough.
///
/// Each fingerprint's databases are looked for again and dropped under its build lock, so the
/// names returned are those dropped; a template or shared database made for a new fingerprint
/// after the call listed the server's databases stays.
///
/// # Errors
///
/// A URL that does not parse, a server that cannot be reached, or a database that cannot be
/// dropped.
pub fn drop_postgres_templates(url: &str) -> Result<Vec<String>> {
    let config = Config::from_str(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
    let admin_name = admin_name(&config);
    let mut admin = connect(&config, admin_name)?;
    let listed = databases(
        &mut admin,
        admin_name,
        "datname LIKE 'strata\\_tpl\\_%' OR datname LIKE 'strata\\_tmp\\_%' \
         OR datname LIKE 'strata\\_shared\\_%'",
        &[],
    )?;
    // The fingerprint ends every name: `strata_tpl_<hex>`, `strata_shared_<hex>`.
    let mut hexes: Vec<&str> = listed
        .iter()
        .filter_map(|name| name.rsplit('_').next())
        .collect();
    hexes.sort_unstable();
    hexes.dedup();
    let mut locks = Locks::connect(&mut admin, &config)?;
    let mut dropped = Vec::with_capacity(listed.len());
    for hex in hexes {
        dropped.extend(locks.hold(hex, || drop_fingerprint(&mut admin, admin_name, hex))?);
    }
    dropped.sort_unstable();
    Ok(dropped)
}

/// Drops the template database of `migrations` on the server at `url`, a build of it a killed
/// process left, and its shared database of [`postgres_transaction`], and returns the names of
/// those that existed. Other migration sets' databases are left alone, so this is safe while
/// other tests use the server: for a test that cleans up after itself, after changing a
/// Rust-function migration of this set, or to recover its shared database when a test process
/// was killed after a commit (see [`TestTransaction`]). Handles of this migration set still
/// open lose their connections; later calls make the databases again.
///
/// # Errors
///
/// A URL that does not parse, a server that cannot be reached, or a database that cannot be
/// dropped.
pub fn drop_postgres_template(url: &str, migrations: &Migrations) -> Result<Vec<String>> {
    let config = Config::from_str(url).map_err(|e| failed("parse the URL", BACKEND, "?", e))?;
    let admin_name = admin_name(&config);
    let mut admin = connect(&config, admin_name)?;
    let hex = short_fingerprint(migrations);
    Locks::connect(&mut admin, &config)?
        .hold(&hex, || drop_fingerprint(&mut admin, admin_name, &hex))
}

/// Drops the template, build and shared databases of fingerprint `hex` that exist, and returns
/// their names. Called under the fingerprint's lock, so nobody makes or renames them meanwhile.
fn drop_fingerprint(admin: &mut Client, admin_name: &str, hex: &str) -> Result<Vec<String>> {
    let names = [TEMPLATE, BUILDING, SHARED].map(|prefix| format!("{prefix}{hex}"));
    let found = databases(admin, admin_name, "datname = ANY($1)", &[&&names[..]])?;
    for name in &found {
        drop_database(admin, name)
            .map_err(|e| failed("drop the template database", BACKEND, name, e))?;
    }
    Ok(found)
}

/// The names of the databases `condition` (SQL on `pg_database`) selects, sorted.
fn databases(
    admin: &mut Client,
    admin_name: &str,
    condition: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<String>> {
    let list = |admin: &mut Client| -> std::result::Result<Vec<String>, postgres::Error> {
        admin
            .query(
                &format!("SELECT datname FROM pg_database WHERE {condition} ORDER BY datname"),
                params,
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    };
    list(admin).map_err(|e| failed("list the template databases", BACKEND, admin_name, e))
}

/// The database `config` connects to, for errors.
fn admin_name(config: &Config) -> &str {
    config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres")
}

/// Creates database `name` as a copy of the template of `migrations` (fingerprint `hex`),
/// building the template first when it is missing (under the fingerprint's lock, unless the
/// caller `held` it already), and returns the template's name.
fn copy_template(
    admin: &mut Client,
    config: &Config,
    hex: &str,
    migrations: &Migrations,
    name: &str,
    held: bool,
) -> Result<String> {
    let template = format!("{TEMPLATE}{hex}");
    let exists = is_template(admin, &template)
        .map_err(|e| failed("look for the template database", BACKEND, &template, e))?;
    let build = |admin: &mut Client| {
        if held {
            build_template(admin, config, hex, migrations)
        } else {
            Locks::connect(admin, config)?
                .hold(hex, || build_template(admin, config, hex, migrations))
        }
    };
    if !exists {
        build(admin)?;
    }
    let create = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
    let mut created = retry_busy(|| admin.batch_execute(&create));
    if matches!(&created, Err(e) if e.code() == Some(&SqlState::UNDEFINED_DATABASE)) {
        // Dropped since it was found (`drop_postgres_templates` while tests run): build it again.
        build(admin)?;
        created = retry_busy(|| admin.batch_execute(&create));
    }
    created.map_err(|e| failed("create the test database", BACKEND, name, e))?;
    Ok(template)
}

fn connect(config: &Config, name: &str) -> Result<Client> {
    config
        .connect(NoTls)
        .map_err(|e| failed("connect", BACKEND, name, e))
}

/// Whether `name` is a complete template.
fn is_template(admin: &mut Client, name: &str) -> std::result::Result<bool, postgres::Error> {
    match admin.query_opt(
        "SELECT datistemplate FROM pg_database WHERE datname = $1",
        &[&name],
    )? {
        Some(row) => row.try_get(0),
        None => Ok(false),
    }
}

/// A connection to database `strata_locks`, whose advisory locks serialize the builds of
/// templates and shared databases for every client of the server, whatever database its URL
/// names (advisory locks are per database).
struct Locks(Client);

impl Locks {
    /// Connects to the lock database, creating it first (on `admin`) when it is missing.
    fn connect(admin: &mut Client, config: &Config) -> Result<Locks> {
        let mut config = config.clone();
        config.dbname(LOCKS);
        match config.connect(NoTls) {
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_DATABASE) => {
                let create = format!("CREATE DATABASE \"{LOCKS}\"");
                match retry_busy(|| admin.batch_execute(&create)) {
                    // Another client created it at the same time: a duplicate name, or a
                    // duplicate key in `pg_database` when both inserted at once.
                    Err(e)
                        if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                            || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                    created => {
                        created
                            .map_err(|e| failed("create the lock database", BACKEND, LOCKS, e))?;
                    }
                }
                connect(&config, LOCKS).map(Locks)
            }
            connected => connected
                .map(Locks)
                .map_err(|e| failed("connect", BACKEND, LOCKS, e)),
        }
    }

    /// Runs `f` holding the advisory lock of the template of fingerprint `hex`, then releases
    /// it.
    fn hold<T>(&mut self, hex: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let key = u32::from_str_radix(hex.get(..8).unwrap_or_default(), 16)
            .map_or(0, |key| i32::from_be_bytes(key.to_be_bytes()));
        let name = format!("{TEMPLATE}{hex}");
        self.0
            .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
            .map_err(|e| failed("lock the template database", BACKEND, &name, e))?;
        let result = f();
        let unlocked = self
            .0
            .execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key])
            .map_err(|e| failed("unlock the template database", BACKEND, &name, e));
        let value = result?;
        unlocked?;
        Ok(value)
    }
}

/// Builds template `strata_tpl_<hex>` unless another process did while this one waited for the
/// lock.
fn build_template(
    admin: &mut Client,
    config: &Config,
    hex: &str,
    migrations: &Migrations,
) -> Result<()> {
    let template = format!("{TEMPLATE}{hex}");
    let building = format!("{BUILDING}{hex}");
    let made = is_template(admin, &template)
        .map_err(|e| failed("look for the template database", BACKEND, &template, e))?;
    if made {
        return Ok(());
    }
    // What a build cut short left under the temporary name, and a database under the final
    // name that is not marked as a template (not one this code finished).
    drop_database(admin, &building)
        .and_then(|()| drop_database(admin, &template))
        .and_then(|()| admin.batch_execute(&format!("CREATE DATABASE \"{building}\"")))
        .map_err(|e| failed("create the template database", BACKEND, &building, e))?;
    let migrated = connect(config.clone().dbname(&building), &building)
        .and_then(|mut conn| conn.migrate(migrations));
    if let Err(e) = migrated {
        if let Err(drop_error) = drop_database(admin, &building) {
            log::warn!("failed to drop database `{building}`: {drop_error}");
        }
        return Err(e);
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{building}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        ))
        .and_then(|()| {
            let rename = format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\"");
            retry_busy(|| admin.batch_execute(&rename))
        })
        .map_err(|e| failed("finish the template database", BACKEND, &building, e))?;
    log::info!("made template database `{template}`");
    Ok(())
}

/// Drops database `name` if it exists, even a template, even with connections.
fn drop_database(admin: &mut Client, name: &str) -> std::result::Result<(), postgres::Error> {
    if is_template(admin, name)? {
        admin.batch_execute(&format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE false"))?;
    }
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
}

/// Runs `f` again while it fails with SQLSTATE 55006 (`object_in_use`: a database another
/// session is connected to, such as a connection still closing), with a short backoff.
fn retry_busy<T>(
    mut f: impl FnMut() -> std::result::Result<T, postgres::Error>,
) -> std::result::Result<T, postgres::Error> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < BUSY_RETRIES => {
                attempt += 1;
                thread::sleep(Duration::from_millis(u64::from(attempt.min(20)) * 5));
            }
            result => return result,
        }
    }
}
