//! `strata::testing` against real databases: fresh SQLite copies, PostgreSQL template copies,
//! MySQL/MariaDB databases, each independent, dropped after use, and safe to ask for from many
//! threads at once.
//!
//! Servers: `STRATA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `STRATA_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`). Skipped, with a note,
//! when a server cannot be reached, except under `CI=true`.

mod conformance;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use conformance::{TestResult, reachable, setup_url, unique_name};
use mysql::prelude::Queryable;
use strata::testing::{self, TestDatabase};
use strata::{Migration, Migrations, Migrator, Set};

const PG_VAR: &str = "STRATA_TEST_POSTGRES_URL";
const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY_VAR: &str = "STRATA_TEST_MYSQL_URL";
const MY_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Table `users` (its SQL tagged with `tag`, so that each tag is a new fingerprint) and a
/// function migration that counts its runs in `runs`.
fn users(tag: &str, runs: &Arc<AtomicUsize>) -> Migrations {
    let mut set = Set::new("app", "1.0.0").unwrap();
    let sql = format!("-- {tag}\nCREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50));");
    set.add(Migration::sql(1, "users", sql).unwrap()).unwrap();
    let runs = Arc::clone(runs);
    set.add(
        Migration::function(2, "count_runs", move |_| {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap(),
    )
    .unwrap();
    Migrations::new([set]).unwrap()
}

/// `users` with a tag no other test, process or run uses.
fn fresh_users() -> (Migrations, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    (users(&unique_name(), &runs), runs)
}

/// Fresh `users`, and the same with a third migration creating `posts`.
fn fresh_users_and_posts() -> Result<(Migrations, Migrations), strata::Error> {
    let (migrations, _) = fresh_users();
    let mut set = migrations.sets()[0].clone();
    set.add(Migration::sql(
        3,
        "posts",
        "CREATE TABLE posts (id INTEGER)",
    )?)?;
    let changed = Migrations::new([set])?;
    Ok((migrations, changed))
}

/// Runs `f` on `threads` threads at once and collects what they return.
fn on_threads<T: Send>(threads: usize, f: impl Fn() -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    f()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

// ---------------------------------------------------------------------------------------------
// SQLite.

fn sqlite_count(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM users", [], |row| row.get(0))
}

#[test]
fn sqlite_copies_are_migrated_and_independent() -> TestResult {
    let (migrations, runs) = fresh_users();
    let mut a = testing::sqlite(&migrations)?;
    let mut b = testing::sqlite(&migrations)?;
    assert_eq!(a.history(&migrations)?.len(), 2);
    assert!(a.migrate(&migrations)?.is_empty() && b.migrate(&migrations)?.is_empty());
    a.execute("INSERT INTO users (name) VALUES ('ada')", [])?;
    assert_eq!((sqlite_count(&a)?, sqlite_count(&b)?), (1, 0));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "migrated once for both copies"
    );
    Ok(())
}

#[test]
fn sqlite_copies_from_many_threads_share_one_template() -> TestResult {
    let (migrations, runs) = fresh_users();
    let counts = on_threads(8, || -> Result<Vec<i64>, String> {
        (0..20)
            .map(|i| {
                let conn = testing::sqlite(&migrations).map_err(|e| e.to_string())?;
                for _ in 0..i % 3 {
                    conn.execute("INSERT INTO users (name) VALUES ('x')", [])
                        .map_err(|e| e.to_string())?;
                }
                sqlite_count(&conn).map_err(|e| e.to_string())
            })
            .collect()
    });
    for thread in counts {
        let expected: Vec<i64> = (0..20).map(|i| i % 3).collect();
        assert_eq!(thread?, expected);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    Ok(())
}

#[test]
fn sqlite_changed_migrations_get_a_new_template() -> TestResult {
    let (migrations, changed) = fresh_users_and_posts()?;
    testing::sqlite(&migrations)?;
    let conn = testing::sqlite(&changed)?;
    conn.execute("INSERT INTO posts (id) VALUES (1)", [])?;
    let old = testing::sqlite(&migrations)?;
    assert!(
        old.execute("INSERT INTO posts (id) VALUES (1)", [])
            .is_err()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

type Admin = postgres::Client;

/// Runs `case` with the server URL and an admin connection; skips it (with a note) when the
/// server cannot be reached.
fn pg_case(case: impl FnOnce(&str, &mut Admin) -> TestResult) -> TestResult {
    let Some((url, mut admin)) =
        reachable(PG_VAR, PG_URL, |url| Admin::connect(url, postgres::NoTls))
    else {
        return Ok(());
    };
    case(&url, &mut admin)
}

/// `(oid, datistemplate, datallowconn)` of database `name`, if it exists.
fn pg_database(
    admin: &mut Admin,
    name: &str,
) -> Result<Option<(u32, bool, bool)>, postgres::Error> {
    let row = admin.query_opt(
        "SELECT oid, datistemplate, datallowconn FROM pg_database WHERE datname = $1",
        &[&name],
    )?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .transpose()
}

/// Asserts that none of `dbs` exists once they dropped, then drops the templates they were
/// copied from (each test makes templates for its own fingerprints).
fn drop_all(admin: &mut Admin, dbs: Vec<TestDatabase<Admin>>) -> TestResult {
    let names: Vec<String> = dbs.iter().map(|db| db.name().to_owned()).collect();
    let mut templates: Vec<String> = dbs
        .iter()
        .filter_map(|db| db.template().map(str::to_owned))
        .collect();
    templates.dedup();
    drop(dbs);
    for name in &names {
        assert_eq!(pg_database(admin, name)?, None, "{name} was not dropped");
    }
    for name in templates {
        drop_template(admin, &name)?;
    }
    Ok(())
}

fn drop_template(admin: &mut Admin, name: &str) -> Result<(), postgres::Error> {
    admin.batch_execute(&format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE false"))?;
    admin.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
}

/// The name of the template of `migrations`, made if missing.
fn template_of(url: &str, migrations: &Migrations) -> Result<String, Box<dyn std::error::Error>> {
    let db = testing::postgres(url, migrations)?;
    Ok(db.template().ok_or("no template")?.to_owned())
}

/// The database a new connection to `url` is connected to.
fn pg_connected_to(url: &str) -> Result<String, postgres::Error> {
    Admin::connect(url, postgres::NoTls)?
        .query_one("SELECT current_database()", &[])?
        .try_get(0)
}

fn pg_count(db: &mut Admin) -> Result<i64, postgres::Error> {
    db.query_one("SELECT count(*) FROM users", &[])?.try_get(0)
}

#[test]
fn postgres_copies_are_separate_databases_dropped_after_use() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let mut a = testing::postgres(url, &migrations)?;
        let mut b = testing::postgres(url, &migrations)?;
        assert_ne!(a.name(), b.name());
        assert_eq!(a.template(), b.template());
        assert!(a.migrate(&migrations)?.is_empty());
        a.execute("INSERT INTO users (id, name) VALUES (1, 'ada')", &[])?;
        assert_eq!((pg_count(&mut a)?, pg_count(&mut b)?), (1, 0));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "migrated once, in the template"
        );
        assert_eq!(pg_connected_to(b.url())?, b.name());
        drop_all(admin, vec![a, b])
    })
}

#[test]
fn postgres_template_is_made_once_and_reused() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let first = testing::postgres(url, &migrations)?;
        let template = first.template().ok_or("no template")?.to_owned();
        let (oid, is_template, allows_connections) =
            pg_database(admin, &template)?.ok_or("no template database")?;
        assert!(is_template && !allows_connections);
        let second = testing::postgres(url, &migrations)?;
        assert_eq!(second.template(), Some(template.as_str()));
        assert_eq!(pg_database(admin, &template)?.map(|db| db.0), Some(oid));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        drop_all(admin, vec![first, second])
    })
}

