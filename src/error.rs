//! The error type: an opaque [`Error`] with a [`ErrorKind`] for matching.

use std::fmt;
use std::time::Duration;

use crate::migration::Checksum;
use crate::schema::Reversal;

/// An error boxed from a database driver or a Rust-function migration.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result<T, strata::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, planning or running migrations.
///
/// The error is small (one pointer) and opaque; match on [`Error::kind`] and read the context
/// through the accessors. The driver's own error, when there is one, is the
/// [`source`](std::error::Error::source) and is not repeated in the message.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    source: Option<BoxError>,
}

/// Where a failed statement sits in its migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based index of the statement in the migration.
    pub statement: usize,
    /// Number of statements in the migration.
    pub statements: usize,
    /// 1-based line in the migration file where the error is (the statement's first line when
    /// the database does not say more precisely).
    pub line: usize,
}

/// The statement a dirty history row names as sent and not known to have finished: after a
/// crash it may or may not have committed. Written into the row before the statement is sent.
///
/// ```
/// use strata::InFlight;
///
/// let sent = InFlight::new(2, 14, "INSERT INTO ledger\n  SELECT SLEEP(1.5);");
/// assert_eq!(sent.to_string(), "statement 2 (line 14, `INSERT INTO ledger SELECT SLEEP(1.5);`)");
/// assert_eq!(InFlight::from_column(&sent.to_column()).ok(), Some(sent));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// 1-based index of the statement in the migration.
    pub statement: usize,
    /// 1-based index of the last statement in flight: `statement` itself, except for a MySQL
    /// `LOCK TABLES` ... `UNLOCK TABLES` group, whose statements cannot be recorded one by
    /// one (the history table is out of reach while tables are locked), so the whole group is
    /// in flight from its `LOCK TABLES` to its `UNLOCK TABLES`.
    pub last: usize,
    /// 1-based line in the migration file where the statement starts.
    pub line: usize,
    /// The statement's first words: whitespace runs as one space, backticks as `'` (so that
    /// messages can quote it), at most [`InFlight::TEXT_CHARS`] characters (`...` ends a
    /// longer one).
    pub text: String,
}

impl InFlight {
    /// How many characters of the statement [`InFlight::text`] keeps.
    pub const TEXT_CHARS: usize = 60;

    /// Statement `statement` of a migration, starting at `line`, whose SQL is `sql`.
    #[must_use]
    pub fn new(statement: usize, line: usize, sql: &str) -> InFlight {
        let words = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = if words.chars().count() > Self::TEXT_CHARS {
            let kept: String = words.chars().take(Self::TEXT_CHARS - 3).collect();
            format!("{}...", kept.trim_end())
        } else {
            words
        };
        // A backtick would end the quoting of the text in messages.
        let text = text.replace('`', "'");
        InFlight {
            statement,
            last: statement,
            line,
            text,
        }
    }

    /// The same, with statements up to `last` (1-based) in flight with it.
    #[must_use]
    pub fn through(self, last: usize) -> InFlight {
        InFlight {
            last: last.max(self.statement),
            ..self
        }
    }

    /// The value of the history table's `in_flight` column: `statement:line:text`, or
    /// `statement-last:line:text` for a group.
    #[must_use]
    pub fn to_column(&self) -> String {
        if self.last == self.statement {
            format!("{}:{}:{}", self.statement, self.line, self.text)
        } else {
            format!(
                "{}-{}:{}:{}",
                self.statement, self.last, self.line, self.text
            )
        }
    }

    /// Reads the `in_flight` column written by [`InFlight::to_column`].
    ///
    /// # Errors
    ///
    /// A value that is not `statement:line:text` with a statement and a line of at least 1.
    pub fn from_column(value: &str) -> std::result::Result<InFlight, BoxError> {
        let bad = || -> BoxError {
            format!("invalid `in_flight` value `{value}` in the history table: expected `statement:line:text`").into()
        };
        let mut parts = value.splitn(3, ':');
        let (Some(statement), Some(line), Some(text)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (statement, last) = statement.split_once('-').unwrap_or((statement, statement));
        let statement: usize = statement.parse().map_err(|_| bad())?;
        let last: usize = last.parse().map_err(|_| bad())?;
        let line: usize = line.parse().map_err(|_| bad())?;
        if statement == 0 || line == 0 || last < statement {
            return Err(bad());
        }
        Ok(InFlight {
            statement,
            last,
            line,
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.last == self.statement {
            write!(
                f,
                "statement {} (line {}, `{}`)",
                self.statement, self.line, self.text
            )
        } else {
            write!(
                f,
                "the table-locked group of statements {} to {} (line {}, `{}`)",
                self.statement, self.last, self.line, self.text
            )
        }
    }
}

/// What the operator found out about a statement that was in flight when a run stopped
/// ([`Migrator::repair_in_flight`](crate::Migrator::repair_in_flight)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InFlightOutcome {
    /// It committed: the next run resumes after it.
    Committed,
    /// It did not commit: the next run resumes at it.
    NotCommitted,
    /// Exactly this many statements of the migration took effect, counted from its start: for
    /// a table-locked group or a procedure call that committed part of its work, where neither
    /// `Committed` nor `NotCommitted` is true. It must lie between the statements known to
    /// have completed and the last one in flight.
    Completed(u32),
}

impl InFlightOutcome {
    /// `committed` or `not-committed`, as the `repair --in-flight` flag spells it
    /// (`completed` for a count, given with `repair --completed N`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            InFlightOutcome::Committed => "committed",
            InFlightOutcome::NotCommitted => "not-committed",
            InFlightOutcome::Completed(_) => "completed",
        }
    }
}

/// The database a failed operation ran against: backend and database name, never a URL or a
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The adapter's backend name, such as `sqlite`.
    pub backend: &'static str,
    /// The database name (for SQLite, the file path or `:memory:`).
    pub name: String,
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} database `{}`", self.backend, self.name)
    }
}

/// Whether a failed migration was being applied or reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applying (`up`).
    Up,
    /// Reverting (`down`).
    Down,
}

/// Why [`sql::split`](crate::sql::split) refuses a text: a construct that never ends, a NUL
/// byte, or a malformed `DELIMITER` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsplittable {
    /// A `/*` comment without its `*/` (PostgreSQL's nest: each needs its own).
    BlockComment,
    /// A string without its closing quote.
    String {
        /// The quote: `'`, or `"` on MySQL.
        quote: char,
    },
    /// A quoted identifier without its closing quote.
    QuotedIdentifier {
        /// The opening quote: `"`, `` ` `` or `[`.
        quote: char,
    },
    /// A PostgreSQL dollar quote without its closing tag.
    DollarQuote {
        /// The tag, such as `$$` or `$body$`.
        tag: String,
    },
    /// A compound body (`BEGIN` of a trigger, procedure, function, event or `BEGIN NOT
    /// ATOMIC` block) without its `END`.
    Block,
    /// A `(` without its `)`.
    Parenthesis,
    /// A NUL byte, which databases read as the end of the text.
    Nul,
    /// A `DELIMITER` line without a delimiter.
    MissingDelimiter,
    /// A `DELIMITER` whose delimiter has a backslash, which the `mysql` client refuses.
    BackslashDelimiter {
        /// The delimiter as written.
        delimiter: String,
    },
    /// `DELIMITER` after other text on its line, where the `mysql` client does not read it.
    MisplacedDelimiter,
    /// A MySQL `LOCK TABLES` that no later `UNLOCK TABLES` of the migration releases: while
    /// tables are locked the connection cannot reach strata's history table, so the
    /// migration's progress could never be recorded.
    UnreleasedTableLock,
}

