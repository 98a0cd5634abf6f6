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
        set.add(Migration::sql(1, "a", format!("CREATE TABLE tc{i}_a (id INTEGER);"))?)?;
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
