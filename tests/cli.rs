//! The `strata` binary, run as a process: `new`, and `status`/`up`/`down`/`current`/
//! `history`/`stamp`/`repair`/`sql` on a directory of migrations against a SQLite file, a fresh
//! PostgreSQL database and a fresh MariaDB database (servers as in `tests/postgres.rs` and
//! `tests/mysql.rs`: skipped with a note when unreachable, except under `CI=true`).

#![cfg(feature = "cli")]

mod conformance;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use conformance::TestResult;

/// A password that must never show up in any output.
const SECRET: &str = "Sup3rS3cretPw";

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

fn strata(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_DATABASE_URL")
        .env_remove("NO_COLOR")
        .output()
        .expect("run the strata binary");
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains('\u{1b}'),
            "no colours when not a terminal:\n{text}"
        );
        assert!(!text.contains(SECRET), "the password was printed:\n{text}");
    }
    run
}

fn has(text: &str, part: impl AsRef<str>) {
    assert!(
        text.contains(part.as_ref()),
        "expected `{}` in:\n{text}",
        part.as_ref()
    );
}

fn starts(text: &str, part: impl AsRef<str>) {
    assert!(
        text.starts_with(part.as_ref()),
        "expected `{}` first in:\n{text}",
        part.as_ref()
    );
}

fn ends(text: &str, part: impl AsRef<str>) {
    assert!(
        text.ends_with(part.as_ref()),
        "expected `{}` last in:\n{text}",
        part.as_ref()
    );
}

/// A crate directory: `Cargo.toml` naming the package `shop`, and `migrations/` with two
/// reversible migrations written by `strata new`.
fn project() -> Result<(tempfile::TempDir, Vec<PathBuf>), Error> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        "[package]\nname = \"shop\"\nversion = \"1.2.0\"\n",
    )?;
    let mut files = Vec::new();
    for (name, up, down) in [
        (
            "create_items",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
            "DROP TABLE items;",
        ),
        (
            "add_price",
            "ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;",
            "ALTER TABLE items DROP COLUMN price;",
        ),
    ] {
        let out = strata(tmp.path(), &["new", name, "--reversible"]).ok();
        let written: Vec<PathBuf> = out.stdout.lines().map(|l| tmp.path().join(l)).collect();
        assert_eq!(written.len(), 2, "{}", out.stdout);
        std::fs::write(&written[0], up)?;
        std::fs::write(&written[1], down)?;
        files.extend(written);
    }
    Ok((tmp, files))
}

