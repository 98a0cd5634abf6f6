//! The conformance suite: every `Migrator` behaviour, written once and stamped into each
//! database's test file with `conformance_suite!(Type)`.
//!
//! A database implements [`TestDb`]: make a fresh, uniquely named database, connect to it, count
//! rows. The SQL below is the portable subset every supported database accepts.

#![allow(dead_code)] // each test binary uses the part it needs

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use strata::{
    Action, Adapter, ErrorKind, Flavor, Migration, Migrations, Migrator, Mode, RecordState, Set,
    State,
};

pub mod crash;
mod schema;
mod session;
mod splitting;
#[allow(unused_imports)] // binaries that do not stamp the suite use none of the cases
pub use schema::*;
#[allow(unused_imports)]
pub use session::*;
#[allow(unused_imports)]
pub use splitting::*;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh database for one test, dropped when the value drops.
pub trait TestDb: Sized {
    /// The driver connection strata migrates.
    type Conn: Adapter;

    /// A fresh database with a unique name; `None` when the server is not reachable and the test
    /// may be skipped (never under `CI=true`, where that panics instead).
    fn create() -> Option<Self>;

    /// Where this database is: a URL, or a file path for SQLite.
    fn url(&self) -> String;

    /// A new connection to the database at `url`.
    fn open(url: &str) -> Self::Conn;

    /// A new connection to this database.
    fn connect(&self) -> Self::Conn {
        Self::open(&self.url())
    }

    /// `SELECT COUNT(*) FROM <table>`, or `None` when the table does not exist.
    fn count(conn: &mut Self::Conn, table: &str) -> Option<i64>;
}

/// The server URL in `var` (or `default`), once `connect` reached it; `None` (with a note on
/// stderr) when it cannot be reached, so that `cargo test` on a laptop without servers skips the
/// server tests. Under `CI=true` an unreachable server fails the test instead.
pub fn reachable<C, E: std::fmt::Display>(
    var: &str,
    default: &str,
    connect: impl FnOnce(&str) -> Result<C, E>,
) -> Option<(String, C)> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    match connect(&url) {
        Ok(conn) => Some((url, conn)),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and the server of {var} cannot be reached: {e}")
        }
        Err(e) => {
            eprintln!(
                "skipping: the server of {var} cannot be reached ({e}); start it or set {var}"
            );
            None
        }
    }
}

/// The value of `var`, which `.ci/run` sets for a setup it starts (`what`); `None` with a note on
/// stderr when it is not set, except under `CI=true`, where that fails the test.
pub fn setup_url(var: &str, what: &str) -> Option<String> {
    if let Ok(value) = std::env::var(var) {
        return Some(value);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs {var} (.ci/run starts {what})"
    );
    eprintln!("skipping: {var} is not set (.ci/run starts {what})");
    None
}

/// A database name no other test (or test process) uses: `strata_<pid>_<n>_<nanos>`.
pub fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "strata_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` migrations; migration 1 creates `runs`, and each records its run there, so a migration
/// that ran twice shows up (and its `CREATE TABLE` would fail anyway).
pub fn counted(n: u64) -> Migrations {
    let mut set = Set::new("app", "1.0.0").unwrap();
    for i in 1..=n {
        let runs = if i == 1 {
            "CREATE TABLE runs (version INTEGER NOT NULL);\n"
        } else {
            ""
        };
        let sql = format!(
            "{runs}CREATE TABLE c_{i} (id INTEGER PRIMARY KEY);\nINSERT INTO runs (version) VALUES ({i});"
        );
        set.add(Migration::sql(i, &format!("c_{i}"), sql).unwrap())
            .unwrap();
    }
    Migrations::new([set]).unwrap()
}

const CHILD_URL: &str = "STRATA_TEST_CHILD_URL";
const CHILD_MODE: &str = "STRATA_TEST_CHILD_MODE";
const CHILD_THREADS: &str = "STRATA_TEST_CHILD_THREADS";
const CHILD_HANG: &str = "STRATA_TEST_CHILD_HANG";
const HOLDING: &str = "strata-test: holding the migration lock";

/// Migration 1 creates a table, migration 2 is a Rust function running `body`, migration 3
/// creates another table.
fn hanging(body: fn()) -> Migrations {
    let mut set = Set::new("app", "1.0.0").unwrap();
    set.add(Migration::sql(1, "a", "CREATE TABLE hang_a (id INTEGER PRIMARY KEY);").unwrap())
        .unwrap();
    set.add(
        Migration::function(2, "data", move |_| {
            body();
            Ok(())
        })
        .unwrap(),
    )
    .unwrap();
    set.add(Migration::sql(3, "b", "CREATE TABLE hang_b (id INTEGER PRIMARY KEY);").unwrap())
        .unwrap();
    Migrations::new([set]).unwrap()
}

/// A process killed (SIGKILL) while it holds the lock in the middle of a run: the database
/// releases the lock with the connection, the run's transaction is rolled back, and the next
/// boot applies everything.
pub fn killed_process_releases_the_lock<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: 'static,
{
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--ignored",
            "--exact",
            "child_boot",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, db.url())
        .env(CHILD_HANG, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let holding = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(HOLDING));
    assert!(holding, "the child reached migration 2");
    child.kill()?;
    child.wait()?;
    let m = hanging(|| {}).lock_timeout(std::time::Duration::from_secs(20));
    let mut conn = db.connect();
    let report = conn.migrate(&m)?;
    let expected: &[&str] = if conn.dialect().transactional_ddl {
        &["app@1_a", "app@2_data", "app@3_b"]
    } else {
        // Migration 1's DDL had committed by itself before the kill.
        &["app@2_data", "app@3_b"]
    };
    assert_eq!(report.applied(), expected);
    assert!(conn.status(&m)?.is_up_to_date());
    Ok(())
}

/// A Rust-function migration that panics: the run is rolled back and the lock released as the
/// panic unwinds, so the next boot (on another connection) goes ahead.
pub fn panicking_migration_releases_the_lock<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: 'static,
{
    let m = hanging(|| panic!("a bug in a data migration"));
    let url = db.url();
    let panicked = std::thread::spawn(move || D::open(&url).migrate(&m)).join();
    assert!(panicked.is_err(), "the panic reached the caller");
    let m = hanging(|| {}).lock_timeout(std::time::Duration::from_secs(5));
    let mut conn = db.connect();
    let report = conn.migrate(&m)?;
    assert_eq!(report.applied().last().copied(), Some("app@3_b"));
    assert!(conn.status(&m)?.is_up_to_date());
    Ok(())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::PerMigration => "per-migration",
        Mode::AllOrNothing => "all-or-nothing",
    }
}

