//! The conformance suite on SQLite (temp files), plus SQLite's own cases: several processes
//! migrating one file at once, the lock timeout, in-memory databases, exact error lines.

#![cfg(feature = "rusqlite")]

mod conformance;

use std::path::PathBuf;

use std::time::{Duration, Instant};

use conformance::crash::{Scenario, Via};
use conformance::{TestDb, TestResult, counted, tables};
use rusqlite::Connection;
use strata::{ErrorKind, Migration, Migrations, Migrator, Mode, Set};

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestDb for Sqlite {
    type Conn = Connection;

    fn create() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("test.db");
        Some(Sqlite { _dir: dir, path })
    }

    fn url(&self) -> String {
        self.path.display().to_string()
    }

    fn open(url: &str) -> Connection {
        Connection::open(url).expect("open the test database")
    }

    fn count(conn: &mut Connection, table: &str) -> Option<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .ok()
    }
}

conformance_suite!(Sqlite);
splitting_suite!(Sqlite);

#[test]
#[ignore = "a child process of concurrent_processes_apply_each_migration_once"]
fn child_boot() -> TestResult {
    conformance::child_boot::<Sqlite>()
}

#[test]
fn concurrent_processes_apply_each_migration_once() -> TestResult {
    for _ in 0..conformance::rounds() {
        for (mode, wal) in [
            (Mode::AllOrNothing, false),
            (Mode::PerMigration, false),
            (Mode::AllOrNothing, true),
            (Mode::PerMigration, true),
        ] {
            let db = Sqlite::create().expect("sqlite");
            if wal {
                // WAL mode is a property of the file: every child's connection uses it.
                let mode: String =
                    db.connect()
                        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                assert_eq!(mode, "wal");
            }
            conformance::concurrent_boots(&db, &[db.url()], mode, 4, 4, 4)?;
        }
    }
    Ok(())
}

#[test]
fn lock_timeout_names_the_database() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let holder = db.connect();
    holder
        .execute_batch("CREATE TABLE x (id INTEGER); BEGIN IMMEDIATE; INSERT INTO x VALUES (1);")?;
    let m = Migrations::new([tables("app", 1)])?.lock_timeout(Duration::from_millis(300));
    let mut conn = db.connect();
    let start = Instant::now();
    let err = conn.migrate(&m).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }));
    let text = err.to_string();
    let expected_prefix = "timed out after 0.";
    let expected_suffix = format!(
        "s waiting for the migration lock on sqlite database `{}`",
        db.path.display()
    );
    assert!(
        text.starts_with(expected_prefix) && text.ends_with(&expected_suffix),
        "{text}"
    );
    // Released: once the holder commits, migrating works.
    holder.execute_batch("COMMIT")?;
    assert_eq!(conn.migrate(&m)?.applied().len(), 1);
    Ok(())
}

#[test]
fn waiting_for_the_lock_then_finding_the_work_done() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let m = counted(5);
    let holder = db.connect();
    holder.execute_batch("BEGIN IMMEDIATE")?;
    let path = db.path.clone();
    let m2 = m.clone();
    let waiter = std::thread::spawn(move || {
        let mut conn = Connection::open(path).unwrap();
        conn.migrate(&m2).map(|r| r.applied().len())
    });
    std::thread::sleep(Duration::from_millis(200));
    // The holder applies everything while the waiter waits, then lets go.
    let mut holder = holder;
    holder.execute_batch("COMMIT")?;
    assert_eq!(holder.migrate(&m)?.applied().len(), 5);
    assert_eq!(waiter.join().unwrap()?, 0, "the waiter found the work done");
    Ok(())
}

#[test]
fn in_memory_database() -> TestResult {
    let m = Migrations::new([tables("app", 3)])?;
    let mut conn = Connection::open_in_memory()?;
    assert_eq!(conn.migrate(&m)?.applied().len(), 3);
    assert_eq!(conn.downgrade(&m, "base")?.reverted().len(), 3);
    let err = Migrations::new([{
        let mut s = Set::new("app", "1.0.0")?;
        s.add(Migration::sql(
            1,
            "bad",
            "CREATE TABLE t (id INTEGER);\nSELEC 1;",
        )?)?;
        s
    }])?;
    let e = conn.migrate(&err).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to apply migration `app@1_bad` (statement 2 of 2, line 2) on sqlite database `:memory:`"
    );
    Ok(())
}

