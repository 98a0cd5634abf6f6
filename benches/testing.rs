//! A fresh, fully migrated database for one test: `strata::testing`'s template copies against
//! replaying the migrations.
//!
//! # What is measured
//!
//! The workload is one set of 200 migrations; migration `i` is
//! `CREATE TABLE t_i (id INTEGER PRIMARY KEY); INSERT INTO t_i VALUES (1);`. Every case ends
//! with a connection to the new database and one query run on its last table
//! (`SELECT count(*) FROM t_200`), which it checks.
//!
//! * `fresh_sqlite`: `template` is `strata::testing::sqlite` (a copy of the in-memory template
//!   the first call migrated); `replay` opens a new in-memory connection and migrates it.
//! * `fresh_postgres`: `template` is `strata::testing::postgres`: connect to the server, check
//!   the template exists, `CREATE DATABASE ... TEMPLATE` (the default strategy, `WAL_LOG` on
//!   PostgreSQL 15), connect to the new database. `template_file_copy` does the same with raw
//!   SQL and `STRATEGY = FILE_COPY`, to compare the strategies. `replay` connects to the server,
//!   `CREATE DATABASE` (from `template1`), connects to it and migrates it. Dropping the database
//!   is outside the measured time on every side. `transaction` is
//!   `strata::testing::postgres_transaction`: a pooled connection to the shared database (copied
//!   from the template once, before the measured runs) and `BEGIN`; its measured time includes
//!   the drop (`ROLLBACK`, the connection back to the pool), which is the next run's setup.
//!
//! After the criterion groups, the bench prints a table `case | template | replay | speedup`
//! of the median times of this run (replay over template; the goal is 20x), then, for
//! PostgreSQL, where the time of each side goes (the mean of a few timed runs per phase).
//!
//! The bench makes its own databases (`strata_test_*`, `strata_bench_*`) and drops them; the
//! template (`strata_tpl_*`) and the shared database (`strata_shared_*`) stay, as they do for
//! tests. Server: `STRATA_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); when it cannot be reached the
//! PostgreSQL group is skipped with a note (under `CI=true` it panics instead).
//!
//! # Running
//!
//! ```text
//! cargo bench --all-features --bench testing                  # full run, about a minute
//! cargo bench --all-features --bench testing -- fresh_sqlite  # one group
//! ```

// The bench uses the workload and the table helpers of `common`, not its apply/no-op groups.
#[allow(dead_code)]
mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion};
use postgres::{Client, Config, NoTls};
use rusqlite::Connection;
use strata::testing::{self, TestDatabase};
use strata::{Migrations, Migrator};

const N: usize = 200;
const LAST: &str = "SELECT count(*) FROM t_200";
const PG_URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The speedup the template copies are meant to reach.
const GOAL: f64 = 20.0;
/// Timed runs per phase in the PostgreSQL breakdown.
const PHASE_RUNS: u32 = 5;

fn migration_sql(i: usize) -> String {
    format!("CREATE TABLE t_{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t_{i} VALUES (1);\n")
}

// ---------------------------------------------------------------------------------------------
// SQLite.

fn sqlite_check(conn: &Connection) {
    let n: i64 = conn.query_row(LAST, [], |row| row.get(0)).expect("query");
    assert_eq!(n, 1);
}

fn sqlite_replay(migrations: &Migrations) -> Connection {
    let mut conn = Connection::open_in_memory().expect("open in memory");
    conn.migrate(migrations).expect("migrate");
    conn
}

fn bench_sqlite(c: &mut Criterion, migrations: &Migrations) {
    sqlite_check(&testing::sqlite(migrations).expect("template"));
    sqlite_check(&sqlite_replay(migrations));
    let mut group = c.benchmark_group("fresh_sqlite");
    group.bench_function(BenchmarkId::new("template", N), |b| {
        b.iter(|| {
            let conn = testing::sqlite(migrations).expect("copy");
            sqlite_check(&conn);
            conn
        });
    });
    group.bench_function(BenchmarkId::new("replay", N), |b| {
        b.iter(|| {
            let conn = sqlite_replay(migrations);
            sqlite_check(&conn);
            conn
        });
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

struct Pg {
    url: String,
    config: Config,
    admin: Client,
    template: String,
}

/// A database the bench made, dropped (outside the measured time) when the value drops.
struct Made<'a> {
    pg: &'a Pg,
    name: String,
    conn: Option<Client>,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        drop(self.conn.take());
        let mut admin = self.pg.config.connect(NoTls).expect("connect");
        admin
            .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name))
            .expect("drop the bench database");
    }
}

