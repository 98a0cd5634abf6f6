//! The `strata` binary's run options, run as a process: `--mode`, `--setup-sql`,
//! `--sqlite-foreign-keys` and `--connect-timeout`, and the URLs they concern (servers as in
//! `tests/postgres.rs` and `tests/mysql.rs`: skipped with a note when unreachable, except under
//! `CI=true`).

#![cfg(feature = "cli")]

use std::path::Path;
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The binary's exit code, standard output and standard error.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs the binary in `dir` with no database URL in its environment.
fn strata(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the strata binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A crate directory named `shop` whose `migrations/` holds `files` (name, text).
fn project(files: &[(&str, &str)]) -> Result<tempfile::TempDir, std::io::Error> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        "[package]\nname = \"shop\"\nversion = \"1.0.0\"\n",
    )?;
    std::fs::create_dir(tmp.path().join("migrations"))?;
    for (name, text) in files {
        std::fs::write(tmp.path().join("migrations").join(name), text)?;
    }
    Ok(tmp)
}

/// The tables of a SQLite file.
fn sqlite_tables(path: &Path) -> Result<Vec<String>, rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    stmt.query_map([], |row| row.get(0))?.collect()
}

#[cfg(feature = "rusqlite")]
#[test]
fn mode_per_migration_keeps_the_migrations_before_a_failure() -> TestResult {
    let tmp = project(&[
        ("1_a.sql", "CREATE TABLE a (id INTEGER);"),
        ("2_b.sql", "CREATE TABLE b (id INTEGER);\nNOT SQL;"),
    ])?;
    let db = tmp.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    // The default, all-or-nothing: the failure rolls back migration 1 too.
    let failed = strata(tmp.path(), &["up", "--url", &url]);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.contains(
            "error: failed to apply migration `shop@2_b` (statement 2 of 2, line 2) on sqlite database"
        ),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("; 1 earlier migration of this run rolled back with it\n"),
        "{}",
        failed.stderr
    );
    assert!(!sqlite_tables(&db)?.contains(&"a".to_owned()));
    let explicit = strata(tmp.path(), &["up", "--mode", "all-or-nothing", "--url", &url]);
    assert_eq!(explicit.code, Some(1));
    assert!(!sqlite_tables(&db)?.contains(&"a".to_owned()));
    // Per migration: migration 1 commits with its history row and stays.
    let failed = strata(tmp.path(), &["up", "--mode", "per-migration", "--url", &url]);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("; 1 earlier migration of this run stays applied\n"),
        "{}",
        failed.stderr
    );
    assert_eq!(sqlite_tables(&db)?, ["a", "strata_migrations"]);
    let status = strata(tmp.path(), &["status", "--url", &url]).ok();
    let states: Vec<Vec<&str>> = status
        .stdout
        .lines()
        .filter(|l| l.starts_with("shop "))
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        states,
        [["shop", "1", "a", "applied"], ["shop", "2", "b", "pending"]],
        "{}",
        status.stdout
    );
    // A mode that does not exist is a usage error.
    let bad = strata(tmp.path(), &["up", "--mode", "sometimes", "--url", &url]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr
            .contains("invalid value 'sometimes' for '--mode <MODE>'"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr
            .contains("[possible values: all-or-nothing, per-migration]"),
        "{}",
        bad.stderr
    );
    Ok(())
}