#[test]
fn error_line_points_into_a_multi_line_statement() -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(
        1,
        "multi",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\nINSERT INTO a (id)\n  VALUES (1),\n  (2,,);\n",
    )?)?;
    let mut conn = Connection::open_in_memory()?;
    let err = conn.migrate(&Migrations::new([s])?).unwrap_err();
    let p = err.position().expect("position");
    assert_eq!(
        (p.statement, p.statements, p.line),
        (2, 2, 4),
        "the line of the syntax error"
    );
    Ok(())
}

#[test]
fn trigger_bodies_run_whole() -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(
        1,
        "audit",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER);\nCREATE TABLE audit (id INTEGER, what TEXT);\nCREATE TRIGGER items_audit AFTER INSERT ON items BEGIN\n  INSERT INTO audit VALUES (new.id, CASE WHEN new.n > 0 THEN 'pos' ELSE 'neg' END);\n  INSERT INTO audit VALUES (new.id, 'done');\nEND;\nINSERT INTO items (n) VALUES (5);\n",
    )?)?;
    let mut conn = Connection::open_in_memory()?;
    conn.migrate(&Migrations::new([s])?)?;
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
    assert_eq!(n, 2);
    Ok(())
}

#[test]
fn file_database_up_down_to_base_and_up_again() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let m = strata::Migrations::new([strata::embed_migrations!(
        "examples/quickstart/migrations",
        name = "quickstart"
    )
    .to_set()?])?;
    {
        let mut conn = db.connect();
        assert_eq!(conn.migrate(&m)?.applied().len(), 2);
    }
    {
        let mut conn = db.connect();
        assert_eq!(conn.downgrade(&m, "base")?.reverted().len(), 2);
        assert_eq!(Sqlite::count(&mut conn, "users"), None);
    }
    let mut conn = db.connect();
    assert_eq!(conn.migrate(&m)?.applied().len(), 2);
    conn.execute("INSERT INTO users (email) VALUES ('a@example.com')", [])?;
    assert_eq!(Sqlite::count(&mut conn, "users"), Some(1));
    Ok(())
}

#[test]
fn function_migration_gets_the_rusqlite_connection() -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(
        1,
        "create",
        "CREATE TABLE kv (k TEXT, v INTEGER);",
    )?)?;
    s.add(Migration::function(2, "seed", |tx| {
        assert_eq!(tx.backend(), "sqlite");
        let conn = tx.downcast_mut::<Connection>().ok_or("not SQLite")?;
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            conn.execute(
                "INSERT INTO kv (k, v) VALUES (?1, ?2)",
                rusqlite::params![k, i64::try_from(i)?],
            )?;
        }
        Ok(())
    })?)?;
    let mut conn = Connection::open_in_memory()?;
    conn.migrate(&Migrations::new([s])?)?;
    let sum: i64 = conn.query_row("SELECT SUM(v) FROM kv", [], |r| r.get(0))?;
    assert_eq!(sum, 3);
    Ok(())
}

#[test]
fn panicking_function_migration_rolls_back_and_releases_the_lock() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut s = tables("app", 1);
    s.add(Migration::function(2, "boom", |_| {
        panic!("data migration bug")
    })?)?;
    let m = Migrations::new([s])?;
    let path = db.path.clone();
    let m2 = m.clone();
    let result = std::thread::spawn(move || {
        let mut conn = Connection::open(path).unwrap();
        let _ = conn.migrate(&m2);
    })
    .join();
    assert!(result.is_err(), "the panic propagates");
    let mut conn = db.connect();
    assert_eq!(Sqlite::count(&mut conn, "app_t1"), None, "rolled back");
    // The lock is free again: a short timeout is enough.
    let ok = Migrations::new([tables("app", 1)])?.lock_timeout(Duration::from_millis(100));
    assert_eq!(conn.migrate(&ok)?.applied().len(), 1);
    Ok(())
}

#[test]
fn unreadable_history_table_is_a_database_error() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE strata_migrations (something_else TEXT)")?;
    let err = conn
        .migrate(&Migrations::new([tables("app", 1)])?)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to read the history table on sqlite database `:memory:`"
    );
    assert!(std::error::Error::source(&err).is_some());
    Ok(())
}

