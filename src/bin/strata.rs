//! The `strata` command: `strata new <name>` writes a migration file; `strata status|up|down|
//! current|history|stamp|repair|sql --url <url> --dir <dir>` runs a directory of migrations
//! against a database without embedding it (operations, CI). See `docs/cli.md`.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser, Subcommand};
use strata::cli::{Command, DatabaseUrl, Migrate, Options, redact};
use strata::sql::Dialect;
use strata::{Database, Error, ErrorKind, Migrations, Mode, Result, Set};

/// Migrations from a directory, against a database given by URL.
#[derive(Parser)]
#[command(name = "strata", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Top,
    /// The database: `sqlite:<path>` (or a plain path), `postgres://user:password@host/db`,
    /// a `host=... dbname=...` string, `mysql://...` or `mariadb://...`. Default:
    /// `STRATA_DATABASE_URL`, then `DATABASE_URL` (empty ones are ignored).
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
    /// Tolerates applied rows this directory does not have (another set sharing the
    /// database, or a newer binary's migrations).
    #[arg(long, global = true)]
    allow_unknown: bool,
    /// Applies a migration older than the latest applied one of its set (merged late).
    #[arg(long, global = true)]
    out_of_order: bool,
    /// How a run commits: `all-or-nothing` (one transaction for the whole run where the
    /// database has transactional DDL) or `per-migration` (each migration commits with its
    /// history row; a failure keeps the earlier ones).
    #[arg(long, global = true, value_enum, default_value_t = ModeArg::AllOrNothing)]
    mode: ModeArg,
    /// A session setup statement (or several, separated by `;`) run on the migrating
    /// connection before the first migration, only when there is work to do; `@<file>` reads
    /// them from a file. Repeatable, run in order. What they set stays set on the connection.
    #[arg(long, global = true, value_name = "SQL")]
    setup_sql: Vec<String>,
    /// Whether SQLite enforces foreign keys while migrations run: `off` (the default, as the
    /// `sqlite3` tool does) or `on`. The connection's own setting is restored after the run.
    #[arg(long, global = true, value_enum, default_value_t = Switch::Off)]
    sqlite_foreign_keys: Switch,
    /// How long to wait, in seconds, for a PostgreSQL or MySQL server to answer when
    /// connecting (a decimal number; `0` waits as long as the driver does).
    #[arg(long, global = true, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    connect_timeout: std::time::Duration,
    /// Also prints strata's debug log lines (each statement) on standard error.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(flatten)]
    options: Options,
}

/// `--mode`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    AllOrNothing,
    PerMigration,
}

