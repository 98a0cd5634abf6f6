//! Transaction control inside a migration, session setup statements, and SQLite's foreign keys
//! during a run, on every database.

use strata::{Adapter, ErrorKind, Migration, Migrations, Migrator, Set};

use super::{TestDb, TestResult};

/// Every statement that ends or restarts a transaction, written as migration 2 between two
/// `CREATE TABLE`s: where the run is one transaction it is refused before it is sent, naming the
/// migration and statement, and nothing of the run stays; on MySQL (which runs DDL outside
/// transactions) the file runs as the mysql client runs it.
pub fn transaction_control_in_a_migration_is_refused<D: TestDb>(db: &D) -> TestResult {
    let postgres_only = ["ABORT", "COMMIT AND CHAIN", "END TRANSACTION"];
    for (i, control) in [
        "COMMIT",
        "ROLLBACK",
        "END",
        "BEGIN",
        "START TRANSACTION",
        "commit work",
        "ABORT",
        "COMMIT AND CHAIN",
        "END TRANSACTION",
    ]
    .into_iter()
    .enumerate()
    {
        let mut conn = db.connect();
        let backend = conn.dialect().backend;
        if postgres_only.contains(&control) && backend != "postgres" {
            continue;
        }
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "a",
            format!("CREATE TABLE tc{i}_a (id INTEGER);"),
        )?)?;
        set.add(Migration::sql(
            2,
            "b",
            format!(
                "CREATE TABLE tc{i}_b (id INTEGER);\n{control};\nCREATE TABLE tc{i}_c (id INTEGER);"
            ),
        )?)?;
        let m = Migrations::new([set])?.table(&format!("tc{i}_history"))?;
        if conn.dialect().transactional_ddl {
            let err = conn.migrate(&m).unwrap_err();
            let database = conn.database();
            assert!(
                matches!(err.kind(), ErrorKind::TransactionEnded { .. }),
                "{control}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "migration `app@2_b` ended the run's transaction itself (statement 2 of 3, line 2) on {database}; remove its transaction control or mark it `-- strata:no-transaction`"
                ),
                "{control}"
            );
            // Nothing of the run stayed, and the connection is usable (no transaction open).
            for table in ["a", "b", "c", "history"] {
                let table = format!("tc{i}_{table}");
                assert_eq!(D::count(&mut conn, &table), None, "{control}: {table}");
            }
            assert_eq!(conn.migrate(&Migrations::new([])?)?.applied().len(), 0);
        } else if control != "END" {
            // `END` is no MySQL statement.
            assert_eq!(conn.migrate(&m)?.applied().len(), 2, "{control}");
            for table in ["a", "b", "c"] {
                let table = format!("tc{i}_{table}");
                assert_eq!(D::count(&mut conn, &table), Some(0), "{control}: {table}");
            }
        }
    }
    Ok(())
}

/// A setup statement and a migration that needs it, per backend: MySQL creates a table whose
/// foreign key refers to a table created after it (`SET FOREIGN_KEY_CHECKS = 0`); PostgreSQL
/// creates a SQL function over a table created after it (`SET check_function_bodies = off`);
/// SQLite rebuilds a referenced table with foreign keys enforced for the run but turned off by
/// the setup (`PRAGMA foreign_keys = OFF`).
fn needs_setup(backend: &str) -> (&'static str, &'static str) {
    match backend {
        "mysql" => (
            "SET FOREIGN_KEY_CHECKS = 0;",
            "CREATE TABLE su_child (id INT PRIMARY KEY, parent_id INT, \
             CONSTRAINT su_child_parent FOREIGN KEY (parent_id) REFERENCES su_parent (id)) ENGINE=InnoDB;\n\
             CREATE TABLE su_parent (id INT PRIMARY KEY) ENGINE=InnoDB;",
        ),
        "postgres" => (
            "SET check_function_bodies = off;",
            "CREATE FUNCTION su_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM su_parent $$;\n\
             CREATE TABLE su_parent (id INT PRIMARY KEY);",
        ),
        _ => (
            "PRAGMA foreign_keys = OFF;",
            "CREATE TABLE su_parent (id INTEGER PRIMARY KEY);\n\
             CREATE TABLE su_child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES su_parent (id));\n\
             INSERT INTO su_parent (id) VALUES (1);\n\
             INSERT INTO su_child (id, parent_id) VALUES (1, 1);\n\
             CREATE TABLE su_parent_new (id INTEGER PRIMARY KEY, name TEXT);\n\
             INSERT INTO su_parent_new (id) SELECT id FROM su_parent;\n\
             DROP TABLE su_parent;\n\
             ALTER TABLE su_parent_new RENAME TO su_parent;",
        ),
    }
}

fn setup_set(migration: &'static str) -> Result<Set, strata::Error> {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "needs_setup", migration)?)?;
    Ok(set)
}

/// Setup SQL runs on the migrating connection before the first migration, only when there is
/// work; a failing setup statement is named and nothing runs; offline scripts start with it.
pub fn setup_sql_runs_before_a_run_with_work<D: TestDb>(db: &D) -> TestResult {
    let mut conn = db.connect();
    let backend = conn.dialect().backend;
    let (setup, migration) = needs_setup(backend);
    // SQLite enforces foreign keys for this run: only the setup turns them off.
    let without = Migrations::new([setup_set(migration)?])?
        .table("su_history")?
        .sqlite_foreign_keys(true);
    let err = conn.migrate(&without).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Migration { .. }),
        "without its setup the migration fails: {err}"
    );
    if !conn.dialect().transactional_ddl {
        conn.repair(&without)?;
        conn.execute("DROP TABLE IF EXISTS su_child")
            .map_err(|e| e.to_string())?;
    }
    // A failing setup statement: named, and no migration ran.
    let broken = without
        .clone()
        .setup_sql(backend, format!("{setup}\nSELECT * FROM su_no_such_table;"))?;
    let err = conn.migrate(&broken).unwrap_err();
    let database = conn.database();
    assert_eq!(
        err.to_string(),
        format!("session setup statement 2 of 2 (line 2) failed on {database}; no migration ran")
    );
    assert!(matches!(err.kind(), ErrorKind::Setup { .. }));
    assert!(conn.history(&broken)?.is_empty());
    assert_eq!(D::count(&mut conn, "su_parent"), None);
    // With the setup, the migration runs.
    let with = without.clone().setup_sql(backend, setup)?;
    assert_eq!(conn.migrate(&with)?.applied(), ["app@1_needs_setup"]);
    assert_eq!(
        D::count(&mut conn, "su_parent"),
        Some(i64::from(backend == "sqlite"))
    );
    if backend == "sqlite" {
        assert_eq!(
            D::count(&mut conn, "su_child"),
            Some(1),
            "the rebuild kept the child rows"
        );
    }
    // Nothing to do: not even a broken setup is sent.
    assert!(conn.migrate(&broken)?.is_empty());
    // Offline scripts start with the setup, before the first transaction.
    let flavor = strata::Flavor::of(&conn.dialect()).ok_or("a flavor")?;
    let script = with.upgrade_script(flavor, "base", "heads")?;
    let at = script.find(setup).ok_or("the setup is in the script")?;
    assert!(
        script[..at].ends_with("-- session setup (stays set on the connection)\n")
            || script[..at].ends_with("PRAGMA foreign_keys = ON;\n"),
        "{script}"
    );
    let first_migration = script
        .find("-- apply app@1_needs_setup")
        .ok_or("the migration")?;
    assert!(at < first_migration, "{script}");
    if let Some(begin) = script.find("BEGIN") {
        assert!(at < begin, "{script}");
    }
    Ok(())
}
