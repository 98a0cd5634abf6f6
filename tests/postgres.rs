//! The conformance suite on PostgreSQL (a fresh database per test), plus PostgreSQL's own
//! cases: many replicas booting at once (directly and through PgBouncer), a hot standby,
//! `CREATE INDEX CONCURRENTLY`, schema-qualified history tables, error positions.
//!
//! Server: `STRATA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Skipped, with a note, when it cannot be reached, except under `CI=true`.

#![cfg(feature = "postgres")]

mod conformance;

use conformance::crash::{self, Scenario, Via};
use conformance::{TestDb, TestResult, tables};
use postgres::{Client, Config, NoTls};
use strata::{Adapter, ErrorKind, Migration, Migrations, Migrator, Set};

const URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A uniquely named database, dropped (with its connections) when the value drops.
struct Pg {
    admin: Client,
    config: Config,
    name: String,
}

fn connect(config: &Config) -> Client {
    config.connect(NoTls).expect("connect to the test database")
}

impl Pg {
    /// The same database reached through another server URL (PgBouncer).
    fn url_via(&self, url: &str) -> String {
        let (base, _) = url.rsplit_once('/').expect("a URL with a database");
        format!("{base}/{}", self.name)
    }
}

impl TestDb for Pg {
    type Conn = Client;

    fn create() -> Option<Self> {
        let (url, mut admin) =
            conformance::reachable(URL_VAR, DEFAULT_URL, |url| Client::connect(url, NoTls))?;
        let name = conformance::unique_name();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let mut config: Config = url.parse().expect("a valid URL");
        config.dbname(&name);
        Some(Pg {
            admin,
            config,
            name,
        })
    }

    fn url(&self) -> String {
        let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        self.url_via(&url)
    }

    fn open(url: &str) -> Client {
        Client::connect(url, NoTls).expect("connect to the test database")
    }

    fn connect(&self) -> Client {
        connect(&self.config)
    }

    fn count(conn: &mut Client, table: &str) -> Option<i64> {
        conn.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .ok()
            .map(|row| row.get(0))
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let dropped = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

conformance_suite!(Pg);
splitting_suite!(Pg);

#[test]
#[ignore = "a child process of the concurrency tests"]
fn child_boot() -> TestResult {
    conformance::child_boot::<Pg>()
}

/// 8 processes and 8 threads boot at once against one database, `STRATA_TEST_ROUNDS` times
/// (CI: 20), alternating the commit mode.
#[test]
fn concurrent_boots_apply_each_migration_once() -> TestResult {
    conformance::boot_rounds::<Pg>(|db| vec![db.url()])
}

/// The same through PgBouncer in transaction pooling (`STRATA_TEST_PGBOUNCER_URL`, set by
/// `.ci/run`), where session advisory locks and named prepared statements break.
#[test]
fn concurrent_boots_through_pgbouncer_transaction_pooling() -> TestResult {
    let Some(bouncer) = conformance::setup_url("STRATA_TEST_PGBOUNCER_URL", "PgBouncer") else {
        return Ok(());
    };
    conformance::boot_rounds::<Pg>(|db| vec![db.url_via(&bouncer)])
}

/// A hot standby (`STRATA_TEST_STANDBY_URL`, set by `.ci/run`) is refused before anything runs.
#[test]
fn a_hot_standby_is_refused_before_anything_runs() -> TestResult {
    let Some(url) = conformance::setup_url("STRATA_TEST_STANDBY_URL", "a standby") else {
        return Ok(());
    };
    let mut conn = Client::connect(&url, NoTls)?;
    let name = conn.database();
    let err = conn
        .migrate(&Migrations::new([tables("app", 2)])?)
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ReadOnly { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{name} is read-only (a hot standby): run migrations against the primary; nothing was run"
        )
    );
    // The connection is usable afterwards: no transaction was left open.
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

#[test]
fn create_index_concurrently_runs_outside_a_transaction() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);",
    )?)?;
    set.add(
        Migration::sql(
            2,
            "users_email",
            "-- strata:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        )?
        .with_down("-- strata:no-transaction\nDROP INDEX CONCURRENTLY users_email;\n")?,
    )?;
    set.add(
        Migration::sql(3, "more", "ALTER TABLE users ADD COLUMN name TEXT;")?
            .with_down("ALTER TABLE users DROP COLUMN name;")?,
    )?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    assert_eq!(conn.migrate(&m)?.applied().len(), 3);
    let index: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_email'",
            &[],
        )?
        .get(0);
    assert_eq!(index, 1);
    assert_eq!(conn.downgrade(&m, "1")?.reverted().len(), 2);
    let index: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_email'",
            &[],
        )?
        .get(0);
    assert_eq!(index, 0);
    Ok(())
}