/// `threads` threads, each migrating `counted(50)` on its own connection to one of `urls`.
fn boot_threads<D: TestDb>(
    urls: &[String],
    mode: Mode,
    threads: usize,
) -> Vec<std::thread::JoinHandle<Result<usize, String>>>
where
    D::Conn: 'static,
{
    (0..threads)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            std::thread::spawn(move || {
                // `RUST_LOG=strata=debug` shows what each booter did.
                let _ = env_logger::builder().format_timestamp_micros().try_init();
                let m = counted(50).mode(mode);
                let mut conn = D::open(&url);
                conn.migrate(&m)
                    .map(|r| r.applied().len())
                    .map_err(|e| format!("{e} (source: {:?})", std::error::Error::source(&e)))
            })
        })
        .collect()
}

/// The body of each file's ignored `child_boot` test: run by [`concurrent_boots`] in child
/// processes.
pub fn child_boot<D: TestDb>() -> TestResult
where
    D::Conn: 'static,
{
    let url = std::env::var(CHILD_URL)?;
    if std::env::var(CHILD_HANG).is_ok() {
        // Holds the lock in migration 2 until killed.
        let hang = hanging(|| {
            use std::io::Write;
            println!("{HOLDING}");
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        });
        D::open(&url).migrate(&hang)?;
        return Ok(());
    }
    let mode = match std::env::var(CHILD_MODE).as_deref() {
        Ok("per-migration") => Mode::PerMigration,
        _ => Mode::AllOrNothing,
    };
    let threads = std::env::var(CHILD_THREADS)?.parse()?;
    for t in boot_threads::<D>(&[url], mode, threads) {
        t.join().map_err(|_| "thread panicked")??;
    }
    Ok(())
}

/// Many replicas booting at once: `processes` child processes (each with `threads_per_child`
/// threads) and `threads` threads of this process migrate `counted(50)`, each connected to one
/// of `urls` (round robin: the nodes of a cluster), all started together. Every one returns
/// Ok, every migration ran exactly once, the history has 50 rows.
pub fn concurrent_boots<D: TestDb>(
    db: &D,
    urls: &[String],
    mode: Mode,
    processes: usize,
    threads_per_child: usize,
    threads: usize,
) -> TestResult
where
    D::Conn: 'static,
{
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..processes)
        .map(|i| {
            Command::new(&exe)
                .args(["--ignored", "--exact", "child_boot", "--test-threads=1"])
                .env(CHILD_URL, &urls[i % urls.len()])
                .env(CHILD_MODE, mode_name(mode))
                .env(CHILD_THREADS, threads_per_child.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for t in boot_threads::<D>(urls, mode, threads) {
        t.join().map_err(|_| "thread panicked")??;
    }
    for child in children {
        let out = child.wait_with_output()?;
        assert!(
            out.status.success(),
            "a child process failed ({}):\n{}\n{}",
            mode_name(mode),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut conn = db.connect();
    assert_eq!(
        D::count(&mut conn, "runs"),
        Some(50),
        "every migration ran once"
    );
    let history = conn.history(&counted(50))?;
    assert_eq!(history.len(), 50);
    assert!(history.iter().all(|r| r.state == RecordState::Applied));
    assert!(conn.migrate(&counted(50))?.is_empty());
    Ok(())
}

/// The commit mode of a concurrency round: the two modes alternate.
pub fn round_mode(round: usize) -> Mode {
    if round.is_multiple_of(2) {
        Mode::AllOrNothing
    } else {
        Mode::PerMigration
    }
}

/// [`rounds`] rounds of [`concurrent_boots`] with 8 processes and 8 threads, each on a fresh
/// database reached at `urls(&db)`, alternating the commit mode.
pub fn boot_rounds<D: TestDb>(urls: impl Fn(&D) -> Vec<String>) -> TestResult
where
    D::Conn: 'static,
{
    for round in 0..rounds() {
        let Some(db) = D::create() else {
            return Ok(());
        };
        concurrent_boots(&db, &urls(&db), round_mode(round), 8, 1, 8)?;
    }
    Ok(())
}

/// How many rounds the concurrency tests run: `STRATA_TEST_ROUNDS`, default 1 (CI runs 20).
pub fn rounds() -> usize {
    std::env::var("STRATA_TEST_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

/// Stamps one `#[test]` per conformance case for a [`TestDb`] type.
#[macro_export]
macro_rules! conformance_suite {
    ($db:ty) => {
        $crate::conformance_cases!(
            $db:
            migrate_applies_everything_once,
            history_rows_describe_each_migration,
            upgrade_to_version_and_relative,
            downgrade_to_version_relative_and_base,
            up_down_up_round_trip,
            status_reports_every_state,
            stamp_records_without_running,
            checksum_change_is_an_error_until_repaired,
            crlf_edit_is_not_a_change,
            all_or_nothing_rolls_back_the_whole_run,
            per_migration_mode_keeps_earlier_migrations,
            failure_names_statement_and_line,
            function_migrations_run_in_the_transaction,
            irreversible_downgrade_fails_before_running,
            unknown_applied_migrations_are_refused,
            unknown_applied_migrations_revert_with_stored_down,
            out_of_order_needs_opt_in,
            custom_history_table,
            target_errors,
            no_transaction_failure_leaves_dirty_row,
            no_transaction_migration_completes,
            failed_no_transaction_down_repairs_to_applied,
            an_older_history_table_gains_the_in_flight_column,
            waiting_for_the_lock_times_out_or_finds_the_work_done,
            killed_process_releases_the_lock,
            panicking_migration_releases_the_lock,
            plugin_sets_follow_cross_set_dependencies_both_ways,
            stamp_per_set_adopts_an_existing_schema,
            offline_scripts_do_what_a_run_does,
            snapshot_reports_tables_columns_indexes_and_constraints,
            snapshot_is_stable_and_shows_drift,
            snapshots_of_two_databases_migrated_alike_are_equal,
            reversibility_check_passes_a_good_set,
            reversibility_check_names_what_a_down_forgets,
            reversibility_check_names_what_a_reapplication_misses,
            reversibility_check_fails_when_reapplying_fails,
            transaction_control_in_a_migration_is_refused,
            setup_sql_runs_before_a_run_with_work,
            reversibility_check_options_leave_out_what_a_project_accepts,
        );
    };
}

#[macro_export]
/// Stamps the listed cases for one database type; used by `conformance_suite!`.
macro_rules! conformance_cases {
    ($db:ty: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() -> conformance::TestResult {
                let Some(db) = <$db as conformance::TestDb>::create() else {
                    return Ok(());
                };
                conformance::$case(&db)
            }
        )*
    };
}

/// `n` migrations creating `t1..tn`, each reversible.
pub fn tables(set: &str, n: u64) -> Set {
    let mut s = Set::new(set, "1.0.0").unwrap();
    for i in 1..=n {
        s.add(
            Migration::sql(
                i,
                &format!("create_t{i}"),
                format!("CREATE TABLE {set}_t{i} (id INTEGER PRIMARY KEY);"),
            )
            .unwrap()
            .with_down(format!("DROP TABLE {set}_t{i};"))
            .unwrap(),
        )
        .unwrap();
    }
    s
}

fn ids(report: &[&str]) -> Vec<String> {
    report.iter().map(ToString::to_string).collect()
}

fn applied_versions<D: TestDb>(conn: &mut D::Conn, m: &Migrations) -> Vec<u64> {
    let mut v: Vec<u64> = conn
        .history(m)
        .unwrap()
        .into_iter()
        .filter(|r| r.state == RecordState::Applied)
        .map(|r| r.version)
        .collect();
    v.sort_unstable();
    v
}

pub fn migrate_applies_everything_once<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 3)])?;
    let mut conn = db.connect();
    let report = conn.migrate(&m)?;
    assert_eq!(
        ids(&report.applied()),
        ["app@1_create_t1", "app@2_create_t2", "app@3_create_t3"]
    );
    assert_eq!(D::count(&mut conn, "app_t3"), Some(0));
    assert!(conn.migrate(&m)?.is_empty());
    // A second connection (another boot) finds the work done.
    let mut other = db.connect();
    assert!(other.migrate(&m)?.is_empty());
    assert_eq!(D::count(&mut conn, "strata_migrations"), Some(3));
    Ok(())
}

pub fn history_rows_describe_each_migration<D: TestDb>(db: &D) -> TestResult {
    let mut set = Set::new("app", "2.3.4")?;
    set.add(
        Migration::sql(
            7,
            "create_a",
            "CREATE TABLE hist_a (id INTEGER PRIMARY KEY);",
        )?
        .with_down("DROP TABLE hist_a;")?,
    )?;
    set.add(Migration::sql(
        9,
        "create_b",
        "CREATE TABLE hist_b (id INTEGER PRIMARY KEY);",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    assert!(conn.history(&m)?.is_empty(), "no table yet reads as empty");
    conn.migrate(&m)?;
    let rows = conn.history(&m)?;
    assert_eq!(rows.len(), 2);
    let a = &rows[0];
    assert_eq!(
        (a.set.as_str(), a.version, a.name.as_str()),
        ("app", 7, "create_a")
    );
    assert_eq!(
        a.checksum,
        m.sets()[0].migrations()[0].checksum().to_string()
    );
    assert_eq!(a.normalization, strata::NORMALIZATION);
    assert_eq!(a.down_sql.as_deref(), Some("DROP TABLE hist_a;"));
    assert_eq!(a.set_version, "2.3.4");
    assert_eq!(a.state, RecordState::Applied);
    assert_eq!(a.applied_at.len(), 24);
    assert_eq!(rows[1].down_sql, None);
    assert_eq!(rows[1].id(), "app@9_create_b");
    Ok(())
}

pub fn upgrade_to_version_and_relative<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 5)])?;
    let mut conn = db.connect();
    assert_eq!(
        ids(&conn.upgrade(&m, "2")?.applied()),
        ["app@1_create_t1", "app@2_create_t2"]
    );
    assert_eq!(ids(&conn.upgrade(&m, "+1")?.applied()), ["app@3_create_t3"]);
    assert!(conn.upgrade(&m, "app@2")?.is_empty(), "already there");
    assert_eq!(
        ids(&conn.upgrade(&m, "app@3+1")?.applied()),
        ["app@4_create_t4"]
    );
    assert_eq!(
        ids(&conn.upgrade(&m, "app@head")?.applied()),
        ["app@5_create_t5"]
    );
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2, 3, 4, 5]);
    Ok(())
}