/// `--sqlite-foreign-keys`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// `--connect-timeout`: seconds, as a non-negative decimal number.
fn seconds(text: &str) -> std::result::Result<std::time::Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("expected a number of seconds such as `10` or `2.5`, not `{text}`"))
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    Logger::install(&cli);
    let result = match &cli.command {
        Top::New { name, reversible } => new(&cli, name, *reversible).map_err(|e| (e, None)),
        Top::Migrate(command) => {
            let Some(url) = cli
                .url
                .clone()
                .or_else(|| env_url("STRATA_DATABASE_URL"))
                .or_else(|| env_url("DATABASE_URL"))
            else {
                return usage_error(&Cli::command().error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "no database: pass `--url` or set `STRATA_DATABASE_URL` or `DATABASE_URL`",
                ));
            };
            match DatabaseUrl::parse(&url) {
                Ok(url) => migrate(&cli, command, &url).map_err(|e| (e, Some(url))),
                Err(e) => Err((e, None)),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, url)) => {
            let color = cli.options.colors(io::stderr().is_terminal());
            let _ = io::stderr().write_all(report(&e, url.as_ref(), color).as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// A variable's value; unset, empty or not Unicode is `None`.
fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Prints clap's error (or help, or version) with any password redacted: a URL given as an
/// argument by mistake is quoted in it.
fn usage_error(e: &clap::Error) -> ExitCode {
    let text = e.render();
    let (is_terminal, stream): (bool, Box<dyn Write>) = if e.use_stderr() {
        (io::stderr().is_terminal(), Box::new(io::stderr()))
    } else {
        (io::stdout().is_terminal(), Box::new(io::stdout()))
    };
    let text = if Options::default().colors(is_terminal) {
        text.ansi().to_string()
    } else {
        text.to_string()
    };
    // Help and version are strata's own text; an error may quote the arguments.
    let text = if e.use_stderr() { redact(&text) } else { text };
    let _ = { stream }.write_all(text.as_bytes());
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// The error report, with every password kept out: the driver's text (the `caused by` lines,
/// which may quote the URL) is scrubbed of the URL's password, and the whole report is
/// redacted. Strata's own message is built from names, never from the URL, so it is not
/// scrubbed (a short password would mangle it).
fn report(e: &Error, url: Option<&DatabaseUrl>, color: bool) -> String {
    let report = strata::cli::error_report(e, color);
    let own = e.to_string();
    let split = report.find(&own).map_or(0, |i| i + own.len());
    let (head, causes) = report.split_at(split);
    let mut text = head.to_owned();
    for line in causes.split_inclusive('\n') {
        const PREFIX: &str = "  caused by: ";
        let (prefix, cause) = line.split_at(if line.starts_with(PREFIX) {
            PREFIX.len()
        } else {
            0
        });
        text.push_str(prefix);
        text.push_str(&url.map_or_else(|| cause.to_owned(), |url| url.scrub(cause)));
    }
    redact(&text)
}

/// Whether a migration is running: its `info` log lines say what its progress line says.
static IN_STEP: AtomicBool = AtomicBool::new(false);

/// Whether a progress line is started and not ended: a log line starts a line of its own.
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Strata's log lines on standard error: warnings and errors always, `info` unless `--quiet`,
/// `debug` with `--verbose`. The `info` lines that the command's own output repeats are left
/// out: those of a running migration (its progress line says it), and the migrator's lines of
/// `stamp` and `repair` (their report lists each row).
struct Logger {
    level: log::LevelFilter,
    color: bool,
    /// `stamp` or `repair`.
    reports_rows: bool,
}

impl Logger {
    fn install(cli: &Cli) {
        let level = match (cli.options.quiet, cli.verbose) {
            (_, true) => log::LevelFilter::Debug,
            (true, false) => log::LevelFilter::Warn,
            (false, false) => log::LevelFilter::Info,
        };
        let logger = Logger {
            level,
            color: cli.options.colors(io::stderr().is_terminal()),
            reports_rows: matches!(
                cli.command,
                Top::Migrate(Command::Stamp { .. } | Command::Repair { .. })
            ),
        };
        if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
            && (metadata.target() == "strata" || metadata.target().starts_with("strata::"))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let in_step = IN_STEP.load(Ordering::Relaxed);
        let repeated = in_step || (self.reports_rows && record.target() == "strata::migrator");
        if repeated && record.level() == log::Level::Info {
            return;
        }
        let style = anstyle::Style::new().bold();
        let (prefix, style) = match record.level() {
            log::Level::Error => (
                "error: ",
                style.fg_color(Some(anstyle::AnsiColor::Red.into())),
            ),
            log::Level::Warn => (
                "warning: ",
                style.fg_color(Some(anstyle::AnsiColor::Yellow.into())),
            ),
            log::Level::Info => ("", style),
            log::Level::Debug | log::Level::Trace => ("debug: ", anstyle::Style::new().dimmed()),
        };
        let prefix = if self.color && !prefix.is_empty() {
            format!("{}{prefix}{}", style.render(), style.render_reset())
        } else {
            prefix.to_owned()
        };
        let newline = if LINE_OPEN.swap(false, Ordering::Relaxed) {
            "\n"
        } else {
            ""
        };
        let line = redact(&format!("{newline}{prefix}{}\n", record.args()));
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn new(cli: &Cli, name: &str, reversible: bool) -> Result<()> {
    let paths = strata::cli::new_migration(&cli.dir, name, reversible)?;
    let mut text = String::new();
    for path in paths {
        let _ = writeln!(text, "{}", path.display());
    }
    strata::cli::write_output(&mut io::stdout().lock(), &text)
}

/// The set in `--dir`, its files split with the rules of the URL's database only.
fn migrations(cli: &Cli, url: &DatabaseUrl) -> Result<Migrations> {
    let (name, version) = match &cli.set {
        Some(name) => {
            let version =
                strata::cli::package_of(&cli.dir).map_or_else(|_| "0.0.0".to_owned(), |(_, v)| v);
            (name.clone(), version)
        }
        None => strata::cli::package_of(&cli.dir)?,
    };
    let dialect = match url {
        DatabaseUrl::Sqlite(_) => Dialect::Sqlite,
        DatabaseUrl::Postgres(_) => Dialect::Postgres,
        DatabaseUrl::Mysql(_) => Dialect::Mysql,
    };
    let set = Set::from_dir_for(&name, &version, &cli.dir, &[dialect])?;
    let quiet = cli.options.quiet;
    let migrations = Migrations::new([set])?
        .allow_unknown(cli.allow_unknown)
        .out_of_order(cli.out_of_order)
        .mode(match cli.mode {
            ModeArg::AllOrNothing => Mode::AllOrNothing,
            ModeArg::PerMigration => Mode::PerMigration,
        })
        .sqlite_foreign_keys(cli.sqlite_foreign_keys == Switch::On)
        .on_progress(move |p| {
            IN_STEP.store(p.duration.is_none(), Ordering::Relaxed);
            LINE_OPEN.store(p.duration.is_none() && !quiet, Ordering::Relaxed);
        });
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
    let mut migrations = migrations(cli, url)?;
    let backend = match url {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "postgres",
        DatabaseUrl::Mysql(_) => "mysql",
    };
    for sql in &cli.setup_sql {
        let sql = match sql.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Error::with_source(
                    ErrorKind::Io {
                        operation: "read the setup sql file",
                        path: path.to_owned(),
                    },
                    Box::new(e),
                )
            })?,
            None => sql.clone(),
        };
        migrations = migrations.setup_sql(backend, sql)?;
    }
    let cmd = Migrate {
        command: command.clone(),
        options: cli.options.clone(),
    };
    let out = &mut io::stdout();
    match url {
        #[cfg(feature = "rusqlite")]
        DatabaseUrl::Sqlite(path) => {
            // Created when missing, as `sqlite3` does: `status` of a new database lists every
            // migration as pending. A `file:` URI (from a URL with parameters) is opened as
            // one: rusqlite's default flags include `SQLITE_OPEN_URI`.
            let mut conn = rusqlite::Connection::open(path)
                .map_err(|e| connect_error("sqlite", path.clone(), Box::new(e)))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(url) => {
            let config: postgres::Config = url.parse().map_err(|e| {
                Error::with_source(
                    ErrorKind::InvalidUrl {
                        url: redact(url),
                        reason: "not a valid postgres url or connection string".to_owned(),
                    },
                    Box::new(e),
                )
            })?;
            // Without a database name, the server's default: the user's name.
            let name = config.get_dbname().or(config.get_user());
            let name = name.unwrap_or_default().to_owned();
            let timeout = cli.connect_timeout;
            let mut conn = with_deadline(timeout, move || config.connect(postgres::NoTls))
                .map_err(|e| connect_error("postgres", name, e))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(url) => {
            let opts = mysql::Opts::from_url(url).map_err(|e| {
                Error::with_source(
                    ErrorKind::InvalidUrl {
                        url: redact(url),
                        reason: "not a valid mysql url".to_owned(),
                    },
                    Box::new(e),
                )
            })?;
            let name = opts.get_db_name().unwrap_or_default().to_owned();
            let timeout = cli.connect_timeout;
            let mut conn = with_deadline(timeout, move || mysql::Conn::new(opts))
                .map_err(|e| connect_error("mysql", name, e))?;
            strata::cli::run(&mut conn, &migrations, &cmd, out)
        }
        #[allow(unreachable_patterns)]
        other => Err(Error::new(ErrorKind::InvalidUrl {
            url: match other {
                DatabaseUrl::Sqlite(p) => format!("sqlite:{p}"),
                DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => redact(u),
            },
            reason: format!(
                "this `strata` was built without the `{}` feature (cargo install strata --features cli,{})",
                other.feature(),
                other.feature()
            ),
        })),
    }
}

/// Connects on another thread and waits at most `timeout` (`0`: as long as the driver does):
/// a server that accepts the connection but never answers (another protocol on that port)
/// fails in time instead of hanging. The timeout covers connecting only, never a migration.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_deadline<C, E>(
    timeout: std::time::Duration,
    connect: impl FnOnce() -> std::result::Result<C, E> + Send + 'static,
) -> std::result::Result<C, strata::BoxError>
where
    C: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    if timeout.is_zero() {
        return connect().map_err(Into::into);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(connect());
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(format!(
            "no answer from the server within {:.1}s (`--connect-timeout`): is this the right host and port for this database?",
            timeout.as_secs_f64()
        )
        .into()),
    }
}