#[test]
fn history_table_names_are_case_insensitive_and_unqualified() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let upper = Migrations::new([tables("app", 2)])?.table("App_History")?;
    assert_eq!(conn.migrate(&upper)?.applied().len(), 2);
    let lower = Migrations::new([tables("app", 2)])?.table("app_history")?;
    assert!(
        conn.migrate(&lower)?.is_empty(),
        "the same table for SQLite"
    );
    let qualified = Migrations::new([tables("app", 2)])?.table("main.app_history")?;
    assert_eq!(
        conn.migrate(&qualified).unwrap_err().to_string(),
        "invalid history table name `main.app_history`: expected a table name without schema on this database"
    );
    assert!(conn.status(&qualified).is_err());
    Ok(())
}

#[test]
fn a_booter_waits_for_a_running_no_transaction_migration() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut set = tables("app", 1);
    // A no-transaction migration that takes a while: SQLite releases the lock while it runs.
    set.add(Migration::sql(
        2,
        "slow",
        "-- strata:no-transaction\nCREATE TABLE slow_a (n INTEGER);\nINSERT INTO slow_a WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) FROM c;\nCREATE TABLE slow_b (n INTEGER);",
    )?)?;
    let m = Migrations::new([set])?;
    let (path, m1) = (db.path.clone(), m.clone());
    let first = std::thread::spawn(move || {
        let mut conn = Connection::open(path).unwrap();
        conn.migrate(&m1).map(|r| r.applied().len())
    });
    // Start the second boot once the first is inside the slow migration.
    let mut conn = db.connect();
    let start = Instant::now();
    loop {
        let dirty = conn
            .history(&m)?
            .iter()
            .any(|r| matches!(r.state, strata::RecordState::Dirty { .. }));
        if dirty {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the slow migration never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let report = conn.migrate(&m)?;
    assert!(
        report.is_empty(),
        "the waiter finds the work done: {report}"
    );
    assert_eq!(first.join().unwrap()?, 2);
    assert!(conn.status(&m)?.is_up_to_date());
    Ok(())
}

#[test]
fn a_dirty_row_left_by_a_failure_fails_after_the_lock_timeout() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    let mut set = tables("app", 1);
    set.add(Migration::sql(
        2,
        "broken",
        "-- strata:no-transaction\nCREATE TABLE b (n INTEGER);\nSELECT * FROM nowhere;",
    )?)?;
    let m = Migrations::new([set])?.lock_timeout(Duration::from_millis(200));
    assert!(conn.migrate(&m).is_err());
    let start = Instant::now();
    let err = conn.migrate(&m).unwrap_err();
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "waited for the lock timeout"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("migration `app@2_broken` is still dirty after waiting 0.")
            && text.ends_with("s: it stopped after 1 statement, or another process is still running it; repair it only once no process runs it"),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_failed_commit_does_not_leave_the_transaction_open() -> TestResult {
    use std::sync::{Arc, Mutex};
    let db = Sqlite::create().expect("sqlite");
    let path = db.path.clone();
    let reader: Arc<Mutex<Option<Connection>>> = Arc::default();
    let keep = Arc::clone(&reader);
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::function(1, "hold_a_reader", move |tx| {
        tx.execute("CREATE TABLE t (id INTEGER)")?;
        // A reader whose SHARED lock outlives the migration makes the COMMIT fail (rollback
        // journal mode needs an exclusive lock to commit).
        let r = Connection::open(&path)?;
        r.execute_batch("BEGIN")?;
        r.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
            row.get::<_, i64>(0)
        })?;
        *keep.lock().map_err(|_| "poisoned")? = Some(r);
        Ok(())
    })?)?;
    let mut conn = db.connect();
    conn.busy_timeout(Duration::from_millis(50))?;
    let err = conn.migrate(&Migrations::new([s])?).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to commit (rolled back instead) on sqlite database `{}`",
            db.path.display()
        )
    );
    assert!(
        conn.is_autocommit(),
        "the transaction and its write lock are gone"
    );
    drop(reader.lock().map_err(|_| "poisoned")?.take());
    assert_eq!(Sqlite::count(&mut conn, "t"), None, "nothing was committed");
    Ok(())
}

#[test]
fn a_huge_lock_timeout_waits_instead_of_panicking() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let holder = db.connect();
    holder.execute_batch("BEGIN IMMEDIATE")?;
    let m = Migrations::new([tables("app", 1)])?.lock_timeout(Duration::MAX);
    let path = db.path.clone();
    let waiter = std::thread::spawn(move || {
        Connection::open(path)
            .map_err(|e| e.to_string())?
            .migrate(&m)
            .map(|r| r.applied().len())
            .map_err(|e| e.to_string())
    });
    std::thread::sleep(Duration::from_millis(200));
    holder.execute_batch("COMMIT")?;
    assert_eq!(waiter.join().map_err(|_| "the waiter panicked")??, 1);
    Ok(())
}

