//! The conformance suite on MySQL/MariaDB (a fresh database per test), plus MySQL's own cases:
//! many replicas booting at once, a half-applied migration that leaves a dirty row blocking
//! the next run until repaired, `PooledConn`, error lines.
//!
//! Server: `STRATA_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`). Skipped, with a
//! note, when it cannot be reached, except under `CI=true`.

#![cfg(feature = "mysql")]

mod conformance;

use conformance::crash::{self, Scenario, Via};
use conformance::{TestDb, TestResult, tables};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Pool};
use strata::{Action, Adapter, ErrorKind, Migration, Migrations, Migrator, Set, State};

const URL_VAR: &str = "STRATA_TEST_MYSQL_URL";
const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A uniquely named database, dropped when the value drops.
struct My {
    admin: Conn,
    url: String,
    name: String,
}

impl TestDb for My {
    type Conn = Conn;

    fn create() -> Option<Self> {
        let (url, admin) = conformance::reachable(URL_VAR, DEFAULT_URL, |url| Conn::new(url))?;
        Some(My::create_with(admin, &url))
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn open(url: &str) -> Conn {
        Conn::new(url).expect("connect to the test database")
    }

    fn count(conn: &mut Conn, table: &str) -> Option<i64> {
        conn.query_first(format!("SELECT COUNT(*) FROM `{table}`"))
            .ok()
            .flatten()
    }
}

impl Drop for My {
    fn drop(&mut self) {
        if let Err(e) = self
            .admin
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
        {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

impl My {
    fn create_with(mut admin: Conn, url: &str) -> My {
        let name = conformance::unique_name();
        admin
            .query_drop(format!("CREATE DATABASE `{name}`"))
            .expect("create the test database");
        let url = My::url_via(url, &name);
        My { admin, url, name }
    }

    /// `url` with its database replaced by `name`.
    fn url_via(url: &str, name: &str) -> String {
        let (base, _) = url.rsplit_once('/').expect("a URL with a database");
        format!("{base}/{name}")
    }
}

conformance_suite!(My);
splitting_suite!(My);

#[test]
#[ignore = "a child process of the concurrency tests"]
fn child_boot() -> TestResult {
    conformance::child_boot::<My>()
}

/// 8 processes and 8 threads boot at once against one database, `STRATA_TEST_ROUNDS` times
/// (CI: 20).
#[test]
fn concurrent_boots_apply_each_migration_once() -> TestResult {
    conformance::boot_rounds::<My>(|db| vec![db.url()])
}

/// DDL commits implicitly: a migration that fails half-way leaves a dirty row with the count of
/// committed statements, the error says so, and the next run is blocked until repaired.
#[test]
fn a_half_applied_migration_leaves_a_dirty_row_until_repaired() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let broken = "CREATE TABLE accounts (id INT PRIMARY KEY);\nALTER TABLE accounts ADD COLUMN email VARCHAR(100);\nALTER TABLE acounts ADD INDEX accounts_email (email);\nALTER TABLE accounts ADD COLUMN name VARCHAR(100);\n";
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "accounts", broken)?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@1_accounts` (statement 3 of 4, line 3) on {}; 2 statements of it stayed committed",
            conn.database()
        )
    );
    assert_eq!(
        conn.status(&m)?.entries()[0].state,
        State::Dirty {
            completed: 2,
            in_flight: None
        }
    );
    // Every later boot is refused at once (GET_LOCK is held through the run, so a dirty row
    // is never a migration still running elsewhere).
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@1_accounts` is dirty: it stopped after 2 statements and must be repaired before migrating"
    );
    let mut other = db.connect();
    assert!(matches!(
        other.migrate(&m).unwrap_err().kind(),
        ErrorKind::Dirty { completed: 2, .. }
    ));
    // The operator fixes the failing statement, repairs, migrates: the run resumes at
    // statement 3 (statements 1 and 2 are not run again).
    let mut fixed = Set::new("app", "1.0.1")?;
    fixed.add(Migration::sql(
        1,
        "accounts",
        broken.replace("acounts", "accounts"),
    )?)?;
    let fixed = Migrations::new([fixed])?;
    let repair = conn.repair(&fixed)?;
    assert_eq!(repair.steps()[0].action, Action::DirtyCleared);
    assert_eq!(repair.steps()[0].completed, 2);
    let report = conn.migrate(&fixed)?;
    assert_eq!(report.applied().len(), 1);
    assert_eq!(report.steps()[0].completed, 2);
    assert!(conn.status(&fixed)?.is_up_to_date());
    let columns: Vec<String> = conn.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name = 'accounts' ORDER BY ordinal_position",
    )?;
    assert_eq!(columns, ["id", "email", "name"]);
    Ok(())
}