pub fn downgrade_to_version_relative_and_base<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 5)])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    assert_eq!(
        ids(&conn.downgrade(&m, "-1")?.reverted()),
        ["app@5_create_t5"]
    );
    assert_eq!(D::count(&mut conn, "app_t5"), None);
    assert_eq!(
        ids(&conn.downgrade(&m, "2")?.reverted()),
        ["app@4_create_t4", "app@3_create_t3"]
    );
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2]);
    assert_eq!(
        ids(&conn.downgrade(&m, "base")?.reverted()),
        ["app@2_create_t2", "app@1_create_t1"]
    );
    assert!(applied_versions::<D>(&mut conn, &m).is_empty());
    assert_eq!(D::count(&mut conn, "app_t1"), None);
    assert!(conn.downgrade(&m, "base")?.is_empty());
    Ok(())
}

pub fn up_down_up_round_trip<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 4)])?;
    let mut conn = db.connect();
    assert_eq!(conn.migrate(&m)?.applied().len(), 4);
    assert_eq!(conn.downgrade(&m, "base")?.reverted().len(), 4);
    assert_eq!(conn.migrate(&m)?.applied().len(), 4);
    assert!(conn.status(&m)?.is_up_to_date());
    assert_eq!(D::count(&mut conn, "app_t4"), Some(0));
    Ok(())
}

pub fn status_reports_every_state<D: TestDb>(db: &D) -> TestResult {
    let old = Migrations::new([tables("app", 3)])?;
    let mut conn = db.connect();
    conn.upgrade(&old, "2")?;
    let status = conn.status(&old)?;
    let seen: Vec<&State> = status.entries().iter().map(|e| &e.state).collect();
    assert_eq!(seen, [&State::Applied, &State::Applied, &State::Pending]);
    assert!(!status.is_up_to_date());
    assert_eq!(status.filter(|s| *s == State::Pending).count(), 1);
    // A binary where migration 1 changed and migration 2 does not exist.
    let mut set = Set::new("app", "0.9.0")?;
    set.add(Migration::sql(
        1,
        "create_t1",
        "CREATE TABLE app_t1 (id INTEGER PRIMARY KEY, x INTEGER);",
    )?)?;
    set.add(Migration::sql(
        3,
        "create_t3",
        "CREATE TABLE app_t3 (id INTEGER PRIMARY KEY);",
    )?)?;
    let changed = Migrations::new([set])?;
    let status = conn.status(&changed)?;
    let e = status.entries();
    assert!(matches!(e[0].state, State::Diverged { .. }), "{:?}", e[0]);
    assert_eq!(e[1].state, State::Pending);
    assert_eq!(e[2].id(), "app@2_create_t2");
    assert_eq!(
        e[2].state,
        State::UnknownApplied {
            set_version: "1.0.0".into()
        }
    );
    let text = status.to_string();
    assert!(text.contains("app@1_create_t1  diverged"), "{text}");
    assert!(
        text.contains("unknown (applied by set version 1.0.0)"),
        "{text}"
    );
    Ok(())
}

