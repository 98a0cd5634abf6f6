//! What `benches/sqlite.rs` and `benches/servers.rs` share: the workload of N migrations, the
//! history row values both raw sides write, the criterion settings, and the table of strata's
//! median times over raw printed after the criterion groups.
//!
//! Each bench keeps its own SQL: a raw side issues its own database's statements.

use std::env;
use std::fmt::{Debug, Display, Write as _};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use strata::{Migration, Migrations, Mode, Set};

/// strata's time over raw beyond which an apply case is listed after the table.
pub const APPLY_BUDGET: f64 = 1.10;
/// strata's time over raw beyond which a no-op case is listed after the table.
pub const NOOP_BUDGET: f64 = 1.20;
pub const SET: &str = "bench";
pub const SET_VERSION: &str = "1.0.0";
/// Stands for strata's `utc_now()`, computed per migration.
pub const APPLIED_AT: &str = "2026-01-01T00:00:00.000Z";

/// Runs `benches` with the criterion settings of both benches (then the command line's), then
/// prints the summary and the ratio table of `groups` (see [`print_ratios`]).
pub fn run(groups: &[Group], unmeasured: &str, benches: impl FnOnce(&mut Criterion)) {
    let since = SystemTime::now();
    let mut c = criterion();
    benches(&mut c);
    c.final_summary();
    print_ratios(since, groups, unmeasured);
}

/// Criterion with the settings the benches share, then the command line's.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000)
        .configure_from_args()
}

/// The server URL in `var` (or `default`) once `connect` reached it; `None`, with a note, when
/// it cannot be reached (under `CI=true` that panics instead), as `tests/conformance`.
#[allow(dead_code)] // the server benches only
pub fn reachable<C, E: Display>(
    var: &str,
    default: &str,
    connect: impl FnOnce(&str) -> Result<C, E>,
) -> Option<(String, C)> {
    let url = env::var(var).unwrap_or_else(|_| default.to_owned());
    match connect(&url) {
        Ok(conn) => Some((url, conn)),
        Err(e) if env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and the server of {var} cannot be reached: {e}")
        }
        Err(e) => {
            println!("skipping the groups of {var}: its server cannot be reached ({e})");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload.

/// A history row as the raw side reads it: the columns strata decodes, as owned values. `V` is
/// the integer type the raw side's driver reads `version` and `duration_ms` as.
pub type RawRow<V> = (
    String,
    V,
    String,
    String,
    u32,
    Option<String>,
    String,
    String,
    V,
    String,
    Option<u32>,
);

/// One migration as the raw side runs it: everything strata would plan, precomputed. `V` is the
/// integer type the raw side's driver binds `version` as.
pub struct RawMigration<V> {
    pub version: V,
    pub name: String,
    pub sql: String,
    pub checksum: String,
}

/// N migrations, for both sides.
pub struct Workload<V> {
    pub n: usize,
    pub all_or_nothing: Migrations,
    pub per_migration: Migrations,
    pub raw: Vec<RawMigration<V>>,
}

impl<V: TryFrom<usize>> Workload<V>
where
    V::Error: Debug,
{
    /// One set of `n` migrations: migration `i` is `create_t_<i>`, running `sql_of(i)`.
    pub fn new(n: usize, sql_of: fn(usize) -> String) -> Workload<V> {
        let mut set = Set::new(SET, SET_VERSION).expect("set");
        let mut raw = Vec::with_capacity(n);
        for i in 1..=n {
            let name = format!("create_t_{i}");
            let sql = sql_of(i);
            let version = u64::try_from(i).expect("version");
            let migration = Migration::sql(version, &name, sql.clone()).expect("migration");
            raw.push(RawMigration {
                version: V::try_from(i).expect("version"),
                name,
                sql,
                checksum: migration.checksum().to_string(),
            });
            set.add(migration).expect("add");
        }
        let all_or_nothing = Migrations::new([set]).expect("migrations");
        let per_migration = all_or_nothing.clone().mode(Mode::PerMigration);
        Workload {
            n,
            all_or_nothing,
            per_migration,
            raw,
        }
    }

    /// A workload of each size of `sizes`.
    pub fn all(sizes: &[usize], sql_of: fn(usize) -> String) -> Vec<Workload<V>> {
        sizes.iter().map(|&n| Workload::new(n, sql_of)).collect()
    }

    pub fn migrations(&self, mode: Mode) -> &Migrations {
        match mode {
            Mode::AllOrNothing => &self.all_or_nothing,
            Mode::PerMigration => &self.per_migration,
        }
    }
}

/// The end of an apply group's name: `apply_<db><suffix>`.
pub fn mode_suffix(mode: Mode) -> &'static str {
    match mode {
        Mode::AllOrNothing => "",
        Mode::PerMigration => "_per_migration",
    }
}

// ---------------------------------------------------------------------------------------------
// The ratio table.

/// A criterion group of the table: its name, its raw side, what its cases share, its sizes,
/// and the ratio above which its cases are listed after the table.
pub struct Group {
    name: String,
    raw: &'static str,
    label: &'static str,
    sizes: &'static [usize],
    budget: f64,
}

impl Group {
    /// An apply group, over budget beyond [`APPLY_BUDGET`].
    pub fn apply(
        name: String,
        raw: &'static str,
        label: &'static str,
        sizes: &'static [usize],
    ) -> Group {
        Group {
            name,
            raw,
            label,
            sizes,
            budget: APPLY_BUDGET,
        }
    }

    /// A no-op group (its raw side named `raw`), over budget beyond [`NOOP_BUDGET`].
    pub fn noop(name: String, label: &'static str, sizes: &'static [usize]) -> Group {
        Group {
            name,
            raw: "raw",
            label,
            sizes,
            budget: NOOP_BUDGET,
        }
    }
}

/// Where criterion writes its results: the same lookup as criterion's own.
pub fn criterion_home() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let metadata = env::var_os("CARGO").and_then(|cargo| {
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        Some(PathBuf::from(json.get("target_directory")?.as_str()?))
    });
    metadata
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// The median time in nanoseconds of one benchmark, if this run measured it (written since
/// `since`: older files are from earlier runs).
pub fn median_ns(
    home: &Path,
    group: &str,
    function: &str,
    n: usize,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join(group)
        .join(function)
        .join(n.to_string())
        .join("new")
        .join("estimates.json");
    let modified = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

pub fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            table,
            "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        if i == 0 {
            let _ = writeln!(
                table,
                "{}-|-{}-|-{}-|-{}",
                "-".repeat(widths[0]),
                "-".repeat(widths[1]),
                "-".repeat(widths[2]),
                "-".repeat(widths[3])
            );
        }
    }
    table
}