/// An adapter that lets a "peer" write to the history table just before each lock, to replay
/// exact interleavings of two processes.
struct Racy {
    conn: Connection,
    peer: Connection,
    locks: u32,
    /// What the peer writes before the n-th lock (1-based).
    script: fn(u32) -> Option<&'static str>,
}

impl strata::Adapter for Racy {
    fn dialect(&self) -> strata::adapter::Dialect {
        strata::Adapter::dialect(&self.conn)
    }
    fn database(&mut self) -> strata::Database {
        strata::Adapter::database(&mut self.conn)
    }
    fn connection(&mut self) -> &mut dyn std::any::Any {
        strata::Adapter::connection(&mut self.conn)
    }
    fn read_history(
        &mut self,
        t: &strata::Table,
    ) -> Result<Option<Vec<strata::Record>>, strata::BoxError> {
        strata::Adapter::read_history(&mut self.conn, t)
    }
    fn create_history(&mut self, t: &strata::Table) -> Result<(), strata::BoxError> {
        strata::Adapter::create_history(&mut self.conn, t)
    }
    fn execute(&mut self, s: &str) -> Result<(), strata::BoxError> {
        strata::Adapter::execute(&mut self.conn, s)
    }
    fn begin(&mut self) -> Result<(), strata::BoxError> {
        strata::Adapter::begin(&mut self.conn)
    }
    fn commit(&mut self) -> Result<(), strata::BoxError> {
        strata::Adapter::commit(&mut self.conn)
    }
    fn rollback(&mut self) -> Result<(), strata::BoxError> {
        strata::Adapter::rollback(&mut self.conn)
    }
    fn write_record(
        &mut self,
        t: &strata::Table,
        r: &strata::Record,
    ) -> Result<(), strata::BoxError> {
        strata::Adapter::write_record(&mut self.conn, t, r)
    }
    fn delete_record(
        &mut self,
        t: &strata::Table,
        s: &str,
        v: u64,
    ) -> Result<(), strata::BoxError> {
        strata::Adapter::delete_record(&mut self.conn, t, s, v)
    }
    fn data_version(&mut self) -> Result<Option<u64>, strata::BoxError> {
        strata::Adapter::data_version(&mut self.conn)
    }
    fn unlock(
        &mut self,
        t: &strata::Table,
        lock: strata::adapter::Lock,
    ) -> Result<(), strata::BoxError> {
        strata::Adapter::unlock(&mut self.conn, t, lock)
    }
    fn lock(
        &mut self,
        t: &strata::Table,
        timeout: Duration,
    ) -> Result<Option<strata::adapter::Lock>, strata::BoxError> {
        self.locks += 1;
        if let Some(sql) = (self.script)(self.locks) {
            self.peer.execute_batch(sql)?;
        }
        strata::Adapter::lock(&mut self.conn, t, timeout)
    }
}

/// The peer of `a_run_waits_for_a_peer_running_its_next_no_transaction_step`.
fn peer_runs_app_2(lock: u32) -> Option<&'static str> {
    // Before our 2nd lock a peer has started no-transaction app@2; before the 3rd it is done.
    match lock {
        2 => Some(concat!(
            "INSERT INTO strata_migrations VALUES ('app', 2, 'slow', 'x', 1, NULL, '1.0.0', 'now', 0, 'dirty', 0, '1:2:CREATE TABLE slow (id INTEGER)');",
            "CREATE TABLE slow (id INTEGER);"
        )),
        3 => Some(
            "UPDATE strata_migrations SET state = 'applied', completed = NULL WHERE version = 2;",
        ),
        _ => None,
    }
}

#[test]
fn a_run_waits_for_a_peer_running_its_next_no_transaction_step() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(1, "a", "CREATE TABLE a (id INTEGER);")?)?;
    s.add(Migration::sql(
        2,
        "slow",
        "-- strata:no-transaction\nCREATE TABLE slow (id INTEGER);",
    )?)?;
    let m = Migrations::new([s])?;
    let mut racy = Racy {
        conn: db.connect(),
        peer: db.connect(),
        locks: 0,
        script: peer_runs_app_2,
    };
    let report = racy.migrate(&m.mode(Mode::PerMigration))?;
    assert_eq!(report.applied(), ["app@1_a"], "the peer applied app@2");
    Ok(())
}