pub fn stamp_records_without_running<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 3)])?;
    let mut conn = db.connect();
    let report = conn.stamp(&m, "2")?;
    assert_eq!(report.steps().len(), 2);
    assert!(report.steps().iter().all(|s| s.action == Action::Stamped));
    assert_eq!(D::count(&mut conn, "app_t1"), None, "stamp runs nothing");
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2]);
    // Migrating continues after the stamp.
    assert_eq!(ids(&conn.migrate(&m)?.applied()), ["app@3_create_t3"]);
    // Stamping back down removes rows without running down migrations.
    let report = conn.stamp(&m, "1")?;
    assert!(report.steps().iter().all(|s| s.action == Action::Unstamped));
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1]);
    assert_eq!(
        D::count(&mut conn, "app_t3"),
        Some(0),
        "stamp reverts nothing"
    );
    conn.stamp(&m, "base")?;
    assert!(applied_versions::<D>(&mut conn, &m).is_empty());
    conn.stamp(&m, "heads")?;
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2, 3]);
    Ok(())
}

/// A set of one migration.
pub fn one(set: &str, version: u64, name: &str, sql: &'static str) -> Set {
    let mut s = Set::new(set, "1.0.0").unwrap();
    s.add(Migration::sql(version, name, sql).unwrap()).unwrap();
    s
}

pub fn checksum_change_is_an_error_until_repaired<D: TestDb>(db: &D) -> TestResult {
    let before = Migrations::new([one(
        "app",
        1,
        "a",
        "CREATE TABLE cs_a (id INTEGER PRIMARY KEY);",
    )])?;
    let after = Migrations::new([one(
        "app",
        1,
        "a",
        "CREATE TABLE cs_a (id INTEGER PRIMARY KEY, x INTEGER);",
    )])?;
    let mut conn = db.connect();
    conn.migrate(&before)?;
    let err = conn.migrate(&after).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "migration `app@1_a` changed after it was applied: checksum was {}, is now {}",
            before.sets()[0].migrations()[0].checksum(),
            after.sets()[0].migrations()[0].checksum()
        )
    );
    assert_eq!(err.migration(), Some("app@1_a"));
    let report = conn.repair(&after)?;
    assert_eq!(report.steps()[0].action, Action::ChecksumAccepted);
    assert!(conn.migrate(&after)?.is_empty());
    assert!(conn.status(&after)?.is_up_to_date());
    Ok(())
}

pub fn crlf_edit_is_not_a_change<D: TestDb>(db: &D) -> TestResult {
    let lf = Migrations::new([one(
        "app",
        1,
        "a",
        "CREATE TABLE crlf_a (id INTEGER PRIMARY KEY);\nCREATE TABLE crlf_b (id INTEGER PRIMARY KEY);\n",
    )])?;
    let crlf = Migrations::new([one(
        "app",
        1,
        "a",
        "\u{feff}CREATE TABLE crlf_a (id INTEGER PRIMARY KEY);\r\nCREATE TABLE crlf_b (id INTEGER PRIMARY KEY);\r\n",
    )])?;
    let mut conn = db.connect();
    conn.migrate(&lf)?;
    assert!(conn.migrate(&crlf)?.is_empty());
    assert!(conn.status(&crlf)?.is_up_to_date());
    Ok(())
}

/// Three migrations, the third failing in its second statement.
fn failing_third() -> Set {
    let mut s = Set::new("app", "1.0.0").unwrap();
    s.add(
        Migration::sql(1, "a", "CREATE TABLE fail_a (id INTEGER PRIMARY KEY);")
            .unwrap()
            .with_down("DROP TABLE fail_a;")
            .unwrap(),
    )
    .unwrap();
    s.add(Migration::sql(2, "b", "CREATE TABLE fail_b (id INTEGER PRIMARY KEY);").unwrap())
        .unwrap();
    s.add(
        Migration::sql(
            3,
            "c",
            "-- the third migration\nCREATE TABLE fail_c (id INTEGER PRIMARY KEY);\n\nINSERT INTO no_such_table (id) VALUES (1);\n",
        )
        .unwrap(),
    )
    .unwrap();
    s
}

pub fn all_or_nothing_rolls_back_the_whole_run<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([failing_third()])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    let database = conn.database();
    let tail = if conn.dialect().transactional_ddl {
        "; 2 earlier migrations of this run rolled back with it"
    } else {
        // DDL commits implicitly: each statement is recorded as it completes.
        "; 1 statement of it stayed committed; 2 earlier migrations of this run stay applied"
    };
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@3_c` (statement 2 of 2, line 4) on {database}{tail}"
        )
    );
    assert_eq!(err.completed_before(), ["app@1_a", "app@2_b"]);
    if conn.dialect().transactional_ddl {
        assert_eq!(D::count(&mut conn, "fail_a"), None, "rolled back");
        assert!(applied_versions::<D>(&mut conn, &m).is_empty());
    }
    Ok(())
}

pub fn per_migration_mode_keeps_earlier_migrations<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([failing_third()])?.mode(Mode::PerMigration);
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    let database = conn.database();
    let tail = if conn.dialect().transactional_ddl {
        ""
    } else {
        "; 1 statement of it stayed committed"
    };
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@3_c` (statement 2 of 2, line 4) on {database}{tail}; 2 earlier migrations of this run stay applied"
        )
    );
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2]);
    assert_eq!(D::count(&mut conn, "fail_b"), Some(0));
    Ok(())
}

pub fn failure_names_statement_and_line<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([one(
        "app",
        1,
        "bad",
        "CREATE TABLE line_a (id INTEGER PRIMARY KEY);\nINSERT INTO line_a (id) VALUES (1);\n\n\nINSERT INTO line_missing (id) VALUES (2);\n",
    )])?;
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    let pos = err.position().expect("a statement position");
    assert_eq!((pos.statement, pos.statements, pos.line), (3, 3, 5));
    assert_eq!(err.migration(), Some("app@1_bad"));
    assert!(
        std::error::Error::source(&err).is_some(),
        "the driver error is the source"
    );
    assert_eq!(err.database(), Some(&conn.database()));
    Ok(())
}

