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

/// The binary in `dir`, with no database URL and no `NO_COLOR` in its environment.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_DATABASE_URL")
        .env_remove("NO_COLOR");
    cmd
}

fn strata(dir: &Path, args: &[&str]) -> Run {
    strata_env(dir, args, &[])
}

/// Runs the binary with `env` set, and checks that it printed no colours and no password.
fn strata_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command(dir, args)
        .envs(env.iter().copied())
        .output()
        .expect("run the strata binary");
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    let secrets = args
        .iter()
        .chain(env.iter().map(|(_, v)| v))
        .filter_map(|a| password_of(a));
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains('\u{1b}'),
            "no colours when not a terminal:\n{text}"
        );
        assert!(!text.contains(SECRET), "the password was printed:\n{text}");
    }
    for secret in secrets.filter(|s| s.len() > 3) {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(secret),
                "the password `{secret}` was printed:\n{text}"
            );
        }
    }
    run
}

/// The password of a URL (`scheme://user:password@`) or key/value string (`password=...`)
/// given in a test, to check that no output shows it.
fn password_of(arg: &str) -> Option<&str> {
    if let Some((_, value)) = arg.split_once("password=") {
        return value.split(' ').next();
    }
    let (_, rest) = arg.split_once("://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, p)| p)
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
        "error: invalid database url `redis://:***@cache:6379/0`: unsupported scheme `redis`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or a `key=value` connection string\n"
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

#[test]
fn empty_urls_are_refused_and_empty_variables_ignored() -> TestResult {
    let (tmp, _) = project()?;
    let empty = strata(tmp.path(), &["status", "--url", ""]);
    assert_eq!(empty.code, Some(1));
    assert_eq!(
        empty.stderr,
        "error: invalid database url ``: the url is empty\n"
    );
    // An empty `STRATA_DATABASE_URL` is not set: `DATABASE_URL` is used.
    let fallback = strata_env(
        tmp.path(),
        &["status"],
        &[
            ("STRATA_DATABASE_URL", ""),
            ("DATABASE_URL", "sqlite:env.db"),
        ],
    )
    .ok();
    starts(&fallback.stdout, "sqlite database `");
    has(&fallback.stdout, "env.db`\n");
    let none = strata_env(
        tmp.path(),
        &["status"],
        &[("STRATA_DATABASE_URL", ""), ("DATABASE_URL", "")],
    );
    assert_eq!(none.code, Some(2), "{}", none.stderr);
    has(&none.stderr, "pass `--url` or set `STRATA_DATABASE_URL`");
    Ok(())
}

#[test]
fn key_value_strings_are_postgres_and_never_files() -> TestResult {
    let (tmp, _) = project()?;
    let before = std::fs::read_dir(tmp.path())?.count();
    let kv = format!("host=127.0.0.1 port=1 user=app password={SECRET} dbname=app");
    let refused = strata(tmp.path(), &["status", "--url", &kv]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    starts(
        &refused.stderr,
        "error: failed to connect on postgres database `app`\n",
    );
    assert_eq!(
        std::fs::read_dir(tmp.path())?.count(),
        before,
        "no file created"
    );
    // Without a database name the driver uses the user name, and so does the error.
    let no_db = strata(
        tmp.path(),
        &["status", "--url", "POSTGRES://someone@127.0.0.1:1"],
    );
    starts(
        &no_db.stderr,
        "error: failed to connect on postgres database `someone`\n",
    );
    Ok(())
}

#[test]
fn urls_given_as_arguments_are_redacted_in_usage_errors() -> TestResult {
    let (tmp, _) = project()?;
    let url = format!("postgres://u:{SECRET}@h/db");
    let extra = strata(tmp.path(), &["status", &url]);
    assert_eq!(extra.code, Some(2), "{}", extra.stderr);
    has(&extra.stderr, "'postgres://u:***@h/db'");
    let target = strata(tmp.path(), &["up", &url, "--url", "sqlite:t.db"]);
    assert_eq!(target.code, Some(1), "{}", target.stderr);
    starts(&target.stderr, "error: ");
    let kv = format!("password={SECRET}");
    let target = strata(tmp.path(), &["up", &kv, "--url", "sqlite:t.db"]);
    assert_eq!(target.code, Some(1), "{}", target.stderr);
    Ok(())
}

#[test]
fn a_short_password_leaves_strata_s_own_message_alone() -> TestResult {
    let (tmp, _) = project()?;
    for (url, first) in [
        (
            "mysql://app:e@127.0.0.1:1/app",
            "error: failed to connect on mysql database `app`\n",
        ),
        (
            "postgres://app:e@127.0.0.1:1/app",
            "error: failed to connect on postgres database `app`\n",
        ),
    ] {
        let err = strata(tmp.path(), &["status", "--url", url]);
        assert_eq!(err.code, Some(1));
        starts(&err.stderr, first);
        has(&err.stderr, "\n  caused by: ");
    }
    Ok(())
}

#[test]
fn new_refuses_names_the_loader_would_read_otherwise() -> TestResult {
    let tmp = tempfile::tempdir()?;
    for args in [
        &["new", "b.down"][..],
        &["new", "x.up", "--reversible"],
        &["new", "a.up"],
        &["new", "a.sql"],
    ] {
        let bad = strata(tmp.path(), args);
        assert_eq!(bad.code, Some(1), "{args:?}: {}", bad.stdout);
        starts(&bad.stderr, "error: invalid migration file name `");
        ends(
            &bad.stderr,
            "`: the name must be lowercase letters, digits and `_`\n",
        );
    }
    assert!(!tmp.path().join("migrations").exists(), "nothing written");
    Ok(())
}

#[test]
fn new_bumps_past_a_later_version_to_a_real_time() -> TestResult {
    let tmp = tempfile::tempdir()?;
    std::fs::create_dir(tmp.path().join("migrations"))?;
    std::fs::write(
        tmp.path().join("migrations/39991231235959_later.sql"),
        "SELECT 1;",
    )?;
    let next = strata(tmp.path(), &["new", "after"]).ok();
    assert_eq!(next.stdout, "migrations/40000101000000_after.sql\n");
    Ok(())
}

#[test]
fn parallel_new_in_one_directory_gives_distinct_versions() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let children = (0..30)
        .map(|i| {
            let name = format!("m{i}");
            let reversible = if i % 2 == 0 { "--reversible" } else { "-q" };
            command(tmp.path(), &["new", &name, reversible])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut versions: Vec<String> = std::fs::read_dir(tmp.path().join("migrations"))?
        .map(|e| e.map(|e| version_of(&e.path())))
        .collect::<Result<_, _>>()?;
    assert_eq!(versions.len(), 45, "15 pairs and 15 single files");
    versions.sort();
    versions.dedup();
    assert_eq!(
        versions.len(),
        30,
        "one version per migration: {versions:?}"
    );
    for v in &versions {
        let (hh, mm, ss) = (&v[8..10], &v[10..12], &v[12..14]);
        assert!(hh < "24" && mm < "60" && ss < "60", "a real time: {v}");
    }
    Ok(())
}

#[cfg(feature = "rusqlite")]
#[test]
fn sqlite_urls_with_parameters_open_as_uris() -> TestResult {
    let (tmp, _) = project()?;
    strata(tmp.path(), &["up", "--url", "sqlite:b.db", "-q"]).ok();
    let ro = strata(tmp.path(), &["status", "--url", "sqlite:b.db?mode=ro"]).ok();
    ends(&ro.stdout, "2 migrations: 2 applied; up to date\n");
    let refused = strata(tmp.path(), &["down", "-1", "--url", "sqlite:b.db?mode=ro"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    has(&refused.stderr, "readonly");
    let missing = strata(tmp.path(), &["status", "--url", "sqlite:none.db?mode=rw"]);
    assert_eq!(missing.code, Some(1), "mode=rw does not create a file");
    let fragment = strata(tmp.path(), &["status", "--url", "sqlite:a.db#frag"]);
    assert_eq!(
        fragment.stderr,
        "error: invalid database url `sqlite:a.db#frag`: a sqlite url has no fragment (`#`); for a file name with `#`, give the plain path\n"
    );
    let mut files: Vec<String> = std::fs::read_dir(tmp.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    files.sort();
    assert_eq!(files, ["Cargo.toml", "b.db", "migrations"]);
    Ok(())
}

/// A second project, set `other`, with one migration of its own.
fn other_project() -> Result<tempfile::TempDir, Error> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        "[package]\nname = 'other'\nversion = '0.1.0'\n",
    )?;
    std::fs::create_dir(tmp.path().join("migrations"))?;
    std::fs::write(
        tmp.path().join("migrations/1_create_logs.sql"),
        "CREATE TABLE logs (id INTEGER PRIMARY KEY);",
    )?;
    Ok(tmp)
}

#[cfg(feature = "rusqlite")]
#[test]
fn a_database_shared_by_two_sets() -> TestResult {
    let (shop, _) = project()?;
    let other = other_project()?;
    let db = shop.path().join("shared.db");
    let url = format!("sqlite:{}", db.display());
    strata(shop.path(), &["up", "--url", &url]).ok();
    let refused = strata(other.path(), &["up", "--url", &url]);
    assert_eq!(refused.code, Some(1));
    has(
        &refused.stderr,
        "applied migrations this binary does not know",
    );
    let status = strata(other.path(), &["status", "--url", &url]).ok();
    ends(
        &status.stdout,
        "3 migrations: 1 pending, 2 unknown; needs attention\n  unknown: applied by a newer binary or by another set; `up` refuses them unless allowed (`--allow-unknown`)\n",
    );
    strata(other.path(), &["up", "--url", &url, "--allow-unknown"]).ok();
    let status = strata(other.path(), &["status", "--allow-unknown", "--url", &url]).ok();
    ends(
        &status.stdout,
        "3 migrations: 1 applied, 2 unknown; up to date\n",
    );

    // A migration merged late, older than the applied one: refused unless `--out-of-order`.
    std::fs::write(
        other.path().join("migrations/0_create_tags.sql"),
        "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
    )?;
    let late = strata(other.path(), &["up", "--url", &url, "--allow-unknown"]);
    assert_eq!(late.code, Some(1), "{}", late.stdout);
    let applied = strata(
        other.path(),
        &["up", "--url", &url, "--allow-unknown", "--out-of-order"],
    )
    .ok();
    starts(&applied.stdout, "applied 1 migration in ");
    Ok(())
}

#[cfg(feature = "rusqlite")]
#[test]
fn a_closed_pipe_is_a_quiet_success_and_a_full_disk_an_error() -> TestResult {
    let (tmp, _) = project()?;
    let empty = tempfile::tempdir()?;
    for (dir, args) in [
        (empty.path(), &["new", "piped"][..]),
        (tmp.path(), &["status", "--url", "sqlite:p.db"]),
        (tmp.path(), &["history", "--url", "sqlite:p.db"]),
    ] {
        let (reader, writer) = std::io::pipe()?;
        drop(reader);
        let out = command(dir, args).stdout(writer).output()?;
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), ""),
            "{args:?}"
        );
    }
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
        let out = command(tmp.path(), &["status", "--url", "sqlite:p.db"])
            .stdout(full)
            .output()?;
        assert_eq!(out.status.code(), Some(1));
        starts(
            &String::from_utf8_lossy(&out.stderr),
            "error: failed to write `standard output`\n  caused by: ",
        );
    }
    Ok(())
}

#[cfg(feature = "rusqlite")]
#[test]
fn waiting_for_the_lock_is_said_on_stderr_at_once() -> TestResult {
    use std::io::BufRead as _;
    let (tmp, _) = project()?;
    let db = tmp.path().join("locked.db");
    let url = format!("sqlite:{}", db.display());
    let holder = rusqlite::Connection::open(&db)?;
    for quiet in [false, true] {
        holder.execute_batch("BEGIN IMMEDIATE")?;
        let mut args = vec!["up", "--url", &url];
        if quiet {
            args.push("-q");
        }
        let mut child = command(tmp.path(), &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let stderr = std::io::BufReader::new(child.stderr.take().ok_or("stderr")?);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in stderr.lines() {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        if quiet {
            std::thread::sleep(std::time::Duration::from_millis(800));
        } else {
            // Said while the lock is still held, not once it is free.
            let first = rx.recv_timeout(std::time::Duration::from_secs(20))?;
            assert!(
                first
                    .starts_with("waiting up to 60.0s for the migration lock on sqlite database `"),
                "{first}"
            );
        }
        holder.execute_batch("ROLLBACK")?;
        assert!(child.wait()?.success());
        let _ = reader.join();
        let rest: Vec<String> = rx.try_iter().collect();
        if quiet {
            assert!(rest.is_empty(), "--quiet: {rest:?}");
        } else {
            assert_eq!(rest.len(), 2, "then the progress lines: {rest:?}");
        }
        strata(tmp.path(), &["down", "base", "-q", "--url", &url]).ok();
    }
    let verbose = strata(tmp.path(), &["up", "-v", "--url", &url]).ok();
    has(&verbose.stderr, "debug: ");
    Ok(())
}

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
    fn key_value_strings_query_passwords_and_upper_case_schemes_connect() -> TestResult {
        let Some(db) = Db::create() else {
            return Ok(());
        };
        let (tmp, _) = project()?;
        let header = format!("postgres database `{}`\n", db.name);
        // The test server trusts local connections: the passwords are accepted and ignored.
        for url in [
            format!(
                "host=127.0.0.1 port=5432 user=postgres password={SECRET} dbname={}",
                db.name
            ),
            format!(
                "host=127.0.0.1 user=postgres password='{SECRET} x' dbname={}",
                db.name
            ),
            format!(
                "postgres://postgres@127.0.0.1:5432/{}?password={SECRET}",
                db.name
            ),
            format!(
                "POSTGRESQL://postgres:{SECRET}%40%2F@127.0.0.1:5432/{}",
                db.name
            ),
        ] {
            let status = strata(tmp.path(), &["status", "--url", &url]).ok();
            starts(&status.stdout, &header);
        }
        Ok(())
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
mod my {
    use super::*;
    use mysql::prelude::Queryable;

    /// A uniquely named database (and the users a test creates), dropped when the value drops.
    struct Db {
        admin: mysql::Conn,
        name: String,
        /// `host:port` of the server.
        host: String,
        users: Vec<String>,
    }

    impl Db {
        fn create() -> Option<Db> {
            let (url, mut admin) = conformance::reachable(
                "STRATA_TEST_MYSQL_URL",
                "mysql://root@127.0.0.1:3306/test",
                |u| mysql::Conn::new(mysql::Opts::from_url(u)?),
            )?;
            let name = conformance::unique_name();
            admin
                .query_drop(format!("CREATE DATABASE {name}"))
                .expect("create a database");
            let (_, rest) = url.split_once('@').expect("a URL with a user");
            let (host, _) = rest.rsplit_once('/').expect("a URL with a database");
            Some(Db {
                admin,
                name,
                host: host.to_owned(),
                users: Vec::new(),
            })
        }

        /// A user named after the database, with `password` and every right on it.
        fn user(&mut self, password: &str) -> Result<String, Error> {
            let user = self.name.clone();
            self.admin.query_drop(format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
            ))?;
            self.users.push(user.clone());
            self.admin
                .query_drop(format!("GRANT ALL ON {}.* TO '{user}'@'%'", self.name))?;
            Ok(user)
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            for user in &self.users {
                let _ = self
                    .admin
                    .query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"));
            }
            let _ = self
                .admin
                .query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }

    #[test]
    fn mariadb_round_trip() -> TestResult {
        let Some(db) = Db::create() else {
            return Ok(());
        };
        round_trip(&format!("mariadb://root@{}/{}", db.host, db.name), None)
    }

    /// MariaDB checks passwords (the PostgreSQL test server trusts every local connection, so
    /// a wrong password is never refused there): a user with a password, right and wrong.
    #[test]
    fn mariadb_password_authentication() -> TestResult {
        let Some(mut db) = Db::create() else {
            return Ok(());
        };
        // A password with characters a URL must percent-encode.
        let password = format!("{SECRET}@/:x");
        let user = db.user(&password)?;
        let (tmp, _) = project()?;
        let encoded = password
            .replace('@', "%40")
            .replace('/', "%2F")
            .replace(':', "%3A");
        let good = format!("mysql://{user}:{encoded}@{}/{}", db.host, db.name);
        strata(tmp.path(), &["up", "--url", &good]).ok();
        let status = strata(tmp.path(), &["status", "--url", &good]).ok();
        ends(&status.stdout, "2 migrations: 2 applied; up to date\n");
        for wrong in [format!("Wrong{SECRET}"), "e".to_owned()] {
            let url = format!("mariadb://{user}:{wrong}@{}/{}", db.host, db.name);
            let denied = strata(tmp.path(), &["status", "--url", &url]);
            assert_eq!(denied.code, Some(1), "{}", denied.stdout);
            starts(
                &denied.stderr,
                format!(
                    "error: failed to connect on mysql database `{}`\n  caused by: ",
                    db.name
                ),
            );
            if wrong.len() > 1 {
                has(&denied.stderr, "Access denied");
            }
        }
        Ok(())
    }
}

/// The binary splits with its URL's dialect and refuses, before anything runs, a file with an
/// unclosed comment or a directive look-alike; a file SQLite cannot split but MySQL could is no
/// reason to refuse a SQLite run of other files (it is only read with SQLite's rules).
#[test]
fn the_binary_refuses_unsplittable_files_before_anything_runs() -> TestResult {
    let (tmp, _) = project()?;
    let migrations = tmp.path().join("migrations");
    let bad = migrations.join("29990101000000_oops.sql");
    std::fs::write(&bad, "CREATE TABLE z (id INT);\n/* oops\nDROP TABLE z;\n")?;
    let run = strata(tmp.path(), &["up", "--url", "sqlite:app.db"]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "error: 29990101000000_oops.sql:2: invalid SQL in statement 2 for sqlite: `/*` comment is never closed\n"
    );
    std::fs::write(&bad, "-- Strata:no-transaction\nVACUUM;\n")?;
    let run = strata(tmp.path(), &["up", "--url", "sqlite:app.db"]);
    assert_eq!(run.code, Some(1));
    has(
        &run.stderr,
        "29990101000000_oops.sql:1: invalid directive `Strata:no-transaction`",
    );
    std::fs::remove_file(&bad)?;
    // Nothing ran: the database file holds no history yet.
    let status = strata(tmp.path(), &["status", "--url", "sqlite:app.db"]).ok();
    ends(&status.stdout, "2 migrations: 2 pending; not up to date\n");
    Ok(())
}