#[test]
fn a_migration_that_commits_by_itself_is_stopped_and_named() -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(1, "a", "CREATE TABLE a (id INTEGER);")?)?;
    s.add(Migration::sql(
        2,
        "b",
        "CREATE TABLE b (id INTEGER);\nCOMMIT;\nCREATE TABLE c (id INTEGER);",
    )?)?;
    let m = Migrations::new([s])?;
    let mut conn = Connection::open_in_memory()?;
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_b` ended the run's transaction itself (statement 2 of 3, line 2) on sqlite database `:memory:`; remove its transaction control or mark it `-- strata:no-transaction`"
    );
    // Nothing ran after the COMMIT, and the connection is not left in a transaction.
    assert_eq!(Sqlite::count(&mut conn, "c"), None);
    assert!(conn.is_autocommit());
    Ok(())
}

#[test]
fn downgrade_failure_says_what_stays_reverted() -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(Migration::sql(1, "a", "CREATE TABLE a (id INTEGER);")?.with_down("DROP TABLE nope;")?)?;
    s.add(Migration::sql(2, "b", "CREATE TABLE b (id INTEGER);")?.with_down("DROP TABLE b;")?)?;
    let m = Migrations::new([s])?.mode(Mode::PerMigration);
    let mut conn = Connection::open_in_memory()?;
    conn.migrate(&m)?;
    let err = conn.downgrade(&m, "base").unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to revert migration `app@1_a` (statement 1 of 1, line 1) on sqlite database `:memory:`; 1 earlier migration of this run stays reverted"
    );
    assert_eq!(Sqlite::count(&mut conn, "b"), None);
    Ok(())
}

/// Every statement of a no-transaction migration committed, then its final history write failed:
/// the error says all of them stayed committed (the row is left dirty with that count).
#[test]
fn a_failed_final_history_write_says_every_statement_committed() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut set = tables("app", 1);
    set.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE fw_a (id INTEGER);\nCREATE TABLE fw_b (id INTEGER);\n",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    conn.upgrade(&m, "1")?;
    conn.execute_batch(
        "CREATE TRIGGER refuse_applied BEFORE UPDATE ON strata_migrations \
         WHEN NEW.state = 'applied' AND NEW.version = 2 \
         BEGIN SELECT RAISE(ABORT, 'history write refused'); END;",
    )?;
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@2_outside` on {}; 2 statements of it stayed committed",
            strata::Adapter::database(&mut conn)
        )
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some(format!(
            "failed to write to the history table on {}",
            strata::Adapter::database(&mut conn)
        ))
        .as_deref()
    );
    // The row still names the last statement in flight: nothing after it said otherwise.
    assert_eq!(
        conn.status(&m)?.entries()[1].state,
        strata::State::Dirty {
            completed: 1,
            in_flight: Some(strata::InFlight::new(
                2,
                3,
                "CREATE TABLE fw_b (id INTEGER)"
            ))
        }
    );
    Ok(())
}

/// Snapshots compare structure, not formatting: the same table written another way (or rebuilt
/// by a down migration) is equal; a dropped `CHECK` is a difference.
#[test]
fn snapshot_compares_structure_not_formatting() -> TestResult {
    use strata::schema::Snapshot;
    let one = "CREATE TABLE t (id INTEGER PRIMARY KEY, total REAL CHECK (total >= 0), \
               doubled REAL GENERATED ALWAYS AS (total * 2) VIRTUAL)";
    let other = "CREATE TABLE t (\n  id INTEGER PRIMARY KEY,\n  total REAL CHECK (total   >=\n 0),\n  \
                 doubled REAL GENERATED ALWAYS AS (total * 2) VIRTUAL\n)";
    let mut a = Connection::open_in_memory()?;
    a.execute_batch(one)?;
    let mut b = Connection::open_in_memory()?;
    b.execute_batch(other)?;
    let expected = a.snapshot()?;
    assert_eq!(expected, b.snapshot()?);
    let doubled = expected
        .table("t")
        .and_then(|t| t.column("doubled"))
        .ok_or("no column `doubled`")?;
    assert_eq!(
        (doubled.data_type(), doubled.generated()),
        ("REAL", Some("VIRTUAL"))
    );
    b.execute_batch(
        "DROP TABLE t; CREATE TABLE t (id INTEGER PRIMARY KEY, total REAL, \
         doubled REAL GENERATED ALWAYS AS (total * 2) VIRTUAL)",
    )?;
    assert_eq!(
        conformance::differences(&expected, &b.snapshot()?),
        ["table `t`: constraint `CHECK (total >= 0)` is missing"]
    );
    Ok(())
}