/// 8 threads ask at once for a template nobody made yet: one builds it, all get a copy.
#[test]
fn postgres_copies_from_many_threads_at_once() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let dbs = on_threads(8, || testing::postgres(url, &migrations));
        let mut dbs = dbs.into_iter().collect::<Result<Vec<_>, _>>()?;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        for db in &mut dbs {
            assert_eq!(pg_count(db)?, 0);
        }
        drop_all(admin, dbs)
    })
}

#[test]
fn postgres_changed_migrations_get_a_new_template() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, changed) = fresh_users_and_posts()?;
        let mut old = testing::postgres(url, &migrations)?;
        let mut new = testing::postgres(url, &changed)?;
        assert_ne!(old.template(), new.template());
        new.execute("INSERT INTO posts (id) VALUES (1)", &[])?;
        let found = old.execute("INSERT INTO posts (id) VALUES (1)", &[]);
        assert!(found.is_err());
        drop_all(admin, vec![old, new])
    })
}

/// A process killed while it built a template leaves the database it was building
/// (`strata_tmp_<hex>`, here even marked as a template); the next call drops it and builds
/// the template again.
#[test]
fn postgres_half_made_template_is_rebuilt() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let template = template_of(url, &migrations)?;
        drop_template(admin, &template)?;
        let building = template.replace("strata_tpl_", "strata_tmp_");
        admin.batch_execute(&format!("CREATE DATABASE \"{building}\""))?;
        admin.batch_execute(&format!(
            "ALTER DATABASE \"{building}\" WITH IS_TEMPLATE true"
        ))?;
        let mut db = testing::postgres(url, &migrations)?;
        assert_eq!(pg_count(&mut db)?, 0);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(pg_database(admin, &building)?, None);
        drop_all(admin, vec![db])
    })
}