pub fn function_migrations_run_in_the_transaction<D: TestDb>(db: &D) -> TestResult {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "create",
        "CREATE TABLE fn_users (id INTEGER PRIMARY KEY, name VARCHAR(20));",
    )?)?;
    set.add(
        Migration::function(2, "seed", |tx| {
            tx.execute("INSERT INTO fn_users (id, name) VALUES (1, 'admin'); INSERT INTO fn_users (id, name) VALUES (2, 'guest');")
        })?
        .with_down_function(|tx| tx.execute("DELETE FROM fn_users")),
    )?;
    set.add(Migration::function(3, "fails", |tx| {
        tx.execute("INSERT INTO fn_users (id, name) VALUES (3, 'x')")?;
        Err("seed data is inconsistent".into())
    })?)?;
    let mut conn = db.connect();
    let m = Migrations::new([set.clone()])?;
    let err = conn.upgrade(&m, "3").unwrap_err();
    let tail = if conn.dialect().transactional_ddl {
        "2 earlier migrations of this run rolled back with it"
    } else {
        // The SQL migration committed by itself; the two functions shared a transaction.
        "1 earlier migration of this run rolled back with it; 1 earlier migration of this run stays applied"
    };
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@3_fails` on {}; {tail}",
            conn.database()
        )
    );
    assert_eq!(
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .as_deref(),
        Some("seed data is inconsistent")
    );
    conn.upgrade(&m, "2")?;
    assert_eq!(D::count(&mut conn, "fn_users"), Some(2));
    conn.downgrade(&m, "1")?;
    assert_eq!(D::count(&mut conn, "fn_users"), Some(0));
    Ok(())
}

pub fn irreversible_downgrade_fails_before_running<D: TestDb>(db: &D) -> TestResult {
    let mut set = tables("app", 2);
    set.add(Migration::sql(
        3,
        "one_way",
        "CREATE TABLE irr (id INTEGER PRIMARY KEY);",
    )?)?;
    set.add(
        Migration::sql(4, "after", "CREATE TABLE irr2 (id INTEGER PRIMARY KEY);")?
            .with_down("DROP TABLE irr2;")?,
    )?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    let err = conn.downgrade(&m, "base").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot revert migration `app@3_one_way`: it has no down migration"
    );
    assert_eq!(D::count(&mut conn, "irr2"), Some(0), "nothing ran");
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1, 2, 3, 4]);
    Ok(())
}

pub fn unknown_applied_migrations_are_refused<D: TestDb>(db: &D) -> TestResult {
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([tables("app", 3)])?)?;
    let older = Migrations::new([tables("app", 1)])?;
    let err = conn.migrate(&older).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the database has 2 applied migrations this binary does not know: `app@2_create_t2` (applied by set version 1.0.0), `app@3_create_t3` (applied by set version 1.0.0)"
    );
    assert!(conn.migrate(&older.allow_unknown(true))?.is_empty());
    Ok(())
}

pub fn unknown_applied_migrations_revert_with_stored_down<D: TestDb>(db: &D) -> TestResult {
    let mut conn = db.connect();
    conn.migrate(&Migrations::new([tables("app", 3)])?)?;
    let older = Migrations::new([tables("app", 1)])?.allow_unknown(true);
    let report = conn.downgrade(&older, "1")?;
    assert_eq!(
        ids(&report.reverted()),
        ["app@3_create_t3", "app@2_create_t2"]
    );
    assert_eq!(D::count(&mut conn, "app_t2"), None);
    assert_eq!(applied_versions::<D>(&mut conn, &older), [1]);
    Ok(())
}

pub fn out_of_order_needs_opt_in<D: TestDb>(db: &D) -> TestResult {
    let mut conn = db.connect();
    let mut first = Set::new("app", "1.0.0")?;
    first.add(Migration::sql(
        10,
        "a",
        "CREATE TABLE ooo_a (id INTEGER PRIMARY KEY);",
    )?)?;
    first.add(Migration::sql(
        30,
        "c",
        "CREATE TABLE ooo_c (id INTEGER PRIMARY KEY);",
    )?)?;
    conn.migrate(&Migrations::new([first.clone()])?)?;
    let mut merged = first;
    merged.add(Migration::sql(
        20,
        "b",
        "CREATE TABLE ooo_b (id INTEGER PRIMARY KEY);",
    )?)?;
    let err = conn
        .migrate(&Migrations::new([merged.clone()])?)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@20_b` is not applied but the later `app@30_c` is; allow out-of-order migrations to apply it"
    );
    let report = conn.migrate(&Migrations::new([merged])?.out_of_order(true))?;
    assert_eq!(ids(&report.applied()), ["app@20_b"]);
    Ok(())
}

pub fn custom_history_table<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 2)])?.table("app_history")?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    assert_eq!(D::count(&mut conn, "app_history"), Some(2));
    assert_eq!(D::count(&mut conn, "strata_migrations"), None);
    let hostile = Migrations::new([tables("app", 1)])?.table("x\"; DROP TABLE app_history; --");
    assert!(matches!(
        hostile.unwrap_err().kind(),
        ErrorKind::InvalidName { .. }
    ));
    assert_eq!(D::count(&mut conn, "app_history"), Some(2));
    Ok(())
}

pub fn target_errors<D: TestDb>(db: &D) -> TestResult {
    let m = Migrations::new([tables("app", 3)])?;
    let mut conn = db.connect();
    conn.upgrade(&m, "1")?;
    let cases = [
        (
            conn.upgrade(&m, "+5"),
            "target `+5` walks past the last migration: only 2 steps are available",
        ),
        (
            conn.downgrade(&m, "-2"),
            "target `-2` walks past the first migration: only 1 step is available",
        ),
        (
            conn.upgrade(&m, "app@9"),
            "set `app` has no migration with version 9",
        ),
        (
            conn.upgrade(&m, "core@1"),
            "no set named `core` is registered",
        ),
        (
            conn.downgrade(&m, "3"),
            "cannot downgrade to `app@3_create_t3`: it is not applied",
        ),
        (
            conn.upgrade(&m, "-1"),
            "cannot upgrade to `-1`: it points down",
        ),
        (
            conn.downgrade(&m, "+1"),
            "cannot downgrade to `+1`: it points up",
        ),
        (
            conn.upgrade(&m, "base"),
            "cannot upgrade to `base`: it points down",
        ),
        (
            conn.downgrade(&m, "app@head"),
            "cannot downgrade to `app@head`: it points up",
        ),
        (
            conn.upgrade(&m, "latest"),
            "invalid target `latest`: expected `heads`, `base`, `<set>@head`, `<set>@base`, `<version>`, `<set>@<version>`, `+N`, `-N`, `<set>@+N`, `<set>@-N` or `<set>@<version>+N`",
        ),
    ];
    for (result, text) in cases {
        assert_eq!(result.unwrap_err().to_string(), text);
    }
    assert_eq!(
        applied_versions::<D>(&mut conn, &m),
        [1],
        "no error changed anything"
    );
    Ok(())
}