#[test]
fn pooled_connections_migrate_too() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let pool = Pool::new(Opts::from_url(&db.url())?)?;
    let m = Migrations::new([tables("app", 3)])?;
    let mut conn = pool.get_conn()?;
    assert_eq!(conn.migrate(&m)?.applied().len(), 3);
    drop(conn);
    let mut again = pool.get_conn()?;
    assert!(again.migrate(&m)?.is_empty());
    assert_eq!(again.history(&m)?.len(), 3);
    let opts = OptsBuilder::from_opts(Opts::from_url(&db.url())?);
    let mut plain = Conn::new(opts)?;
    assert!(plain.status(&m)?.is_up_to_date());
    Ok(())
}

#[test]
fn syntax_error_line_points_into_the_statement() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let sql = "CREATE TABLE pos_a (id INT PRIMARY KEY);\n\nCREATE TABLE pos_b (\n    id INT PRIMARY KEY,\n    name VARCHAR(10) NOT NULL DEFALT 'x'\n);\n";
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "bad", sql)?)?;
    let mut conn = db.connect();
    let err = conn.migrate(&Migrations::new([set])?).unwrap_err();
    let pos = err.position().expect("a position");
    assert_eq!((pos.statement, pos.line), (2, 5), "{err}");
    Ok(())
}

/// The same on a 3-node MariaDB Galera cluster (`STRATA_TEST_GALERA_URLS`, set by `.ci/run`),
/// booters spread over the nodes: `GET_LOCK` is node-local there, so strata takes a lease row.
#[test]
fn concurrent_boots_on_a_galera_cluster() -> TestResult {
    let Some(urls) = conformance::setup_url("STRATA_TEST_GALERA_URLS", "a Galera cluster") else {
        return Ok(());
    };
    let urls: Vec<&str> = urls.split(',').collect();
    for round in 0..conformance::rounds() {
        let db = My::create_with(Conn::new(urls[0])?, urls[0]);
        let nodes: Vec<String> = urls.iter().map(|u| My::url_via(u, &db.name)).collect();
        // CREATE DATABASE reaches the other nodes a moment later.
        for node in &nodes {
            let start = std::time::Instant::now();
            while let Err(e) = Conn::new(node.as_str()) {
                assert!(start.elapsed().as_secs() < 10, "{node}: {e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        conformance::concurrent_boots(&db, &nodes, conformance::round_mode(round), 8, 1, 8)?;
        // Every lease was released.
        let mut conn = db.connect();
        assert_eq!(My::count(&mut conn, "strata_locks"), Some(0));
    }
    Ok(())
}

/// A migration that switches database with `USE` (don't): the lock is still released under the
/// name it was taken with.
#[test]
fn use_in_a_migration_does_not_leak_the_lock() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let Some(other) = My::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "elsewhere",
        format!(
            "USE `{}`;\nCREATE TABLE moved (id INT PRIMARY KEY);\n",
            other.name
        ),
    )?)?;
    let mut conn = db.connect();
    // Whatever the migration did to the session, the lock taken for it was released.
    let _ = conn.migrate(&Migrations::new([set])?);
    let mut next = db.connect();
    let quick = Migrations::new([tables("app", 1)])?
        .table("other_history")?
        .lock_timeout(std::time::Duration::from_secs(2));
    assert_eq!(next.migrate(&quick)?.applied().len(), 1);
    Ok(())
}

/// A Rust-function migration whose DDL commits implicitly ended the run's transaction: it is
/// stopped and named, not reported as rolled back.
#[test]
fn a_function_migration_with_ddl_is_caught_ending_the_transaction() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::function(1, "ddl_in_function", |tx| {
        tx.execute("CREATE TABLE made_by_function (id INT PRIMARY KEY)")?;
        tx.execute("INSERT INTO made_by_function VALUES (1)")
    })?)?;
    let mut conn = db.connect();
    let err = conn.migrate(&Migrations::new([set])?).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TransactionEnded { .. }),
        "{err}"
    );
    assert_eq!(err.migration(), Some("app@1_ddl_in_function"));
    Ok(())
}