/// `ALTER TABLE ... RENAME` quotes the new name in the definitions that name the table
/// (`ON "users"`): renaming there and back passes the reversibility check.
#[test]
fn renaming_a_table_and_back_is_reversible() -> TestResult {
    use strata::schema::{Snapshot, check_reversible};
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n\
         CREATE INDEX users_name ON users (name);\n\
         CREATE VIEW named AS SELECT id, 'users' AS kind FROM users WHERE name IS NOT NULL;",
    )?)?;
    set.add(
        Migration::sql(2, "members", "ALTER TABLE users RENAME TO members;")?
            .with_down("ALTER TABLE members RENAME TO users;")?,
    )?;
    let m = Migrations::new([set])?;
    let mut conn = Connection::open_in_memory()?;
    let report = check_reversible(&mut conn, &m)?;
    assert_eq!(report.checked(), ["app@2_members"]);
    // At `heads`, renamed: SQLite wrote `"members"`, the snapshot reads `members`.
    let schema = conn.snapshot()?;
    let index = schema
        .table("members")
        .and_then(|t| t.index("users_name"))
        .ok_or("no index `users_name`")?;
    assert_eq!(
        index.definition(),
        "CREATE INDEX users_name ON members (name)"
    );
    let view = schema.view("named").ok_or("no view `named`")?;
    assert_eq!(
        view.definition(),
        "CREATE VIEW named AS SELECT id, 'users' AS kind FROM members WHERE name IS NOT NULL"
    );
    Ok(())
}

/// What only the `CREATE TABLE` text says: table options, `AUTOINCREMENT`, collations and
/// deferred foreign keys are in the snapshot.
#[test]
fn snapshot_reads_table_options_autoincrement_collations_and_deferral() -> TestResult {
    use strata::schema::Snapshot;
    let plain = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
                 CREATE TABLE posts (id INTEGER PRIMARY KEY, uid INTEGER REFERENCES users (id));";
    let declared = "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                    name TEXT COLLATE nocase, email TEXT COLLATE BINARY) STRICT;
                    CREATE TABLE posts (id INTEGER PRIMARY KEY, uid INTEGER REFERENCES users (id) \
                    DEFERRABLE INITIALLY DEFERRED) WITHOUT ROWID;";
    let mut a = Connection::open_in_memory()?;
    a.execute_batch(plain)?;
    let mut b = Connection::open_in_memory()?;
    b.execute_batch(declared)?;
    let found = b.snapshot()?;
    assert!(
        found.to_string().starts_with(
            "table `posts`: WITHOUT ROWID\n  column `id` INTEGER not null\n  column `uid` INTEGER null\n"
        ),
        "{found}"
    );
    assert!(
        found
            .to_string()
            .contains("  column `name` TEXT collate NOCASE null\n"),
        "{found}"
    );
    let name = found.table("users").and_then(|t| t.column("name"));
    assert_eq!(name.and_then(|c| c.collation()), Some("NOCASE"));
    assert_eq!(
        conformance::differences(&a.snapshot()?, &found),
        [
            "table `posts`: options none became `WITHOUT ROWID`",
            // SQLite makes the key of a `WITHOUT ROWID` table `NOT NULL`, and says so.
            "table `posts`: column `id`: nullable became not null",
            "table `posts`: constraint `FOREIGN KEY (uid) REFERENCES users (id)` is missing",
            "table `posts`: constraint `FOREIGN KEY (uid) REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED` is extra",
            "table `users`: options none became `STRICT`",
            "table `users`: column `id`: generated none became `AUTOINCREMENT`",
            "table `users`: column `name`: collation none became `NOCASE`",
        ]
    );
    Ok(())
}

/// A rebuild of a referenced table, as real projects write it (new table, copy, drop, rename).
const REBUILD: &str = "CREATE TABLE fk_users (id INTEGER PRIMARY KEY);\n\
    CREATE TABLE fk_posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES fk_users (id));\n\
    INSERT INTO fk_users (id) VALUES (1);\n\
    INSERT INTO fk_posts (id, user_id) VALUES (1, 1);\n\
    CREATE TABLE fk_users_new (id INTEGER PRIMARY KEY, name TEXT);\n\
    INSERT INTO fk_users_new (id) SELECT id FROM fk_users;\n\
    DROP TABLE fk_users;\n\
    ALTER TABLE fk_users_new RENAME TO fk_users;";

