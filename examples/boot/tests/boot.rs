//! Runs the boot example's binary as a deployment would: twice on one SQLite file, and as six
//! replicas booting at once against one PostgreSQL database.

use std::process::{Command, Output};

fn boot(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot"))
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .output()
        .expect("the boot binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "boot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn second_boot_applies_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("app.db").display());

    let first = stdout(&boot(&url));
    assert!(first.starts_with("applied 3 migrations in "), "{first}");
    for id in [
        "strata-example-boot@20261120090000_create_users",
        "strata-example-boot@20261120091500_add_users_name",
        "strata-example-boot@20261120093000_seed_admin",
    ] {
        assert!(first.contains(id), "{id} missing from {first}");
    }
    assert!(first.ends_with("serving with 1 users\n"), "{first}");

    let second = stdout(&boot(&url));
    assert_eq!(
        second,
        "up to date, nothing applied\nserving with 1 users\n"
    );
}

#[test]
fn a_bad_database_path_fails_with_the_error_chain() {
    let out = boot("sqlite:/nonexistent-directory/app.db");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
}

/// Six replicas boot at once against one fresh PostgreSQL database: every one succeeds, one of
/// them applies the three migrations, the others find the work done.
#[test]
fn replicas_booting_together_apply_each_migration_once() {
    let admin_url = std::env::var("STRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = match postgres::Client::connect(&admin_url, postgres::NoTls) {
        Ok(client) => client,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipping: no PostgreSQL server ({e}); set STRATA_TEST_POSTGRES_URL");
            return;
        }
        Err(e) => panic!("CI=true but PostgreSQL is unreachable: {e}"),
    };
    let name = format!("strata_boot_example_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).expect("create the test database");
    }
    let url = match admin_url.rfind('/') {
        Some(slash) => format!("{}/{name}", &admin_url[..slash]),
        None => panic!("no database in {admin_url}"),
    };

    let replicas: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_boot"))
                .env("DATABASE_URL", &url)
                .env_remove("RUST_LOG")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a replica starts")
        })
        .collect();
    let outputs: Vec<String> = replicas
        .into_iter()
        .map(|r| stdout(&r.wait_with_output().expect("a replica ends")))
        .collect();

    let applied = outputs
        .iter()
        .filter(|o| o.starts_with("applied 3 "))
        .count();
    let waited = outputs
        .iter()
        .filter(|o| o.starts_with("up to date, nothing applied"))
        .count();
    let rows: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
            &[],
        )
        .expect("count")
        .get(0);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let history: i64 = db
        .query_one("SELECT count(*) FROM strata_migrations", &[])
        .expect("history")
        .get(0);
    drop(db);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .expect("drop the test database");
    assert_eq!(rows, 1);
    assert_eq!((applied, waited), (1, 5), "{outputs:#?}");
    assert_eq!(history, 3);
    assert!(
        outputs
            .iter()
            .all(|o| o.ends_with("serving with 1 users\n"))
    );
}
