//! strata on SQLite against raw `rusqlite` running the same SQL in the same transactions.
//!
//! # What is measured
//!
//! The workload is one set of N migrations (N = 10, 100, 1000); migration `i` creates a table
//! `t_i` and inserts one row into it. Every case runs twice: `strata` through
//! `conn.migrate(&migrations)`, and `raw` through `rusqlite` directly, doing what strata does on
//! SQLite minus the planning:
//!
//! * `apply_<db>`: the default all-or-nothing mode on a new database. `BEGIN IMMEDIATE`; look
//!   up and read the history table (`SELECT 1 FROM sqlite_master ...`, `SELECT ... ORDER BY
//!   rowid`), create it as it is missing; per migration, its statements and the upsert of its
//!   history row (`INSERT ... ON CONFLICT`, a cached prepared statement, with a precomputed
//!   checksum and timestamp); one `COMMIT`.
//! * `apply_<db>_per_migration`: `Mode::PerMigration`. The same first transaction, then every
//!   migration commits with its row, and every transaction after the first starts with
//!   `BEGIN IMMEDIATE`: the floor of one commit per migration. strata re-takes the lock there
//!   too, and also reads `PRAGMA data_version` to see whether another connection committed
//!   meanwhile (it re-reads the history only then, so not in this benchmark).
//! * `noop_<db>`: the boot path with all N applied: `BEGIN IMMEDIATE`, the two `SELECT`s
//!   reading all N rows, `COMMIT`. `noop_memory` and `noop_file_reused` reuse one connection
//!   (statements stay in rusqlite's cache); `noop_file_fresh` opens a new connection per
//!   iteration, so every iteration also loads the schema and prepares its statements.
//!
//! `<db>` is `memory` (`Connection::open_in_memory`) or `file` (a new file in a temporary
//! directory, default journal mode and synchronous setting, so every commit syncs). The apply
//! cases start each iteration from a new database, created outside the measured time (as is
//! the connection of `noop_file_fresh`). Before measuring, the bench checks that the two
//! sides agree: strata finds nothing to do on a database migrated by the raw side.
//!
//! After the criterion groups, the bench prints a table `case | strata | raw | ratio` of the
//! median times of this run (from criterion's `<group>/<side>/<N>/new/estimates.json`) and
//! strata's time over raw, then lists the cases over budget: apply over 1.10x raw, no-op over
//! 1.20x. The two sides of a case run one after the other, so on a shared machine a ratio can
//! move by 10-20% between runs (more for the file cases, which wait on `fsync`); rerun a group
//! alone before trusting a single ratio.
//!
//! # Running
//!
//! ```text
//! cargo bench --all-features --bench sqlite                    # full run, about 2.5 minutes
//! cargo bench --all-features --bench sqlite -- noop_           # only some groups
//! cargo bench --all-features --bench sqlite -- --test          # run each case once, no ratios
//! ```

mod common;

use std::cell::Cell;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, BenchmarkId, Criterion};
use rusqlite::{Connection, OptionalExtension, params};
use strata::{Migrator, Mode, NORMALIZATION};

use common::{APPLIED_AT, Group, SET, SET_VERSION, mode_suffix};

const SIZES: [usize; 3] = [10, 100, 1000];
const TABLE: &str = "strata_migrations";

// The statements of `src/adapter/sqlite.rs` for the default history table (its `CREATE TABLE` is
// `Flavor::Sqlite` in `src/script.rs`), verbatim: keep them in step with it (`check` compares
// the history tables both sides create).
const EXISTS_SQL: &str =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE";
const READ_SQL: &str = "SELECT set_name, version, name, checksum, normalization, down_sql, \
    set_version, applied_at, duration_ms, state, completed FROM \"strata_migrations\" ORDER BY rowid";
const CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS \"strata_migrations\" (
    set_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    normalization INTEGER NOT NULL,
    down_sql TEXT,
    set_version TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    completed INTEGER,
    PRIMARY KEY (set_name, version)
)";
const INSERT_SQL: &str = "INSERT INTO \"strata_migrations\" (set_name, version, name, checksum, \
    normalization, down_sql, set_version, applied_at, duration_ms, state, completed) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
    ON CONFLICT (set_name, version) DO UPDATE SET name = excluded.name, \
    checksum = excluded.checksum, normalization = excluded.normalization, \
    down_sql = excluded.down_sql, set_version = excluded.set_version, \
    applied_at = excluded.applied_at, duration_ms = excluded.duration_ms, \
    state = excluded.state, completed = excluded.completed";

/// A history row as `rusqlite` reads it.
type RawRow = common::RawRow<i64>;

/// N migrations; the raw side binds versions as `i64`.
type Workload = common::Workload<i64>;

