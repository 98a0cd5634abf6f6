//! An application with its own command line: `serve`, and strata's `migrate` subcommands
//! (`status`, `up`, `down`, `current`, `history`, `stamp`, `repair`, `sql`) on its SQLite
//! database (`--database`, or `NOTES_DATABASE`, default `notes.db`).
//!
//! ```sh
//! cargo run -p strata-example-cli -- migrate status
//! cargo run -p strata-example-cli -- migrate up
//! cargo run -p strata-example-cli -- serve
//! cargo run -p strata-example-cli -- migrate down -1
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::{Database, Error, ErrorKind, Migrations, Migrator, Result};

static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("migrations", name = "notes");

/// A tiny notes service.
#[derive(Parser)]
#[command(name = "notes")]
struct App {
    /// The SQLite database file (default: `NOTES_DATABASE`, then `notes.db`).
    #[arg(long, global = true)]
    database: Option<PathBuf>,
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Prints the notes, once the database is up to date.
    Serve,
    /// Migrates the database.
    Migrate(strata::cli::Migrate),
}

fn main() -> ExitCode {
    let app = App::parse();
    let path = app
        .database
        .or_else(|| std::env::var_os("NOTES_DATABASE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("notes.db"));
    let result = run(&path, &app.command);
    match &app.command {
        // `migrate --color never` holds for its errors too.
        AppCommand::Migrate(cmd) => cmd.options.exit_code(result),
        AppCommand::Serve => strata::cli::exit_code(result),
    }
}

fn run(path: &Path, command: &AppCommand) -> Result<()> {
    let migrations = Migrations::new([MIGRATIONS.to_set()?])?;
    let mut conn = open(path)?;
    match command {
        AppCommand::Migrate(cmd) => {
            strata::cli::run(&mut conn, &migrations, cmd, &mut std::io::stdout())
        }
        AppCommand::Serve => serve(&mut conn, &migrations, path),
    }
}

/// A failed database call, in strata's error style (and so printed by `exit_code`).
fn db_error(operation: &'static str, path: &Path, e: rusqlite::Error) -> Error {
    Error::with_source(
        ErrorKind::Database {
            operation,
            database: Database {
                backend: "sqlite",
                name: path.display().to_string(),
            },
        },
        Box::new(e),
    )
}

fn open(path: &Path) -> Result<rusqlite::Connection> {
    rusqlite::Connection::open(path).map_err(|e| db_error("open", path, e))
}

fn serve(conn: &mut rusqlite::Connection, migrations: &Migrations, path: &Path) -> Result<()> {
    let status = conn.status(migrations)?;
    if !status.is_up_to_date() {
        let pending = status.filter(|s| *s != strata::State::Applied).count();
        println!("{pending} migration(s) not applied: run `notes migrate up` first");
        return Ok(());
    }
    let notes: Vec<String> = conn
        .prepare("SELECT body FROM notes ORDER BY id")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| db_error("read the notes", path, e))?;
    println!("serving {} note(s): {}", notes.len(), notes.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }
}