/// `drop_postgres_template` drops the template and the shared database of one migration set,
/// and leaves every other set's alone (other tests, processes and sessions use the server).
#[test]
fn postgres_drop_template_drops_one_sets_databases() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let (other, _) = fresh_users();
        let template = template_of(url, &migrations)?;
        let shared = testing::postgres_transaction(url, &migrations)?
            .name()
            .to_owned();
        let other_template = template_of(url, &other)?;
        assert_eq!(
            testing::drop_postgres_template(url, &migrations)?,
            [shared.clone(), template.clone()]
        );
        assert_eq!(pg_database(admin, &template)?, None);
        assert_eq!(pg_database(admin, &shared)?, None);
        assert!(pg_database(admin, &other_template)?.is_some());
        assert!(testing::drop_postgres_template(url, &migrations)?.is_empty());
        // The pool's connection to the dropped database is replaced, the databases made again.
        let mut tx = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut tx)?, 0);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the template was built again"
        );
        drop(tx);
        drop_transactions(url, &migrations)?;
        drop_transactions(url, &other)
    })
}

/// `drop_postgres_templates` drops every template, build and shared database on the server, so
/// it runs only on the private primary `.ci/run` starts (`STRATA_TEST_PRIMARY_URL`), which no
/// other test uses.
#[test]
fn postgres_drop_templates_drops_every_template_on_a_private_server() -> TestResult {
    let Some(url) = setup_url("STRATA_TEST_PRIMARY_URL", "a private PostgreSQL primary") else {
        return Ok(());
    };
    let mut admin = Admin::connect(&url, postgres::NoTls)?;
    let (migrations, _) = fresh_users();
    let (other, _) = fresh_users();
    let template = template_of(&url, &migrations)?;
    let shared = testing::postgres_transaction(&url, &migrations)?
        .name()
        .to_owned();
    let other_template = template_of(&url, &other)?;
    // A build a killed process left.
    let building = other_template.replace("strata_tpl_", "strata_tmp_");
    admin.batch_execute(&format!("CREATE DATABASE \"{building}\""))?;
    let dropped = testing::drop_postgres_templates(&url)?;
    for name in [&template, &shared, &other_template, &building] {
        assert!(dropped.contains(name), "{name} not in {dropped:?}");
        assert_eq!(pg_database(&mut admin, name)?, None, "{name}");
    }
    let mut tx = testing::postgres_transaction(&url, &migrations)?;
    assert_eq!(pg_count(&mut tx)?, 0);
    drop(tx);
    drop_transactions(&url, &migrations)
}

/// A migration that panics while `postgres_transaction` prepares the shared database: the
/// panic reaches the caller, and a later call does not wait for the preparation that died.
#[test]
fn postgres_transaction_after_a_panicking_migration() -> TestResult {
    pg_case(|url, _| {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut set = Set::new("app", "1.0.0")?;
        let sql = format!(
            "-- {}\nCREATE TABLE users (id INTEGER, name TEXT)",
            unique_name()
        );
        set.add(Migration::sql(1, "users", sql)?)?;
        let counted = Arc::clone(&runs);
        set.add(Migration::function(2, "panics_once", move |_| {
            assert_ne!(
                counted.fetch_add(1, Ordering::SeqCst),
                0,
                "the first run panics"
            );
            Ok(())
        })?)?;
        let migrations = Migrations::new([set])?;
        let first = catch_unwind(AssertUnwindSafe(|| {
            testing::postgres_transaction(url, &migrations)
        }));
        assert!(first.is_err(), "the panic reaches the caller");
        let (sender, receiver) = mpsc::channel();
        let (later_url, later) = (url.to_owned(), migrations.clone());
        thread::spawn(move || {
            let _ = sender.send(testing::postgres_transaction(&later_url, &later));
        });
        let mut tx = receiver
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "a call after the panic hangs")??;
        assert_eq!(pg_count(&mut tx)?, 0);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        drop(tx);
        drop_transactions(url, &migrations)
    })
}