/// Migration `i` of the workload.
fn migration_sql(i: usize) -> String {
    format!(
        "CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t_{i} (v) VALUES ('row {i}');\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The raw side.

/// The two `SELECT`s of strata's `read_history`: `None` when the table does not exist.
fn raw_read(conn: &Connection) -> rusqlite::Result<Option<Vec<RawRow>>> {
    let exists = conn
        .prepare_cached(EXISTS_SQL)?
        .query_row([TABLE], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(READ_SQL)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(RawRow::try_from(row)?);
    }
    Ok(Some(out))
}

/// `BEGIN IMMEDIATE`, then read the history, creating the table when it is missing.
fn raw_begin_and_read(conn: &Connection) -> rusqlite::Result<Vec<RawRow>> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match raw_read(conn)? {
        Some(rows) => Ok(rows),
        None => {
            conn.execute_batch(CREATE_SQL)?;
            Ok(Vec::new())
        }
    }
}

fn raw_apply(conn: &Connection, w: &Workload, mode: Mode) -> rusqlite::Result<()> {
    black_box(raw_begin_and_read(conn)?);
    for (i, m) in w.raw.iter().enumerate() {
        if mode == Mode::PerMigration && i > 0 {
            conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        conn.execute_batch(&m.sql)?;
        conn.prepare_cached(INSERT_SQL)?.execute(params![
            SET,
            m.version,
            m.name,
            m.checksum,
            NORMALIZATION,
            None::<String>,
            SET_VERSION,
            APPLIED_AT,
            0_i64,
            "applied",
            None::<u32>,
        ])?;
        if mode == Mode::PerMigration {
            conn.execute_batch("COMMIT")?;
        }
    }
    if mode == Mode::AllOrNothing {
        conn.execute_batch("COMMIT")?;
    }
    Ok(())
}

fn raw_noop(conn: &Connection) -> rusqlite::Result<Vec<RawRow>> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let rows = raw_read(conn)?.unwrap_or_default();
    conn.execute_batch("COMMIT")?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Databases.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Memory,
    File,
}

/// Removes a database file and its rollback journal when dropped.
struct FileGuard(PathBuf);

impl Drop for FileGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let mut journal = self.0.clone().into_os_string();
        journal.push("-journal");
        let _ = fs::remove_file(journal);
    }
}

/// A new database. The connection closes before the file is removed (fields drop in order).
struct Fresh {
    conn: Connection,
    _file: Option<FileGuard>,
}

/// Hands out new databases in one temporary directory.
struct Databases {
    dir: tempfile::TempDir,
    next: Cell<u64>,
}