/// A `PooledConn` snapshots like a `Conn`; `auto_increment`, generated columns, prefix indexes
/// and views are reported.
#[test]
fn pooled_connections_snapshot_too() -> TestResult {
    use strata::schema::Snapshot;
    let Some(db) = My::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "items",
        "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, \
         name VARCHAR(20) NOT NULL DEFAULT 'x', upper_name VARCHAR(20) AS (UPPER(name)) VIRTUAL, \
         KEY items_name (name(5)));\n\
         CREATE VIEW item_names AS SELECT name FROM items;",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    let pool = Pool::new(Opts::from_url(&db.url())?)?;
    let schema = pool.get_conn()?.snapshot()?;
    assert_eq!(schema, conn.snapshot()?);
    let items = schema.table("items").ok_or("no table `items`")?;
    let column = |name: &str| items.column(name).ok_or(format!("no column `{name}`"));
    assert_eq!(column("id")?.generated(), Some("auto_increment"));
    // MariaDB quotes string defaults, MySQL does not.
    assert!(matches!(column("name")?.default(), Some("'x'" | "x")));
    let upper = column("upper_name")?.generated().unwrap_or_default();
    assert!(upper.starts_with("VIRTUAL GENERATED AS ("), "{upper}");
    let index = items.index("items_name").ok_or("no index `items_name`")?;
    assert_eq!(index.columns(), ["name(5)"]);
    assert!(schema.view("item_names").is_some());
    Ok(())
}

/// On a Galera cluster (`STRATA_TEST_GALERA_URLS`, set by `.ci/run`) the lock is a lease row in
/// `strata_locks`, created by the first run: the reversibility check leaves it out, and every
/// node reports the same schema.
#[test]
fn reversibility_check_on_a_galera_cluster() -> TestResult {
    use strata::schema::{Snapshot, check_reversible};
    let Some(urls) = conformance::setup_url("STRATA_TEST_GALERA_URLS", "a Galera cluster") else {
        return Ok(());
    };
    let urls: Vec<&str> = urls.split(',').collect();
    let db = My::create_with(Conn::new(urls[0])?, urls[0]);
    let m = Migrations::new([tables("app", 2)])?;
    let mut conn = db.connect();
    let report = check_reversible(&mut conn, &m)?;
    assert_eq!(report.checked(), ["app@1_create_t1", "app@2_create_t2"]);
    let schema = conn.snapshot()?;
    assert!(schema.table("strata_locks").is_some());
    // Reads on another node wait until it has applied what the cluster committed.
    let mut other = Conn::new(My::url_via(urls[1], &db.name).as_str())?;
    other.query_drop("SET SESSION wsrep_sync_wait = 1")?;
    assert_eq!(other.snapshot()?, schema);
    Ok(())
}

/// A snapshot of a fresh database after `sql` ran as one migration; `None` without a server.
fn snapshot_after(
    sql: &'static str,
) -> Result<Option<strata::schema::Schema>, Box<dyn std::error::Error>> {
    use strata::schema::Snapshot;
    let Some(db) = My::create() else {
        return Ok(None);
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "schema", sql)?)?;
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([set])?)?;
    Ok(Some(conn.snapshot()?))
}

/// The definitions of `table`'s constraints, in snapshot order.
fn constraints(schema: &strata::schema::Schema, table: &str) -> Vec<String> {
    schema.table(table).map_or_else(Vec::new, |t| {
        t.constraints()
            .iter()
            .map(|c| format!("{}: {}", c.name().unwrap_or_default(), c.definition()))
            .collect()
    })
}