#[test]
fn history_table_in_its_own_schema() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let m = Migrations::new([tables("app", 2)])?.table("ops.Schema_History")?;
    let mut conn = db.connect();
    assert_eq!(conn.migrate(&m)?.applied().len(), 2);
    assert!(conn.migrate(&m)?.is_empty());
    assert_eq!(Pg::count(&mut conn, "ops.\"Schema_History\""), Some(2));
    assert_eq!(Pg::count(&mut conn, "strata_migrations"), None);
    assert_eq!(conn.history(&m)?.len(), 2);
    Ok(())
}

#[test]
fn error_position_points_at_the_line() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let sql = "CREATE TABLE pos_a (\n    id INTEGER PRIMARY KEY,\n    name TEXT\n);\n\nSELECT id,\n       nme\n  FROM pos_a;\n";
    let m = Migrations::new([conformance::one("app", 1, "bad", sql)])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    let pos = err.position().expect("a position");
    assert_eq!((pos.statement, pos.line), (2, 7), "{err}");
    Ok(())
}

#[test]
fn a_statement_cut_short_is_refused_before_it_runs() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    // Its `(` never closes: the splitter names the line it opened on; the server never sees it.
    let sql = "CREATE TABLE eoi (\n    id INTEGER PRIMARY KEY,\n    name TEXT,\n";
    let m = Migrations::new([conformance::one("app", 1, "cut_short", sql)])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1_cut_short:1: invalid SQL in statement 1 for postgres: `(` is never closed"
    );
    assert_eq!(Pg::count(&mut conn, "strata_migrations").unwrap_or(0), 0);
    Ok(())
}

/// Tables outside the current schema are qualified, views and identity and generated columns
/// are reported, and the reversibility check leaves out a history table in its own schema.
#[test]
fn snapshot_qualifies_other_schemas_and_reports_views() -> TestResult {
    use strata::schema::{Snapshot, check_reversible};
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(
        Migration::sql(
            1,
            "audit",
            "CREATE SCHEMA audit;\n\
             CREATE TABLE audit.events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             at TIMESTAMPTZ NOT NULL DEFAULT now(), total NUMERIC(10, 2), \
             doubled NUMERIC GENERATED ALWAYS AS (total * 2) STORED);",
        )?
        .with_down("DROP SCHEMA audit CASCADE;")?,
    )?;
    set.add(
        Migration::sql(
            2,
            "recent",
            "CREATE VIEW recent AS SELECT id FROM audit.events WHERE at > now() - interval '1 day';",
        )?
        .with_down("DROP VIEW recent;")?,
    )?;
    let m = Migrations::new([set])?.table("ops.history")?;
    let mut conn = db.connect();
    let report = check_reversible(&mut conn, &m)?;
    assert_eq!(report.checked(), ["app@1_audit", "app@2_recent"]);
    let schema = conn.snapshot()?;
    let tables: Vec<&str> = schema
        .tables()
        .iter()
        .map(strata::schema::Table::name)
        .collect();
    assert_eq!(tables, ["audit.events", "ops.history"]);
    let events = schema
        .table("audit.events")
        .ok_or("no table `audit.events`")?;
    let column = |name: &str| events.column(name).ok_or(format!("no column `{name}`"));
    let id = column("id")?;
    assert_eq!(
        (id.data_type(), id.default(), id.generated()),
        ("bigint", None, Some("GENERATED ALWAYS AS IDENTITY"))
    );
    let at = column("at")?;
    assert_eq!(
        (at.data_type(), at.is_nullable(), at.default()),
        ("timestamp with time zone", false, Some("now()"))
    );
    assert_eq!(column("total")?.data_type(), "numeric(10,2)");
    let doubled = column("doubled")?.generated().unwrap_or_default();
    assert!(doubled.starts_with("GENERATED ALWAYS AS ("), "{doubled}");
    let view = schema.view("recent").ok_or("no view `recent`")?;
    assert!(
        view.definition().contains("FROM audit.events"),
        "{}",
        view.definition()
    );
    Ok(())
}