impl fmt::Display for Unsplittable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsplittable::BlockComment => f.write_str("`/*` comment is never closed"),
            Unsplittable::String { quote } => {
                write!(f, "string opened with {} is never closed", code(*quote))
            }
            Unsplittable::QuotedIdentifier { quote } => {
                write!(
                    f,
                    "quoted identifier opened with {} is never closed",
                    code(*quote)
                )
            }
            Unsplittable::DollarQuote { tag } => {
                write!(f, "dollar quote `{tag}` is never closed")
            }
            Unsplittable::Block => f.write_str("`BEGIN` has no matching `END`"),
            Unsplittable::Parenthesis => f.write_str("`(` is never closed"),
            Unsplittable::Nul => f.write_str("NUL byte (0x00) in the text"),
            Unsplittable::MissingDelimiter => {
                f.write_str("`DELIMITER` must be followed by a delimiter")
            }
            Unsplittable::BackslashDelimiter { delimiter } => {
                write!(f, "delimiter `{delimiter}` contains a backslash")
            }
            Unsplittable::MisplacedDelimiter => {
                f.write_str("`DELIMITER` must be the first word on its line")
            }
            Unsplittable::UnreleasedTableLock => f.write_str(
                "`LOCK TABLES` is never released by an `UNLOCK TABLES` of the migration (strata cannot record progress while tables are locked)",
            ),
        }
    }
}

/// `c` in backticks, as Markdown writes a backtick itself.
fn code(c: char) -> String {
    if c == '`' {
        "`` ` ``".to_owned()
    } else {
        format!("`{c}`")
    }
}