fn rebuild() -> Result<Migrations, strata::Error> {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "rebuild", REBUILD)?)?;
    Migrations::new([set])
}

fn foreign_keys(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))
}

/// Foreign keys are off during a run by default, whatever the connection (and the SQLite
/// build) says, as under `sqlite3`: a rebuild of a referenced table works, and the connection
/// gets its own setting back.
#[test]
fn a_table_rebuild_runs_with_foreign_keys_off_and_the_setting_comes_back() -> TestResult {
    for before in [true, false] {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", before)?;
        assert_eq!(conn.migrate(&rebuild()?)?.applied(), ["app@1_rebuild"]);
        assert_eq!(foreign_keys(&conn)?, before, "restored");
        assert_eq!(Sqlite::count(&mut conn, "fk_posts"), Some(1));
        // A no-op boot changes nothing either.
        assert!(conn.migrate(&rebuild()?)?.is_empty());
        assert_eq!(foreign_keys(&conn)?, before);
    }
    Ok(())
}

/// Enforced on request: the same rebuild fails at its `DROP TABLE`, and the setting comes back
/// after the failure too.
#[test]
fn enforced_foreign_keys_fail_the_rebuild_and_are_restored() -> TestResult {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let m = rebuild()?.sqlite_foreign_keys(true);
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to apply migration `app@1_rebuild` (statement 7 of 8, line 7) on sqlite database `:memory:`"
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("FOREIGN KEY constraint failed"));
    assert!(!foreign_keys(&conn)?, "restored after the failure");
    assert_eq!(Sqlite::count(&mut conn, "fk_users"), None, "rolled back");
    Ok(())
}