/// `strata_bench_<pid>_<n>`: unique in this run, and the bench drops what it makes.
fn bench_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "strata_bench_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn pg_check(conn: &mut Client) {
    let n: i64 = conn.query_one(LAST, &[]).expect("query").get(0);
    assert_eq!(n, 1);
}

impl Pg {
    fn create(migrations: &Migrations) -> Option<Pg> {
        let (url, admin) = common::reachable(PG_URL_VAR, PG_DEFAULT_URL, |url| {
            Client::connect(url, NoTls)
        })?;
        let config: Config = url.parse().expect("URL");
        let template = testing::postgres(&url, migrations)
            .expect("template")
            .template()
            .expect("a template")
            .to_owned();
        Some(Pg {
            url,
            config,
            admin,
            template,
        })
    }

    /// Connect to the server, `sql` (a `CREATE DATABASE`) for a new database, connect to it.
    fn create_database<'a>(
        &'a self,
        create: impl Fn(&str) -> String,
        phases: &mut Phases,
    ) -> Made<'a> {
        let name = bench_name();
        let start = Instant::now();
        let mut admin = self.config.connect(NoTls).expect("connect");
        phases.add("connect to the server", start);
        let start = Instant::now();
        admin
            .batch_execute(&create(&name))
            .expect("create database");
        phases.add("CREATE DATABASE", start);
        drop(admin);
        let start = Instant::now();
        let conn = self
            .config
            .clone()
            .dbname(&name)
            .connect(NoTls)
            .expect("connect");
        phases.add("connect to the new database", start);
        Made {
            pg: self,
            name,
            conn: Some(conn),
        }
    }

    fn replay(&self, migrations: &Migrations, phases: &mut Phases) -> Made<'_> {
        let mut made = self.create_database(|name| format!("CREATE DATABASE \"{name}\""), phases);
        let start = Instant::now();
        let conn = made.conn.as_mut().expect("connected");
        conn.migrate(migrations).expect("migrate");
        phases.add("migrate", start);
        made
    }

    fn file_copy(&self, phases: &mut Phases) -> Made<'_> {
        self.create_database(
            |name| {
                format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{}\" STRATEGY = FILE_COPY",
                    self.template
                )
            },
            phases,
        )
    }

    fn wal_log(&self, phases: &mut Phases) -> Made<'_> {
        self.create_database(
            |name| format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.template),
            phases,
        )
    }
}

/// `iters` runs of `one`, each timed up to the end of its `check`, dropped after.
fn timed<T>(iters: u64, mut one: impl FnMut() -> T, mut check: impl FnMut(&mut T)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let mut made = one();
        check(&mut made);
        total += start.elapsed();
        drop(made);
    }
    total
}

fn bench_postgres(c: &mut Criterion, pg: &Pg, migrations: &Migrations) {
    // The shared database of `postgres_transaction`, made before the measured runs.
    pg_check(&mut testing::postgres_transaction(&pg.url, migrations).expect("shared database"));
    let mut group = c.benchmark_group("fresh_postgres");
    group.bench_function(BenchmarkId::new("transaction", N), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let mut tx = testing::postgres_transaction(&pg.url, migrations).expect("begin");
                pg_check(&mut tx);
                drop(tx);
            }
            start.elapsed()
        });
    });
    group.bench_function(BenchmarkId::new("template", N), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || testing::postgres(&pg.url, migrations).expect("copy"),
                |db: &mut TestDatabase<Client>| pg_check(db),
            )
        });
    });
    group.bench_function(BenchmarkId::new("template_file_copy", N), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || pg.file_copy(&mut Phases::default()),
                |made| pg_check(made.conn.as_mut().expect("connected")),
            )
        });
    });
    group.bench_function(BenchmarkId::new("replay", N), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || pg.replay(migrations, &mut Phases::default()),
                |made| pg_check(made.conn.as_mut().expect("connected")),
            )
        });
    });
    group.finish();
}