/// A foreign key may share its name with a unique key on MySQL: both are listed, apart.
#[test]
fn a_foreign_key_named_like_a_unique_key_is_listed_apart() -> TestResult {
    let Some(schema) = snapshot_after(
        "CREATE TABLE users (id INT PRIMARY KEY);\n\
         CREATE TABLE posts (id INT PRIMARY KEY, uid INT, CONSTRAINT u UNIQUE (uid), \
         CONSTRAINT u FOREIGN KEY (uid) REFERENCES users (id));",
    )?
    else {
        return Ok(());
    };
    assert_eq!(
        constraints(&schema, "posts"),
        [
            "PRIMARY: PRIMARY KEY USING BTREE (id)",
            "u: UNIQUE USING BTREE (uid)",
            "u: FOREIGN KEY (uid) REFERENCES users (id) ON UPDATE RESTRICT ON DELETE RESTRICT",
        ]
    );
    Ok(())
}

/// Primary and unique keys are defined like indexes, from `STATISTICS`: prefix lengths,
/// `DESC` and the index type are compared.
#[test]
fn keys_show_prefix_lengths_order_and_index_type() -> TestResult {
    let (Some(ten), Some(twenty)) = (
        snapshot_after(
            "CREATE TABLE users (id INT NOT NULL, email VARCHAR(50), PRIMARY KEY (id DESC), \
             CONSTRAINT users_email UNIQUE (email(10)));",
        )?,
        snapshot_after(
            "CREATE TABLE users (id INT NOT NULL, email VARCHAR(50), PRIMARY KEY (id), \
             CONSTRAINT users_email UNIQUE (email(20)));",
        )?,
    ) else {
        return Ok(());
    };
    assert_eq!(
        constraints(&ten, "users"),
        [
            "PRIMARY: PRIMARY KEY USING BTREE (id DESC)",
            "users_email: UNIQUE USING BTREE (email(10))",
        ]
    );
    let users = ten.table("users").ok_or("no table `users`")?;
    assert!(users.indexes().is_empty());
    assert_eq!(
        users.primary_key().map(strata::schema::Constraint::columns),
        Some(&["id".to_owned()][..])
    );
    assert_eq!(
        conformance::differences(&ten, &twenty),
        [
            "table `users`: constraint `PRIMARY`: definition `PRIMARY KEY USING BTREE (id DESC)` became `PRIMARY KEY USING BTREE (id)`",
            "table `users`: constraint `users_email`: definition `UNIQUE USING BTREE (email(10))` became `UNIQUE USING BTREE (email(20))`",
        ]
    );
    Ok(())
}

/// Files as MySQL users and mysqldump write them: `DELIMITER` blocks (glued `END$$`, `//`,
/// mysqldump's `/*!50003 ... */;;`) and MariaDB's `BEGIN NOT ATOMIC` run whole, as the
/// `mariadb` client runs them.
#[test]
fn delimiter_files_and_not_atomic_blocks_run_whole() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("1_procedures.sql"),
        "CREATE TABLE calls (n INT);\n\nDELIMITER $$\nCREATE PROCEDURE add_call(IN k INT)\nBEGIN\n  INSERT INTO calls VALUES (k);\n  INSERT INTO calls VALUES (k + 1);\nEND$$\nDELIMITER ;\n\ndelimiter //\nCREATE TRIGGER calls_bi BEFORE INSERT ON calls FOR EACH ROW\nBEGIN\n  IF NEW.n < 0 THEN\n    SET NEW.n = 0;\n  END IF;\nEND;//\nDELIMITER ;\n\nDELIMITER ;;\n/*!50003 CREATE*/ /*!50003 PROCEDURE dumped() BEGIN CALL add_call(-5); SELECT 1; END */;;\nDELIMITER ;\nCALL dumped();\n",
    )?;
    std::fs::write(
        dir.path().join("2_anonymous.sql"),
        "BEGIN NOT ATOMIC\n  IF NOT EXISTS (SELECT 1 FROM information_schema.columns\n                 WHERE table_schema = DATABASE() AND table_name = 'calls' AND column_name = 'at') THEN\n    ALTER TABLE calls ADD COLUMN at INT;\n  END IF;\nEND;\n",
    )?;
    let set = Set::from_dir_for("app", "1.0.0", dir.path(), &[strata::sql::Dialect::Mysql])?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    assert_eq!(My::count(&mut conn, "calls"), Some(2));
    let clamped: Option<i64> = conn.query_first("SELECT MIN(n) FROM calls")?;
    assert_eq!(clamped, Some(0), "the trigger ran");
    let at: Option<i64> = conn.query_first(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'calls' AND column_name = 'at'",
    )?;
    assert_eq!(at, Some(1));
    // No `DELIMITER` line is ever sent as a statement.
    for file in ["1_procedures.sql", "2_anonymous.sql"] {
        let text = std::fs::read_to_string(dir.path().join(file))?;
        let statements = strata::sql::split(&text, strata::sql::Syntax::MYSQL)?;
        assert!(statements.iter().all(|s| !s.text.contains("DELIMITER")));
    }
    Ok(())
}