/// A no-transaction migration whose second statement fails.
fn no_transaction_failing() -> Set {
    let mut s = Set::new("app", "1.0.0").unwrap();
    s.add(Migration::sql(1, "base", "CREATE TABLE nt_base (id INTEGER PRIMARY KEY);").unwrap())
        .unwrap();
    s.add(
        Migration::sql(
            2,
            "outside",
            "-- strata:no-transaction\nCREATE TABLE nt_a (id INTEGER PRIMARY KEY);\nINSERT INTO nt_missing (id) VALUES (1);\n",
        )
        .unwrap(),
    )
    .unwrap();
    s
}

pub fn no_transaction_failure_leaves_dirty_row<D: TestDb>(db: &D) -> TestResult {
    // With a transaction-scoped lock (SQLite) a booter waits up to the lock timeout in case the
    // dirty migration is still running elsewhere; keep that wait short here.
    let m = Migrations::new([no_transaction_failing()])?
        .lock_timeout(std::time::Duration::from_millis(300));
    let mut conn = db.connect();
    let err = conn.migrate(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to apply migration `app@2_outside` (statement 2 of 2, line 3) on {}; 1 statement of it stayed committed; 1 earlier migration of this run stays applied",
            conn.database()
        )
    );
    assert_eq!(
        D::count(&mut conn, "nt_a"),
        Some(0),
        "statement 1 committed"
    );
    let status = conn.status(&m)?;
    // The failure came from the server, so the row says statement 2 did not commit: nothing is
    // in flight.
    assert_eq!(
        status.entries()[1].state,
        State::Dirty {
            completed: 1,
            in_flight: None
        }
    );
    // A dirty row blocks the next run (after a short wait where the lock cannot tell a running
    // migration from a stopped one; `error.rs` has both texts).
    let err = conn.migrate(&m).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Dirty {
                completed: 1,
                in_flight: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("migration `app@2_outside` is "),
        "{err}"
    );
    // The operator fixes the failing statement and repairs: the row becomes partial, and the
    // next run resumes at statement 2 (statement 1 is not run again).
    let mut fixed = Set::new("app", "1.0.1")?;
    fixed.add(Migration::sql(
        1,
        "base",
        "CREATE TABLE nt_base (id INTEGER PRIMARY KEY);",
    )?)?;
    fixed.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE nt_a (id INTEGER PRIMARY KEY);\nINSERT INTO nt_a (id) VALUES (1);\n",
    )?)?;
    let fixed = Migrations::new([fixed])?;
    let repair = conn.repair(&fixed)?;
    assert_eq!(repair.steps()[0].action, Action::DirtyCleared);
    assert_eq!(repair.steps()[0].completed, 1);
    assert_eq!(
        conn.status(&fixed)?.entries()[1].state,
        State::Partial {
            completed: 1,
            direction: strata::Direction::Up
        }
    );
    let report = conn.migrate(&fixed)?;
    assert_eq!(ids(&report.applied()), ["app@2_outside"]);
    assert_eq!(report.steps()[0].completed, 1, "resumed after statement 1");
    assert_eq!(D::count(&mut conn, "nt_a"), Some(1));
    // The final row takes the current file's checksum.
    assert!(conn.status(&fixed)?.is_up_to_date());
    assert!(conn.migrate(&fixed)?.is_empty());
    Ok(())
}

pub fn no_transaction_migration_completes<D: TestDb>(db: &D) -> TestResult {
    let mut s = tables("app", 1);
    s.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE ntok_a (id INTEGER PRIMARY KEY);\nCREATE TABLE ntok_b (id INTEGER PRIMARY KEY);\n",
    )?
    .with_down("-- strata:no-transaction\nDROP TABLE ntok_b;\nDROP TABLE ntok_a;")?)?;
    s.add(
        Migration::sql(3, "after", "CREATE TABLE ntok_c (id INTEGER PRIMARY KEY);")?
            .with_down("DROP TABLE ntok_c;")?,
    )?;
    let m = Migrations::new([s])?;
    let mut conn = db.connect();
    assert_eq!(conn.migrate(&m)?.applied().len(), 3);
    assert!(conn.status(&m)?.is_up_to_date());
    assert_eq!(D::count(&mut conn, "ntok_b"), Some(0));
    assert_eq!(conn.downgrade(&m, "1")?.reverted().len(), 2);
    assert_eq!(D::count(&mut conn, "ntok_a"), None);
    assert_eq!(applied_versions::<D>(&mut conn, &m), [1]);
    Ok(())
}

pub fn failed_no_transaction_down_repairs_to_applied<D: TestDb>(db: &D) -> TestResult {
    let mut s = Set::new("app", "1.0.0")?;
    s.add(
        Migration::sql(1, "pair", "CREATE TABLE ntd_a (id INTEGER PRIMARY KEY);\nCREATE TABLE ntd_b (id INTEGER PRIMARY KEY);")?
            .with_down("-- strata:no-transaction\nDROP TABLE ntd_b;\nDROP TABLE ntd_missing;\nDROP TABLE ntd_a;")?,
    )?;
    let m = Migrations::new([s])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    let applied_at = conn.history(&m)?[0].applied_at.clone();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let err = conn.downgrade(&m, "base").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "failed to revert migration `app@1_pair` (statement 2 of 3, line 3) on {}; 1 statement of it stayed committed",
            conn.database()
        )
    );
    let history = conn.history(&m)?;
    assert_eq!(
        history[0].applied_at, applied_at,
        "the row keeps its applied_at"
    );
    assert_eq!(
        history[0].state,
        RecordState::Dirty {
            completed: 1,
            direction: strata::Direction::Down
        }
    );
    // Repair: partial, still applied, and the next downgrade resumes at statement 2 (of the
    // down migration as the file has it now: the operator fixed it).
    let repair = conn.repair(&m)?;
    assert_eq!(repair.steps()[0].completed, 1);
    assert_eq!(
        conn.status(&m)?.entries()[0].state,
        State::Partial {
            completed: 1,
            direction: strata::Direction::Down
        }
    );
    assert!(conn.migrate(&m)?.is_empty(), "still applied");
    let mut fixed = Set::new("app", "1.0.0")?;
    fixed.add(
        Migration::sql(1, "pair", "CREATE TABLE ntd_a (id INTEGER PRIMARY KEY);\nCREATE TABLE ntd_b (id INTEGER PRIMARY KEY);")?
            .with_down("-- strata:no-transaction\nDROP TABLE ntd_b;\nCREATE TABLE ntd_missing (id INTEGER);\nDROP TABLE ntd_a;")?,
    )?;
    let fixed = Migrations::new([fixed])?;
    let report = conn.downgrade(&fixed, "base")?;
    assert_eq!(ids(&report.reverted()), ["app@1_pair"]);
    assert_eq!(report.steps()[0].completed, 1);
    assert_eq!(D::count(&mut conn, "ntd_a"), None);
    assert_eq!(D::count(&mut conn, "ntd_missing"), Some(0));
    assert!(conn.history(&fixed)?.is_empty());
    Ok(())
}

