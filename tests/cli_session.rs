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
    let explicit = strata(
        tmp.path(),
        &["up", "--mode", "all-or-nothing", "--url", &url],
    );
    assert_eq!(explicit.code, Some(1));
    assert!(!sqlite_tables(&db)?.contains(&"a".to_owned()));
    // Per migration: migration 1 commits with its history row and stays.
    let failed = strata(
        tmp.path(),
        &["up", "--mode", "per-migration", "--url", &url],
    );
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
    let rows: Vec<Vec<&str>> = status
        .stdout
        .lines()
        .filter(|l| l.starts_with("shop "))
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        rows,
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

/// A rebuild of a referenced table, the way real SQLite projects write it.
const REBUILD: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY);\n\
    CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id));\n\
    INSERT INTO users (id) VALUES (1);\n\
    INSERT INTO posts (id, user_id) VALUES (1, 1);\n\
    CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT);\n\
    INSERT INTO users_new (id) SELECT id FROM users;\n\
    DROP TABLE users;\n\
    ALTER TABLE users_new RENAME TO users;\n";

#[cfg(feature = "rusqlite")]
#[test]
fn sqlite_foreign_keys_are_off_during_a_run_unless_asked() -> TestResult {
    let tmp = project(&[("1_rebuild.sql", REBUILD)])?;
    let url = |name: &str| format!("sqlite:{}", tmp.path().join(name).display());
    // Enforced on request: the rebuild fails at its DROP TABLE, as under enforcement anywhere.
    let failed = strata(
        tmp.path(),
        &["up", "--sqlite-foreign-keys", "on", "--url", &url("on.db")],
    );
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.contains(
            "error: failed to apply migration `shop@1_rebuild` (statement 7 of 8, line 7) on sqlite database"
        ),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("\n  caused by: FOREIGN KEY constraint failed\n"),
        "{}",
        failed.stderr
    );
    // The default, whatever the SQLite build: off, as under sqlite3.
    strata(tmp.path(), &["up", "--url", &url("off.db")]).ok();
    strata(
        tmp.path(),
        &[
            "up",
            "--sqlite-foreign-keys",
            "off",
            "--url",
            &url("off2.db"),
        ],
    )
    .ok();
    let conn = rusqlite::Connection::open(tmp.path().join("off.db"))?;
    let posts: i64 = conn.query_row("SELECT COUNT(*) FROM posts", [], |r| r.get(0))?;
    assert_eq!(posts, 1);
    // Enforced for the run, but the setup turns them off: the setup runs after strata's pragma.
    strata(
        tmp.path(),
        &[
            "up",
            "--sqlite-foreign-keys",
            "on",
            "--setup-sql",
            "PRAGMA foreign_keys = OFF;",
            "--url",
            &url("setup.db"),
        ],
    )
    .ok();
    let bad = strata(
        tmp.path(),
        &[
            "up",
            "--sqlite-foreign-keys",
            "maybe",
            "--url",
            &url("x.db"),
        ],
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("[possible values: on, off]"),
        "{}",
        bad.stderr
    );
    Ok(())
}

#[cfg(feature = "rusqlite")]
#[test]
fn setup_sql_runs_from_text_or_file_and_opens_offline_scripts() -> TestResult {
    let tmp = project(&[("1_a.sql", "CREATE TABLE a (id INTEGER);")])?;
    let db = tmp.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    std::fs::write(
        tmp.path().join("setup.sql"),
        "-- the session's setup\nCREATE TABLE IF NOT EXISTS setup_ran (n INTEGER);\nINSERT INTO setup_ran VALUES (1);\n",
    )?;
    let script = strata(
        tmp.path(),
        &[
            "sql",
            "up",
            "--from",
            "base",
            "--setup-sql",
            "@setup.sql",
            "--url",
            &url,
        ],
    )
    .ok();
    let setup_at = script
        .stdout
        .find("-- session setup (stays set on the connection)\nPRAGMA foreign_keys = OFF;\nCREATE TABLE IF NOT EXISTS setup_ran (n INTEGER);\nINSERT INTO setup_ran VALUES (1);\n")
        .ok_or(format!("no setup in:\n{}", script.stdout))?;
    let begin_at = script.stdout.find("BEGIN").ok_or("no BEGIN")?;
    assert!(setup_at < begin_at, "{}", script.stdout);
    strata(
        tmp.path(),
        &["up", "--setup-sql", "@setup.sql", "--url", &url],
    )
    .ok();
    // Nothing to do: the setup does not run.
    strata(
        tmp.path(),
        &["up", "--setup-sql", "@setup.sql", "--url", &url],
    )
    .ok();
    let conn = rusqlite::Connection::open(&db)?;
    let runs: i64 = conn.query_row("SELECT COUNT(*) FROM setup_ran", [], |r| r.get(0))?;
    assert_eq!(runs, 1);
    // A failing setup statement is named; a missing file is an error naming it.
    std::fs::write(
        tmp.path().join("migrations/2_b.sql"),
        "CREATE TABLE b (id INTEGER);",
    )?;
    let failed = strata(
        tmp.path(),
        &[
            "up",
            "--setup-sql",
            "SELECT 1; SELECT * FROM nope;",
            "--url",
            &url,
        ],
    );
    assert_eq!(failed.code, Some(1));
    assert!(
        failed.stderr.starts_with(&format!(
            "error: session setup statement 2 of 2 (line 1) failed on sqlite database `{}`; no migration ran\n  caused by: no such table: nope",
            db.display()
        )),
        "{}",
        failed.stderr
    );
    let missing = strata(
        tmp.path(),
        &["up", "--setup-sql", "@nope.sql", "--url", &url],
    );
    assert_eq!(missing.code, Some(1));
    assert!(
        missing
            .stderr
            .starts_with("error: failed to read the setup sql file `nope.sql`\n"),
        "{}",
        missing.stderr
    );
    Ok(())
}