/// Prints the table `case | strata | raw | ratio` of the cases of `groups` this run measured
/// (since `since`), then the cases over budget. With none measured it says so, giving
/// `unmeasured`, the bench's list of reasons, in parentheses.
fn print_ratios(since: SystemTime, groups: &[Group], unmeasured: &str) {
    let home = criterion_home();
    let mut rows = vec![[
        "case".to_owned(),
        "strata".to_owned(),
        "raw".to_owned(),
        "ratio".to_owned(),
    ]];
    let mut over = Vec::new();
    for group in groups {
        for &n in group.sizes {
            let case = format!("{} N={n} ({})", group.name, group.label);
            let strata = median_ns(&home, &group.name, "strata", n, since);
            let raw = median_ns(&home, &group.name, group.raw, n, since);
            let (Some(strata), Some(raw)) = (strata, raw) else {
                continue;
            };
            let ratio = strata / raw;
            if ratio > group.budget {
                over.push(format!("{case}: {ratio:.3}x > {:.2}x", group.budget));
            }
            rows.push([case, human(strata), human(raw), format!("{ratio:.3}x")]);
        }
    }
    println!();
    if rows.len() == 1 {
        println!(
            "strata / raw: ratios unavailable: this run produced no estimates under {} \
             ({unmeasured})",
            home.display()
        );
        return;
    }
    println!("strata / raw (median time per iteration, this run):\n");
    print!("{}", table(&rows));
    if !over.is_empty() {
        println!("\nover budget (apply > {APPLY_BUDGET:.2}x, no-op > {NOOP_BUDGET:.2}x raw):");
        for line in over {
            println!("  {line}");
        }
    }
}