/// The total time of each phase over some runs, in the order first seen.
#[derive(Default)]
struct Phases(Vec<(&'static str, Duration)>);

impl Phases {
    fn add(&mut self, phase: &'static str, start: Instant) {
        let elapsed = start.elapsed();
        match self.0.iter_mut().find(|(name, _)| *name == phase) {
            Some((_, total)) => *total += elapsed,
            None => self.0.push((phase, elapsed)),
        }
    }

    fn line(&self, runs: u32) -> String {
        let mut line = String::new();
        for (i, (phase, total)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let mean = total.as_secs_f64() * 1e9 / f64::from(runs);
            let _ = write!(line, "{sep}{phase} {}", common::human(mean));
        }
        line
    }
}

/// Where the time of each PostgreSQL side goes: the mean of `PHASE_RUNS` runs per phase.
fn pg_breakdown(pg: &mut Pg, migrations: &Migrations) -> Vec<String> {
    let size: i64 = pg
        .admin
        .query_one("SELECT pg_database_size($1::text)", &[&pg.template])
        .expect("template size")
        .get(0);
    let pg = &*pg;
    let mut lines = Vec::new();
    let cases = [
        "template (raw WAL_LOG)",
        "template (raw FILE_COPY)",
        "replay",
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let mut phases = Phases::default();
        for _ in 0..PHASE_RUNS {
            let mut made = match i {
                0 => pg.wal_log(&mut phases),
                1 => pg.file_copy(&mut phases),
                _ => pg.replay(migrations, &mut phases),
            };
            pg_check(made.conn.as_mut().expect("connected"));
        }
        lines.push(format!("{case}: {}", phases.line(PHASE_RUNS)));
    }
    lines.push(format!("template database size: {} kB", size / 1024));
    lines
}

// ---------------------------------------------------------------------------------------------
// The table.

fn print_speedups(since: SystemTime, breakdown: &[String]) {
    let home = common::criterion_home();
    let mut rows = vec![[
        "case".to_owned(),
        "template".to_owned(),
        "replay".to_owned(),
        "speedup".to_owned(),
    ]];
    let mut missed = Vec::new();
    for (group, template) in [
        ("fresh_sqlite", "template"),
        ("fresh_postgres", "template"),
        ("fresh_postgres", "template_file_copy"),
        ("fresh_postgres", "transaction"),
    ] {
        let copy = common::median_ns(&home, group, template, N, since);
        let replay = common::median_ns(&home, group, "replay", N, since);
        let (Some(copy), Some(replay)) = (copy, replay) else {
            continue;
        };
        let case = format!("{group} N={N} ({template})");
        let speedup = replay / copy;
        if speedup < GOAL {
            missed.push(format!("{case}: {speedup:.1}x < {GOAL:.0}x"));
        }
        rows.push([
            case,
            common::human(copy),
            common::human(replay),
            format!("{speedup:.1}x"),
        ]);
    }
    println!();
    if rows.len() == 1 {
        println!(
            "template / replay: speedups unavailable: this run produced no estimates under {} \
             (criterion's --test, --list or --profile-time mode, or every case filtered out)",
            home.display()
        );
    } else {
        println!("replay / template (median time per fresh database, this run):\n");
        print!("{}", common::table(&rows));
        if !missed.is_empty() {
            println!("\nunder the {GOAL:.0}x goal:");
            for line in missed {
                println!("  {line}");
            }
        }
    }
    if !breakdown.is_empty() {
        println!("\nwhere the PostgreSQL time goes (mean of {PHASE_RUNS} runs per phase):");
        for line in breakdown {
            println!("  {line}");
        }
    }
}

fn main() {
    let since = SystemTime::now();
    let migrations = common::Workload::<i64>::new(N, migration_sql).all_or_nothing;
    let mut c = common::criterion();
    bench_sqlite(&mut c, &migrations);
    let mut breakdown = Vec::new();
    if let Some(mut pg) = Pg::create(&migrations) {
        let version: String = pg
            .admin
            .query_one("SHOW server_version", &[])
            .expect("version")
            .get(0);
        println!("PostgreSQL {version}");
        bench_postgres(&mut c, &pg, &migrations);
        breakdown = pg_breakdown(&mut pg, &migrations);
    }
    c.final_summary();
    print_speedups(since, &breakdown);
}