/// `url` with its database replaced by `name`.
fn pg_url_of(url: &str, name: &str) -> Result<String, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("the test needs a URL")?;
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    Ok(match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

/// Migrations whose first run of migration 2 takes a second, and tells `started` it began.
fn slow_first_run(
    started: mpsc::Sender<()>,
) -> Result<(Migrations, Arc<AtomicUsize>), strata::Error> {
    let (migrations, runs) = fresh_users();
    let mut set = migrations.sets()[0].clone();
    let counted = Arc::clone(&runs);
    let started = Mutex::new(started);
    set.add(Migration::function(3, "slow_first_run", move |_| {
        if counted.load(Ordering::SeqCst) == 1 {
            let _ = started.lock().map(|started| started.send(()));
            thread::sleep(Duration::from_secs(1));
        }
        Ok(())
    })?)?;
    Ok((Migrations::new([set])?, runs))
}

/// Runs `case` with two URLs of the server that name different databases (`url`'s and one made
/// here, dropped after), migrations of [`slow_first_run`] and the receiver of its start; then
/// checks that they were built once, and drops their template and shared database.
fn across_admin_databases(
    case: impl FnOnce(&[String; 2], &Migrations, mpsc::Receiver<()>) -> TestResult,
) -> TestResult {
    pg_case(|url, admin| {
        let (started, first_started) = mpsc::channel();
        let (migrations, runs) = slow_first_run(started)?;
        let second = format!("strata_admin_{}", unique_name());
        admin.batch_execute(&format!("CREATE DATABASE \"{second}\""))?;
        let result = pg_url_of(url, &second)
            .map_err(Into::into)
            .and_then(|second| case(&[url.to_owned(), second], &migrations, first_started));
        let dropped = testing::drop_postgres_template(url, &migrations);
        admin.batch_execute(&format!("DROP DATABASE \"{second}\" WITH (FORCE)"))?;
        result?;
        dropped?;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "built once");
        Ok(())
    })
}

/// Clients whose URLs name different databases (`/test` and another) wait for one build of the
/// template: the second asks while the first builds.
#[test]
fn postgres_builds_exclude_each_other_across_admin_databases() -> TestResult {
    across_admin_databases(|urls, migrations, first_started| {
        let templates = thread::scope(|s| {
            let first = s.spawn(|| template_of(&urls[0], migrations).map_err(|e| e.to_string()));
            let _ = first_started.recv_timeout(Duration::from_secs(60));
            let second = s.spawn(|| template_of(&urls[1], migrations).map_err(|e| e.to_string()));
            [first.join(), second.join()]
        });
        let [first, second] =
            templates.map(|t| t.map_err(|_| "panicked".to_owned()).and_then(|t| t));
        assert_eq!(first?, second?);
        Ok(())
    })
}

/// The shared database of `postgres_transaction` is made once for clients whose URLs name
/// different databases, asking at once.
#[test]
fn postgres_shared_database_is_made_once_across_admin_databases() -> TestResult {
    across_admin_databases(|urls, migrations, _| {
        let next = AtomicUsize::new(0);
        let names = on_threads(4, || -> Result<String, String> {
            let url = &urls[next.fetch_add(1, Ordering::SeqCst) % 2];
            let mut tx =
                testing::postgres_transaction(url, migrations).map_err(|e| e.to_string())?;
            pg_count(&mut tx).map_err(|e| e.to_string())?;
            Ok(tx.name().to_owned())
        });
        let names = names.into_iter().collect::<Result<Vec<_>, _>>()?;
        assert!(names.iter().all(|name| *name == names[0]), "{names:?}");
        Ok(())
    })
}

/// `url()` names the test database even when the given URL has a `dbname` parameter, which
/// would override the path.
#[test]
fn postgres_url_connects_to_the_test_database() -> TestResult {
    pg_case(|url, admin| {
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}dbname={}", pg_connected_to(url)?);
        let (migrations, _) = fresh_users();
        let db = testing::postgres(&url, &migrations)?;
        assert_eq!(pg_connected_to(db.url())?, db.name());
        drop_all(admin, vec![db])
    })
}