#[test]
#[ignore = "a child process of the crash tests"]
fn child_crash() -> TestResult {
    conformance::crash::child::<My>()
}

/// The server's thread running migration 2's first statement, if any.
fn ledger_insert(conn: &mut Conn) -> Option<u64> {
    conn.query_first(
        "SELECT id FROM information_schema.processlist WHERE db = DATABASE() \
         AND info LIKE 'INSERT INTO ledger%'",
    )
    .ok()
    .flatten()
}

fn wait_until_gone(conn: &mut Conn) {
    let start = std::time::Instant::now();
    while ledger_insert(conn).is_some() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The reproduction: the client dies while `SLEEP` runs; the server finishes and
/// commits the statement.
fn sleeping() -> Scenario<Conn> {
    Scenario {
        slow: "INSERT INTO ledger SELECT SLEEP(1.5)",
        no_transaction: false,
        commits: true,
        hold: conformance::crash::nothing,
        running: |c| ledger_insert(c).is_some(),
        settle: |watcher, _| wait_until_gone(watcher),
        refuses_at_once: true,
    }
}

/// The statement waits for a table lock; after the client dies, the operator kills its server
/// thread too: it never commits.
fn waiting() -> Scenario<Conn> {
    Scenario {
        slow: "INSERT INTO ledger VALUES (1)",
        no_transaction: false,
        commits: false,
        hold: |c| {
            c.query_drop("LOCK TABLES ledger WRITE")
                .expect("lock ledger");
        },
        running: |c| ledger_insert(c).is_some(),
        settle: |watcher, holder| {
            if let Some(id) = ledger_insert(watcher) {
                watcher
                    .query_drop(format!("KILL {id}"))
                    .expect("kill the thread");
            }
            wait_until_gone(watcher);
            holder.query_drop("UNLOCK TABLES").expect("unlock");
        },
        refuses_at_once: true,
    }
}

#[test]
fn killed_while_a_statement_commits_on_the_server_api() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &sleeping(), Via::Api, &db.url())
}

#[test]
fn killed_while_a_statement_commits_on_the_server_binary() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &sleeping(), Via::Binary, &db.url())
}

#[test]
fn killed_while_a_statement_never_commits_api() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &waiting(), Via::Api, &db.url())
}

#[test]
fn killed_while_a_statement_never_commits_binary() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &waiting(), Via::Binary, &db.url())
}