/// A history table an older strata created has no `in_flight` column: reads tolerate it (the
/// no-op boot does not touch the table's shape), and a run with work adds it before writing.
pub fn an_older_history_table_gains_the_in_flight_column<D: TestDb>(db: &D) -> TestResult {
    let mut conn = db.connect();
    let first = Migrations::new([tables("app", 1)])?;
    conn.migrate(&first)?;
    Adapter::execute(
        &mut conn,
        "ALTER TABLE strata_migrations DROP COLUMN in_flight",
    )
    .map_err(|e| e.to_string())?;
    assert!(conn.migrate(&first)?.is_empty(), "the no-op boot reads it");
    assert!(conn.status(&first)?.is_up_to_date());
    assert_eq!(conn.history(&first)?[0].in_flight, None);
    let mut s = tables("app", 1);
    s.add(Migration::sql(
        2,
        "outside",
        "-- strata:no-transaction\nCREATE TABLE oh_a (id INTEGER);\nCREATE TABLE oh_b (id INTEGER);\n",
    )?)?;
    let m = Migrations::new([s])?;
    assert_eq!(ids(&conn.migrate(&m)?.applied()), ["app@2_outside"]);
    assert!(conn.status(&m)?.is_up_to_date());
    Adapter::execute(&mut conn, "UPDATE strata_migrations SET in_flight = NULL")
        .map_err(|e| e.to_string())?;
    // Stamps and repairs add it too.
    Adapter::execute(
        &mut conn,
        "ALTER TABLE strata_migrations DROP COLUMN in_flight",
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(conn.stamp(&m, "base")?.steps().len(), 2);
    assert_eq!(conn.stamp(&m, "heads")?.steps().len(), 2);
    Adapter::execute(
        &mut conn,
        "ALTER TABLE strata_migrations DROP COLUMN in_flight",
    )
    .map_err(|e| e.to_string())?;
    assert!(conn.repair(&m)?.is_empty());
    Adapter::execute(&mut conn, "UPDATE strata_migrations SET in_flight = NULL")
        .map_err(|e| e.to_string())?;
    Ok(())
}

pub fn waiting_for_the_lock_times_out_or_finds_the_work_done<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Send + 'static,
{
    use std::sync::{Arc, Barrier};
    use std::time::Duration;
    // Migration 1 holds the run (and the lock) until the test lets it go.
    let gate = Arc::new(Barrier::new(2));
    let held = Arc::clone(&gate);
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::function(1, "slow", move |_| {
        held.wait(); // started
        held.wait(); // released
        Ok(())
    })?)?;
    set.add(Migration::sql(
        2,
        "t",
        "CREATE TABLE lockwait_t (id INTEGER PRIMARY KEY);",
    )?)?;
    let m = Migrations::new([set])?;
    let mut first = db.connect();
    let m1 = m.clone();
    let first = std::thread::spawn(move || first.migrate(&m1).map(|r| r.applied().len()));
    gate.wait();
    // The lock is held: a booter with a short timeout gives up and says so.
    let mut impatient = db.connect();
    let database = impatient.database();
    let err = impatient
        .migrate(&m.clone().lock_timeout(Duration::from_millis(300)))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("timed out after ")
            && text.ends_with(&format!("s waiting for the migration lock on {database}")),
        "{text}"
    );
    // A patient booter waits, and finds the work done once the first one finishes.
    let mut patient = db.connect();
    // "Wait as long as it takes" must not overflow anywhere.
    let m2 = m.clone().lock_timeout(Duration::MAX);
    let patient = std::thread::spawn(move || patient.migrate(&m2).map(|r| r.applied().len()));
    std::thread::sleep(Duration::from_millis(200));
    gate.wait();
    assert_eq!(first.join().map_err(|_| "panicked")??, 2);
    assert_eq!(patient.join().map_err(|_| "panicked")??, 0);
    Ok(())
}

/// A host set `core` and a plugin set `billing` whose first migration uses core's `accounts`
/// table.
fn core_and_billing() -> Result<Migrations, strata::Error> {
    core_and_billing_edited("", "")
}

/// [`core_and_billing`] with `core_edit` appended to `core@1` and `billing_edit` to `billing@2`.
fn core_and_billing_edited(
    core_edit: &str,
    billing_edit: &str,
) -> Result<Migrations, strata::Error> {
    let mut core = Set::new("core", "2.1.0")?;
    core.add(
        Migration::sql(
            1,
            "users",
            format!("CREATE TABLE core_users (id INTEGER PRIMARY KEY);{core_edit}"),
        )?
        .with_down("DROP TABLE core_users;")?,
    )?;
    core.add(
        Migration::sql(
            2,
            "accounts",
            "CREATE TABLE core_accounts (id INTEGER PRIMARY KEY);",
        )?
        .with_down("DROP TABLE core_accounts;")?,
    )?;
    core.add(
        Migration::sql(
            3,
            "audit",
            "CREATE TABLE core_audit (id INTEGER PRIMARY KEY);",
        )?
        .with_down("DROP TABLE core_audit;")?,
    )?;
    let mut billing = Set::new("billing", "0.3.0")?;
    billing.require("core", "^2.1")?;
    billing.add(
        Migration::sql(
            1,
            "invoices",
            "CREATE TABLE billing_invoices (id INTEGER PRIMARY KEY, account INTEGER REFERENCES core_accounts (id));",
        )?
        .with_down("DROP TABLE billing_invoices;")?
        .depends_on("core", 2),
    )?;
    billing.add(
        Migration::sql(
            2,
            "lines",
            format!("CREATE TABLE billing_lines (id INTEGER PRIMARY KEY);{billing_edit}"),
        )?
        .with_down("DROP TABLE billing_lines;")?,
    )?;
    Migrations::new([core, billing])
}