fn version_of(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    name.unwrap_or_default()
        .split('_')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn new_writes_timestamped_files_without_overwriting() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let one = strata(tmp.path(), &["new", "add_users"]).ok();
    let path = one.stdout.trim();
    assert!(
        path.starts_with("migrations/") && path.ends_with("_add_users.sql"),
        "{path}"
    );
    assert_eq!(
        version_of(Path::new(path)).len(),
        14,
        "yyyymmddhhmmss: {path}"
    );
    assert!(tmp.path().join(path).is_file());

    std::fs::create_dir(tmp.path().join("db"))?;
    std::fs::write(tmp.path().join("db/30000101000000_later.sql"), "SELECT 1;")?;
    let pair = strata(
        tmp.path(),
        &["new", "add_posts", "--reversible", "--dir", "db"],
    )
    .ok();
    assert_eq!(
        pair.stdout, "db/30000101000001_add_posts.up.sql\ndb/30000101000001_add_posts.down.sql\n",
        "the version is bumped past the latest one"
    );

    let bad = strata(tmp.path(), &["new", "Add-Users"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stdout.is_empty());
    starts(&bad.stderr, "error: invalid migration file name `");
    ends(
        &bad.stderr,
        "_Add-Users.sql`: the name must be lowercase letters, digits and `_`\n",
    );
    assert_eq!(std::fs::read_dir(tmp.path().join("migrations"))?.count(), 1);
    Ok(())
}

#[test]
fn usage_and_url_errors() -> TestResult {
    let (tmp, _) = project()?;
    let missing = strata(tmp.path(), &["status"]);
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("pass `--url` or set `STRATA_DATABASE_URL`")
    );

    let url = format!("redis://:{SECRET}@cache:6379/0");
    let unsupported = strata(tmp.path(), &["status", "--url", &url]);
    assert_eq!(unsupported.code, Some(1));
    assert_eq!(
        unsupported.stderr,
        "error: invalid database url `redis://:***@cache:6379/0`: unsupported scheme `redis`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://` or `mariadb://`\n"
    );

    // Nothing listens on port 1: the connection fails, and the password stays out of it.
    for url in [
        format!("postgres://app:{SECRET}@127.0.0.1:1/app"),
        format!("mysql://app:{SECRET}@127.0.0.1:1/app"),
    ] {
        let refused = strata(tmp.path(), &["status", "--url", &url]);
        assert_eq!(refused.code, Some(1), "{}", refused.stderr);
        starts(&refused.stderr, "error: ");
    }

    let no_set = tempfile::tempdir()?;
    std::fs::create_dir(no_set.path().join("migrations"))?;
    let err = strata(no_set.path(), &["status", "--url", "sqlite:app.db"]);
    assert_eq!(
        err.stderr,
        "error: cannot name the set of `migrations`: no `Cargo.toml` with a `[package]` name next to it; pass `--set`\n"
    );
    let named = strata(
        no_set.path(),
        &["status", "--url", "sqlite:app.db", "--set", "ops"],
    )
    .ok();
    starts(&named.stdout, "sqlite database `");
    ends(&named.stdout, "app.db`\n\nno migrations\n");
    Ok(())
}

type Error = Box<dyn std::error::Error>;

/// Runs an offline script on a second, empty database and returns that database's URL.
type ApplyScript<'a> = &'a dyn Fn(&str) -> Result<String, Error>;

/// The test project and the database it runs against.
struct Session {
    tmp: tempfile::TempDir,
    files: Vec<PathBuf>,
    url: String,
    v1: String,
    v2: String,
}

impl Session {
    fn new(url: &str) -> Result<Session, Error> {
        let (tmp, files) = project()?;
        let (v1, v2) = (version_of(&files[0]), version_of(&files[2]));
        Ok(Session {
            tmp,
            files,
            url: url.to_owned(),
            v1,
            v2,
        })
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn run(&self, cmd: &[&str]) -> Run {
        let mut args = cmd.to_vec();
        args.extend(["--url", &self.url]);
        strata(self.dir(), &args)
    }
}

/// The whole command set on one database at `url`.
fn round_trip(url: &str, apply_script: Option<ApplyScript<'_>>) -> TestResult {
    let s = Session::new(url)?;
    up_and_read(&s);
    down_and_scripts(&s, apply_script)?;
    stamp_and_repair(&s)?;
    failing_migration(&s)
}

fn up_and_read(s: &Session) {
    let (v1, v2) = (&s.v1, &s.v2);
    let status = s.run(&["status"]).ok();
    has(&status.stdout, format!("shop  {v1}  create_items  pending"));
    ends(&status.stdout, "2 migrations: 2 pending; not up to date\n");
    has(&status.stdout, " database `");

    let dry = s.run(&["up", "--dry-run"]).ok();
    assert_eq!(
        dry.stdout,
        format!(
            "would apply shop@{v1}_create_items\nwould apply shop@{v2}_add_price\n2 steps (dry run: nothing changed)\n"
        )
    );

    let up = s.run(&["up"]).ok();
    starts(&up.stdout, "applied 2 migrations in ");
    let lines: Vec<&str> = up.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one progress line per migration:\n{}",
        up.stderr
    );
    assert!(
        lines[0].starts_with(&format!("[1/2] applying shop@{v1}_create_items ... ")),
        "{}",
        up.stderr
    );
    assert!(
        lines[1].starts_with(&format!("[2/2] applying shop@{v2}_add_price ... ")),
        "{}",
        up.stderr
    );

