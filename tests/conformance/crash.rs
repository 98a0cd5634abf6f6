//! A migrating process killed with SIGKILL while a statement runs on the server: the history row
//! names the statement in flight, `repair` refuses to guess, and following the documented
//! procedure (look at the data, `repair --in-flight committed|not-committed`, migrate) applies
//! every statement exactly once. Driven through the API (this test binary's ignored
//! `child_crash` test is the child) and through the `strata` binary.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata::{
    Action, Direction, ErrorKind, InFlight, InFlightOutcome, Migrations, Migrator, RecordState, Set,
};

use super::{TestDb, TestResult};

const CHILD_URL: &str = "STRATA_TEST_CRASH_URL";
const CHILD_DIR: &str = "STRATA_TEST_CRASH_DIR";
const SET: &str = "crash";

/// How the child migrates, and how the operator then follows the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Migrator::migrate` in a child process, then the API.
    Api,
    /// The `strata` binary, for the run and for every step of the procedure.
    Binary,
}

/// One crash: what migration 2's first statement is, and how the test makes it commit or not.
pub struct Scenario<C> {
    /// Migration 2's first statement (without `;`): it sleeps or waits on the server.
    pub slow: &'static str,
    /// Whether migration 2 is marked `-- strata:no-transaction` (PostgreSQL, SQLite).
    pub no_transaction: bool,
    /// Whether the statement commits after the client died (the server finishes it).
    pub commits: bool,
    /// Run on a connection of the test before the child starts (take a lock the statement
    /// waits on); the connection stays open until after the kill.
    pub hold: fn(&mut C),
    /// Whether the statement is visibly running on the server (asked of another connection).
    pub running: fn(&mut C) -> bool,
    /// After the kill: let the statement finish (it commits), or end it on the server (it
    /// does not), then release what `hold` took (on the holding connection).
    pub settle: fn(&mut C, &mut C),
    /// Whether a boot on a dirty row fails at once (a session lock); else it waits for the lock
    /// timeout, and the binary's is 60 s, so the binary's refusal is not checked.
    pub refuses_at_once: bool,
}

/// No-ops for scenarios that need none.
pub fn nothing<C>(_: &mut C) {}

fn write_files(dir: &Path, slow: &str, no_transaction: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("1_ledger.sql"), "CREATE TABLE ledger (v INT);\n")?;
    let directive = if no_transaction {
        "-- strata:no-transaction\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("2_slow.sql"),
        format!("{directive}{slow};\nCREATE TABLE m2_done (id INT);\n"),
    )
}

fn migrations(dir: &Path) -> Result<Migrations, strata::Error> {
    Ok(Migrations::new([Set::from_dir(SET, "0.0.0", dir)?])?.lock_timeout(Duration::ZERO))
}

/// The body of each file's ignored `child_crash` test: migrates the directory in
/// `STRATA_TEST_CRASH_DIR` on `STRATA_TEST_CRASH_URL` until killed.
pub fn child<D: TestDb>() -> TestResult {
    let url = std::env::var(CHILD_URL)?;
    let dir = std::env::var(CHILD_DIR)?;
    let m = migrations(Path::new(&dir))?;
    D::open(&url).migrate(&m)?;
    Ok(())
}