/// Through PgBouncer in transaction pooling (`STRATA_TEST_PGBOUNCER_URL`, set by `.ci/run`),
/// where named prepared statements break: snapshots equal the direct ones, and the
/// reversibility check runs.
#[test]
fn snapshot_and_reversibility_check_through_pgbouncer() -> TestResult {
    use strata::schema::{Snapshot, check_reversible};
    let Some(bouncer) = conformance::setup_url("STRATA_TEST_PGBOUNCER_URL", "PgBouncer") else {
        return Ok(());
    };
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let m = Migrations::new([tables("app", 3)])?;
    let mut pooled = Client::connect(&db.url_via(&bouncer), NoTls)?;
    let report = check_reversible(&mut pooled, &m)?;
    assert_eq!(report.checked().len(), 3);
    let through = pooled.snapshot()?;
    assert_eq!(through, pooled.snapshot()?);
    assert_eq!(through, db.connect().snapshot()?);
    assert!(through.table("app_t3").is_some());
    Ok(())
}

/// A materialized view is told apart from a view, and its indexes are compared: a down
/// migration that forgets one fails the reversibility check.
#[test]
fn materialized_views_and_their_indexes_are_in_snapshots() -> TestResult {
    use strata::schema::{Snapshot, check_reversible};
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "totals",
        "CREATE TABLE orders (id INT PRIMARY KEY, total NUMERIC NOT NULL);\n\
         CREATE MATERIALIZED VIEW totals AS SELECT id, total FROM orders;\n\
         CREATE VIEW big AS SELECT id FROM orders WHERE total > 100;",
    )?)?;
    set.add(
        Migration::sql(
            2,
            "totals_id",
            "CREATE UNIQUE INDEX totals_id ON totals (id);",
        )?
        .with_down("SELECT 1;")?,
    )?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    let err = check_reversible(&mut conn, &m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_totals_id` is not reversible: after its down migration the schema \
         differs from before it: view `totals`: index `totals_id` is extra"
    );
    let schema = conn.snapshot()?;
    let totals = schema.view("totals").ok_or("no view `totals`")?;
    assert!(totals.is_materialized());
    let index = totals.index("totals_id").ok_or("no index `totals_id`")?;
    assert_eq!(
        (index.columns(), index.is_unique(), index.definition()),
        (
            &["id".to_owned()][..],
            true,
            "CREATE UNIQUE INDEX totals_id ON public.totals USING btree (id)"
        )
    );
    let big = schema.view("big").ok_or("no view `big`")?;
    assert!(!big.is_materialized() && big.indexes().is_empty());
    conn.batch_execute(
        "DROP VIEW big; CREATE MATERIALIZED VIEW big AS SELECT id FROM orders WHERE total > 100",
    )?;
    assert_eq!(
        conformance::differences(&schema, &conn.snapshot()?),
        ["view `big`: view became materialized view"]
    );
    Ok(())
}

/// A foreign key to a partitioned table has internal copies, one per partition of the
/// referenced table, on the same table: they are left out. A partition of a partitioned table
/// keeps the foreign key it inherits.
#[test]
fn foreign_keys_to_partitioned_tables_are_listed_once() -> TestResult {
    use strata::schema::Snapshot;
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let mut conn = db.connect();
    conn.batch_execute(
        "CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY RANGE (id);
         CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
         CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);
         CREATE TABLE r (id INT PRIMARY KEY, pid INT REFERENCES p (id));
         CREATE TABLE q (id INT, pid INT REFERENCES p (id)) PARTITION BY RANGE (id);
         CREATE TABLE q1 PARTITION OF q FOR VALUES FROM (0) TO (100);",
    )?;
    let schema = conn.snapshot()?;
    let foreign_keys = |table: &str| -> Vec<String> {
        schema.table(table).map_or_else(Vec::new, |t| {
            t.constraints()
                .iter()
                .filter(|c| matches!(c.kind(), strata::schema::ConstraintKind::ForeignKey { .. }))
                .map(|c| format!("{}: {}", c.name().unwrap_or_default(), c.definition()))
                .collect()
        })
    };
    for (table, name) in [
        ("r", "r_pid_fkey"),
        ("q", "q_pid_fkey"),
        ("q1", "q_pid_fkey"),
    ] {
        let expected = format!("{name}: FOREIGN KEY (pid) REFERENCES p(id)");
        assert_eq!(foreign_keys(table), [expected], "{table}");
    }
    Ok(())
}

/// psql keeps a rule's parenthesised actions whole; so does strata. A nested comment left open
/// (PostgreSQL's comments nest) refuses the migration before anything runs.
#[test]
fn rules_with_several_actions_and_nested_comments() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "rule",
        "CREATE TABLE t (a INT);\nCREATE TABLE log (a INT);\n/* a /* nested */ comment */\nCREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (NEW.a); INSERT INTO log VALUES (NEW.a + 1));\nINSERT INTO t VALUES (10);",
    )?)?;
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([set.clone()])?)?;
    assert_eq!(Pg::count(&mut conn, "log"), Some(2));
    set.add(Migration::sql(
        2,
        "nested",
        "CREATE TABLE n (id INT);\n/* a /* b */ oops\nDROP TABLE n;\nCREATE TABLE y (id INT);",
    )?)?;
    let err = conn.migrate(&Migrations::new([set])?).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2_nested:2: invalid SQL in statement 2 for postgres: `/*` comment is never closed"
    );
    assert_eq!(Pg::count(&mut conn, "n"), None);
    Ok(())
}

/// A procedure or `DO` block that commits cannot end the run's transaction: PostgreSQL refuses
/// it inside a transaction block, and the run fails naming the statement, with nothing applied.
#[test]
fn a_procedure_that_commits_fails_inside_the_run() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    for (i, call) in [
        "CALL commits()",
        "DO $$ BEGIN CREATE TABLE pc_d (id INT); COMMIT; END $$",
    ]
    .into_iter()
    .enumerate()
    {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "proc",
            "CREATE PROCEDURE commits() LANGUAGE plpgsql AS $$ BEGIN CREATE TABLE pc_p (id INT); COMMIT; END $$;",
        )?)?;
        set.add(Migration::sql(
            2,
            "call",
            format!("CREATE TABLE pc_b (id INT);\n{call};"),
        )?)?;
        let m = Migrations::new([set])?.table(&format!("pc{i}_history"))?;
        let mut conn = db.connect();
        let err = conn.migrate(&m).unwrap_err();
        let database = conn.database();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to apply migration `app@2_call` (statement 2 of 2, line 2) on {database}; 1 earlier migration of this run rolled back with it"
            )
        );
        let source = std::error::Error::source(&err)
            .and_then(|e| e.downcast_ref::<postgres::Error>())
            .and_then(postgres::Error::as_db_error)
            .map(|e| e.message().to_owned());
        assert_eq!(source.as_deref(), Some("invalid transaction termination"));
        for table in ["pc_p", "pc_b", "pc_d"] {
            assert_eq!(Pg::count(&mut conn, table), None, "{table}");
        }
    }
    Ok(())
}

#[test]
#[ignore = "a child process of the crash tests"]
fn child_crash() -> TestResult {
    conformance::crash::child::<Pg>()
}

/// Backends of this database running migration 2's first statement (`Lock`: waiting for a
/// lock; `None`: any).
fn ledger_inserts(conn: &mut Client, waiting: Option<&str>) -> i64 {
    conn.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'active' AND query LIKE 'INSERT INTO ledger%' \
         AND ($1::text IS NULL OR wait_event_type = $1)",
        &[&waiting],
    )
    .map_or(0, |row| row.get(0))
}

fn wait_until_gone(conn: &mut Client) {
    let start = std::time::Instant::now();
    while ledger_inserts(conn, None) > 0 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A no-transaction migration whose client dies while `pg_sleep` runs: the backend finishes
/// and commits the statement.
fn sleeping() -> Scenario<Client> {
    Scenario {
        slow: "INSERT INTO ledger SELECT 1 FROM pg_sleep(1.5)",
        no_transaction: true,
        commits: true,
        hold: conformance::crash::nothing,
        running: |c| ledger_inserts(c, None) > 0,
        settle: |watcher, _| wait_until_gone(watcher),
        refuses_at_once: false,
    }
}

/// The statement waits for a table lock; after the client dies, the operator terminates its
/// backend too: it never commits.
fn waiting() -> Scenario<Client> {
    Scenario {
        slow: "INSERT INTO ledger VALUES (1)",
        no_transaction: true,
        commits: false,
        hold: |c| {
            c.batch_execute("BEGIN; LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE")
                .expect("lock ledger");
        },
        running: |c| ledger_inserts(c, Some("Lock")) > 0,
        settle: |watcher, holder| {
            watcher
                .batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'INSERT INTO ledger%' \
                     AND pid <> pg_backend_pid()",
                )
                .expect("terminate the backend");
            wait_until_gone(watcher);
            holder.batch_execute("COMMIT").expect("unlock");
        },
        refuses_at_once: false,
    }
}

#[test]
fn killed_while_a_statement_commits_on_the_server_api() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &sleeping(), Via::Api, &db.url())
}

#[test]
fn killed_while_a_statement_commits_on_the_server_binary() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &sleeping(), Via::Binary, &db.url())
}

#[test]
fn killed_while_a_statement_never_commits_api() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &waiting(), Via::Api, &db.url())
}

#[test]
fn killed_while_a_statement_never_commits_binary() -> TestResult {
    let Some(db) = Pg::create() else {
        return Ok(());
    };
    crash::killed_mid_statement(&db, &waiting(), Via::Binary, &db.url())
}