    let status = s.run(&["status"]).ok();
    has(
        &status.stdout,
        format!("shop  {v2}  add_price     applied  20"),
    );
    ends(&status.stdout, "2 migrations: 2 applied; up to date\n");
    assert_eq!(
        s.run(&["current"]).ok().stdout,
        format!("shop  {v2}_add_price\n")
    );
    let history = s.run(&["history"]).ok();
    starts(&history.stdout, "MIGRATION ");
    assert_eq!(history.stdout.lines().count(), 3, "{}", history.stdout);
    assert!(
        history.stdout.lines().nth(1).is_some_and(|l| l
            .starts_with(&format!("shop@{v1}_create_items  20"))
            && l.ends_with("applied")),
        "{}",
        history.stdout
    );
    // Durations read as the progress lines write them (`1.2ms`, `3.0s`).
    for row in history.stdout.lines().skip(1) {
        let duration = row.split("  ").filter(|c| !c.is_empty()).nth(2);
        assert!(
            duration.is_some_and(|d| d.ends_with("ms") || d.ends_with('s')) && !row.contains(" ms"),
            "{row}"
        );
    }
}

fn down_and_scripts(s: &Session, apply_script: Option<ApplyScript<'_>>) -> TestResult {
    let script_down = s.run(&["sql", "down", "base"]).ok();
    has(&script_down.stdout, "DROP TABLE items;");

    let down = s.run(&["down", "-1", "--quiet"]).ok();
    assert!(down.stderr.is_empty(), "--quiet: {}", down.stderr);
    starts(&down.stdout, "reverted 1 migration in ");
    assert_eq!(
        s.run(&["current"]).ok().stdout,
        format!("shop  {}_create_items\n", s.v1)
    );

    // The script of what `up` would do here, from the database's history.
    let script = s.run(&["sql", "up"]).ok().stdout;
    assert!(
        script.contains("ALTER TABLE items ADD COLUMN price"),
        "{script}"
    );
    assert!(!script.contains("CREATE TABLE items"), "{script}");
    if let Some(apply) = apply_script {
        let full = s.run(&["sql", "up", "--from", "base"]).ok().stdout;
        let other = apply(&full)?;
        let status = strata(s.dir(), &["status", "--url", &other]).ok();
        ends(&status.stdout, "2 migrations: 2 applied; up to date\n");
    }
    Ok(())
}

fn stamp_and_repair(s: &Session) -> TestResult {
    let stamped = s.run(&["stamp", "heads"]).ok();
    let lines: Vec<&str> = stamped.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", stamped.stdout);
    assert_eq!(lines[0], format!("stamped shop@{}_add_price", s.v2));
    assert!(
        lines[1].starts_with("1 step in ") && !lines[1].ends_with(" 0.0ns"),
        "the real elapsed time: {}",
        stamped.stdout
    );
    // Edit an applied migration: a diverged row, refused by `up`, accepted by `repair`.
    std::fs::write(
        &s.files[0],
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, sku TEXT);",
    )?;
    let status = s.run(&["status"]).ok();
    has(&status.stdout, "create_items  diverged");
    let refused = s.run(&["up"]);
    assert_eq!(refused.code, Some(1));
    starts(&refused.stderr, "error: migration `shop@");
    let repaired = s.run(&["repair", "--set", "shop"]).ok();
    starts(
        &repaired.stdout,
        format!("accepted checksum of shop@{}_create_items", s.v1),
    );
    assert!(s.run(&["status"]).ok().stdout.ends_with("up to date\n"));
    Ok(())
}