/// mysqldump's `LOCK TABLES ... UNLOCK TABLES` around its `INSERT`s: while tables are locked
/// the connection reaches no other table, so the group is recorded as one (in flight from its
/// `LOCK TABLES` through its `UNLOCK TABLES`); a failure inside it releases the locks and records
/// what is known; a `LOCK TABLES` never released is refused before anything runs.
#[test]
fn lock_tables_groups_are_recorded_as_one() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let dump = "CREATE TABLE invoices (id INT PRIMARY KEY);\nLOCK TABLES `invoices` WRITE;\nINSERT INTO invoices VALUES (1),(2);\nINSERT INTO invoices VALUES (3);\nUNLOCK TABLES;\nCREATE TABLE after_dump (id INT);\n";
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "dump", dump)?)?;
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([set.clone()])?)?;
    assert_eq!(My::count(&mut conn, "invoices"), Some(3));
    assert_eq!(My::count(&mut conn, "after_dump"), Some(0));

    // A duplicate key inside the group: statements 1 to 3 committed, the locks are released,
    // and the row says so with nothing in flight.
    set.add(Migration::sql(
        2,
        "more",
        "LOCK TABLES invoices WRITE;\nINSERT INTO invoices VALUES (4);\nINSERT INTO invoices VALUES (1);\nUNLOCK TABLES;\n",
    )?)?;
    let m = Migrations::new([set.clone()])?;
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@2_more` (statement 3 of 4, line 3) on {}; 2 statements of it stayed committed",
            conn.database()
        )
    );
    assert_eq!(
        conn.status(&m)?.entries()[1].state,
        State::Dirty {
            completed: 2,
            in_flight: None
        }
    );
    // The connection reaches tables outside the group again: the locks were released.
    assert_eq!(My::count(&mut conn, "after_dump"), Some(0));
    assert_eq!(My::count(&mut conn, "invoices"), Some(4));

    // Never released: refused before migration 3's first statement (or anything) runs.
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "dump", dump)?)?;
    set.add(Migration::sql(2, "pre", "CREATE TABLE pre (id INT);")?)?;
    set.add(Migration::sql(
        3,
        "unreleased",
        "CREATE TABLE x (id INT);\nLOCK TABLES x WRITE;\nINSERT INTO x VALUES (1);\n",
    )?)?;
    let other = My::create().ok_or("no server")?;
    let mut fresh = other.connect();
    let err = fresh.migrate(&Migrations::new([set])?).unwrap_err();
    assert_eq!(
        err.to_string(),
        "3_unreleased:2: invalid SQL in statement 2 for mysql: `LOCK TABLES` is never released by an `UNLOCK TABLES` of the migration (strata cannot record progress while tables are locked)"
    );
    assert_eq!(My::count(&mut fresh, "invoices"), None, "nothing ran");
    Ok(())
}

/// The in-flight column of a table-locked group names the whole group, and `--in-flight
/// committed` resumes after its `UNLOCK TABLES`.
#[test]
fn an_in_flight_group_reads_back_as_the_whole_group() -> TestResult {
    let flight = strata::InFlight::new(2, 2, "LOCK TABLES `invoices` WRITE").through(5);
    assert_eq!(flight.to_column(), "2-5:2:LOCK TABLES 'invoices' WRITE");
    assert_eq!(
        strata::InFlight::from_column(&flight.to_column()).map_err(|e| e.to_string())?,
        flight
    );
    assert_eq!(
        flight.to_string(),
        "the table-locked group of statements 2 to 5 (line 2, `LOCK TABLES 'invoices' WRITE`)"
    );
    assert!(strata::InFlight::from_column("5-2:1:x").is_err());
    Ok(())
}

/// A `BEGIN NOT ATOMIC` block (like a `CALL`) can commit part of its work before it fails:
/// its failure is never recorded as "did not commit". The row keeps it in flight, `repair`
/// refuses to guess, and the operator settles it (here: undoes the half by hand, then
/// `not-committed`), so nothing runs twice.
#[test]
fn a_failed_block_stays_in_flight_and_counts_can_be_given() -> TestResult {
    let Some(db) = My::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(1, "ledger", "CREATE TABLE ledger (v INT);")?)?;
    set.add(Migration::sql(
        2,
        "block",
        "BEGIN NOT ATOMIC\n  INSERT INTO ledger VALUES (1);\n  INSERT INTO missing_table VALUES (1);\nEND;",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@2_block` (statement 1 of 1, line 1) on {}; 0 statements of it stayed committed; statement 1 may or may not have committed (the history row names it in flight); 1 earlier migration of this run stays applied",
            conn.database()
        )
    );
    assert_eq!(
        My::count(&mut conn, "ledger"),
        Some(1),
        "half the block committed"
    );
    assert!(matches!(
        conn.repair(&m).unwrap_err().kind(),
        ErrorKind::InFlightUnknown { .. }
    ));
    // A count outside what the row allows is refused.
    let err = conn
        .repair_in_flight(&m, None, strata::InFlightOutcome::Completed(2))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot repair migration `app@2_block` as having 2 statements completed: 0 statements completed before statement 1 (line 1, `BEGIN NOT ATOMIC INSERT INTO ledger VALUES (1); INSERT IN...`) was in flight, so the count is between 0 and 1"
    );
    conn.query_drop("DELETE FROM ledger")?;
    conn.query_drop("CREATE TABLE missing_table (v INT)")?;
    conn.repair_in_flight(&m, None, strata::InFlightOutcome::Completed(0))?;
    conn.migrate(&m)?;
    assert_eq!(My::count(&mut conn, "ledger"), Some(1), "ran once");
    Ok(())
}
