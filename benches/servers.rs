//! strata on PostgreSQL and MySQL/MariaDB against the raw drivers (`postgres`, `mysql`) doing
//! what a hand-written migrator would do with the same SQL.
//!
//! # What is measured
//!
//! The workload is one set of N migrations; migration `i` is
//! `CREATE TABLE t_i (id INTEGER PRIMARY KEY); INSERT INTO t_i VALUES (1);`. Every case runs
//! twice: `strata` through `conn.migrate(&migrations)` (which always verifies the checksums of
//! the applied rows), and a raw side through the driver directly. Both sides write the same
//! history table (its `CREATE TABLE` and upsert are copies of strata's, from `src/script.rs`),
//! and the raw side computes nothing strata would precompute (checksums, timestamps).
//!
//! * `apply_<db>` (N = 10, 100): strata's default all-or-nothing mode on a new schema
//!   (PostgreSQL) or a new database (MySQL), against `raw_grouped`: take the lock, create and
//!   read the history table, run each migration's SQL in one call and upsert its history row,
//!   release the lock. On PostgreSQL all of it is one transaction (`BEGIN; SELECT
//!   pg_advisory_xact_lock(k); CREATE TABLE ...`, the `SELECT` of the history, per migration one
//!   `batch_execute` of its SQL and one `execute_typed` upsert, `COMMIT`). On MySQL DDL commits
//!   implicitly, so raw is `GET_LOCK`, the history `CREATE TABLE` and `SELECT`, per migration
//!   its SQL (one multi-statement query) and the upsert (a prepared statement, from the driver's
//!   statement cache), each committing by itself, then `RELEASE_LOCK`.
//!
//!   strata runs a migration statement by statement (one round trip each, where raw sends the
//!   whole migration at once). On MySQL it also keeps a dirty history row up to date around
//!   them, so that a migration cut short by a crash shows: `START TRANSACTION`, the dirty row,
//!   `COMMIT`, then each statement followed by the row's progress, then `START TRANSACTION`,
//!   the applied row, `COMMIT`.
//! * `apply_<db>_per_migration`: `Mode::PerMigration` against `raw`, one commit per migration.
//!   On PostgreSQL every migration after the first begins a new transaction and re-takes the
//!   transaction-scoped advisory lock (`BEGIN; SELECT pg_advisory_xact_lock(k)`), without
//!   re-reading the history (strata re-takes its lock too, and re-reads the history as it
//!   cannot tell whether another process committed meanwhile). On MySQL the raw side is the
//!   same as `raw_grouped`, and strata does the same as in the all-or-nothing mode: with
//!   implicit DDL commits there is no transaction to group.
//! * `noop_<db>` (N = 10, 200): the boot path with all N applied, on a reused connection,
//!   against `raw`: on PostgreSQL `BEGIN; SELECT pg_advisory_xact_lock(k)`, the `SELECT` of the
//!   history (simple query protocol, rows decoded and their checksums compared), `COMMIT` (3
//!   round trips, as strata); on MySQL `SELECT GET_LOCK(...)`, the `SELECT`, `DO
//!   RELEASE_LOCK(...)` (3 round trips, as strata).
//!
//! The apply cases start every iteration from a new schema or database (with a new connection
//! on MySQL, whose driver caches prepared statements per connection), made and dropped outside
//! the measured time (`iter_custom`). On `127.0.0.1` the `mysql` driver switches to the
//! server's Unix socket (its `prefer_socket` default), on both sides. Before measuring, the
//! bench checks that the two sides agree: the same tables and history rows, the same history
//! table definition, and strata finds nothing to do on a database migrated by the raw side.
//!
//! The bench makes its own uniquely named databases (`strata_bench_*`) and drops them at the
//! end. Servers: `STRATA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and `STRATA_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`); a server that
//! cannot be reached is skipped with a note (under `CI=true` it panics instead).
//!
//! After the criterion groups, the bench prints a table `case | strata | raw | ratio` of the
//! median times of this run (from criterion's `<group>/<side>/<N>/new/estimates.json`) and
//! lists the cases over the budgets it shares with `benches/sqlite.rs` (apply 1.10x raw, no-op
//! 1.20x; `benches/common/mod.rs`). The servers are shared with whatever else runs on the
//! machine: rerun a group alone before trusting a single ratio.
//!
//! # Running
//!
//! ```text
//! cargo bench --all-features --bench servers                  # full run, about 2.5 minutes
//! cargo bench --all-features --bench servers -- noop_         # only some groups
//! cargo bench --all-features --bench servers -- --test        # run each case once, no ratios
//! ```