fn spawn(via: Via, url: &str, dir: &Path, binary_url: &str) -> std::io::Result<Child> {
    let mut cmd = match via {
        Via::Api => {
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.args(["--ignored", "--exact", "child_crash", "--test-threads=1"])
                .env(CHILD_URL, url)
                .env(CHILD_DIR, dir);
            cmd
        }
        Via::Binary => binary(dir, &["up", "--url", binary_url]),
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()
}

fn binary(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(option_env!("CARGO_BIN_EXE_strata").unwrap_or("strata"));
    cmd.args(args)
        .args(["--dir", &dir.display().to_string(), "--set", SET])
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs the binary: exit code, stdout, stderr.
fn run(dir: &Path, args: &[&str]) -> Result<(Option<i32>, String, String), std::io::Error> {
    let out = binary(dir, args).output()?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> TestResult {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("timed out waiting until {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Kills a migrating child while migration 2's first statement runs, then follows the
/// documented recovery. `binary_url` is the URL the binary takes for the database.
pub fn killed_mid_statement<D: TestDb>(
    db: &D,
    scenario: &Scenario<D::Conn>,
    via: Via,
    binary_url: &str,
) -> TestResult {
    if via == Via::Binary && option_env!("CARGO_BIN_EXE_strata").is_none() {
        eprintln!("skipped: the `strata` binary needs the `cli` feature");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("migrations");
    write_files(&dir, scenario.slow, scenario.no_transaction)?;
    let m = migrations(&dir)?;
    let mut conn = db.connect();
    conn.upgrade(&m, "1")?;
    let mut holder = db.connect();
    (scenario.hold)(&mut holder);
    let mut child = spawn(via, &db.url(), &dir, binary_url)?;
    // The row names statement 1 in flight before it is sent; then the server shows it running.
    let line = if scenario.no_transaction { 2 } else { 1 };
    let expected = InFlight::new(1, line, scenario.slow);
    let mut watcher = db.connect();
    wait_for("the history row names statement 1 in flight", || {
        watcher.history(&m).is_ok_and(|h| {
            h.iter()
                .any(|r| r.version == 2 && r.in_flight.as_ref() == Some(&expected))
        })
    })?;
    wait_for("the statement runs on the server", || {
        (scenario.running)(&mut watcher)
    })?;
    child.kill()?; // SIGKILL
    child.wait()?;
    (scenario.settle)(&mut watcher, &mut holder);
    drop(holder);

    // What the row says: nothing completed, statement 1 in flight.
    let row = conn
        .history(&m)?
        .into_iter()
        .find(|r| r.version == 2)
        .ok_or("no row for migration 2")?;
    assert_eq!(
        row.state,
        RecordState::Dirty {
            completed: 0,
            direction: Direction::Up
        }
    );
    assert_eq!(row.in_flight.as_ref(), Some(&expected));
    let ledger = D::count(&mut conn, "ledger");
    assert_eq!(
        ledger,
        Some(i64::from(scenario.commits)),
        "the statement committed after the kill: {}",
        scenario.commits
    );
    let shown = expected.to_string();
    // Not committed: the operator may edit statements from the one in flight on; here the
    // statement no longer waits for anything.
    if !scenario.commits {
        write_files(
            &dir,
            "INSERT INTO ledger VALUES (1)",
            scenario.no_transaction,
        )?;
    }
    let m = migrations(&dir)?;
    let outcome = if scenario.commits {
        InFlightOutcome::Committed
    } else {
        InFlightOutcome::NotCommitted
    };
    match via {
        Via::Api => api_procedure::<D>(&mut conn, &m, &shown, outcome)?,
        Via::Binary => binary_procedure(&dir, binary_url, &shown, outcome, scenario)?,
    }
    // Every statement ran exactly once.
    assert_eq!(D::count(&mut conn, "ledger"), Some(1));
    assert_eq!(D::count(&mut conn, "m2_done"), Some(0));
    assert!(conn.status(&m)?.is_up_to_date());
    let row = conn.history(&m)?.into_iter().find(|r| r.version == 2);
    let row = row.ok_or("no row for migration 2")?;
    assert_eq!((row.state, row.in_flight), (RecordState::Applied, None));
    let current = m.sets()[0].migrations()[1].checksum().to_string();
    assert_eq!(
        row.checksum, current,
        "the final row takes the file's checksum"
    );
    Ok(())
}

fn api_procedure<D: TestDb>(
    conn: &mut D::Conn,
    m: &Migrations,
    shown: &str,
    outcome: InFlightOutcome,
) -> TestResult {
    let id = format!("{SET}@2_slow");
    let err = conn.migrate(m).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Dirty {
                completed: 0,
                in_flight: Some(_),
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    let said = format!(
        "it stopped after 0 statements while {shown} was in flight, which may or may not have committed"
    );
    assert!(
        text == format!(
            "migration `{id}` is dirty: {said}; check the database, then repair it saying whether that statement committed"
        ) || text
            == format!(
                "migration `{id}` is still dirty after waiting 0.0s: {said}, or another process is still running it; repair it only once no process runs it"
            ),
        "{text}"
    );
    let status = conn.status(m)?;
    assert_eq!(
        status.entries()[1].state.progress().as_deref(),
        Some(format!("stopped after 0 statements; {shown} was in flight and may or may not have committed").as_str())
    );
    let refused = conn.repair(m).unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!(
            "cannot repair migration `{id}` without knowing whether {shown} committed: it was in flight after 0 statements when the run stopped; check the database, then repair with the in-flight statement `committed` or `not-committed`"
        )
    );
    let repaired = conn.repair_in_flight(m, Some(SET), outcome)?;
    let resumed = u32::from(outcome == InFlightOutcome::Committed);
    assert_eq!(repaired.steps().len(), 1);
    assert_eq!(
        (repaired.steps()[0].action, repaired.steps()[0].completed),
        (Action::DirtyCleared, resumed)
    );
    let report = conn.migrate(m)?;
    assert_eq!(report.applied(), [id.as_str()]);
    assert_eq!(report.steps()[0].completed, resumed);
    Ok(())
}

fn binary_procedure<C>(
    dir: &Path,
    url: &str,
    shown: &str,
    outcome: InFlightOutcome,
    scenario: &Scenario<C>,
) -> TestResult {
    let id = format!("{SET}@2_slow");
    let (code, history, _) = run(dir, &["history", "--url", url])?;
    assert_eq!(code, Some(0));
    assert!(
        history.contains(&format!("{id} "))
            && history.contains(&format!("dirty (0); {shown} in flight")),
        "{history}"
    );
    if scenario.refuses_at_once {
        let (code, _, stderr) = run(dir, &["up", "--url", url])?;
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("error: migration `{id}` is dirty: it stopped after 0 statements while {shown} was in flight, which may or may not have committed; check the database, then repair it saying whether that statement committed\n")),
            "{stderr}"
        );
    }
    let (code, status, _) = run(dir, &["status", "--url", url])?;
    assert_eq!(code, Some(0));
    assert!(
        status.contains(&format!("  {id}: stopped after 0 statements; {shown} was in flight and may or may not have committed\n")),
        "{status}"
    );
    assert!(
        status.contains("dirty (0, statement 1 in flight)"),
        "{status}"
    );
    let (code, stdout, stderr) = run(dir, &["repair", "--url", url])?;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.starts_with(&format!("error: cannot repair migration `{id}` without knowing whether {shown} committed: it was in flight after 0 statements when the run stopped; check the database, then repair with the in-flight statement `committed` or `not-committed`\n")),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(
        dir,
        &["repair", "--in-flight", outcome.as_str(), "--url", url],
    )?;
    assert_eq!(code, Some(0), "{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    match outcome {
        InFlightOutcome::Committed => assert_eq!(
            first,
            format!("cleared dirty {id}, partial: the next run resumes after statement 1")
        ),
        _ => assert_eq!(first, format!("cleared dirty {id}")),
    }
    // The offline script of what is left: only the statements after those that took effect.
    let (code, script, stderr) = run(dir, &["sql", "up", "--url", url])?;
    assert_eq!(code, Some(0), "{stderr}");
    let note =
        "-- resumed: its first statement took effect before (partial history row); 1 remain\n";
    assert_eq!(
        script.contains(note),
        outcome == InFlightOutcome::Committed,
        "{script}"
    );
    match outcome {
        InFlightOutcome::Committed => assert!(!script.contains(scenario.slow), "{script}"),
        _ => {
            assert!(
                script.contains("INSERT INTO ledger VALUES (1);"),
                "{script}"
            );
        }
    }
    assert!(
        script.contains("CREATE TABLE m2_done (id INT);"),
        "{script}"
    );
    let (code, stdout, stderr) = run(dir, &["up", "--url", url])?;
    assert_eq!(code, Some(0), "{stderr}");
    let resumed = format!(
        "  {id} resumed after statement 1: a partial history row said the statements before took effect"
    );
    assert_eq!(
        stdout.contains(&resumed),
        outcome == InFlightOutcome::Committed,
        "{stdout}"
    );
    Ok(())
}
