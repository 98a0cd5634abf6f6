//! The host application's `migrate` subcommands (feature `cli`): `status`, `up`, `down`,
//! `current`, `history`, `stamp`, `repair` and `sql`, as a [clap](https://docs.rs/clap) type
//! that an application puts into its own parser, and [`run`], which runs one on any connection
//! strata migrates.
//!
//! ```no_run
//! use clap::{Parser, Subcommand};
//!
//! static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("examples/quickstart/migrations");
//!
//! #[derive(Parser)]
//! struct App {
//!     #[command(subcommand)]
//!     command: AppCommand,
//! }
//!
//! #[derive(Subcommand)]
//! enum AppCommand {
//!     /// Serves the application.
//!     Serve,
//!     /// Migrates the database.
//!     Migrate(strata::cli::Migrate),
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     match App::parse().command {
//!         AppCommand::Serve => std::process::ExitCode::SUCCESS,
//!         AppCommand::Migrate(cmd) => cmd.options.exit_code((|| {
//!             let migrations = strata::Migrations::new([MIGRATIONS.to_set()?])?;
//! #           #[cfg(feature = "rusqlite")]
//!             let mut conn = rusqlite::Connection::open("app.db").map_err(|e| {
//!                 strata::Error::with_source(
//!                     strata::ErrorKind::Database {
//!                         operation: "open",
//!                         database: strata::Database { backend: "sqlite", name: "app.db".into() },
//!                     },
//!                     Box::new(e),
//!                 )
//!             })?;
//! #           #[cfg(feature = "rusqlite")]
//!             strata::cli::run(&mut conn, &migrations, &cmd, &mut std::io::stdout())?;
//!             Ok(())
//!         })()),
//!     }
//! }
//! ```
//!
//! With clap's builder API, [`Migrate`] adds its arguments and subcommands to a command, and
//! reads them back from the matches:
//!
//! ```
//! use clap::{Args, Command, FromArgMatches};
//!
//! let app = Command::new("app")
//!     .subcommand(Command::new("serve"))
//!     .subcommand(strata::cli::Migrate::augment_args(Command::new("migrate")));
//! let matches = app.get_matches_from(["app", "migrate", "down", "-1"]);
//! if let Some(("migrate", sub)) = matches.subcommand() {
//!     let cmd = strata::cli::Migrate::from_arg_matches(sub)?;
//!     assert!(matches!(cmd.command, strata::cli::Command::Down { ref target, .. } if target == "-1"));
//! }
//! # Ok::<(), clap::Error>(())
//! ```
//!
//! Output: tables and summaries go to `out` (normally standard output); progress lines, one
//! per migration with its duration, go to standard error. Colours only when the stream is a
//! terminal and `NO_COLOR` is not set (or with `--color always`).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use crate::adapter::Adapter;
use crate::error::{Direction, Error, ErrorKind, Result};
use crate::migrator::{Migrations, Migrator};
use crate::script::Flavor;

mod args;
mod new;
mod output;
mod progress;
mod url;

pub use args::{Command, InFlightArg, Migrate, Options, Sql};
pub use new::{new_migration, package_of};
pub use url::{DatabaseUrl, redact};

use output::Paint;
use progress::Printer;

/// Runs `cmd` on `conn`: tables, summaries and scripts to `out`, progress to standard error.
///
/// # Errors
///
/// The error of the strata call the subcommand makes, [`ErrorKind::NoScriptFlavor`] for `sql`
/// on a database strata cannot write scripts for, or [`ErrorKind::Io`] when `out` fails.
pub fn run<C: Adapter>(
    conn: &mut C,
    migrations: &Migrations,
    cmd: &Migrate,
    out: &mut dyn Write,
) -> Result<()> {
    let paint = Paint::new(cmd.options.color, io::stdout().is_terminal());
    let mut text = String::new();
    match &cmd.command {
        Command::Status => {
            let database = conn.database();
            let status = conn.status(migrations)?;
            let allow_unknown = migrations.policy.allow_unknown;
            output::status(&mut text, &database, &status, allow_unknown, paint);
        }
        Command::Up { target, dry_run } => {
            let target = target.as_deref().unwrap_or("heads");
            text = move_to(
                conn,
                migrations,
                &cmd.options,
                target,
                *dry_run,
                Direction::Up,
            )?;
        }
        Command::Down { target, dry_run } => {
            text = move_to(
                conn,
                migrations,
                &cmd.options,
                target,
                *dry_run,
                Direction::Down,
            )?;
        }
        Command::Current => output::current(&mut text, &conn.status(migrations)?),
        Command::History => output::history(&mut text, &conn.history(migrations)?, paint),
        Command::Stamp { target } => {
            output::report(&mut text, &conn.stamp(migrations, target)?, paint);
        }
        Command::Repair {
            set,
            in_flight,
            completed,
        } => {
            let outcome = match (in_flight, completed) {
                (Some(outcome), _) => Some((*outcome).into()),
                (None, Some(n)) => Some(crate::InFlightOutcome::Completed(*n)),
                (None, None) => None,
            };
            let report = match (set, outcome) {
                (set, Some(outcome)) => {
                    conn.repair_in_flight(migrations, set.as_deref(), outcome)?
                }
                (Some(set), None) => conn.repair_set(migrations, set)?,
                (None, None) => conn.repair(migrations)?,
            };
            output::report(&mut text, &report, paint);
        }
        Command::Sql(sql) => text = script(conn, migrations, sql)?,
    }
    write_output(out, &text)
}

/// Writes `text` to `out` (normally standard output) and flushes it, as [`run`] does: a reader
/// that stopped reading (`app migrate history | head -3`, a broken pipe) got what it wanted,
/// and that is not an error.
///
/// # Errors
///
/// [`ErrorKind::Io`] naming `standard output` for any other failure.
pub fn write_output(out: &mut dyn Write, text: &str) -> Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::with_source(
            ErrorKind::Io {
                operation: "write",
                path: "standard output".to_owned(),
            },
            Box::new(e),
        )),
        _ => Ok(()),
    }
}