pub fn plugin_sets_follow_cross_set_dependencies_both_ways<D: TestDb>(db: &D) -> TestResult {
    let m = core_and_billing()?;
    let mut conn = db.connect();
    // Upgrading the plugin applies the core migration it depends on first.
    assert_eq!(
        ids(&conn.upgrade(&m, "billing@1")?.applied()),
        ["core@1_users", "core@2_accounts", "billing@1_invoices"]
    );
    assert_eq!(
        ids(&conn.migrate(&m)?.applied()),
        ["core@3_audit", "billing@2_lines"]
    );
    // Downgrading core below it reverts the plugin's migrations first.
    assert_eq!(
        ids(&conn.downgrade(&m, "core@1")?.reverted()),
        [
            "billing@2_lines",
            "billing@1_invoices",
            "core@3_audit",
            "core@2_accounts"
        ]
    );
    assert_eq!(D::count(&mut conn, "billing_invoices"), None);
    assert_eq!(D::count(&mut conn, "core_users"), Some(0));
    // Each set has its own order and history in one table.
    let report = conn.status(&m)?;
    let entries: Vec<(String, &State)> = report
        .entries()
        .iter()
        .map(|e| (e.id(), &e.state))
        .collect();
    assert_eq!(entries.len(), 5);
    let billing: Vec<&State> = report.set("billing").map(|e| &e.state).collect();
    assert_eq!(billing, [&State::Pending, &State::Pending]);
    assert!(entries.contains(&("core@1_users".to_owned(), &State::Applied)));
    assert!(entries.contains(&("billing@1_invoices".to_owned(), &State::Pending)));
    assert_eq!(
        ids(&conn.upgrade(&m, "billing@head")?.applied()),
        ["core@2_accounts", "billing@1_invoices", "billing@2_lines"]
    );
    assert_eq!(
        ids(&conn.downgrade(&m, "billing@base")?.reverted()),
        ["billing@2_lines", "billing@1_invoices"]
    );
    assert_eq!(D::count(&mut conn, "strata_migrations"), Some(2));
    Ok(())
}

pub fn stamp_per_set_adopts_an_existing_schema<D: TestDb>(db: &D) -> TestResult {
    let m = core_and_billing()?;
    let mut conn = db.connect();
    // The core schema was made by hand (or by another tool) before strata.
    for table in ["core_users", "core_accounts", "core_audit"] {
        conn.execute(&format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))
            .map_err(|e| e.to_string())?;
    }
    let report = conn.stamp(&m, "core@head")?;
    assert_eq!(report.steps().len(), 3);
    assert!(report.steps().iter().all(|s| s.action == Action::Stamped));
    // Only the plugin's migrations run.
    assert_eq!(
        ids(&conn.migrate(&m)?.applied()),
        ["billing@1_invoices", "billing@2_lines"]
    );
    // Unstamping core below the plugin's dependency unstamps the plugin first.
    let report = conn.stamp(&m, "core@1")?;
    let unstamped: Vec<&str> = report
        .steps()
        .iter()
        .map(|s| s.migration.as_str())
        .collect();
    assert_eq!(
        unstamped,
        [
            "billing@2_lines",
            "billing@1_invoices",
            "core@3_audit",
            "core@2_accounts"
        ]
    );
    assert_eq!(
        D::count(&mut conn, "billing_lines"),
        Some(0),
        "stamp runs nothing"
    );
    // Repair per set: a changed checksum in each set, only billing's is accepted.
    conn.stamp(&m, "heads")?;
    let edited = core_and_billing_edited(" -- edited", " -- edited")?;
    let report = conn.repair_set(&edited, "billing")?;
    let accepted: Vec<&str> = report
        .steps()
        .iter()
        .map(|s| s.migration.as_str())
        .collect();
    assert_eq!(accepted, ["billing@2_lines"]);
    let err = conn.migrate(&edited).unwrap_err();
    assert_eq!(
        err.migration(),
        Some("core@1_users"),
        "core was left alone: {err}"
    );
    assert_eq!(
        conn.repair_set(&edited, "nope").unwrap_err().to_string(),
        "no set named `nope` is registered"
    );
    Ok(())
}

fn flavor<C: Adapter>(conn: &C) -> Flavor {
    match conn.dialect().backend {
        "postgres" => Flavor::Postgres,
        "mysql" => Flavor::Mysql,
        _ => Flavor::Sqlite,
    }
}

pub fn offline_scripts_do_what_a_run_does<D: TestDb>(db: &D) -> TestResult {
    let m = core_and_billing()?;
    let mut conn = db.connect();
    let flavor = flavor(&conn);
    // A DBA runs the upgrade script by hand: the database is then exactly as a run leaves it.
    let up = m.upgrade_script(flavor, "base", "billing@1")?;
    assert!(up.contains("-- apply core@2_accounts"), "{up}");
    conn.execute(&up).map_err(|e| e.to_string())?;
    assert_eq!(D::count(&mut conn, "billing_invoices"), Some(0));
    let history = conn.history(&m)?;
    assert_eq!(history.len(), 3);
    assert!(
        history
            .iter()
            .all(|r| r.state == RecordState::Applied && r.applied_at.len() == 24)
    );
    // A script made from the database's own history covers exactly what a run would apply.
    let rest = m.upgrade_script_for(flavor, &conn.history(&m)?, "heads")?;
    assert!(rest.contains("-- apply core@3_audit"), "{rest}");
    assert!(!rest.contains("-- apply core@1_users"), "{rest}");
    assert_eq!(
        ids(&conn.migrate(&m)?.applied()),
        ["core@3_audit", "billing@2_lines"],
        "strata takes over from the script"
    );
    // And back down to base, from where the database is now.
    let down = m.downgrade_script(flavor, "heads", "base")?;
    conn.execute(&down).map_err(|e| e.to_string())?;
    assert!(conn.history(&m)?.is_empty());
    assert_eq!(D::count(&mut conn, "core_users"), None);
    // Nothing to do is a script that says so; a Rust function cannot be scripted.
    assert!(
        m.upgrade_script(flavor, "heads", "heads")?
            .contains("-- nothing to do")
    );
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::function(1, "seed", |_| Ok(()))?)?;
    let err = Migrations::new([set])?
        .upgrade_script(flavor, "base", "heads")
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::FunctionInScript { .. }),
        "{err}"
    );
    Ok(())
}