mod common;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, SimpleQueryMessage, SimpleQueryRow};
use strata::{Migrator, Mode, NORMALIZATION};

use common::{APPLIED_AT, Group, SET, SET_VERSION, mode_suffix, reachable};

const APPLY_SIZES: [usize; 2] = [10, 100];
const NOOP_SIZES: [usize; 2] = [10, 200];
/// Measured time per apply case (an iteration takes up to half a second); 2 s for the others.
const APPLY_TIME: Duration = Duration::from_secs(3);

/// A history row as the raw drivers read it.
type RawRow = common::RawRow<u64>;

/// One migration as the raw drivers run it.
type RawMigration = common::RawMigration<u64>;

/// N migrations; the raw sides bind versions as `u64`.
type Workload = common::Workload<u64>;

/// Migration `i` of the workload.
fn migration_sql(i: usize) -> String {
    format!("CREATE TABLE t_{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t_{i} VALUES (1);\n")
}

/// What a hand-written migrator checks of the rows it read: each is one of its migrations,
/// applied and unchanged (the checksum). Returns how many migrations are pending.
fn raw_verify(w: &Workload, rows: &[RawRow]) -> usize {
    for row in rows {
        let m = usize::try_from(row.1)
            .ok()
            .and_then(|v| v.checked_sub(1))
            .and_then(|i| w.raw.get(i));
        let Some(m) = m else {
            panic!("unknown migration {} in the history", row.1);
        };
        assert!(
            row.0 == SET && row.3 == m.checksum && row.9 == "applied",
            "migration {} changed since it was applied",
            m.version
        );
    }
    w.n - rows.len()
}

/// A database or schema name no other run uses: `strata_bench_<what>_<pid>_<n>_<nanos>`.
fn unique_name(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "strata_bench_{what}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `iters` iterations of `one`, which returns the time of its measured part.
fn timed(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

const PG_URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The raw side's advisory lock key (strata's is derived from the history table's name).
const PG_LOCK_KEY: i64 = 0x7261_775f_6c6f_636b;

// strata's statements for the default history table on PostgreSQL (`Flavor::Postgres` in
// `src/script.rs`, which `src/adapter/postgres.rs` uses): keep them in step with it (`pg_check`
// compares the history tables both sides create).
const PG_CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS \"strata_migrations\" (
            id BIGINT GENERATED ALWAYS AS IDENTITY,
            set_name TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            normalization INTEGER NOT NULL,
            down_sql TEXT,
            set_version TEXT NOT NULL,
            applied_at TEXT NOT NULL,
            duration_ms BIGINT NOT NULL,
            state TEXT NOT NULL,
            completed INTEGER,
            PRIMARY KEY (set_name, version)
        )";
const PG_SELECT_SQL: &str = "SELECT set_name, version, name, checksum, normalization, down_sql, \
    set_version, applied_at, duration_ms, state, completed FROM \"strata_migrations\" ORDER BY id";
const PG_INSERT_SQL: &str = "INSERT INTO \"strata_migrations\" (set_name, version, name, checksum, \
    normalization, down_sql, set_version, applied_at, duration_ms, state, completed) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (set_name, version) DO UPDATE SET name = excluded.name, \
    checksum = excluded.checksum, normalization = excluded.normalization, \
    down_sql = excluded.down_sql, set_version = excluded.set_version, \
    applied_at = excluded.applied_at, duration_ms = excluded.duration_ms, \
    state = excluded.state, completed = excluded.completed";

/// The bench's own database on the PostgreSQL server, dropped (with its connections) at the
/// end. Every case works in a schema of its own, made the connection's `search_path`.
struct PgServer {
    admin: Client,
    config: Config,
    name: String,
}

impl PgServer {
    fn create() -> Option<PgServer> {
        let (url, mut admin) = reachable(PG_URL_VAR, PG_DEFAULT_URL, |url| {
            Client::connect(url, NoTls)
        })?;
        let name = unique_name("pg");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the bench database");
        let mut config: Config = url.parse().expect("a valid PostgreSQL URL");
        config.dbname(&name);
        Some(PgServer {
            admin,
            config,
            name,
        })
    }

    fn connect(&self) -> Client {
        self.config
            .connect(NoTls)
            .expect("connect to the bench database")
    }

    fn version(&mut self) -> String {
        self.admin
            .query_one("SELECT version()", &[])
            .map(|row| row.get(0))
            .unwrap_or_default()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let dropped = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        if let Err(e) = dropped {
            eprintln!("could not drop the bench database {}: {e}", self.name);
        }
    }
}

/// A new schema, made the `search_path` of `client`: its name.
fn pg_new_schema(client: &mut Client) -> String {
    let schema = unique_name("s");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}"
        ))
        .expect("create a schema");
    schema
}