/// Under `CI=true` a server that is not there fails the test; elsewhere it is skipped.
fn listening(addr: &str) -> bool {
    let up = std::net::TcpStream::connect(addr).is_ok();
    assert!(
        up || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and nothing listens on {addr}"
    );
    up
}

#[cfg(feature = "mysql")]
#[test]
fn a_mysql_url_at_a_port_that_does_not_speak_mysql_fails_quickly() -> TestResult {
    // PostgreSQL's port accepts the connection and then waits for a startup message.
    if !listening("127.0.0.1:5432") {
        eprintln!("skipping: nothing listens on 127.0.0.1:5432");
        return Ok(());
    }
    let tmp = project(&[])?;
    let start = std::time::Instant::now();
    let run = strata(
        tmp.path(),
        &[
            "status",
            "--connect-timeout",
            "1.5",
            "--url",
            "mysql://root@127.0.0.1:5432/test",
        ],
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "error: failed to connect on mysql database `test`\n  caused by: no answer from the server within 1.5s (`--connect-timeout`): is this the right host and port for this database?\n"
    );
    let bad = strata(
        tmp.path(),
        &[
            "status",
            "--connect-timeout",
            "soon",
            "--url",
            "mysql://root@127.0.0.1/test",
        ],
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains(
            "invalid value 'soon' for '--connect-timeout <SECONDS>': expected a number of seconds such as `10` or `2.5`, not `soon`"
        ),
        "{}",
        bad.stderr
    );
    Ok(())
}

#[test]
fn a_nul_in_a_url_is_refused_and_never_printed_raw() -> TestResult {
    let tmp = project(&[])?;
    for url in [
        "mysql://root@127.0.0.1:3306/te%00st",
        "postgres://postgres@127.0.0.1:5432/te%00st",
    ] {
        let run = strata(tmp.path(), &["status", "--url", url]);
        assert_eq!(run.code, Some(1));
        assert_eq!(
            run.stderr,
            format!(
                "error: invalid database url `{url}`: `%00` is a NUL byte, which no user, password, host, database name or parameter can hold\n"
            )
        );
        assert!(!run.stderr.contains('\0'));
    }
    Ok(())
}

#[cfg(feature = "mysql")]
#[test]
fn setup_sql_on_mariadb_lets_a_migration_create_tables_in_any_order() -> TestResult {
    use mysql::prelude::Queryable;
    let url = std::env::var("STRATA_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let mut admin = match mysql::Conn::new(url.as_str()) {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and the MariaDB server cannot be reached: {e}")
        }
        Err(e) => {
            eprintln!("skipping: MariaDB cannot be reached ({e})");
            return Ok(());
        }
    };
    let name = format!(
        "strata_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos()
    );
    admin.query_drop(format!("CREATE DATABASE `{name}`"))?;
    let (base, _) = url.rsplit_once('/').ok_or("a URL with a database")?;
    let db_url = format!("{base}/{name}");
    let tmp = project(&[(
        "1_schema.sql",
        "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, \
         CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;\n\
         CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;\n",
    )])?;
    let result = (|| -> TestResult {
        let without = strata(tmp.path(), &["up", "--url", &db_url]);
        assert_eq!(without.code, Some(1), "{}", without.stderr);
        assert!(
            without.stderr.starts_with(
                "[1/1] applying shop@1_schema ... failed\nerror: failed to apply migration `shop@1_schema` (statement 1 of 2, line 1)"
            ),
            "{}",
            without.stderr
        );
        strata(tmp.path(), &["repair", "--url", &db_url]).ok();
        strata(
            tmp.path(),
            &[
                "up",
                "--setup-sql",
                "SET FOREIGN_KEY_CHECKS = 0",
                "--url",
                &db_url,
            ],
        )
        .ok();
        let tables: Vec<String> = admin.query(format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{name}' ORDER BY table_name"
        ))?;
        assert_eq!(tables, ["child", "parent", "strata_migrations"]);
        Ok(())
    })();
    admin.query_drop(format!("DROP DATABASE `{name}`"))?;
    result
}

/// A port that accepts connections and never answers: both server URLs fail after
/// `--connect-timeout`, with the default of 10 s when none is given.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn a_server_that_never_answers_fails_after_the_connect_timeout() -> TestResult {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // Accept and hold every connection, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let tmp = project(&[])?;
    for (url, backend) in [
        (
            format!("postgres://postgres@127.0.0.1:{port}/app"),
            "postgres",
        ),
        (format!("mysql://root@127.0.0.1:{port}/app"), "mysql"),
    ] {
        let start = std::time::Instant::now();
        let run = strata(
            tmp.path(),
            &["status", "--connect-timeout", "0.5", "--url", &url],
        );
        let waited = start.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(500)
                && waited < std::time::Duration::from_secs(5),
            "{waited:?}"
        );
        assert_eq!(run.code, Some(1));
        assert_eq!(
            run.stderr,
            format!(
                "error: failed to connect on {backend} database `app`\n  caused by: no answer from the server within 0.5s (`--connect-timeout`): is this the right host and port for this database?\n"
            )
        );
    }
    // The default is 10 s.
    let start = std::time::Instant::now();
    let run = strata(
        tmp.path(),
        &[
            "status",
            "--url",
            &format!("mysql://root@127.0.0.1:{port}/app"),
        ],
    );
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(10) && waited < std::time::Duration::from_secs(20),
        "{waited:?}"
    );
    assert!(
        run.stderr
            .contains("no answer from the server within 10.0s"),
        "{}",
        run.stderr
    );
    Ok(())
}