/// A failing migration fails `postgres()` and `postgres_transaction` each time, the same way,
/// and leaves no database of its fingerprint behind; its errors hold no URL or password.
#[test]
fn postgres_failed_migration_leaves_no_database() -> TestResult {
    pg_case(|url, admin| {
        let url = &with_password(url);
        let mut set = Set::new("app", "1.0.0")?;
        let sql = format!("-- {}\nCREATE TABLE broken (id NOPE)", unique_name());
        set.add(Migration::sql(1, "broken", sql)?)?;
        let migrations = Migrations::new([set])?;
        let err = testing::postgres(url, &migrations)
            .err()
            .ok_or("migrated")?;
        let building = err
            .database()
            .ok_or("no database in the error")?
            .name
            .clone();
        let hex = building
            .strip_prefix("strata_tmp_")
            .ok_or("not the build")?;
        assert_eq!(
            err.to_string(),
            format!(
                "failed to apply migration `app@1_broken` (statement 1 of 1, line 2) on postgres \
                 database `{building}`"
            )
        );
        for _ in 0..2 {
            let again = testing::postgres(url, &migrations)
                .err()
                .ok_or("migrated")?;
            let tx = testing::postgres_transaction(url, &migrations)
                .err()
                .ok_or("migrated")?;
            for e in [again, tx] {
                assert_eq!(e.to_string(), err.to_string());
                assert_eq!(e.migration(), Some("app@1_broken"));
                assert_hides(&e, url);
            }
        }
        for prefix in ["strata_tmp_", "strata_tpl_", "strata_shared_"] {
            let name = format!("{prefix}{hex}");
            assert_eq!(pg_database(admin, &name)?, None, "{name}");
        }
        Ok(())
    })
}

/// `url` with a password if it has none (a trust server ignores it), so that errors can be
/// checked for it.
fn with_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) if !user.contains(':') => {
                format!("{scheme}://{user}:strata-secret@{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Asserts that neither `err` nor any error of its `source()` chain shows `url` or its
/// password, in `Display` or `Debug`.
fn assert_hides(err: &strata::Error, url: &str) {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password);
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(url), "{shown}");
            assert!(password.is_none_or(|p| !shown.contains(p)), "{shown}");
        }
        next = e.source();
    }
}

// PostgreSQL transactions in a shared database.

/// Drops the shared database and the template of `migrations` (each test uses its own).
fn drop_transactions(url: &str, migrations: &Migrations) -> TestResult {
    let dropped = testing::drop_postgres_template(url, migrations)?;
    assert!(
        dropped
            .iter()
            .all(|name| name.starts_with("strata_tpl_") || name.starts_with("strata_shared_")),
        "{dropped:?}"
    );
    Ok(())
}

fn backend_pid(client: &mut Admin) -> Result<i32, postgres::Error> {
    client.query_one("SELECT pg_backend_pid()", &[])?.try_get(0)
}

/// The comment on database `name` (`strata: dirty` once a test committed into it).
fn pg_comment(admin: &mut Admin, name: &str) -> Result<Option<String>, postgres::Error> {
    admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&name],
        )?
        .try_get(0)
}

#[test]
fn postgres_transactions_see_only_their_own_writes_and_roll_back() -> TestResult {
    pg_case(|url, _| {
        let (migrations, runs) = fresh_users();
        let mut a = testing::postgres_transaction(url, &migrations)?;
        let mut b = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(a.name(), b.name());
        assert!(a.name().starts_with("strata_shared_"), "{}", a.name());
        let debug = format!("{a:?}");
        assert!(
            debug.contains(a.name()) && !debug.contains("postgres://"),
            "{debug}"
        );
        assert_eq!(
            a.template().replace("strata_tpl_", "strata_shared_"),
            a.name()
        );
        a.execute("INSERT INTO users (id, name) VALUES (1, 'ada')", &[])?;
        a.batch_execute("CREATE TABLE scratch (id INTEGER); INSERT INTO scratch VALUES (1)")?;
        assert_eq!((pg_count(&mut a)?, pg_count(&mut b)?), (1, 0));
        let open: bool = a
            .query_one("SELECT txid_current_if_assigned() IS NOT NULL", &[])?
            .try_get(0)?;
        assert!(open, "the handle is inside a transaction");
        drop(a);
        assert_eq!(pg_count(&mut b)?, 0);
        drop(b);
        let mut c = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut c)?, 0);
        let scratch: Option<String> = c
            .query_one("SELECT to_regclass('scratch')::text", &[])?
            .try_get(0)?;
        assert_eq!(scratch, None, "the DDL was rolled back");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "migrated once, in the template"
        );
        drop(c);
        drop_transactions(url, &migrations)
    })
}

#[test]
fn postgres_transaction_connections_are_reused() -> TestResult {
    pg_case(|url, _| {
        let (migrations, _) = fresh_users();
        let mut first = testing::postgres_transaction(url, &migrations)?;
        let pid = backend_pid(&mut first)?;
        drop(first);
        let mut second = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(backend_pid(&mut second)?, pid);
        // A failed statement aborts the transaction; the drop still rolls it back and keeps
        // the connection.
        assert!(
            second
                .execute("INSERT INTO nowhere VALUES (1)", &[])
                .is_err()
        );
        drop(second);
        let mut third = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(backend_pid(&mut third)?, pid);
        assert_eq!(pg_count(&mut third)?, 0);
        // Two handles at once have two connections.
        let mut fourth = testing::postgres_transaction(url, &migrations)?;
        assert_ne!(backend_pid(&mut fourth)?, pid);
        drop((third, fourth));
        drop_transactions(url, &migrations)
    })
}