fn pg_use_schema(client: &mut Client, schema: &str) {
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .expect("set search_path");
}

fn pg_drop_schema(client: &mut Client, schema: &str) {
    client
        .batch_execute(&format!(
            "SET search_path TO public; DROP SCHEMA {schema} CASCADE"
        ))
        .expect("drop a schema");
}

fn pg_text(row: &SimpleQueryRow, i: usize) -> String {
    row.get(i).expect("a history column is NULL").to_owned()
}

fn pg_num<T: FromStr>(row: &SimpleQueryRow, i: usize) -> T {
    row.get(i)
        .expect("a history column is NULL")
        .parse()
        .unwrap_or_else(|_| panic!("column {i} of the history is not a number"))
}

/// The history rows, read as strata reads them (simple query protocol, text values).
fn pg_raw_read(client: &mut Client) -> Result<Vec<RawRow>, postgres::Error> {
    Ok(client
        .simple_query(PG_SELECT_SQL)?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .map(|row| {
            (
                pg_text(&row, 0),
                pg_num(&row, 1),
                pg_text(&row, 2),
                pg_text(&row, 3),
                pg_num(&row, 4),
                row.get(5).map(str::to_owned),
                pg_text(&row, 6),
                pg_text(&row, 7),
                pg_num(&row, 8),
                pg_text(&row, 9),
                row.get(10).map(|v| v.parse().expect("completed")),
            )
        })
        .collect())
}

/// The upsert of one applied migration's history row: one round trip (an unnamed statement).
fn pg_raw_insert(client: &mut Client, m: &RawMigration) -> Result<u64, postgres::Error> {
    let version = i64::try_from(m.version).expect("version");
    let normalization = i32::try_from(NORMALIZATION).expect("normalization");
    let down_sql: Option<String> = None;
    let completed: Option<i32> = None;
    let params: [(&(dyn ToSql + Sync), Type); 11] = [
        (&SET, Type::TEXT),
        (&version, Type::INT8),
        (&m.name, Type::TEXT),
        (&m.checksum, Type::TEXT),
        (&normalization, Type::INT4),
        (&down_sql, Type::TEXT),
        (&SET_VERSION, Type::TEXT),
        (&APPLIED_AT, Type::TEXT),
        (&0_i64, Type::INT8),
        (&"applied", Type::TEXT),
        (&completed, Type::INT4),
    ];
    client.execute_typed(PG_INSERT_SQL, &params)
}