/// The kind of an [`Error`], with the details of each case.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `*.sql` file name does not have the form `<version>_<name>.sql`,
    /// `<version>_<name>.up.sql` or `<version>_<name>.down.sql`.
    InvalidFileName {
        /// The file, relative to the migrations directory.
        file: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two migrations of one set have the same version.
    DuplicateVersion {
        /// The set.
        set: String,
        /// The version.
        version: u64,
        /// The first migration with that version.
        first: String,
        /// The second one.
        second: String,
    },
    /// A `.down.sql` file has no `.up.sql` file with the same version and name.
    OrphanDown {
        /// The file.
        file: String,
    },
    /// A migration file is not UTF-8.
    NotUtf8 {
        /// The file.
        file: String,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A migration file has no statement.
    EmptyMigration {
        /// The file.
        file: String,
    },
    /// A `-- strata:` comment that is not a known directive, or is malformed or misplaced.
    InvalidDirective {
        /// The file.
        file: String,
        /// 1-based line of the directive.
        line: usize,
        /// The directive as written.
        directive: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// SQL that the splitter refuses for a dialect the migration can run on (see
    /// [`sql::split`](crate::sql::split)): checked for every step before anything runs, and when
    /// a set is loaded.
    InvalidSql {
        /// The file, or the migration when it has no file.
        file: String,
        /// 1-based line where the construct opened.
        line: usize,
        /// 1-based number of the statement it is in.
        statement: usize,
        /// The dialect whose rules refuse it: `sqlite`, `postgres`, `mysql`, or the adapter's
        /// backend name.
        dialect: &'static str,
        /// What is wrong.
        problem: Unsplittable,
    },
    /// A set, migration or history table name that strata will not use.
    InvalidName {
        /// What the name is for: `set`, `migration`, `history table`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// What a valid name looks like.
        expected: &'static str,
    },
    /// A set version that is not semver.
    InvalidSetVersion {
        /// The set.
        set: String,
        /// The version as given.
        version: String,
    },
    /// Two sets with the same name were registered.
    DuplicateSet {
        /// The set name.
        set: String,
    },
    /// A set requires another set at a version that is not registered.
    UnmetRequirement {
        /// The requiring set, as `name version`.
        set: String,
        /// The required set.
        required: String,
        /// The requirement, such as `^2.1`.
        requirement: String,
        /// The version registered, if the set is registered at all.
        found: Option<String>,
    },
    /// A migration depends on a migration that is not registered.
    MissingDependency {
        /// The migration.
        migration: String,
        /// The dependency as written, `set@version`.
        dependency: String,
    },
    /// Migrations depend on each other in a cycle.
    Cycle {
        /// The migrations on the cycle.
        migrations: Vec<String>,
    },
    /// A target that does not parse.
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A target names a set that is not registered.
    UnknownSet {
        /// The set.
        set: String,
    },
    /// A target names a version that its set does not have.
    UnknownVersion {
        /// The set.
        set: String,
        /// The version.
        version: u64,
    },
    /// A version without a set that no registered set has.
    NoSuchVersion {
        /// The version.
        version: u64,
    },
    /// A relative target walks past the first or last migration.
    RelativeOutOfRange {
        /// The target as given.
        target: String,
        /// How many steps could be taken.
        available: usize,
        /// Which way the target walks.
        direction: Direction,
    },
    /// A relative target without a set while several sets could move.
    AmbiguousTarget {
        /// The target as given.
        target: String,
        /// The sets it could apply to.
        sets: Vec<String>,
    },
    /// A relative target in the wrong direction (`-1` for an upgrade, `+1` for a downgrade).
    WrongDirection {
        /// The target as given.
        target: String,
        /// The direction asked for.
        direction: Direction,
    },
    /// A downgrade target that is not applied.
    TargetNotApplied {
        /// The target migration.
        migration: String,
    },
    /// The database has applied migrations this binary does not know.
    UnknownApplied {
        /// Each unknown migration, with the set version that applied it.
        migrations: Vec<(String, String)>,
    },
    /// A migration is not applied but a later one of its set is.
    OutOfOrder {
        /// The unapplied migration.
        migration: String,
        /// The latest applied migration of its set.
        latest: String,
    },
    /// An applied migration's file changed since it was applied.
    ChecksumMismatch {
        /// The migration.
        migration: String,
        /// Checksum stored when it was applied, as stored.
        applied: String,
        /// Checksum of the migration in this binary.
        current: Checksum,
    },
    /// A migration stopped part-way earlier and must be repaired first.
    Dirty {
        /// The migration.
        migration: String,
        /// Statements that had completed.
        completed: u32,
        /// The statement that was sent after them and may or may not have committed, when the
        /// row names one.
        in_flight: Option<InFlight>,
        /// How long strata waited for the row to settle, when it could not tell a migration
        /// still running in another process from a stopped one (transaction-scoped locks).
        waited: Option<Duration>,
    },
    /// An offline script would contain a Rust-function migration, which only strata can run.
    FunctionInScript {
        /// The migration.
        migration: String,
    },
    /// A downgrade needs to revert a migration that has no down migration.
    Irreversible {
        /// The migration.
        migration: String,
    },
    /// A migration failed while it ran.
    Migration {
        /// The migration.
        migration: String,
        /// Applying or reverting.
        direction: Direction,
        /// The failing statement, for SQL migrations.
        position: Option<Position>,
        /// The database.
        database: Database,
        /// Migrations of this run that completed before the failure, in order.
        before: Vec<String>,
        /// How many of the last of `before` were rolled back with the failure (they shared its
        /// transaction); the others stay applied.
        rolled_back: usize,
        /// Statements of this migration that stay committed (non-transactional runs).
        committed: Option<u32>,
        /// The failing statement may or may not have committed, and the history row names it
        /// as in flight: the failure was not an answer from the server, or strata could not
        /// record it (non-transactional runs).
        uncertain: bool,
    },
    /// `repair` of a dirty row whose statement in flight may or may not have committed: the
    /// operator must say which ([`Migrator::repair_in_flight`](crate::Migrator::repair_in_flight)).
    InFlightUnknown {
        /// The migration.
        migration: String,
        /// Statements known to have completed.
        completed: u32,
        /// The statement in flight.
        in_flight: InFlight,
    },
    /// A downgrade of a set whose up migration is partial (its first statements took effect):
    /// the next `up` would skip them on top of what the downgrade reverted.
    PartialInTheWay {
        /// The partial migration.
        migration: String,
        /// Statements of it that took effect.
        completed: u32,
    },
    /// [`InFlightOutcome::Completed`] with a count the dirty row rules out.
    InFlightCount {
        /// The migration.
        migration: String,
        /// The count given.
        given: u32,
        /// Statements known to have completed.
        completed: u32,
        /// The statements in flight.
        in_flight: InFlight,
    },
    /// A resumed migration's history row says more statements completed than its file has now.
    PartialMismatch {
        /// The migration.
        migration: String,
        /// Statements the row says completed.
        completed: u32,
        /// Statements the migration has now.
        statements: usize,
    },
    /// A migration that runs in the run's transaction ended that transaction itself (a
    /// `COMMIT`, `END` or `ROLLBACK` in its SQL, or a function that committed): what the run
    /// did before it was committed or rolled back by the migration, not by strata.
    TransactionEnded {
        /// The migration.
        migration: String,
        /// The statement that ended the transaction, for SQL migrations.
        position: Option<Position>,
        /// The database.
        database: Database,
    },
    /// Reading or writing the history table, or another bookkeeping step, failed.
    Database {
        /// What strata was doing, such as `read the history table`.
        operation: &'static str,
        /// The database.
        database: Database,
    },
    /// The migration lock was not granted within the timeout.
    LockTimeout {
        /// The database.
        database: Database,
        /// How long strata waited.
        waited: Duration,
    },
    /// A lease lock expired and another process took it over while this run held it (a
    /// statement ran longer than the lease): the run stopped before its next step.
    LockLost {
        /// The database.
        database: Database,
    },
    /// The database accepts no writes (a PostgreSQL hot standby): nothing was run.
    ReadOnly {
        /// The database.
        database: Database,
    },
    /// Reading or writing a file or a stream failed (the migrations directory at run time, a
    /// file that `strata new` writes, the CLI's output). The I/O error is the source.
    Io {
        /// What was being done: `read`, `create`, `write`.
        operation: &'static str,
        /// The file or directory, or the stream (`standard output`).
        path: String,
    },
    /// A database URL the `strata` binary cannot use. The URL is shown with its password
    /// replaced by `***`.
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A migrations directory with no set name: no `--set`, and no `Cargo.toml` with a
    /// `[package]` name next to it.
    NoSetName {
        /// The migrations directory.
        dir: String,
    },
    /// An offline script was asked of a database whose dialect strata cannot write.
    NoScriptFlavor {
        /// The adapter's backend name.
        backend: &'static str,
    },
    /// A migration failed the reversibility check of
    /// [`check_reversible`](crate::schema::check_reversible).
    NotReversible {
        /// The migration.
        migration: String,
        /// What went wrong.
        reversal: Reversal,
    },
    /// [`Migrations::setup_sql`](crate::Migrations::setup_sql) named a backend strata has no
    /// adapter for.
    UnknownBackend {
        /// The backend as given.
        backend: String,
    },
    /// A session setup statement ([`Migrations::setup_sql`](crate::Migrations::setup_sql))
    /// failed; no migration ran.
    Setup {
        /// The failing statement among the backend's setup statements, and its line in the
        /// piece of setup SQL it came from.
        position: Position,
        /// The database.
        database: Database,
    },
    /// With SQLite's foreign keys off during the run
    /// ([`Migrations::sqlite_foreign_keys`](crate::Migrations::sqlite_foreign_keys)), a
    /// migration left rows whose parent row does not exist (`PRAGMA foreign_key_check`); its
    /// transaction was rolled back.
    ForeignKeyViolation {
        /// The migration.
        migration: String,
        /// The database.
        database: Database,
        /// The table holding the rows.
        table: String,
        /// The table they refer to.
        parent: String,
        /// How many such rows the migration added.
        rows: u64,
    },
}

impl Error {
    /// An error of `kind` without a source. Adapters use it to return an error the core passes
    /// on as it is, such as [`ErrorKind::ReadOnly`] from [`Adapter::lock`](crate::Adapter::lock).
    #[must_use]
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner { kind, source: None }))
    }

    /// An error of `kind` caused by `source` (a driver's error), which [`source`] returns and
    /// the message does not repeat: for an application or tool that opens the connection
    /// itself and reports failing to, as [`ErrorKind::Database`].
    ///
    /// [`source`]: std::error::Error::source
    #[must_use]
    pub fn with_source(kind: ErrorKind, source: BoxError) -> Self {
        Error(Box::new(Inner {
            kind,
            source: Some(source),
        }))
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The migration the error is about, as `set@version_name`, when there is one.
    #[must_use]
    pub fn migration(&self) -> Option<&str> {
        match &self.0.kind {
            ErrorKind::MissingDependency { migration: m, .. }
            | ErrorKind::TargetNotApplied { migration: m }
            | ErrorKind::OutOfOrder { migration: m, .. }
            | ErrorKind::ChecksumMismatch { migration: m, .. }
            | ErrorKind::Dirty { migration: m, .. }
            | ErrorKind::InFlightUnknown { migration: m, .. }
            | ErrorKind::InFlightCount { migration: m, .. }
            | ErrorKind::PartialInTheWay { migration: m, .. }
            | ErrorKind::PartialMismatch { migration: m, .. }
            | ErrorKind::Irreversible { migration: m }
            | ErrorKind::FunctionInScript { migration: m }
            | ErrorKind::Migration { migration: m, .. }
            | ErrorKind::TransactionEnded { migration: m, .. }
            | ErrorKind::ForeignKeyViolation { migration: m, .. }
            | ErrorKind::NotReversible { migration: m, .. } => Some(m),
            _ => None,
        }
    }

    /// The failing statement and its line in the file, for a failed SQL migration.
    #[must_use]
    pub fn position(&self) -> Option<Position> {
        match &self.0.kind {
            ErrorKind::Migration { position, .. }
            | ErrorKind::TransactionEnded { position, .. } => *position,
            ErrorKind::Setup { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// The database the failure happened on, when one was involved.
    #[must_use]
    pub fn database(&self) -> Option<&Database> {
        match &self.0.kind {
            ErrorKind::Migration { database, .. }
            | ErrorKind::TransactionEnded { database, .. }
            | ErrorKind::Setup { database, .. }
            | ErrorKind::ForeignKeyViolation { database, .. }
            | ErrorKind::Database { database, .. }
            | ErrorKind::LockTimeout { database, .. }
            | ErrorKind::LockLost { database }
            | ErrorKind::ReadOnly { database } => Some(database),
            _ => None,
        }
    }

    /// Migrations of the failed run that had completed before the failure, in order (those that
    /// shared its transaction were rolled back with it; see [`ErrorKind::Migration`]).
    #[must_use]
    pub fn completed_before(&self) -> &[String] {
        match &self.0.kind {
            ErrorKind::Migration { before, .. } => before,
            _ => &[],
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.0.kind);
        if let Some(source) = &self.0.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.kind, f)
    }
}

impl fmt::Display for ErrorKind {
    #[allow(clippy::too_many_lines)] // one arm per kind reads best as one table
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidFileName { file, reason } => {
                write!(f, "invalid migration file name `{file}`: {reason}")
            }
            ErrorKind::DuplicateVersion {
                set,
                version,
                first,
                second,
            } => write!(
                f,
                "duplicate version {version} in set `{set}`: `{first}` and `{second}`"
            ),
            ErrorKind::OrphanDown { file } => {
                write!(f, "down migration `{file}` has no matching `.up.sql` file")
            }
            ErrorKind::NotUtf8 { file, offset } => write!(
                f,
                "migration file `{file}` is not valid UTF-8 (invalid byte at offset {offset})"
            ),
            ErrorKind::EmptyMigration { file } => {
                write!(f, "migration file `{file}` contains no SQL statement")
            }
            ErrorKind::InvalidDirective {
                file,
                line,
                directive,
                reason,
            } => write!(
                f,
                "{file}:{line}: invalid directive `{directive}`: {reason}"
            ),
            ErrorKind::InvalidSql {
                file,
                line,
                statement,
                dialect,
                problem,
            } => write!(
                f,
                "{file}:{line}: invalid SQL in statement {statement} for {dialect}: {problem}"
            ),
            ErrorKind::InvalidName {
                what,
                name,
                expected,
            } => write!(f, "invalid {what} name `{name}`: expected {expected}"),
            ErrorKind::InvalidSetVersion { set, version } => write!(
                f,
                "invalid version `{version}` for set `{set}`: expected a semver version such as `1.2.3`"
            ),
            ErrorKind::DuplicateSet { set } => write!(f, "set `{set}` is registered twice"),
            ErrorKind::UnmetRequirement {
                set,
                required,
                requirement,
                found: Some(found),
            } => write!(
                f,
                "set `{set}` requires `{required} {requirement}` but `{required} {found}` is registered"
            ),
            ErrorKind::UnmetRequirement {
                set,
                required,
                requirement,
                found: None,
            } => write!(
                f,
                "set `{set}` requires `{required} {requirement}` but no set `{required}` is registered"
            ),
            ErrorKind::MissingDependency {
                migration,
                dependency,
            } => write!(
                f,
                "migration `{migration}` depends on `{dependency}`, which is not registered"
            ),
            ErrorKind::Cycle { migrations } => {
                write!(
                    f,
                    "migrations depend on each other in a cycle: {}",
                    list(migrations)
                )
            }
            ErrorKind::InvalidTarget { target, reason } => {
                write!(f, "invalid target `{target}`: {reason}")
            }
            ErrorKind::UnknownSet { set } => write!(f, "no set named `{set}` is registered"),
            ErrorKind::UnknownVersion { set, version } => {
                write!(f, "set `{set}` has no migration with version {version}")
            }
            ErrorKind::NoSuchVersion { version } => {
                write!(
                    f,
                    "no registered set has a migration with version {version}"
                )
            }
            ErrorKind::RelativeOutOfRange {
                target,
                available,
                direction,
            } => write!(
                f,
                "target `{target}` walks past the {} migration: only {} available",
                match direction {
                    Direction::Up => "last",
                    Direction::Down => "first",
                },
                plural(*available, "step is", "steps are")
            ),
            ErrorKind::AmbiguousTarget { target, sets } => write!(
                f,
                "target `{target}` is ambiguous between sets {}: name one, as in `{}@{target}`",
                list(sets),
                sets.first().map_or("set", String::as_str)
            ),
            ErrorKind::WrongDirection { target, direction } => match direction {
                Direction::Up => write!(f, "cannot upgrade to `{target}`: it points down"),
                Direction::Down => write!(f, "cannot downgrade to `{target}`: it points up"),
            },
            ErrorKind::TargetNotApplied { migration } => {
                write!(f, "cannot downgrade to `{migration}`: it is not applied")
            }
            ErrorKind::UnknownApplied { migrations } => {
                let described: Vec<String> = migrations
                    .iter()
                    .map(|(m, v)| format!("`{m}` (applied by set version {v})"))
                    .collect();
                write!(
                    f,
                    "the database has {} this binary does not know: {}",
                    plural(migrations.len(), "applied migration", "applied migrations"),
                    described.join(", ")
                )
            }
            ErrorKind::OutOfOrder { migration, latest } => write!(
                f,
                "migration `{migration}` is not applied but the later `{latest}` is; allow out-of-order migrations to apply it"
            ),
            ErrorKind::ChecksumMismatch {
                migration,
                applied,
                current,
            } => write!(
                f,
                "migration `{migration}` changed after it was applied: checksum was {applied}, is now {current}"
            ),
            ErrorKind::Dirty {
                migration,
                completed,
                in_flight,
                waited,
            } => {
                let completed = plural(*completed as usize, "statement", "statements");
                match waited {
                    None => write!(f, "migration `{migration}` is dirty: ")?,
                    Some(waited) => write!(
                        f,
                        "migration `{migration}` is still dirty after waiting {:.1}s: ",
                        waited.as_secs_f64()
                    )?,
                }
                match in_flight {
                    None => write!(f, "it stopped after {completed}")?,
                    Some(sent) => write!(
                        f,
                        "it stopped after {completed} while {sent} was in flight, which may or may not have committed"
                    )?,
                }
                match (waited, in_flight) {
                    (Some(_), _) => write!(
                        f,
                        ", or another process is still running it; repair it only once no process runs it"
                    ),
                    (None, None) => write!(f, " and must be repaired before migrating"),
                    (None, Some(_)) => write!(
                        f,
                        "; check the database, then repair it saying whether that statement committed"
                    ),
                }
            }
            ErrorKind::InFlightUnknown {
                migration,
                completed,
                in_flight,
            } => write!(
                f,
                "cannot repair migration `{migration}` without knowing whether {in_flight} committed: it was in flight after {} when the run stopped; check the database, then repair with the in-flight statement `committed` or `not-committed`",
                plural(*completed as usize, "statement", "statements")
            ),
            ErrorKind::PartialInTheWay {
                migration,
                completed,
            } => write!(
                f,
                "cannot downgrade the set of migration `{migration}` while it is partial ({} took effect): finish it with `up` first, then downgrade",
                plural(*completed as usize, "statement", "statements")
            ),
            ErrorKind::InFlightCount {
                migration,
                given,
                completed,
                in_flight,
            } => write!(
                f,
                "cannot repair migration `{migration}` as having {} completed: {} completed before {in_flight} was in flight, so the count is between {completed} and {}",
                plural(*given as usize, "statement", "statements"),
                plural(*completed as usize, "statement", "statements"),
                in_flight.last
            ),
            ErrorKind::PartialMismatch {
                migration,
                completed,
                statements,
            } => write!(
                f,
                "cannot resume migration `{migration}`: its history row says {} completed, but it has {} now",
                plural(*completed as usize, "statement", "statements"),
                plural(*statements, "statement", "statements")
            ),
            ErrorKind::FunctionInScript { migration } => write!(
                f,
                "migration `{migration}` is a Rust function: an offline script cannot contain it; run it with strata, or script the steps before and after it"
            ),
            ErrorKind::Irreversible { migration } => write!(
                f,
                "cannot revert migration `{migration}`: it has no down migration"
            ),
            ErrorKind::Migration {
                migration,
                direction,
                position,
                database,
                before,
                rolled_back,
                committed,
                uncertain,
            } => {
                let verb = match direction {
                    Direction::Up => "apply",
                    Direction::Down => "revert",
                };
                write!(f, "failed to {verb} migration `{migration}`")?;
                if let Some(p) = position {
                    write!(
                        f,
                        " (statement {} of {}, line {})",
                        p.statement, p.statements, p.line
                    )?;
                }
                write!(f, " on {database}")?;
                if let Some(n) = committed {
                    write!(
                        f,
                        "; {} of it stayed committed",
                        plural(*n as usize, "statement", "statements")
                    )?;
                }
                if let (true, Some(p)) = (uncertain, position) {
                    write!(
                        f,
                        "; statement {} may or may not have committed (the history row names it in flight)",
                        p.statement
                    )?;
                }
                let kept = before.len() - (*rolled_back).min(before.len());
                let (done, undone) = match direction {
                    Direction::Up => ("applied", ("earlier migration", "earlier migrations")),
                    Direction::Down => ("reverted", ("earlier revert", "earlier reverts")),
                };
                if *rolled_back > 0 {
                    let n = plural(*rolled_back, undone.0, undone.1);
                    write!(f, "; {n} of this run rolled back with it")?;
                }
                if kept > 0 {
                    let n = plural(kept, "earlier migration", "earlier migrations");
                    let verb = if kept == 1 { "stays" } else { "stay" };
                    write!(f, "; {n} of this run {verb} {done}")?;
                }
                Ok(())
            }
            ErrorKind::TransactionEnded {
                migration,
                position,
                database,
            } => {
                write!(
                    f,
                    "migration `{migration}` ended the run's transaction itself"
                )?;
                if let Some(p) = position {
                    write!(
                        f,
                        " (statement {} of {}, line {})",
                        p.statement, p.statements, p.line
                    )?;
                }
                write!(
                    f,
                    " on {database}; remove its transaction control or mark it `-- strata:no-transaction`"
                )
            }
            ErrorKind::Database {
                operation,
                database,
            } => write!(f, "failed to {operation} on {database}"),
            ErrorKind::LockTimeout { database, waited } => write!(
                f,
                "timed out after {:.1}s waiting for the migration lock on {database}",
                waited.as_secs_f64()
            ),
            ErrorKind::LockLost { database } => write!(
                f,
                "lost the migration lock on {database}: its lease expired and another process took it; the run stopped before its next step"
            ),
            ErrorKind::ReadOnly { database } => write!(
                f,
                "{database} is read-only (a hot standby): run migrations against the primary; nothing was run"
            ),
            ErrorKind::Io { operation, path } => write!(f, "failed to {operation} `{path}`"),
            ErrorKind::InvalidUrl { url, reason } => {
                write!(f, "invalid database url `{url}`: {reason}")
            }
            ErrorKind::NoSetName { dir } => write!(
                f,
                "cannot name the set of `{dir}`: no `Cargo.toml` with a `[package]` name next to it; pass `--set`"
            ),
            ErrorKind::NoScriptFlavor { backend } => write!(
                f,
                "cannot write an offline script for backend `{backend}`: strata writes sqlite, postgres and mysql scripts"
            ),
            ErrorKind::NotReversible {
                migration,
                reversal,
            } => {
                write!(f, "migration `{migration}` is not reversible: ")?;
                let differences = match reversal {
                    Reversal::ReapplyFailed => {
                        return f.write_str("applying it again after its down migration failed");
                    }
                    Reversal::Down { differences } => {
                        f.write_str("after its down migration the schema differs from before it")?;
                        differences
                    }
                    Reversal::Reapply { differences } => {
                        f.write_str("applied again after its down migration, the schema differs from after its first run")?;
                        differences
                    }
                };
                let shown: Vec<String> = differences
                    .iter()
                    .take(3)
                    .map(ToString::to_string)
                    .collect();
                write!(f, ": {}", shown.join("; "))?;
                if differences.len() > 3 {
                    write!(f, " (and {} more)", differences.len() - 3)?;
                }
                Ok(())
            }
            ErrorKind::UnknownBackend { backend } => write!(
                f,
                "unknown backend `{backend}` for setup sql: expected `sqlite`, `postgres` or `mysql`"
            ),
            ErrorKind::Setup { position, database } => write!(
                f,
                "session setup statement {} of {} (line {}) failed on {database}; no migration ran",
                position.statement, position.statements, position.line
            ),
            ErrorKind::ForeignKeyViolation {
                migration,
                database,
                table,
                parent,
                rows,
            } => write!(
                f,
                "migration `{migration}` left {} in `{table}` without a parent row in `{parent}` on {database} (`PRAGMA foreign_key_check`; foreign keys are off during the run); its transaction was rolled back",
                plural(usize::try_from(*rows).unwrap_or(usize::MAX), "row", "rows")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Difference;

    fn db() -> Database {
        Database {
            backend: "sqlite",
            name: "app.db".to_owned(),
        }
    }

    fn s(text: &str) -> String {
        text.to_owned()
    }

    /// One value of every kind with its exact message. The `match` makes a new kind without a
    /// case here a compile error.
    #[allow(clippy::too_many_lines)]
    fn every_kind() -> Vec<(ErrorKind, &'static str)> {
        let cases = vec![
            (
                ErrorKind::InvalidFileName {
                    file: s("x.sql"),
                    reason: "expected `<version>_<name>.sql`",
                },
                "invalid migration file name `x.sql`: expected `<version>_<name>.sql`",
            ),
            (
                ErrorKind::DuplicateVersion {
                    set: s("app"),
                    version: 3,
                    first: s("3_a.sql"),
                    second: s("3_b.sql"),
                },
                "duplicate version 3 in set `app`: `3_a.sql` and `3_b.sql`",
            ),
            (
                ErrorKind::OrphanDown {
                    file: s("3_a.down.sql"),
                },
                "down migration `3_a.down.sql` has no matching `.up.sql` file",
            ),
            (
                ErrorKind::NotUtf8 {
                    file: s("3_a.sql"),
                    offset: 17,
                },
                "migration file `3_a.sql` is not valid UTF-8 (invalid byte at offset 17)",
            ),
            (
                ErrorKind::EmptyMigration { file: s("3_a.sql") },
                "migration file `3_a.sql` contains no SQL statement",
            ),
            (
                ErrorKind::InvalidDirective {
                    file: s("3_a.sql"),
                    line: 2,
                    directive: s("strata:nope"),
                    reason: "unknown directive",
                },
                "3_a.sql:2: invalid directive `strata:nope`: unknown directive",
            ),
            (
                ErrorKind::InvalidSql {
                    file: s("3_a.sql"),
                    line: 4,
                    statement: 2,
                    dialect: "postgres",
                    problem: Unsplittable::BlockComment,
                },
                "3_a.sql:4: invalid SQL in statement 2 for postgres: `/*` comment is never closed",
            ),
            (
                ErrorKind::InvalidName {
                    what: "set",
                    name: s("a b"),
                    expected: "ASCII letters, digits, `_` and `-` (at most 255)",
                },
                "invalid set name `a b`: expected ASCII letters, digits, `_` and `-` (at most 255)",
            ),
            (
                ErrorKind::InvalidSetVersion {
                    set: s("app"),
                    version: s("one"),
                },
                "invalid version `one` for set `app`: expected a semver version such as `1.2.3`",
            ),
            (
                ErrorKind::DuplicateSet { set: s("app") },
                "set `app` is registered twice",
            ),
            (
                ErrorKind::UnmetRequirement {
                    set: s("blog 1.0.0"),
                    required: s("core"),
                    requirement: s("^2.1"),
                    found: Some(s("1.4.0")),
                },
                "set `blog 1.0.0` requires `core ^2.1` but `core 1.4.0` is registered",
            ),
            (
                ErrorKind::UnmetRequirement {
                    set: s("blog 1.0.0"),
                    required: s("core"),
                    requirement: s("^2.1"),
                    found: None,
                },
                "set `blog 1.0.0` requires `core ^2.1` but no set `core` is registered",
            ),
            (
                ErrorKind::MissingDependency {
                    migration: s("blog@1_posts"),
                    dependency: s("core@7"),
                },
                "migration `blog@1_posts` depends on `core@7`, which is not registered",
            ),
            (
                ErrorKind::Cycle {
                    migrations: vec![s("a@1_x"), s("b@1_y")],
                },
                "migrations depend on each other in a cycle: `a@1_x`, `b@1_y`",
            ),
            (
                ErrorKind::InvalidTarget {
                    target: s("+x"),
                    reason: "expected a number of steps after `+` or `-`",
                },
                "invalid target `+x`: expected a number of steps after `+` or `-`",
            ),
            (
                ErrorKind::UnknownSet { set: s("core") },
                "no set named `core` is registered",
            ),
            (
                ErrorKind::UnknownVersion {
                    set: s("app"),
                    version: 9,
                },
                "set `app` has no migration with version 9",
            ),
            (
                ErrorKind::NoSuchVersion { version: 9 },
                "no registered set has a migration with version 9",
            ),
            (
                ErrorKind::RelativeOutOfRange {
                    target: s("+3"),
                    available: 1,
                    direction: Direction::Up,
                },
                "target `+3` walks past the last migration: only 1 step is available",
            ),
            (
                ErrorKind::RelativeOutOfRange {
                    target: s("-3"),
                    available: 2,
                    direction: Direction::Down,
                },
                "target `-3` walks past the first migration: only 2 steps are available",
            ),
            (
                ErrorKind::AmbiguousTarget {
                    target: s("-1"),
                    sets: vec![s("app"), s("blog")],
                },
                "target `-1` is ambiguous between sets `app`, `blog`: name one, as in `app@-1`",
            ),
            (
                ErrorKind::WrongDirection {
                    target: s("-1"),
                    direction: Direction::Up,
                },
                "cannot upgrade to `-1`: it points down",
            ),
            (
                ErrorKind::WrongDirection {
                    target: s("+1"),
                    direction: Direction::Down,
                },
                "cannot downgrade to `+1`: it points up",
            ),
            (
                ErrorKind::TargetNotApplied {
                    migration: s("app@3_a"),
                },
                "cannot downgrade to `app@3_a`: it is not applied",
            ),
            (
                ErrorKind::UnknownApplied {
                    migrations: vec![(s("app@4_b"), s("1.1.0"))],
                },
                "the database has 1 applied migration this binary does not know: `app@4_b` (applied by set version 1.1.0)",
            ),
            (
                ErrorKind::OutOfOrder {
                    migration: s("app@2_b"),
                    latest: s("app@3_c"),
                },
                "migration `app@2_b` is not applied but the later `app@3_c` is; allow out-of-order migrations to apply it",
            ),
            (
                ErrorKind::ChecksumMismatch {
                    migration: s("app@1_a"),
                    applied: s("00ff"),
                    current: Checksum::of(""),
                },
                "migration `app@1_a` changed after it was applied: checksum was 00ff, is now e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                ErrorKind::Dirty {
                    migration: s("app@2_b"),
                    completed: 3,
                    in_flight: None,
                    waited: None,
                },
                "migration `app@2_b` is dirty: it stopped after 3 statements and must be repaired before migrating",
            ),
            (
                ErrorKind::Dirty {
                    migration: s("app@2_b"),
                    completed: 1,
                    in_flight: None,
                    waited: Some(Duration::from_secs(60)),
                },
                "migration `app@2_b` is still dirty after waiting 60.0s: it stopped after 1 statement, or another process is still running it; repair it only once no process runs it",
            ),
            (
                ErrorKind::Dirty {
                    migration: s("app@2_b"),
                    completed: 0,
                    in_flight: Some(InFlight::new(1, 3, "INSERT INTO ledger SELECT SLEEP(1.5)")),
                    waited: None,
                },
                "migration `app@2_b` is dirty: it stopped after 0 statements while statement 1 (line 3, `INSERT INTO ledger SELECT SLEEP(1.5)`) was in flight, which may or may not have committed; check the database, then repair it saying whether that statement committed",
            ),
            (
                ErrorKind::Dirty {
                    migration: s("app@2_b"),
                    completed: 1,
                    in_flight: Some(InFlight::new(2, 4, "CREATE INDEX CONCURRENTLY i ON t (a)")),
                    waited: Some(Duration::from_secs(5)),
                },
                "migration `app@2_b` is still dirty after waiting 5.0s: it stopped after 1 statement while statement 2 (line 4, `CREATE INDEX CONCURRENTLY i ON t (a)`) was in flight, which may or may not have committed, or another process is still running it; repair it only once no process runs it",
            ),
            (
                ErrorKind::InFlightUnknown {
                    migration: s("app@2_b"),
                    completed: 1,
                    in_flight: InFlight::new(2, 4, "DELETE FROM t"),
                },
                "cannot repair migration `app@2_b` without knowing whether statement 2 (line 4, `DELETE FROM t`) committed: it was in flight after 1 statement when the run stopped; check the database, then repair with the in-flight statement `committed` or `not-committed`",
            ),
            (
                ErrorKind::PartialInTheWay {
                    migration: s("app@2_fill"),
                    completed: 1,
                },
                "cannot downgrade the set of migration `app@2_fill` while it is partial (1 statement took effect): finish it with `up` first, then downgrade",
            ),
            (
                ErrorKind::InFlightCount {
                    migration: s("app@2_dump"),
                    given: 7,
                    completed: 1,
                    in_flight: InFlight::new(2, 2, "LOCK TABLES ledger WRITE").through(5),
                },
                "cannot repair migration `app@2_dump` as having 7 statements completed: 1 statement completed before the table-locked group of statements 2 to 5 (line 2, `LOCK TABLES ledger WRITE`) was in flight, so the count is between 1 and 5",
            ),
            (
                ErrorKind::PartialMismatch {
                    migration: s("app@2_b"),
                    completed: 3,
                    statements: 2,
                },
                "cannot resume migration `app@2_b`: its history row says 3 statements completed, but it has 2 statements now",
            ),
            (
                ErrorKind::Irreversible {
                    migration: s("app@2_b"),
                },
                "cannot revert migration `app@2_b`: it has no down migration",
            ),
            (
                ErrorKind::Migration {
                    migration: s("app@3_add_users"),
                    direction: Direction::Up,
                    position: Some(Position {
                        statement: 2,
                        statements: 4,
                        line: 14,
                    }),
                    database: db(),
                    before: vec![s("app@1_a"), s("app@2_b")],
                    rolled_back: 2,
                    committed: None,
                    uncertain: false,
                },
                "failed to apply migration `app@3_add_users` (statement 2 of 4, line 14) on sqlite database `app.db`; 2 earlier migrations of this run rolled back with it",
            ),
            (
                ErrorKind::Migration {
                    migration: s("app@3_add_users"),
                    direction: Direction::Down,
                    position: None,
                    database: db(),
                    before: vec![s("app@5_e"), s("app@4_d"), s("app@6_f")],
                    rolled_back: 1,
                    committed: Some(1),
                    uncertain: false,
                },
                "failed to revert migration `app@3_add_users` on sqlite database `app.db`; 1 statement of it stayed committed; 1 earlier revert of this run rolled back with it; 2 earlier migrations of this run stay reverted",
            ),
            (
                ErrorKind::Migration {
                    migration: s("app@2_b"),
                    direction: Direction::Up,
                    position: Some(Position {
                        statement: 2,
                        statements: 3,
                        line: 5,
                    }),
                    database: db(),
                    before: vec![],
                    rolled_back: 0,
                    committed: Some(1),
                    uncertain: true,
                },
                "failed to apply migration `app@2_b` (statement 2 of 3, line 5) on sqlite database `app.db`; 1 statement of it stayed committed; statement 2 may or may not have committed (the history row names it in flight)",
            ),
            (
                ErrorKind::TransactionEnded {
                    migration: s("app@2_b"),
                    position: Some(Position {
                        statement: 2,
                        statements: 3,
                        line: 2,
                    }),
                    database: db(),
                },
                "migration `app@2_b` ended the run's transaction itself (statement 2 of 3, line 2) on sqlite database `app.db`; remove its transaction control or mark it `-- strata:no-transaction`",
            ),
            (
                ErrorKind::Database {
                    operation: "read the history table",
                    database: db(),
                },
                "failed to read the history table on sqlite database `app.db`",
            ),
            (
                ErrorKind::LockTimeout {
                    database: db(),
                    waited: Duration::from_millis(2500),
                },
                "timed out after 2.5s waiting for the migration lock on sqlite database `app.db`",
            ),
            (
                ErrorKind::FunctionInScript {
                    migration: s("app@2_seed"),
                },
                "migration `app@2_seed` is a Rust function: an offline script cannot contain it; run it with strata, or script the steps before and after it",
            ),
            (
                ErrorKind::LockLost { database: db() },
                "lost the migration lock on sqlite database `app.db`: its lease expired and another process took it; the run stopped before its next step",
            ),
            (
                ErrorKind::ReadOnly {
                    database: Database {
                        backend: "postgres",
                        name: "app".to_owned(),
                    },
                },
                "postgres database `app` is read-only (a hot standby): run migrations against the primary; nothing was run",
            ),
            (
                ErrorKind::Io {
                    operation: "create",
                    path: s("migrations/20261122073000_add_users.sql"),
                },
                "failed to create `migrations/20261122073000_add_users.sql`",
            ),
            (
                ErrorKind::InvalidUrl {
                    url: s("postgres://app:***@db/app"),
                    reason: s("strata was built without the `postgres` feature"),
                },
                "invalid database url `postgres://app:***@db/app`: strata was built without the `postgres` feature",
            ),
            (
                ErrorKind::NoSetName {
                    dir: s("db/migrations"),
                },
                "cannot name the set of `db/migrations`: no `Cargo.toml` with a `[package]` name next to it; pass `--set`",
            ),
            (
                ErrorKind::NoScriptFlavor { backend: "oracle" },
                "cannot write an offline script for backend `oracle`: strata writes sqlite, postgres and mysql scripts",
            ),
            (
                ErrorKind::NotReversible {
                    migration: s("app@2_add_email"),
                    reversal: Reversal::Down {
                        differences: vec![Difference::Extra {
                            path: s("table `users`: column `email`"),
                        }],
                    },
                },
                "migration `app@2_add_email` is not reversible: after its down migration the schema differs from before it: table `users`: column `email` is extra",
            ),
            (
                ErrorKind::NotReversible {
                    migration: s("app@2_b"),
                    reversal: Reversal::Reapply {
                        differences: (1..=5)
                            .map(|i| Difference::Missing {
                                path: format!("table `t{i}`"),
                            })
                            .collect(),
                    },
                },
                "migration `app@2_b` is not reversible: applied again after its down migration, the schema differs from after its first run: table `t1` is missing; table `t2` is missing; table `t3` is missing (and 2 more)",
            ),
            (
                ErrorKind::NotReversible {
                    migration: s("app@2_b"),
                    reversal: Reversal::ReapplyFailed,
                },
                "migration `app@2_b` is not reversible: applying it again after its down migration failed",
            ),
            (
                ErrorKind::UnknownBackend {
                    backend: s("postgresql"),
                },
                "unknown backend `postgresql` for setup sql: expected `sqlite`, `postgres` or `mysql`",
            ),
            (
                ErrorKind::Setup {
                    position: Position {
                        statement: 2,
                        statements: 3,
                        line: 4,
                    },
                    database: db(),
                },
                "session setup statement 2 of 3 (line 4) failed on sqlite database `app.db`; no migration ran",
            ),
            (
                ErrorKind::ForeignKeyViolation {
                    migration: s("app@3_rebuild"),
                    database: db(),
                    table: s("posts"),
                    parent: s("users"),
                    rows: 2,
                },
                "migration `app@3_rebuild` left 2 rows in `posts` without a parent row in `users` on sqlite database `app.db` (`PRAGMA foreign_key_check`; foreign keys are off during the run); its transaction was rolled back",
            ),
        ];
        for (kind, _) in &cases {
            match kind {
                ErrorKind::InvalidFileName { .. }
                | ErrorKind::DuplicateVersion { .. }
                | ErrorKind::OrphanDown { .. }
                | ErrorKind::NotUtf8 { .. }
                | ErrorKind::EmptyMigration { .. }
                | ErrorKind::InvalidDirective { .. }
                | ErrorKind::InvalidSql { .. }
                | ErrorKind::InvalidName { .. }
                | ErrorKind::InvalidSetVersion { .. }
                | ErrorKind::DuplicateSet { .. }
                | ErrorKind::UnmetRequirement { .. }
                | ErrorKind::MissingDependency { .. }
                | ErrorKind::Cycle { .. }
                | ErrorKind::InvalidTarget { .. }
                | ErrorKind::UnknownSet { .. }
                | ErrorKind::UnknownVersion { .. }
                | ErrorKind::NoSuchVersion { .. }
                | ErrorKind::RelativeOutOfRange { .. }
                | ErrorKind::AmbiguousTarget { .. }
                | ErrorKind::WrongDirection { .. }
                | ErrorKind::TargetNotApplied { .. }
                | ErrorKind::UnknownApplied { .. }
                | ErrorKind::OutOfOrder { .. }
                | ErrorKind::ChecksumMismatch { .. }
                | ErrorKind::Dirty { .. }
                | ErrorKind::InFlightUnknown { .. }
                | ErrorKind::InFlightCount { .. }
                | ErrorKind::PartialInTheWay { .. }
                | ErrorKind::PartialMismatch { .. }
                | ErrorKind::Irreversible { .. }
                | ErrorKind::FunctionInScript { .. }
                | ErrorKind::Migration { .. }
                | ErrorKind::TransactionEnded { .. }
                | ErrorKind::Database { .. }
                | ErrorKind::LockTimeout { .. }
                | ErrorKind::LockLost { .. }
                | ErrorKind::ReadOnly { .. }
                | ErrorKind::Io { .. }
                | ErrorKind::InvalidUrl { .. }
                | ErrorKind::NoSetName { .. }
                | ErrorKind::NoScriptFlavor { .. }
                | ErrorKind::NotReversible { .. }
                | ErrorKind::UnknownBackend { .. }
                | ErrorKind::Setup { .. }
                | ErrorKind::ForeignKeyViolation { .. } => {}
            }
        }
        cases
    }

    #[test]
    fn every_kind_has_its_exact_message() {
        for (kind, text) in every_kind() {
            let err = Error::new(kind);
            assert_eq!(err.to_string(), text);
            assert!(!text.ends_with('.'), "no trailing period: {text}");
            assert!(
                text.starts_with(|c: char| !c.is_uppercase()),
                "lowercase: {text}"
            );
        }
    }

    #[test]
    fn every_unsplittable_problem_has_its_exact_message() {
        let cases = [
            (Unsplittable::BlockComment, "`/*` comment is never closed"),
            (
                Unsplittable::String { quote: '\'' },
                "string opened with `'` is never closed",
            ),
            (
                Unsplittable::QuotedIdentifier { quote: '`' },
                "quoted identifier opened with `` ` `` is never closed",
            ),
            (
                Unsplittable::DollarQuote { tag: s("$body$") },
                "dollar quote `$body$` is never closed",
            ),
            (Unsplittable::Block, "`BEGIN` has no matching `END`"),
            (Unsplittable::Parenthesis, "`(` is never closed"),
            (Unsplittable::Nul, "NUL byte (0x00) in the text"),
            (
                Unsplittable::MissingDelimiter,
                "`DELIMITER` must be followed by a delimiter",
            ),
            (
                Unsplittable::BackslashDelimiter {
                    delimiter: s("\\\\"),
                },
                "delimiter `\\\\` contains a backslash",
            ),
            (
                Unsplittable::MisplacedDelimiter,
                "`DELIMITER` must be the first word on its line",
            ),
            (
                Unsplittable::UnreleasedTableLock,
                "`LOCK TABLES` is never released by an `UNLOCK TABLES` of the migration (strata cannot record progress while tables are locked)",
            ),
        ];
        for (problem, text) in cases {
            assert_eq!(problem.to_string(), text);
        }
    }

    #[test]
    fn accessors_expose_the_context() {
        let kinds = every_kind();
        let (kind, _) = kinds
            .into_iter()
            .find(|(k, _)| {
                matches!(
                    k,
                    ErrorKind::Migration {
                        committed: None,
                        ..
                    }
                )
            })
            .unwrap();
        let err = Error::with_source(kind, "driver said no".into());
        assert_eq!(err.migration(), Some("app@3_add_users"));
        assert_eq!(err.position().map(|p| p.line), Some(14));
        assert_eq!(err.database(), Some(&db()));
        assert_eq!(err.completed_before(), ["app@1_a", "app@2_b"]);
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("driver said no"));
        assert!(
            !err.to_string().contains("driver said no"),
            "the source is not repeated"
        );
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn an_in_flight_statement_keeps_its_first_words_on_one_line() -> Result<(), BoxError> {
        let long = format!(
            "UPDATE `accounts`\n\tSET balance = 0 WHERE {}",
            "x".repeat(80)
        );
        let sent = InFlight::new(3, 12, &long);
        assert_eq!(
            sent.text,
            "UPDATE 'accounts' SET balance = 0 WHERE xxxxxxxxxxxxxxxxx..."
        );
        assert_eq!(sent.text.chars().count(), InFlight::TEXT_CHARS);
        assert_eq!(sent.to_column(), format!("3:12:{}", sent.text));
        // Colons in the text survive the column.
        let colons = InFlight::new(1, 1, "SELECT 'a:b'::text");
        assert_eq!(InFlight::from_column(&colons.to_column())?, colons);
        for bad in ["", "1", "1:2", "x:2:t", "0:2:t", "1:0:t"] {
            assert_eq!(
                InFlight::from_column(bad).map_err(|e| e.to_string()),
                Err(format!(
                    "invalid `in_flight` value `{bad}` in the history table: expected `statement:line:text`"
                ))
            );
        }
        assert_eq!(InFlightOutcome::Committed.as_str(), "committed");
        assert_eq!(InFlightOutcome::NotCommitted.as_str(), "not-committed");
        Ok(())
    }
}