/// 8 threads ask at once for a shared database nobody made yet, then each writes in its own
/// transaction while the others are open.
#[test]
fn postgres_transactions_from_many_threads_at_once() -> TestResult {
    pg_case(|url, _| {
        let (migrations, runs) = fresh_users();
        let written = std::sync::Barrier::new(8);
        let next = AtomicUsize::new(0);
        let results = on_threads(8, || -> Result<(i32, i64, i64), String> {
            let id =
                i32::try_from(next.fetch_add(1, Ordering::SeqCst)).map_err(|e| e.to_string())?;
            let mut tx =
                testing::postgres_transaction(url, &migrations).map_err(|e| e.to_string())?;
            tx.execute("INSERT INTO users (id, name) VALUES ($1, 'x')", &[&id])
                .map_err(|e| e.to_string())?;
            written.wait();
            let mine: i64 = tx
                .query_one("SELECT count(*) FROM users WHERE id = $1", &[&id])
                .and_then(|row| row.try_get(0))
                .map_err(|e| e.to_string())?;
            let all = pg_count(&mut tx).map_err(|e| e.to_string())?;
            let pid = backend_pid(&mut tx).map_err(|e| e.to_string())?;
            written.wait();
            Ok((pid, mine, all))
        });
        let mut pids = Vec::new();
        for result in results {
            let (pid, mine, all) = result?;
            assert_eq!((mine, all), (1, 1), "each sees its own row only");
            pids.push(pid);
        }
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), 8, "one connection per open transaction");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let mut after = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut after)?, 0);
        assert!(
            pids.contains(&backend_pid(&mut after)?),
            "a pooled connection"
        );
        drop(after);
        drop_transactions(url, &migrations)
    })
}

#[test]
fn postgres_transaction_changed_migrations_get_their_own_database() -> TestResult {
    pg_case(|url, _| {
        let (migrations, changed) = fresh_users_and_posts()?;
        let mut old = testing::postgres_transaction(url, &migrations)?;
        let mut new = testing::postgres_transaction(url, &changed)?;
        assert_ne!(old.name(), new.name());
        assert_ne!(old.template(), new.template());
        new.execute("INSERT INTO posts (id) VALUES (1)", &[])?;
        assert!(
            old.execute("INSERT INTO posts (id) VALUES (1)", &[])
                .is_err()
        );
        drop((old, new));
        drop_transactions(url, &migrations)?;
        drop_transactions(url, &changed)
    })
}

/// Something a test does on its transaction's connection.
type Leak = fn(&mut Admin) -> Result<(), postgres::Error>;

/// A test that commits marks the shared database dirty; the next handle rebuilds it from the
/// template (without migrating again) and sees none of what was committed.
#[test]
fn postgres_transaction_commits_are_caught_and_the_database_rebuilt() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, runs) = fresh_users();
        let leaks: [(&str, Leak); 3] = [
            ("COMMIT in SQL", |c| {
                c.batch_execute("COMMIT; INSERT INTO users (id, name) VALUES (1, 'leak')")
            }),
            ("Client::transaction, committed", |c| {
                let mut tx = c.transaction()?;
                tx.execute("INSERT INTO users (id, name) VALUES (2, 'leak')", &[])?;
                tx.commit()
            }),
            ("Client::transaction rolled back, then a write", |c| {
                drop(c.transaction()?);
                c.execute("INSERT INTO users (id, name) VALUES (3, 'leak')", &[])?;
                Ok(())
            }),
        ];
        for (case, leak) in leaks {
            let mut tx = testing::postgres_transaction(url, &migrations)?;
            let name = tx.name().to_owned();
            let (oid, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
            leak(&mut tx)?;
            drop(tx);
            assert_eq!(
                pg_comment(admin, &name)?.as_deref(),
                Some("strata: dirty"),
                "{case}"
            );
            let mut next = testing::postgres_transaction(url, &migrations)?;
            assert_eq!(pg_count(&mut next)?, 0, "{case}");
            let (rebuilt, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
            assert_ne!(rebuilt, oid, "{case}: rebuilt");
            assert_eq!(pg_comment(admin, &name)?, None, "{case}");
            drop(next);
        }
        // Another process marked it dirty: the pooled connection of this one sees the mark at
        // `BEGIN`, and the database is rebuilt before the handle is given.
        let tx = testing::postgres_transaction(url, &migrations)?;
        let name = tx.name().to_owned();
        drop(tx);
        let (oid, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
        admin.batch_execute(&format!(
            "COMMENT ON DATABASE \"{name}\" IS 'strata: dirty'"
        ))?;
        let mut next = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut next)?, 0);
        assert_ne!(pg_database(admin, &name)?.map(|db| db.0), Some(oid));
        assert_eq!(pg_comment(admin, &name)?, None);
        drop(next);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "rebuilt from the template");
        drop_transactions(url, &migrations)
    })
}