fn pg_raw_lock() -> String {
    format!("BEGIN; SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
}

fn pg_raw_apply(client: &mut Client, w: &Workload, mode: Mode) -> Result<(), postgres::Error> {
    client.batch_execute(&format!("{}; {PG_CREATE_SQL}", pg_raw_lock()))?;
    let rows = pg_raw_read(client)?;
    assert_eq!(raw_verify(w, &rows), w.n);
    for (i, m) in w.raw.iter().enumerate() {
        if mode == Mode::PerMigration && i > 0 {
            client.batch_execute(&pg_raw_lock())?;
        }
        client.batch_execute(&m.sql)?;
        pg_raw_insert(client, m)?;
        if mode == Mode::PerMigration {
            client.batch_execute("COMMIT")?;
        }
    }
    if mode == Mode::AllOrNothing {
        client.batch_execute("COMMIT")?;
    }
    Ok(())
}

/// The no-op boot of a hand-written migrator: lock, read and verify, commit. Returns how many
/// migrations are pending.
fn pg_raw_noop(client: &mut Client, w: &Workload) -> Result<usize, postgres::Error> {
    client.batch_execute(&pg_raw_lock())?;
    let rows = pg_raw_read(client)?;
    client.batch_execute("COMMIT")?;
    Ok(raw_verify(w, &rows))
}

fn pg_count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect("count").get(0)
}

/// The definition of the history table in the current schema.
fn pg_history_columns(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || is_identity \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'strata_migrations' \
             ORDER BY ordinal_position",
            &[],
        )
        .expect("history columns")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Both sides leave the same tables and history rows, and strata accepts the raw side's rows.
fn pg_check(server: &PgServer, w: &Workload) {
    let mut client = server.connect();
    for mode in [Mode::AllOrNothing, Mode::PerMigration] {
        let strata = pg_new_schema(&mut client);
        let report = client.migrate(w.migrations(mode)).expect("strata migrate");
        assert_eq!(report.applied().len(), w.n);
        let strata_columns = pg_history_columns(&mut client);
        let raw = pg_new_schema(&mut client);
        pg_raw_apply(&mut client, w, mode).expect("raw apply");
        assert_eq!(
            pg_history_columns(&mut client),
            strata_columns,
            "PG_CREATE_SQL is out of date with src/script.rs"
        );
        for schema in [&strata, &raw] {
            pg_use_schema(&mut client, schema);
            let n = i64::try_from(w.n).expect("n");
            assert_eq!(
                pg_count(&mut client, "SELECT count(*) FROM strata_migrations"),
                n
            );
            assert_eq!(
                pg_count(
                    &mut client,
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name LIKE 't\\_%'"
                ),
                n
            );
            let last = format!("SELECT count(*) FROM t_{}", w.n);
            assert_eq!(pg_count(&mut client, &last), 1);
        }
        pg_use_schema(&mut client, &raw);
        let again = client
            .migrate(w.migrations(mode))
            .expect("strata on the raw schema");
        assert!(
            again.is_empty(),
            "strata wants to apply on the raw schema:\n{again}"
        );
        pg_use_schema(&mut client, &strata);
        assert_eq!(pg_raw_noop(&mut client, w).expect("raw noop"), 0);
        pg_drop_schema(&mut client, &strata);
        pg_drop_schema(&mut client, &raw);
    }
}

fn bench_pg_apply(c: &mut Criterion, server: &PgServer, workloads: &[Workload], mode: Mode) {
    let mut group = c.benchmark_group(format!("apply_postgres{}", mode_suffix(mode)));
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(APPLY_TIME);
    let mut client = server.connect();
    for w in workloads {
        let migrations = w.migrations(mode);
        group.bench_with_input(BenchmarkId::new("strata", w.n), w, |b, w| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let schema = pg_new_schema(&mut client);
                    let start = Instant::now();
                    let report = client.migrate(migrations).expect("strata migrate");
                    let elapsed = start.elapsed();
                    assert_eq!(report.applied().len(), w.n);
                    pg_drop_schema(&mut client, &schema);
                    elapsed
                })
            });
        });
        group.bench_with_input(BenchmarkId::new(raw_name(mode), w.n), w, |b, w| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let schema = pg_new_schema(&mut client);
                    let start = Instant::now();
                    pg_raw_apply(&mut client, w, mode).expect("raw apply");
                    let elapsed = start.elapsed();
                    pg_drop_schema(&mut client, &schema);
                    elapsed
                })
            });
        });
    }
    group.finish();
}

