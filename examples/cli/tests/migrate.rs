//! Runs the example application's binary: `migrate status`, `up`, `serve`, `down`, `history`,
//! through its own command line, on a SQLite file in a temporary directory.

use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn notes(
    db: &std::path::Path,
    args: &[&str],
) -> Result<(i32, String, String), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_strata-example-cli"))
        .args(args)
        .env("NOTES_DATABASE", db)
        .env_remove("NO_COLOR")
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    );
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "no colours in a pipe"
    );
    Ok((out.status.code().unwrap_or(-1), stdout, stderr))
}

#[test]
fn migrate_subcommands_run_through_the_application_parser() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let db = tmp.path().join("notes.db");

    let (code, out, _) = notes(&db, &["migrate", "status"])?;
    assert_eq!(code, 0);
    assert!(
        out.contains("notes  20261101090000  create_notes       pending"),
        "{out}"
    );
    assert!(
        out.ends_with("3 migrations: 3 pending; not up to date\n"),
        "{out}"
    );
    assert_eq!(
        notes(&db, &["serve"])?.1,
        "3 migration(s) not applied: run `notes migrate up` first\n"
    );

    let (code, out, err) = notes(&db, &["migrate", "up"])?;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("applied 3 migrations in "), "{out}");
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(
        err.starts_with("[1/3] applying notes@20261101090000_create_notes ... "),
        "{err}"
    );
    assert_eq!(notes(&db, &["serve"])?.1, "serving 1 note(s): welcome\n");

    let (code, out, _) = notes(&db, &["migrate", "down", "-1"])?;
    assert_eq!(code, 0);
    assert!(out.starts_with("reverted 1 migration in "), "{out}");
    let (_, out, _) = notes(&db, &["migrate", "current"])?;
    assert_eq!(out, "notes  20261102090000_add_created_at\n");
    let (_, out, _) = notes(&db, &["migrate", "history"])?;
    assert_eq!(out.lines().count(), 3, "a header and two rows: {out}");

    // A usage error is clap's (exit code 2); a strata error exits with 1.
    assert_eq!(notes(&db, &["migrate", "down"])?.0, 2);
    let (code, _, err) = notes(&db, &["migrate", "up", "nope@1"])?;
    assert_eq!(code, 1);
    assert_eq!(err, "error: no set named `nope` is registered\n");
    Ok(())
}

#[test]
fn the_migrate_colour_option_decides_the_error_s_colours() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let db = tmp.path().join("notes.db");
    for (color, coloured) in [("always", true), ("never", false), ("auto", false)] {
        let out = Command::new(env!("CARGO_BIN_EXE_strata-example-cli"))
            .args(["migrate", "--color", color, "up", "nope@1"])
            .env("NOTES_DATABASE", &db)
            .env_remove("NO_COLOR")
            .output()?;
        let err = String::from_utf8(out.stderr)?;
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(err.contains('\u{1b}'), coloured, "--color {color}: {err:?}");
        assert!(err.contains("no set named `nope` is registered"), "{err}");
    }
    Ok(())
}