/// The process that saw a commit rebuilds the shared database even when the dirty mark is not
/// on the server (its `COMMENT` failed), unless the database was rebuilt since.
#[test]
fn postgres_transaction_commit_without_a_mark_is_rebuilt() -> TestResult {
    pg_case(|url, admin| {
        let (migrations, _) = fresh_users();
        let mut tx = testing::postgres_transaction(url, &migrations)?;
        let (name, template) = (tx.name().to_owned(), tx.template().to_owned());
        let (oid, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
        tx.batch_execute("COMMIT; INSERT INTO users (id, name) VALUES (1, 'leak')")?;
        drop(tx);
        // As if the mark had failed.
        admin.batch_execute(&format!("COMMENT ON DATABASE \"{name}\" IS NULL"))?;
        let mut next = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut next)?, 0);
        let (rebuilt, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
        assert_ne!(rebuilt, oid);
        // Another commit, and another process rebuilds it first: no second rebuild.
        next.batch_execute("COMMIT; INSERT INTO users (id, name) VALUES (2, 'leak')")?;
        drop(next);
        admin.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))?;
        admin.batch_execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))?;
        let (copied, _, _) = pg_database(admin, &name)?.ok_or("no shared database")?;
        let mut last = testing::postgres_transaction(url, &migrations)?;
        assert_eq!(pg_count(&mut last)?, 0);
        assert_eq!(pg_database(admin, &name)?.map(|db| db.0), Some(copied));
        drop(last);
        drop_transactions(url, &migrations)
    })
}

/// The rebuild after a commit waits for the other open handles of the process: their
/// transactions are not cut off.
#[test]
fn postgres_transaction_rebuild_waits_for_open_handles() -> TestResult {
    pg_case(|url, _| {
        let (migrations, _) = fresh_users();
        let mut open = testing::postgres_transaction(url, &migrations)?;
        open.execute("INSERT INTO users (id, name) VALUES (7, 'open')", &[])?;
        let mut leak = testing::postgres_transaction(url, &migrations)?;
        leak.batch_execute("COMMIT; INSERT INTO users (id, name) VALUES (1, 'leak')")?;
        drop(leak);
        let waiting = thread::scope(|s| -> TestResult {
            let next = s.spawn(|| -> Result<i64, String> {
                let mut tx =
                    testing::postgres_transaction(url, &migrations).map_err(|e| e.to_string())?;
                pg_count(&mut tx).map_err(|e| e.to_string())
            });
            thread::sleep(std::time::Duration::from_millis(300));
            assert!(!next.is_finished(), "the rebuild waits for `open`");
            // Still connected, still in its transaction, with the committed row and its own.
            assert_eq!(pg_count(&mut open)?, 2);
            drop(open);
            assert_eq!(next.join().map_err(|_| "panicked")??, 0);
            Ok(())
        });
        waiting?;
        drop_transactions(url, &migrations)
    })
}