fn bench_pg_noop(c: &mut Criterion, server: &PgServer, workloads: &[Workload]) {
    let mut group = c.benchmark_group("noop_postgres");
    for w in workloads {
        let mut strata = server.connect();
        let schema = pg_new_schema(&mut strata);
        strata.migrate(&w.all_or_nothing).expect("strata migrate");
        let mut raw = server.connect();
        pg_use_schema(&mut raw, &schema);
        group.bench_function(BenchmarkId::new("strata", w.n), |b| {
            b.iter(|| strata.migrate(&w.all_or_nothing).expect("strata migrate"));
        });
        group.bench_function(BenchmarkId::new("raw", w.n), |b| {
            b.iter(|| pg_raw_noop(&mut raw, w).expect("raw noop"));
        });
        pg_drop_schema(&mut strata, &schema);
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// MySQL and MariaDB.

const MY_URL_VAR: &str = "STRATA_TEST_MYSQL_URL";
const MY_DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The raw side's `GET_LOCK` name.
const MY_LOCK: &str = "'strata_bench_raw'";

// strata's statements for the default history table on MySQL (`Flavor::Mysql` in
// `src/script.rs`, which `src/adapter/mysql.rs` uses): keep them in step with it (`my_check`
// compares the history tables both sides create).
const MY_CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS `strata_migrations` (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            set_name VARCHAR(255) NOT NULL,
            version BIGINT UNSIGNED NOT NULL,
            name VARCHAR(255) NOT NULL,
            checksum VARCHAR(64) NOT NULL,
            normalization INT UNSIGNED NOT NULL,
            down_sql LONGTEXT NULL,
            set_version VARCHAR(255) NOT NULL,
            applied_at VARCHAR(32) NOT NULL,
            duration_ms BIGINT UNSIGNED NOT NULL,
            state VARCHAR(16) NOT NULL,
            completed INT UNSIGNED NULL,
            UNIQUE KEY strata_set_version (set_name, version)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
const MY_SELECT_SQL: &str = "SELECT set_name, version, name, checksum, normalization, down_sql, \
    set_version, applied_at, duration_ms, state, completed FROM `strata_migrations` ORDER BY id";
const MY_INSERT_SQL: &str = "INSERT INTO `strata_migrations` (set_name, version, name, checksum, \
    normalization, down_sql, set_version, applied_at, duration_ms, state, completed) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON DUPLICATE KEY UPDATE name = VALUES(name), checksum = VALUES(checksum), \
    normalization = VALUES(normalization), down_sql = VALUES(down_sql), \
    set_version = VALUES(set_version), applied_at = VALUES(applied_at), \
    duration_ms = VALUES(duration_ms), state = VALUES(state), completed = VALUES(completed)";

/// The MySQL server: an admin connection that makes and drops the bench's databases.
struct MyServer {
    admin: std::cell::RefCell<Conn>,
    opts: Opts,
}

/// One of the bench's databases, dropped when the value drops.
struct MyDb<'a> {
    server: &'a MyServer,
    name: String,
}

impl MyServer {
    fn create() -> Option<MyServer> {
        let (url, admin) = reachable(MY_URL_VAR, MY_DEFAULT_URL, |url| Conn::new(url))?;
        Some(MyServer {
            admin: std::cell::RefCell::new(admin),
            opts: Opts::from_url(&url).expect("a valid MySQL URL"),
        })
    }

    fn database(&self) -> MyDb<'_> {
        let name = unique_name("my");
        self.admin
            .borrow_mut()
            .query_drop(format!("CREATE DATABASE `{name}`"))
            .expect("create a bench database");
        MyDb { server: self, name }
    }

    fn version(&self) -> String {
        self.admin
            .borrow_mut()
            .query_first("SELECT VERSION()")
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

impl MyDb<'_> {
    fn connect(&self) -> Conn {
        let opts = OptsBuilder::from_opts(self.server.opts.clone()).db_name(Some(&self.name));
        Conn::new(opts).expect("connect to a bench database")
    }
}

impl Drop for MyDb<'_> {
    fn drop(&mut self) {
        let dropped = self
            .server
            .admin
            .borrow_mut()
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        if let Err(e) = dropped {
            eprintln!("could not drop the bench database {}: {e}", self.name);
        }
    }
}

fn my_raw_read(conn: &mut Conn) -> mysql::Result<Vec<RawRow>> {
    conn.query(MY_SELECT_SQL)
}

fn my_raw_insert(conn: &mut Conn, m: &RawMigration) -> mysql::Result<()> {
    conn.exec_drop(
        MY_INSERT_SQL,
        (
            SET,
            m.version,
            &m.name,
            &m.checksum,
            NORMALIZATION,
            None::<String>,
            SET_VERSION,
            APPLIED_AT,
            0_u64,
            "applied",
            None::<u32>,
        ),
    )
}

fn my_raw_lock(conn: &mut Conn) -> mysql::Result<()> {
    let got: Option<Option<i64>> = conn.query_first(format!("SELECT GET_LOCK({MY_LOCK}, 10)"))?;
    assert_eq!(got.flatten(), Some(1), "GET_LOCK");
    Ok(())
}

fn my_raw_unlock(conn: &mut Conn) -> mysql::Result<()> {
    conn.query_drop(format!("DO RELEASE_LOCK({MY_LOCK})"))
}

/// Both raw cases on MySQL: DDL commits implicitly, so every statement and every history
/// upsert commits by itself.
fn my_raw_apply(conn: &mut Conn, w: &Workload) -> mysql::Result<()> {
    my_raw_lock(conn)?;
    conn.query_drop(MY_CREATE_SQL)?;
    let rows = my_raw_read(conn)?;
    assert_eq!(raw_verify(w, &rows), w.n);
    for m in &w.raw {
        conn.query_drop(&m.sql)?;
        my_raw_insert(conn, m)?;
    }
    my_raw_unlock(conn)
}

fn my_raw_noop(conn: &mut Conn, w: &Workload) -> mysql::Result<usize> {
    my_raw_lock(conn)?;
    let rows = my_raw_read(conn)?;
    my_raw_unlock(conn)?;
    Ok(raw_verify(w, &rows))
}

fn my_count(conn: &mut Conn, sql: &str) -> i64 {
    conn.query_first(sql).expect("count").expect("a row")
}

/// `SHOW CREATE TABLE` of the history table, without its `AUTO_INCREMENT=` counter.
fn my_history_definition(conn: &mut Conn) -> String {
    let (_, sql): (String, String) = conn
        .query_first("SHOW CREATE TABLE `strata_migrations`")
        .expect("history definition")
        .expect("a row");
    sql.split(' ')
        .filter(|word| !word.starts_with("AUTO_INCREMENT="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Both sides leave the same tables and history rows, and strata accepts the raw side's rows.
fn my_check(server: &MyServer, w: &Workload) {
    for mode in [Mode::AllOrNothing, Mode::PerMigration] {
        let strata_db = server.database();
        let mut strata = strata_db.connect();
        let report = strata.migrate(w.migrations(mode)).expect("strata migrate");
        assert_eq!(report.applied().len(), w.n);
        let raw_db = server.database();
        let mut raw = raw_db.connect();
        my_raw_apply(&mut raw, w).expect("raw apply");
        assert_eq!(
            my_history_definition(&mut raw),
            my_history_definition(&mut strata),
            "MY_CREATE_SQL is out of date with src/script.rs"
        );
        for conn in [&mut strata, &mut raw] {
            let n = i64::try_from(w.n).expect("n");
            assert_eq!(my_count(conn, "SELECT count(*) FROM strata_migrations"), n);
            assert_eq!(
                my_count(
                    conn,
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_name LIKE 't\\_%'"
                ),
                n
            );
            let last = format!("SELECT count(*) FROM t_{}", w.n);
            assert_eq!(my_count(conn, &last), 1);
        }
        let again = raw
            .migrate(w.migrations(mode))
            .expect("strata on the raw database");
        assert!(
            again.is_empty(),
            "strata wants to apply on the raw database:\n{again}"
        );
        assert_eq!(my_raw_noop(&mut strata, w).expect("raw noop"), 0);
    }
}

fn bench_my_apply(c: &mut Criterion, server: &MyServer, workloads: &[Workload], mode: Mode) {
    let mut group = c.benchmark_group(format!("apply_mysql{}", mode_suffix(mode)));
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(APPLY_TIME);
    for w in workloads {
        let migrations = w.migrations(mode);
        group.bench_with_input(BenchmarkId::new("strata", w.n), w, |b, w| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let db = server.database();
                    let mut conn = db.connect();
                    let start = Instant::now();
                    let report = conn.migrate(migrations).expect("strata migrate");
                    let elapsed = start.elapsed();
                    assert_eq!(report.applied().len(), w.n);
                    elapsed
                })
            });
        });
        group.bench_with_input(BenchmarkId::new(raw_name(mode), w.n), w, |b, w| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let db = server.database();
                    let mut conn = db.connect();
                    let start = Instant::now();
                    my_raw_apply(&mut conn, w).expect("raw apply");
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

fn bench_my_noop(c: &mut Criterion, server: &MyServer, workloads: &[Workload]) {
    let mut group = c.benchmark_group("noop_mysql");
    for w in workloads {
        let db = server.database();
        let mut strata = db.connect();
        strata.migrate(&w.all_or_nothing).expect("strata migrate");
        let mut raw = db.connect();
        group.bench_function(BenchmarkId::new("strata", w.n), |b| {
            b.iter(|| strata.migrate(&w.all_or_nothing).expect("strata migrate"));
        });
        group.bench_function(BenchmarkId::new("raw", w.n), |b| {
            b.iter(|| my_raw_noop(&mut raw, w).expect("raw noop"));
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The ratio table.

/// The raw side's benchmark name: `raw_grouped` against the all-or-nothing mode.
fn raw_name(mode: Mode) -> &'static str {
    match mode {
        Mode::AllOrNothing => "raw_grouped",
        Mode::PerMigration => "raw",
    }
}

fn groups() -> Vec<Group> {
    let mut groups = Vec::new();
    for db in ["postgres", "mysql"] {
        for mode in [Mode::AllOrNothing, Mode::PerMigration] {
            let label = match mode {
                Mode::AllOrNothing => "all-or-nothing vs raw_grouped",
                Mode::PerMigration => "per-migration",
            };
            let name = format!("apply_{db}{}", mode_suffix(mode));
            groups.push(Group::apply(name, raw_name(mode), label, &APPLY_SIZES));
        }
        groups.push(Group::noop(
            format!("noop_{db}"),
            "reused connection",
            &NOOP_SIZES,
        ));
    }
    groups
}

fn main() {
    common::run(
        &groups(),
        "criterion's --test, --list or --profile-time mode, every case filtered out, or no \
         server reachable",
        |c| {
            let apply = Workload::all(&APPLY_SIZES, migration_sql);
            let noop = Workload::all(&NOOP_SIZES, migration_sql);
            if let Some(mut pg) = PgServer::create() {
                println!("PostgreSQL: {}", pg.version());
                pg_check(&pg, &apply[0]);
                for mode in [Mode::AllOrNothing, Mode::PerMigration] {
                    bench_pg_apply(c, &pg, &apply, mode);
                }
                bench_pg_noop(c, &pg, &noop);
            }
            if let Some(my) = MyServer::create() {
                println!("MySQL: {}", my.version());
                my_check(&my, &apply[0]);
                for mode in [Mode::AllOrNothing, Mode::PerMigration] {
                    bench_my_apply(c, &my, &apply, mode);
                }
                bench_my_noop(c, &my, &noop);
            }
        },
    );
}