/// With foreign keys off, a migration that leaves rows without their parent fails before its
/// transaction commits; violations that were there before the run do not count.
#[test]
fn foreign_key_violations_a_migration_adds_are_refused() -> TestResult {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "rebuild", REBUILD)?)?;
    set.add(Migration::sql(
        2,
        "orphan",
        "INSERT INTO fk_posts (id, user_id) VALUES (2, 99);\nINSERT INTO fk_posts (id, user_id) VALUES (3, 98);",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = Connection::open_in_memory()?;
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_orphan` left 2 rows in `fk_posts` without a parent row in `fk_users` on sqlite database `:memory:` (`PRAGMA foreign_key_check`; foreign keys are off during the run); its transaction was rolled back"
    );
    assert!(matches!(
        err.kind(),
        ErrorKind::ForeignKeyViolation { rows: 2, .. }
    ));
    assert_eq!(err.migration(), Some("app@2_orphan"));
    assert_eq!(Sqlite::count(&mut conn, "fk_posts"), None, "all or nothing");
    assert!(
        foreign_keys(&conn)?,
        "restored (bundled SQLite enforces by default)"
    );
    // An orphan that was there before the run is not the migration's doing.
    conn.upgrade(&m, "1")?;
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; INSERT INTO fk_posts (id, user_id) VALUES (7, 77);",
    )?;
    let mut later = Set::new("app", "1.0.0")?;
    later.add(Migration::sql(1, "rebuild", REBUILD)?)?;
    later.add(Migration::sql(
        2,
        "more",
        "INSERT INTO fk_posts (id, user_id) VALUES (8, 1);",
    )?)?;
    assert_eq!(
        conn.migrate(&Migrations::new([later])?)?.applied(),
        ["app@2_more"]
    );
    Ok(())
}

/// A panicking migration: the setting comes back as the run unwinds.
#[test]
fn foreign_keys_are_restored_when_a_migration_panics() -> TestResult {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::function(1, "boom", |_| panic!("boom"))?)?;
    let m = Migrations::new([set])?;
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.migrate(&m)));
    assert!(unwound.is_err());
    assert!(foreign_keys(&conn)?, "restored");
    assert!(conn.is_autocommit());
    Ok(())
}

#[test]
#[ignore = "a child process of the crash tests"]
fn child_crash() -> TestResult {
    conformance::crash::child::<Sqlite>()
}

/// A no-transaction migration killed while its first statement computes: SQLite runs in the
/// killed process, so the statement never commits (its journal is rolled back on next open).
fn computing() -> Scenario<Connection> {
    Scenario {
        slow: "INSERT INTO ledger WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT max(x) FROM c",
        no_transaction: true,
        commits: false,
        hold: conformance::crash::nothing,
        // Not visible from outside: the row names it in flight, and it runs for many seconds.
        running: |_| {
            std::thread::sleep(Duration::from_millis(200));
            true
        },
        settle: |_, _| {},
        refuses_at_once: false,
    }
}

#[test]
fn killed_while_a_statement_computes_api() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let url = db.url();
    conformance::crash::killed_mid_statement(&db, &computing(), Via::Api, &url)
}

#[test]
fn killed_while_a_statement_computes_binary() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let url = db.url();
    conformance::crash::killed_mid_statement(&db, &computing(), Via::Binary, &url)
}

/// The protocol outside a transaction: before each statement is sent the row names it in
/// flight (the first write being the one that marks the migration dirty), and one write at the
/// end: n + 1 writes for n statements.
#[test]
fn each_statement_is_named_in_flight_before_it_is_sent() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([tables("app", 1)])?)?;
    conn.execute_batch(
        "CREATE TABLE writes (state TEXT, completed INTEGER, in_flight TEXT);
         CREATE TRIGGER w_insert AFTER INSERT ON strata_migrations
         BEGIN INSERT INTO writes VALUES (NEW.state, NEW.completed, NEW.in_flight); END;
         CREATE TRIGGER w_update AFTER UPDATE ON strata_migrations
         BEGIN INSERT INTO writes VALUES (NEW.state, NEW.completed, NEW.in_flight); END;",
    )?;
    let mut set = tables("app", 1);
    set.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE w_a (id INTEGER);\n\nCREATE TABLE w_b (id INTEGER);\nCREATE TABLE w_c (id INTEGER);\n",
    )?)?;
    conn.migrate(&Migrations::new([set])?)?;
    let writes: Vec<(String, Option<i64>, Option<String>)> = conn
        .prepare("SELECT * FROM writes ORDER BY rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let dirty = |completed, in_flight: &str| {
        (
            "dirty".to_owned(),
            Some(completed),
            Some(in_flight.to_owned()),
        )
    };
    assert_eq!(
        writes,
        [
            dirty(0, "1:2:CREATE TABLE w_a (id INTEGER)"),
            dirty(1, "2:4:CREATE TABLE w_b (id INTEGER)"),
            dirty(2, "3:5:CREATE TABLE w_c (id INTEGER)"),
            ("applied".to_owned(), None, None),
        ]
    );
    Ok(())
}

/// A statement fails with an answer from the database: the row then says it did not commit
/// (nothing in flight). When even that write fails, the row keeps naming it in flight, and the
/// error says the statement may or may not have committed.
#[test]
fn a_failed_statement_is_recorded_as_not_committed_unless_that_write_fails() -> TestResult {
    let db = Sqlite::create().expect("sqlite");
    let mut conn = db.connect();
    let mut set = tables("app", 1);
    set.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE f_a (id INTEGER);\nINSERT INTO f_missing VALUES (1);\n",
    )?)?;
    let m = Migrations::new([set])?.lock_timeout(Duration::ZERO);
    conn.upgrade(&m, "1")?;
    conn.execute_batch(
        "CREATE TRIGGER refuse_settling BEFORE UPDATE ON strata_migrations
         WHEN NEW.state = 'dirty' AND NEW.in_flight IS NULL
         BEGIN SELECT RAISE(ABORT, 'history write refused'); END;",
    )?;
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@2_outside` (statement 2 of 2, line 3) on {}; 1 statement of it stayed committed; statement 2 may or may not have committed (the history row names it in flight)",
            strata::Adapter::database(&mut conn)
        )
    );
    let row = conn.history(&m)?.pop().ok_or("no row")?;
    assert_eq!(
        row.in_flight,
        Some(strata::InFlight::new(
            2,
            3,
            "INSERT INTO f_missing VALUES (1)"
        ))
    );
    // Told it did not commit, the next run resumes at statement 2.
    conn.execute_batch("DROP TRIGGER refuse_settling; CREATE TABLE f_missing (id INTEGER);")?;
    let report = conn.repair_in_flight(&m, None, strata::InFlightOutcome::NotCommitted)?;
    assert_eq!(
        report.to_string().lines().next(),
        Some(
            "cleared dirty app@2_outside (0.0ns, partial: the next run resumes after statement 1)"
        )
    );
    let report = conn.migrate(&m)?;
    assert_eq!(report.steps()[0].completed, 1);
    assert_eq!(Sqlite::count(&mut conn, "f_missing"), Some(1));
    assert_eq!(Sqlite::count(&mut conn, "f_a"), Some(0));
    Ok(())
}