#[test]
fn postgres_errors_name_the_database_never_the_url() -> TestResult {
    let url = "postgres://someone:secret@127.0.0.1:1/nowhere";
    let err = testing::postgres(url, &fresh_users().0)
        .err()
        .ok_or("connected to port 1")?;
    assert_eq!(
        err.to_string(),
        "failed to connect on postgres database `nowhere`"
    );
    assert_hides(&err, url);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// MySQL/MariaDB.

/// The server URL and an admin connection, or `None` (with a note) when it cannot be reached.
fn my() -> Option<(String, mysql::Conn)> {
    reachable(MY_VAR, MY_URL, |url| mysql::Conn::new(url))
}

/// Whether database `name` exists.
fn my_exists(admin: &mut mysql::Conn, name: &str) -> Result<bool, mysql::Error> {
    let found: Option<String> = admin.exec_first(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
        (name,),
    )?;
    Ok(found.is_some())
}

#[test]
fn mysql_databases_are_fresh_and_dropped_after_use() -> TestResult {
    let Some((url, mut admin)) = my() else {
        return Ok(());
    };
    let (migrations, runs) = fresh_users();
    let mut a = testing::mysql(&url, &migrations)?;
    let mut b = testing::mysql(&url, &migrations)?;
    assert_ne!(a.name(), b.name());
    assert_eq!(runs.load(Ordering::SeqCst), 2, "migrated once per database");
    assert!(a.migrate(&migrations)?.is_empty());
    a.query_drop("INSERT INTO users (id, name) VALUES (1, 'ada')")?;
    let count = |db: &mut TestDatabase<mysql::Conn>| -> Result<Option<i64>, mysql::Error> {
        db.query_first("SELECT count(*) FROM users")
    };
    assert_eq!((count(&mut a)?, count(&mut b)?), (Some(1), Some(0)));
    let names = [a.name().to_owned(), b.name().to_owned()];
    drop((a, b));
    for name in names {
        assert!(!my_exists(&mut admin, &name)?, "{name} was not dropped");
    }
    Ok(())
}

#[test]
fn mysql_failed_migration_drops_its_database() -> TestResult {
    let Some((url, mut admin)) = my() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "broken",
        "CREATE TABLE broken (id NOPE)",
    )?)?;
    let err = testing::mysql(&url, &Migrations::new([set])?)
        .err()
        .ok_or("migrated")?;
    assert_eq!(err.migration(), Some("app@1_broken"));
    assert_hides(&err, &url);
    let name = &err.database().ok_or("no database in the error")?.name;
    assert!(name.starts_with("strata_test_"), "{name}");
    assert!(!my_exists(&mut admin, name)?, "{name} was not dropped");
    Ok(())
}

#[test]
fn mysql_errors_name_the_database_never_the_url() -> TestResult {
    let url = "mysql://someone:secret@127.0.0.1:1/nowhere";
    let err = testing::mysql(url, &fresh_users().0)
        .err()
        .ok_or("connected to port 1")?;
    assert_eq!(
        err.to_string(),
        "failed to connect on mysql database `nowhere`"
    );
    assert_hides(&err, url);
    Ok(())
}

/// `url()` names the test database even when the given URL has a `db_name` parameter, which
/// would override the path.
#[test]
fn mysql_url_connects_to_the_test_database() -> TestResult {
    let Some((url, _)) = my() else {
        return Ok(());
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = testing::mysql(&format!("{url}{sep}db_name=mysql"), &fresh_users().0)?;
    let mut other = mysql::Conn::new(db.url())?;
    let connected: Option<String> = other.query_first("SELECT DATABASE()")?;
    assert_eq!(connected.as_deref(), Some(db.name()));
    Ok(())
}

/// Drops `db` on another thread; whether that took less than a minute.
fn dropped_in_a_minute(db: TestDatabase<mysql::Conn>) -> bool {
    let (dropped, done) = mpsc::channel();
    thread::spawn(move || {
        drop(db);
        let _ = dropped.send(());
    });
    done.recv_timeout(Duration::from_secs(60)).is_ok()
}

/// Another connection to the test database in an open transaction holds a metadata lock that
/// `DROP DATABASE` would wait for (a day, by default): the drop ends that session first.
#[test]
fn mysql_drop_ends_the_other_sessions() -> TestResult {
    let Some((url, mut admin)) = my() else {
        return Ok(());
    };
    let db = testing::mysql(&url, &fresh_users().0)?;
    let name = db.name().to_owned();
    let mut other = mysql::Conn::new(db.url())?;
    other.query_drop("BEGIN")?;
    let count: Option<i64> = other.query_first("SELECT count(*) FROM users")?;
    assert_eq!(count, Some(0));
    assert!(
        dropped_in_a_minute(db),
        "the drop waits for the other session"
    );
    assert!(!my_exists(&mut admin, &name)?, "{name} was not dropped");
    assert!(
        other.query_drop("SELECT 1").is_err(),
        "the session was ended"
    );
    // A session using the tables from another database is not ended: the drop gives up after
    // its short `lock_wait_timeout`, with a warning, and leaves the database.
    let db = testing::mysql(&url, &fresh_users().0)?;
    let name = db.name().to_owned();
    let mut other = mysql::Conn::new(url.as_str())?;
    other.query_drop("BEGIN")?;
    let count: Option<i64> = other.query_first(format!("SELECT count(*) FROM `{name}`.users"))?;
    assert_eq!(count, Some(0));
    let gave_up = dropped_in_a_minute(db);
    other.query_drop("COMMIT")?;
    assert!(gave_up, "the drop waits for the other session");
    assert!(my_exists(&mut admin, &name)?, "{name} was dropped");
    admin.query_drop(format!("DROP DATABASE `{name}`"))?;
    Ok(())
}