impl Databases {
    fn new() -> Databases {
        Databases {
            dir: tempfile::Builder::new()
                .prefix("strata-bench-")
                .tempdir()
                .expect("temporary directory"),
            next: Cell::new(0),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn fresh(&self, db: Db) -> Fresh {
        match db {
            Db::Memory => Fresh {
                conn: Connection::open_in_memory().expect("open in memory"),
                _file: None,
            },
            Db::File => {
                let n = self.next.get();
                self.next.set(n + 1);
                let path = self.path(&format!("apply-{n}.db"));
                Fresh {
                    conn: Connection::open(&path).expect("open file"),
                    _file: Some(FileGuard(path)),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks and benchmarks.

fn count(conn: &Connection, sql: &str) -> usize {
    let n: i64 = conn.query_row(sql, [], |row| row.get(0)).expect("count");
    usize::try_from(n).expect("count")
}

/// Both sides leave the same tables and history rows, and strata accepts the raw side's rows.
fn check(w: &Workload) {
    for mode in [Mode::AllOrNothing, Mode::PerMigration] {
        let mut strata = Connection::open_in_memory().expect("open");
        let report = strata.migrate(w.migrations(mode)).expect("strata migrate");
        assert_eq!(report.applied().len(), w.n);
        let mut raw = Connection::open_in_memory().expect("open");
        raw_apply(&raw, w, mode).expect("raw apply");
        for conn in [&strata, &raw] {
            assert_eq!(count(conn, "SELECT count(*) FROM strata_migrations"), w.n);
            assert_eq!(
                count(
                    conn,
                    "SELECT count(*) FROM sqlite_master WHERE name LIKE 't\\_%' ESCAPE '\\'"
                ),
                w.n
            );
            assert_eq!(count(conn, &format!("SELECT count(*) FROM t_{}", w.n)), 1);
        }
        let schema = |conn: &Connection| -> String {
            conn.query_row(
                "SELECT sql FROM sqlite_master WHERE name = ?1",
                [TABLE],
                |row| row.get(0),
            )
            .expect("history table schema")
        };
        assert_eq!(
            schema(&strata),
            schema(&raw),
            "CREATE_SQL is out of date with src/adapter/sqlite.rs"
        );
        let again = raw
            .migrate(w.migrations(mode))
            .expect("strata on the raw database");
        assert!(
            again.is_empty(),
            "strata wants to apply on the raw database:\n{again}"
        );
        assert_eq!(raw_noop(&strata).expect("raw noop").len(), w.n);
    }
}

fn db_name(db: Db) -> &'static str {
    match db {
        Db::Memory => "memory",
        Db::File => "file",
    }
}

fn bench_apply(c: &mut Criterion, dbs: &Databases, workloads: &[Workload], db: Db, mode: Mode) {
    let mut group = c.benchmark_group(format!("apply_{}{}", db_name(db), mode_suffix(mode)));
    for w in workloads {
        let migrations = w.migrations(mode);
        group.bench_with_input(BenchmarkId::new("strata", w.n), w, |b, _| {
            b.iter_batched(
                || dbs.fresh(db),
                |mut fresh| {
                    let report = fresh.conn.migrate(migrations).expect("strata migrate");
                    (fresh, report)
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_with_input(BenchmarkId::new("raw", w.n), w, |b, w| {
            b.iter_batched(
                || dbs.fresh(db),
                |fresh| {
                    raw_apply(&fresh.conn, w, mode).expect("raw apply");
                    fresh
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// A database with every migration of `w` applied: in memory, or a file at `path`.
fn migrated(w: &Workload, path: Option<&Path>) -> Connection {
    let mut conn = match path {
        Some(path) => Connection::open(path).expect("open file"),
        None => Connection::open_in_memory().expect("open in memory"),
    };
    conn.migrate(&w.all_or_nothing).expect("strata migrate");
    conn
}

fn bench_noop(c: &mut Criterion, dbs: &Databases, workloads: &[Workload]) {
    let mut group = c.benchmark_group("noop_memory");
    for w in workloads {
        let mut strata = migrated(w, None);
        let raw = migrated(w, None);
        group.bench_function(BenchmarkId::new("strata", w.n), |b| {
            b.iter(|| strata.migrate(&w.all_or_nothing).expect("strata migrate"));
        });
        group.bench_function(BenchmarkId::new("raw", w.n), |b| {
            b.iter(|| raw_noop(&raw).expect("raw noop"));
        });
    }
    group.finish();

    let paths: Vec<PathBuf> = workloads
        .iter()
        .map(|w| {
            let path = dbs.path(&format!("noop-{}.db", w.n));
            drop(migrated(w, Some(&path)));
            path
        })
        .collect();

    let mut group = c.benchmark_group("noop_file_fresh");
    for (w, path) in workloads.iter().zip(&paths) {
        let open = || Connection::open(path).expect("open file");
        group.bench_function(BenchmarkId::new("strata", w.n), |b| {
            b.iter_batched(
                open,
                |mut conn| {
                    let report = conn.migrate(&w.all_or_nothing).expect("strata migrate");
                    (conn, report)
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(BenchmarkId::new("raw", w.n), |b| {
            b.iter_batched(
                open,
                |conn| {
                    // The rows are dropped inside the measurement, as strata drops its records.
                    black_box(raw_noop(&conn).expect("raw noop"));
                    conn
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("noop_file_reused");
    for (w, path) in workloads.iter().zip(&paths) {
        let mut strata = Connection::open(path).expect("open file");
        let raw = Connection::open(path).expect("open file");
        group.bench_function(BenchmarkId::new("strata", w.n), |b| {
            b.iter(|| strata.migrate(&w.all_or_nothing).expect("strata migrate"));
        });
        group.bench_function(BenchmarkId::new("raw", w.n), |b| {
            b.iter(|| raw_noop(&raw).expect("raw noop"));
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The ratio table.

fn groups() -> Vec<Group> {
    let mut groups = Vec::new();
    for db in [Db::Memory, Db::File] {
        for mode in [Mode::AllOrNothing, Mode::PerMigration] {
            let label = match mode {
                Mode::AllOrNothing => "all-or-nothing",
                Mode::PerMigration => "per-migration",
            };
            let name = format!("apply_{}{}", db_name(db), mode_suffix(mode));
            groups.push(Group::apply(name, "raw", label, &SIZES));
        }
    }
    for (name, label) in [
        ("noop_memory", "reused connection"),
        ("noop_file_fresh", "new connection"),
        ("noop_file_reused", "reused connection"),
    ] {
        groups.push(Group::noop(name.to_owned(), label, &SIZES));
    }
    groups
}

fn main() {
    common::run(
        &groups(),
        "criterion's --test, --list or --profile-time mode, or every case filtered out",
        |c| {
            let workloads = Workload::all(&SIZES, migration_sql);
            for w in &workloads {
                check(w);
            }
            let dbs = Databases::new();
            for db in [Db::Memory, Db::File] {
                for mode in [Mode::AllOrNothing, Mode::PerMigration] {
                    bench_apply(c, &dbs, &workloads, db, mode);
                }
            }
            bench_noop(c, &dbs, &workloads);
        },
    );
}