/// `up` or `down`: the plan of a dry run, or the run with its progress lines and summary.
fn move_to<C: Adapter>(
    conn: &mut C,
    migrations: &Migrations,
    options: &Options,
    target: &str,
    dry_run: bool,
    direction: Direction,
) -> Result<String> {
    let mut text = String::new();
    if dry_run {
        let history = conn.history(migrations)?;
        let steps = match direction {
            Direction::Up => migrations.plan_upgrade(&history, target)?,
            Direction::Down => migrations.plan_downgrade(&history, target)?,
        };
        output::plan(&mut text, &steps);
        return Ok(text);
    }
    let printer = Printer::stderr(options);
    let hooked = printer.hook(migrations);
    let report = match direction {
        Direction::Up => conn.upgrade(&hooked, target),
        Direction::Down => conn.downgrade(&hooked, target),
    };
    printer.end_line();
    let paint = Paint::new(options.color, io::stdout().is_terminal());
    output::summary(&mut text, &report?, paint);
    Ok(text)
}

fn script<C: Adapter>(conn: &mut C, migrations: &Migrations, sql: &Sql) -> Result<String> {
    let dialect = conn.dialect();
    let flavor = Flavor::of(&dialect).ok_or_else(|| {
        Error::new(ErrorKind::NoScriptFlavor {
            backend: dialect.backend,
        })
    })?;
    match sql {
        Sql::Up { target, from } => {
            let target = target.as_deref().unwrap_or("heads");
            match from {
                Some(from) => migrations.upgrade_script(flavor, from, target),
                None => migrations.upgrade_script_for(flavor, &conn.history(migrations)?, target),
            }
        }
        Sql::Down { target, from } => match from {
            Some(from) => migrations.downgrade_script(flavor, from, target),
            None => migrations.downgrade_script_for(flavor, &conn.history(migrations)?, target),
        },
    }
}

/// `error: <message>` and one `  caused by: <source>` line per source, each ending in a
/// newline; `error:` in bold red when `color`.
#[must_use]
pub fn error_report(error: &dyn std::error::Error, color: bool) -> String {
    use std::fmt::Write as _;
    let paint = Paint::with(color);
    let mut text = format!("{} {error}\n", paint.error("error:"));
    let mut cause = error.source();
    while let Some(c) = cause {
        let _ = writeln!(text, "  caused by: {c}");
        cause = c.source();
    }
    text
}

/// The process's exit code for `result`: success, or failure (1) after printing the error
/// and its causes to standard error ([`error_report`]), coloured as `--color auto` says.
/// Command-line usage errors exit with 2 (clap's code) before any of this runs. Where the
/// parsed [`Migrate`] is at hand, [`Options::exit_code`] honours its `--color`.
#[must_use]
pub fn exit_code(result: Result<()>) -> ExitCode {
    Options::default().exit_code(result)
}

impl Options {
    /// [`exit_code`] with these options' `--color`: what `app migrate --color never ...`
    /// returns from `main`.
    ///
    /// ```no_run
    /// # fn run(cmd: &strata::cli::Migrate) -> strata::Result<()> { Ok(()) }
    /// # let cmd: strata::cli::Migrate = unimplemented!();
    /// let code: std::process::ExitCode = cmd.options.exit_code(run(&cmd));
    /// ```
    #[must_use]
    pub fn exit_code(&self, result: Result<()>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let color = self.colors(io::stderr().is_terminal());
                let _ = io::stderr().write_all(error_report(&e, color).as_bytes());
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_report_lists_the_causes_without_colour_unless_asked() {
        let error = Error::with_source(
            ErrorKind::Io {
                operation: "read",
                path: "migrations".to_owned(),
            },
            Box::new(io::Error::new(io::ErrorKind::NotFound, "no such directory")),
        );
        assert_eq!(
            error_report(&error, false),
            "error: failed to read `migrations`\n  caused by: no such directory\n"
        );
        assert!(error_report(&error, true).contains('\u{1b}'));
    }
}