/// A failing migration: exit code 1, the error names it, and what ran before stays.
fn failing_migration(s: &Session) -> TestResult {
    std::fs::write(
        s.dir().join("migrations/39990101000000_broken.sql"),
        "CREATE TABLE ok_table (id INTEGER);\nTHIS IS NOT SQL;",
    )?;
    let failed = s.run(&["up"]);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    starts(
        &failed.stderr,
        "[1/1] applying shop@39990101000000_broken ... failed\nerror: ",
    );
    has(
        &failed.stderr,
        "shop@39990101000000_broken` (statement 2 of 2, line 2)",
    );
    has(&failed.stderr, "\n  caused by: ");
    assert!(failed.stdout.is_empty());
    Ok(())
}

#[cfg(feature = "rusqlite")]
#[test]
fn sqlite_file_round_trip() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let db = tmp.path().join("shop.db");
    let url = format!("sqlite:{}", db.display());
    let scripted = tmp.path().join("scripted.db");
    let apply = |script: &str| -> Result<String, Error> {
        rusqlite::Connection::open(&scripted)?.execute_batch(script)?;
        Ok(format!("sqlite://{}", scripted.display()))
    };
    round_trip(&url, Some(&apply))
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use postgres::{Client, NoTls};

    const URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
    const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// A uniquely named database, dropped when the value drops.
    struct Db {
        admin: Client,
        name: String,
        url: String,
    }

    impl Db {
        fn create() -> Option<Db> {
            let (url, mut admin) =
                conformance::reachable(URL_VAR, DEFAULT_URL, |u| Client::connect(u, NoTls))?;
            let name = conformance::unique_name();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create a database");
            let (base, _) = url.rsplit_once('/').expect("a URL with a database");
            let url = format!("{base}/{name}");
            Some(Db { admin, name, url })
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = self.admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }

    #[test]
    fn postgres_round_trip() -> TestResult {
        let (Some(db), Some(scripted)) = (Db::create(), Db::create()) else {
            return Ok(());
        };
        let apply = |script: &str| -> Result<String, Error> {
            Client::connect(&scripted.url, NoTls)?.batch_execute(script)?;
            Ok(scripted.url.clone())
        };
        round_trip(&db.url, Some(&apply))
    }

    #[test]
    fn a_password_in_the_url_is_never_printed() -> TestResult {
        let Some(db) = Db::create() else {
            return Ok(());
        };
        // The test server trusts local connections: the password is accepted and ignored.
        let url = db
            .url
            .replacen("postgres@", &format!("postgres:{SECRET}@"), 1);
        assert!(url.contains(SECRET), "{url}");
        let (tmp, _) = project()?;
        let status = strata(tmp.path(), &["status", "--url", &url]).ok();
        starts(&status.stdout, format!("postgres database `{}`\n", db.name));
        strata(tmp.path(), &["up", "--url", &url]).ok();
        strata(tmp.path(), &["history", "--url", &url]).ok();
        // A database that does not exist: the server's error, without the password.
        let missing = url.replace(&db.name, "strata_no_such_database");
        let err = strata(tmp.path(), &["status", "--url", &missing]);
        assert_eq!(err.code, Some(1));
        starts(
            &err.stderr,
            "error: failed to connect on postgres database `strata_no_such_database`",
        );
        Ok(())
    }
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb_round_trip() -> TestResult {
    use mysql::prelude::Queryable;
    let Some((url, mut admin)) = conformance::reachable(
        "STRATA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
        |u| mysql::Conn::new(mysql::Opts::from_url(u)?),
    ) else {
        return Ok(());
    };
    let name = conformance::unique_name();
    admin.query_drop(format!("CREATE DATABASE {name}"))?;
    let (base, _) = url.rsplit_once('/').ok_or("a URL with a database")?;
    let result = round_trip(
        &format!("{}/{name}", base.replacen("mysql:", "mariadb:", 1)),
        None,
    );
    admin.query_drop(format!("DROP DATABASE IF EXISTS {name}"))?;
    result
}
