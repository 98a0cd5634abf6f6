//! The `strata` command: `strata new <name>` writes a migration file; `strata status|up|down|
//! current|history|stamp|repair|sql --url <url> --dir <dir>` runs a directory of migrations
//! against a database without embedding it (operations, CI). See `docs/cli.md`.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use strata::cli::{Command, DatabaseUrl, Migrate, Options};
use strata::{Database, Error, ErrorKind, Migrations, Result, Set};

/// Migrations from a directory, against a database given by URL.
#[derive(Parser)]
#[command(name = "strata", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Top,
    /// The database: `sqlite:<path>` (or a plain path), `postgres://user:password@host/db`,
    /// `mysql://...` or `mariadb://...`. Default: `STRATA_DATABASE_URL`, then `DATABASE_URL`.
    #[arg(long, global = true)]
    url: Option<String>,
    /// The migrations directory.
    #[arg(long, global = true, default_value = "migrations")]
    dir: PathBuf,
    /// The set name (default: the package name in the `Cargo.toml` next to the directory).
    #[arg(long, global = true)]
    set: Option<String>,
    /// The history table (default `strata_migrations`; `schema.table` on PostgreSQL).
    #[arg(long, global = true)]
    table: Option<String>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Top {
    /// Writes a new migration file named `<UTC yyyymmddhhmmss>_<name>.sql` into the directory.
    New {
        /// Lowercase letters, digits and `_`.
        name: String,
        /// Writes an `.up.sql` and `.down.sql` pair.
        #[arg(long)]
        reversible: bool,
    },
    #[command(flatten)]
    Migrate(Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let url = match &cli.command {
        Top::New { .. } => None,
        Top::Migrate(_) => {
            let url = cli
                .url
                .clone()
                .or_else(|| std::env::var("STRATA_DATABASE_URL").ok())
                .or_else(|| std::env::var("DATABASE_URL").ok());
            let Some(url) = url else {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "no database: pass `--url` or set `STRATA_DATABASE_URL` or `DATABASE_URL`",
                    )
                    .exit()
            };
            Some(url)
        }
    };
    let parsed = url.as_deref().map(DatabaseUrl::parse);
    let result = match (&cli.command, parsed) {
        (Top::New { name, reversible }, _) => new(&cli, name, *reversible),
        (Top::Migrate(command), Some(Ok(url))) => migrate(&cli, command, &url),
        (Top::Migrate(_), Some(Err(e))) => Err(e),
        (Top::Migrate(_), None) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let color = cli.options.colors(io::stderr().is_terminal());
            let report = strata::cli::error_report(&e, color);
            // A driver's message could quote the URL: never print its password.
            let report = match url.as_deref().map(DatabaseUrl::parse) {
                Some(Ok(url)) => url.scrub(&report),
                _ => report,
            };
            let _ = io::stderr().write_all(report.as_bytes());
            ExitCode::FAILURE
        }
    }
}

fn new(cli: &Cli, name: &str, reversible: bool) -> Result<()> {
    for path in strata::cli::new_migration(&cli.dir, name, reversible)? {
        println!("{}", path.display());
    }
    Ok(())
}

fn migrations(cli: &Cli) -> Result<Migrations> {
    let (name, version) = match &cli.set {
        Some(name) => {
            let version =
                strata::cli::package_of(&cli.dir).map_or_else(|_| "0.0.0".to_owned(), |(_, v)| v);
            (name.clone(), version)
        }
        None => strata::cli::package_of(&cli.dir)?,
    };
    let set = Set::from_dir(&name, &version, &cli.dir)?;
    let migrations = Migrations::new([set])?;
    match &cli.table {
        Some(table) => migrations.table(table),
        None => Ok(migrations),
    }
}

#[cfg_attr(
    not(any(feature = "rusqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
fn connect_error(backend: &'static str, name: String, source: strata::BoxError) -> Error {
    Error::with_source(
        ErrorKind::Database {
            operation: "connect",
            database: Database { backend, name },
        },
        source,
    )
}

// Built without any driver feature, every URL is refused.
#[cfg_attr(
    not(any(feature = "rusqlite", feature = "postgres", feature = "mysql")),
    allow(unused_variables)
)]
fn migrate(cli: &Cli, command: &Command, url: &DatabaseUrl) -> Result<()> {
    let migrations = migrations(cli)?;
    let cmd = Migrate {
        command: command.clone(),
        options: cli.options.clone(),
    };
    let out = &mut io::stdout();
    match url {
        #[cfg(feature = "rusqlite")]
        DatabaseUrl::Sqlite(path) => {
            // Created when missing, as `sqlite3` does: `status` of a new database lists every
            // migration as pending.
            let mut conn = rusqlite::Connection::open(path)
                .map_err(|e| connect_error("sqlite", path.clone(), Box::new(e)))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(url) => {
            let config: postgres::Config = url.parse().map_err(|e| {
                Error::with_source(
                    ErrorKind::InvalidUrl {
                        url: strata::cli::redact(url),
                        reason: "not a valid postgres url".to_owned(),
                    },
                    Box::new(e),
                )
            })?;
            let name = config.get_dbname().unwrap_or("postgres").to_owned();
            let mut conn = config
                .connect(postgres::NoTls)
                .map_err(|e| connect_error("postgres", name, Box::new(e)))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(url) => {
            let opts = mysql::Opts::from_url(url).map_err(|e| {
                Error::with_source(
                    ErrorKind::InvalidUrl {
                        url: strata::cli::redact(url),
                        reason: "not a valid mysql url".to_owned(),
                    },
                    Box::new(e),
                )
            })?;
            let name = opts.get_db_name().unwrap_or_default().to_owned();
            let mut conn =
                mysql::Conn::new(opts).map_err(|e| connect_error("mysql", name, Box::new(e)))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[allow(unreachable_patterns)]
        other => Err(Error::new(ErrorKind::InvalidUrl {
            url: match other {
                DatabaseUrl::Sqlite(p) => format!("sqlite:{p}"),
                DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => strata::cli::redact(u),
            },
            reason: format!(
                "this `strata` was built without the `{}` feature (cargo install strata --features cli,{})",
                other.feature(),
                other.feature()
            ),
        })),
    }
}
