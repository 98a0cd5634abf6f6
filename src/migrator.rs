//! The [`Migrator`] trait: drives an [`Adapter`] through a plan, logs, reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::adapter::{Adapter, Lock, Record, RecordState, Table};
use crate::error::{BoxError, Database, Direction, Error, ErrorKind, Position, Result};
use crate::migration::{Body, Migration, MigrationFn, NORMALIZATION, Set, Transaction};
use crate::plan::{self, Applied, Graph, Node, Operation, PlannedStep, Policy, Step, Target};
use crate::report::{Action, Progress, ProgressHook, Report, ReportStep, Status, status};
use crate::script::{self, Flavor};
use crate::setup::{self, Setup};
use crate::sql;

/// How a run commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The whole run is one transaction: it reaches the target or changes nothing (on databases
    /// with transactional DDL). A `no-transaction` migration splits the run at that point.
    #[default]
    AllOrNothing,
    /// Each migration commits with its own history row: a failure keeps the earlier ones.
    PerMigration,
}

/// The registered sets and how to run them: the history table, the commit mode, the lock
/// timeout and the planning policy.
///
/// ```
/// # fn main() -> Result<(), strata::Error> {
/// use std::time::Duration;
/// use strata::{Migration, Migrations, Mode, Set};
///
/// let mut set = Set::new("app", "1.0.0")?;
/// set.add(Migration::sql(1, "create_users", "CREATE TABLE users (id INTEGER PRIMARY KEY)")?)?;
/// let migrations = Migrations::new([set])?
///     .table("app_migrations")?
///     .mode(Mode::PerMigration)
///     .lock_timeout(Duration::from_secs(10));
/// assert_eq!(migrations.history_table().to_string(), "app_migrations");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Migrations {
    sets: Vec<Set>,
    table: Table,
    mode: Mode,
    lock_timeout: Duration,
    pub(crate) policy: Policy,
    progress: Option<ProgressHook>,
    setup: Setup,
}

/// The default history table name.
pub const DEFAULT_TABLE: &str = "strata_migrations";

impl Migrations {
    /// Registers sets, in the order their migrations should interleave when nothing else
    /// orders them (the host application first).
    ///
    /// # Errors
    ///
    /// Two sets with one name, a set requirement that does not hold, a dependency on a
    /// migration that is not registered, or dependencies that form a cycle.
    pub fn new(sets: impl IntoIterator<Item = Set>) -> Result<Migrations> {
        let sets: Vec<Set> = sets.into_iter().collect();
        for (i, set) in sets.iter().enumerate() {
            if sets[..i].iter().any(|s| s.name() == set.name()) {
                return Err(Error::new(ErrorKind::DuplicateSet {
                    set: set.name().to_owned(),
                }));
            }
        }
        for set in &sets {
            for (required, req) in set.requirements() {
                let found = sets.iter().find(|s| s.name() == required);
                if !found.is_some_and(|s| req.matches(s.version())) {
                    return Err(Error::new(ErrorKind::UnmetRequirement {
                        set: format!("{} {}", set.name(), set.version()),
                        required: required.clone(),
                        requirement: req.to_string(),
                        found: found.map(|s| s.version().to_string()),
                    }));
                }
            }
        }
        Graph::new(&sets)?;
        Ok(Migrations {
            sets,
            table: Table::parse(DEFAULT_TABLE)?,
            mode: Mode::default(),
            lock_timeout: Duration::from_secs(60),
            policy: Policy::default(),
            progress: None,
            setup: Setup::default(),
        })
    }

    /// Uses another history table (default [`DEFAULT_TABLE`]).
    ///
    /// # Errors
    ///
    /// A name that is not a plain identifier (see [`Table::parse`]).
    pub fn table(mut self, name: &str) -> Result<Migrations> {
        self.table = Table::parse(name)?;
        Ok(self)
    }

    /// Sets the commit mode (default [`Mode::AllOrNothing`]).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Migrations {
        self.mode = mode;
        self
    }

    /// How long to wait for the migration lock (default 60 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Migrations {
        self.lock_timeout = timeout;
        self
    }

    /// Adds session setup SQL for `backend` (`sqlite`, `postgres` or `mysql`): statements run on
    /// the migrating connection before the run's first migration, in the order given, only
    /// when the run has something to do (a boot with nothing pending sends none of them), and
    /// outside strata's transaction. What they set stays set on the connection after the run.
    /// Offline scripts of that backend start with them. See `docs/sqlite.md`, `docs/postgres.md`
    /// and `docs/mysql.md`.
    ///
    /// ```
    /// # fn main() -> Result<(), strata::Error> {
    /// use strata::{Migration, Migrations, Set};
    ///
    /// let mut set = Set::new("app", "1.0.0")?;
    /// set.add(Migration::sql(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY)")?)?;
    /// let migrations = Migrations::new([set])?
    ///     .setup_sql("mysql", "SET FOREIGN_KEY_CHECKS = 0;")?
    ///     .setup_sql("postgres", "SET search_path TO app, public;")?;
    /// assert!(migrations.setup_sql("postgresql", "").is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownBackend`] for another backend name.
    pub fn setup_sql(mut self, backend: &str, sql: impl Into<String>) -> Result<Migrations> {
        self.setup.add(backend, sql.into())?;
        Ok(self)
    }

    /// Whether SQLite enforces foreign keys while migrations run (default `false`, as the
    /// `sqlite3` tool and SQLite's own default do, whatever the SQLite build: table rebuilds
    /// work). strata sets `PRAGMA foreign_keys` before its `BEGIN IMMEDIATE` when the run has
    /// work and the connection's setting differs, and restores the connection's setting after
    /// the run, on every path. With enforcement off, a migration that leaves new rows without
    /// their parent row (`PRAGMA foreign_key_check`) fails with
    /// [`ErrorKind::ForeignKeyViolation`]. Other databases ignore it. See `docs/sqlite.md`.
    #[must_use]
    pub fn sqlite_foreign_keys(mut self, on: bool) -> Migrations {
        self.setup.sqlite_foreign_keys = on;
        self
    }

    /// Whether applied migrations this binary does not know are tolerated (default `false`:
    /// they are an error). When tolerated, a downgrade reverts them with their stored down SQL.
    #[must_use]
    pub fn allow_unknown(mut self, allow: bool) -> Migrations {
        self.policy.allow_unknown = allow;
        self
    }

    /// Whether a migration older than the latest applied one of its set may still be applied
    /// (default `false`: it is an error).
    #[must_use]
    pub fn out_of_order(mut self, allow: bool) -> Migrations {
        self.policy.out_of_order = allow;
        self
    }

    /// Calls `hook` when a migration starts and when it has run (with its duration), on the
    /// thread that migrates: for progress lines on long runs (the `cli` feature prints them).
    /// Stamps and repairs call it not. Replaces an earlier hook.
    ///
    /// ```
    /// # fn main() -> Result<(), strata::Error> {
    /// use strata::{Migration, Migrations, Set};
    ///
    /// let mut set = Set::new("app", "1.0.0")?;
    /// set.add(Migration::sql(1, "create_users", "CREATE TABLE users (id INTEGER)")?)?;
    /// let migrations = Migrations::new([set])?.on_progress(|p| match p.duration {
    ///     None => eprintln!("[{}/{}] applying {} ...", p.step, p.steps, p.migration),
    ///     Some(d) => eprintln!("[{}/{}] {} done in {d:.1?}", p.step, p.steps, p.migration),
    /// });
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn on_progress(
        mut self,
        hook: impl Fn(&Progress<'_>) + Send + Sync + 'static,
    ) -> Migrations {
        self.progress = Some(ProgressHook(std::sync::Arc::new(hook)));
        self
    }

    /// The hook set with [`on_progress`](Migrations::on_progress), if any.
    #[cfg(feature = "cli")]
    pub(crate) fn progress_hook(&self) -> Option<std::sync::Arc<crate::report::HookFn>> {
        self.progress.as_ref().map(|h| std::sync::Arc::clone(&h.0))
    }

    /// The registered sets.
    #[must_use]
    pub fn sets(&self) -> &[Set] {
        &self.sets
    }

    /// The history table.
    #[must_use]
    pub fn history_table(&self) -> &Table {
        &self.table
    }

    /// The steps [`Migrator::upgrade`] to `target` would run against a database whose history
    /// is `history`, in order, without touching a database (a dry run; `history` may come from
    /// [`Migrator::history`] or [`Migrations::history_at`]).
    ///
    /// # Errors
    ///
    /// As [`Migrator::upgrade`], minus the database: an invalid target, a dirty, unknown or
    /// changed applied migration, an out-of-order migration.
    pub fn plan_upgrade(&self, history: &[Record], target: &str) -> Result<Vec<PlannedStep>> {
        self.plan(history, target, Operation::Upgrade)
    }

    /// The steps [`Migrator::downgrade`] to `target` would run, children first, without
    /// touching a database.
    ///
    /// # Errors
    ///
    /// As [`Migrator::downgrade`], minus the database.
    pub fn plan_downgrade(&self, history: &[Record], target: &str) -> Result<Vec<PlannedStep>> {
        self.plan(history, target, Operation::Downgrade)
    }

    fn plan(
        &self,
        history: &[Record],
        target: &str,
        operation: Operation,
    ) -> Result<Vec<PlannedStep>> {
        let target: Target = target.parse()?;
        let steps = plan::plan(&self.sets, history, &target, operation, self.policy)?;
        Ok(steps.iter().map(PlannedStep::from).collect())
    }

    /// The complete SQL script of an upgrade from `from` (the target the database is at now:
    /// `base` for an empty one) to `to`, in `flavor`'s dialect, history-table statements
    /// included: for a DBA to review and run by hand (Alembic's `--sql`). Transactions and the
    /// migration lock are spelled out where the database has them.
    ///
    /// # Errors
    ///
    /// An invalid target, an upgrade error of [`Migrations::plan_upgrade`], or a Rust-function
    /// migration in the plan ([`ErrorKind::FunctionInScript`]).
    pub fn upgrade_script(&self, flavor: Flavor, from: &str, to: &str) -> Result<String> {
        self.script(flavor, from, to, Operation::Upgrade)
    }

    /// The complete SQL script of a downgrade from `from` to `to` (see
    /// [`upgrade_script`](Migrations::upgrade_script)).
    ///
    /// # Errors
    ///
    /// As [`upgrade_script`](Migrations::upgrade_script), and a migration without down
    /// migration in the plan.
    pub fn downgrade_script(&self, flavor: Flavor, from: &str, to: &str) -> Result<String> {
        self.script(flavor, from, to, Operation::Downgrade)
    }

    fn script(&self, flavor: Flavor, from: &str, to: &str, operation: Operation) -> Result<String> {
        let history = self.history_at(from)?;
        self.script_for(flavor, &history, &format!("from `{from}`"), to, operation)
    }

    /// The script of an upgrade to `to` of a database whose history is `history` (read with
    /// [`Migrator::history`], for a DBA to apply by hand what a run would apply there).
    ///
    /// # Errors
    ///
    /// As [`upgrade_script`](Migrations::upgrade_script).
    pub fn upgrade_script_for(
        &self,
        flavor: Flavor,
        history: &[Record],
        to: &str,
    ) -> Result<String> {
        self.script_for(flavor, history, "from its history", to, Operation::Upgrade)
    }

    /// The script of a downgrade to `to` of a database whose history is `history`.
    ///
    /// # Errors
    ///
    /// As [`downgrade_script`](Migrations::downgrade_script).
    pub fn downgrade_script_for(
        &self,
        flavor: Flavor,
        history: &[Record],
        to: &str,
    ) -> Result<String> {
        self.script_for(
            flavor,
            history,
            "from its history",
            to,
            Operation::Downgrade,
        )
    }

    fn script_for(
        &self,
        flavor: Flavor,
        history: &[Record],
        from: &str,
        to: &str,
        operation: Operation,
    ) -> Result<String> {
        let target: Target = to.parse()?;
        let steps = plan::plan(&self.sets, history, &target, operation, self.policy)?;
        let verb = match operation {
            Operation::Downgrade => "downgrade",
            _ => "upgrade",
        };
        script::render(
            flavor,
            &self.table,
            &steps,
            &format!("{verb} {from} to `{to}`"),
            &self.setup.script_preamble(flavor)?,
        )
    }

    /// The history a database has once it is at `target` (`base`, `heads`, a version, ...):
    /// the rows [`Migrator::stamp`] would write into an empty history, with `applied_at` now.
    /// The starting point of a plan or an offline script for a database that is not at hand.
    ///
    /// # Errors
    ///
    /// An invalid target.
    pub fn history_at(&self, target: &str) -> Result<Vec<Record>> {
        let target: Target = target.parse()?;
        let steps = plan::plan(&self.sets, &[], &target, Operation::Stamp, self.policy)?;
        Ok(steps
            .iter()
            .filter_map(|step| Runner::applied_record(step, Duration::ZERO, RecordState::Applied))
            .collect())
    }
}

#[cfg(feature = "testing")]
impl Migrations {
    /// A SHA-256 of what the schema a run of these migrations leaves depends on: strata's
    /// version, the history table, the setup SQL and SQLite foreign-key setting, each set's
    /// name and version, and each migration's version,
    /// name, checksum, down checksum (or none), no-transaction flag and dependencies. Keys the
    /// templates of [`crate::testing`]; a Rust-function migration counts by its name only.
    #[cfg_attr(
        not(any(test, feature = "rusqlite", feature = "postgres")),
        allow(dead_code)
    )]
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(b"strata-testing-fingerprint-1");
        field(env!("CARGO_PKG_VERSION").as_bytes());
        field(self.table.to_string().as_bytes());
        // Setup SQL and SQLite's foreign keys can change what the migrations leave.
        for backend in setup::BACKENDS {
            for sql in self.setup.sql_for(backend) {
                field(backend.as_bytes());
                field(sql.as_bytes());
            }
        }
        field(&[u8::from(self.setup.sqlite_foreign_keys)]);
        for set in &self.sets {
            field(set.name().as_bytes());
            field(set.version().to_string().as_bytes());
            field(&(set.migrations().len() as u64).to_le_bytes());
            for m in set.migrations() {
                field(&m.version().to_le_bytes());
                field(m.name().as_bytes());
                field(m.checksum().as_bytes());
                match m.down_sql() {
                    Some(sql) => field(crate::Checksum::of(sql).as_bytes()),
                    None if m.is_reversible() => field(b"down function"),
                    None => field(b"no down"),
                }
                field(&[u8::from(m.is_no_transaction())]);
                field(&(m.dependencies().len() as u64).to_le_bytes());
                for dependency in m.dependencies() {
                    field(dependency.to_string().as_bytes());
                }
            }
        }
        hasher.finalize().into()
    }
}

/// The migration API, implemented for every [`Adapter`]: bring `use strata::Migrator` into scope
/// and call it on the driver's connection.
pub trait Migrator {
    /// Applies every pending migration of every set (the boot path): upgrade to `heads`.
    ///
    /// # Errors
    ///
    /// See [`upgrade`](Migrator::upgrade).
    fn migrate(&mut self, migrations: &Migrations) -> Result<Report>;

    /// Applies the target's ancestors that are not applied, parents first.
    ///
    /// # Errors
    ///
    /// An invalid target; a dirty, unknown or changed applied migration; an out-of-order
    /// migration; the lock not granted in time; a failing migration or history write.
    fn upgrade(&mut self, migrations: &Migrations, target: &str) -> Result<Report>;

    /// Reverts every applied migration after the target (and what depends on them), children
    /// first.
    ///
    /// # Errors
    ///
    /// As [`upgrade`](Migrator::upgrade), and a migration to revert without down migration,
    /// or a target that is not applied.
    fn downgrade(&mut self, migrations: &Migrations, target: &str) -> Result<Report>;

    /// Every migration with its state. Takes no lock and writes nothing.
    ///
    /// # Errors
    ///
    /// Reading the history table failed.
    fn status(&mut self, migrations: &Migrations) -> Result<Status>;

    /// The history table's rows, in the order they were written.
    ///
    /// # Errors
    ///
    /// Reading the history table failed.
    fn history(&mut self, migrations: &Migrations) -> Result<Vec<Record>>;

    /// Records the database as being at `target` without running anything: adopting a
    /// database whose schema already exists.
    ///
    /// # Errors
    ///
    /// As [`upgrade`](Migrator::upgrade), minus the failing migration.
    fn stamp(&mut self, migrations: &Migrations, target: &str) -> Result<Report>;

    /// Accepts deliberate changes: stores the current checksum of every diverged migration and
    /// removes dirty rows (whose partial work the operator has cleaned up) so they run again.
    ///
    /// # Errors
    ///
    /// The lock not granted in time, or a history write failed.
    fn repair(&mut self, migrations: &Migrations) -> Result<Report>;

    /// [`repair`](Migrator::repair) for the rows of one set only, leaving the other sets'
    /// dirty rows and changed checksums as they are (a plugin's operator repairs the plugin).
    ///
    /// # Errors
    ///
    /// As [`repair`](Migrator::repair), and [`ErrorKind::UnknownSet`] for a set that is not
    /// registered.
    fn repair_set(&mut self, migrations: &Migrations, set: &str) -> Result<Report>;
}

impl<A: Adapter> Migrator for A {
    fn migrate(&mut self, migrations: &Migrations) -> Result<Report> {
        Runner::new(self, migrations)?.run(&Target::Heads, Operation::Upgrade)
    }

    fn upgrade(&mut self, migrations: &Migrations, target: &str) -> Result<Report> {
        Runner::new(self, migrations)?.run(&target.parse()?, Operation::Upgrade)
    }

    fn downgrade(&mut self, migrations: &Migrations, target: &str) -> Result<Report> {
        Runner::new(self, migrations)?.run(&target.parse()?, Operation::Downgrade)
    }

    fn status(&mut self, migrations: &Migrations) -> Result<Status> {
        let records = read_history(self, &migrations.table)?;
        Ok(status(&migrations.sets, &records))
    }

    fn history(&mut self, migrations: &Migrations) -> Result<Vec<Record>> {
        read_history(self, &migrations.table)
    }

    fn stamp(&mut self, migrations: &Migrations, target: &str) -> Result<Report> {
        Runner::new(self, migrations)?.run(&target.parse()?, Operation::Stamp)
    }

    fn repair(&mut self, migrations: &Migrations) -> Result<Report> {
        Runner::new(self, migrations)?.repair(None)
    }

    fn repair_set(&mut self, migrations: &Migrations, set: &str) -> Result<Report> {
        if !migrations.sets.iter().any(|s| s.name() == set) {
            return Err(Error::new(ErrorKind::UnknownSet {
                set: set.to_owned(),
            }));
        }
        Runner::new(self, migrations)?.repair(Some(set))
    }
}

fn read_history(adapter: &mut dyn Adapter, table: &Table) -> Result<Vec<Record>> {
    table.check(&adapter.dialect())?;
    adapter
        .read_history(table)
        .map(Option::unwrap_or_default)
        .map_err(|e| db_error("read the history table", adapter.database(), e))
}

/// A bookkeeping failure, or the adapter's own [`Error`] passed on as it is.
fn db_error(operation: &'static str, database: Database, source: BoxError) -> Error {
    let source = match source.downcast::<Error>() {
        Ok(error) => return *error,
        Err(source) => source,
    };
    Error::with_source(
        ErrorKind::Database {
            operation,
            database,
        },
        source,
    )
}

/// UTC now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Holds the adapter through a run; rolls back and unlocks on every exit, panics included.
struct Session<'a> {
    adapter: &'a mut dyn Adapter,
    table: &'a Table,
    lock: Option<Lock>,
    in_tx: bool,
    /// SQLite's `PRAGMA foreign_keys` as it was before the run changed it.
    restore_foreign_keys: Option<bool>,
}

impl Session<'_> {
    /// Rolls back (a failed statement may have aborted the transaction, and the run stops
    /// anyway), then describes the failure.
    fn db_error(&mut self, operation: &'static str, e: BoxError) -> Error {
        self.rollback();
        db_error(operation, self.adapter.database(), e)
    }

    /// Before every statement and history write: keeps a lease lock alive, or stops the run when
    /// another process took it over.
    fn renew(&mut self) -> Result<()> {
        if self.lock == Some(Lock::Lease) {
            self.adapter
                .renew(self.table)
                .map_err(|e| self.db_error("renew the migration lock lease", e))?;
        }
        Ok(())
    }

    /// Takes the lock. With a transaction-scoped lock this also begins a transaction.
    fn lock(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        match self.adapter.lock(self.table, timeout) {
            Ok(Some(lock)) => {
                self.in_tx = lock == Lock::Transaction;
                self.lock = Some(lock);
                Ok(())
            }
            Ok(None) => Err(Error::new(ErrorKind::LockTimeout {
                database: self.adapter.database(),
                waited: start.elapsed(),
            })),
            Err(e) => Err(self.db_error("take the migration lock", e)),
        }
    }

    /// Opens a transaction, re-taking a transaction-scoped lock. Returns whether the lock was
    /// re-taken (and the history must be re-read).
    fn begin(&mut self, timeout: Duration) -> Result<bool> {
        if self.in_tx {
            return Ok(false);
        }
        if matches!(self.lock, Some(Lock::Session | Lock::Lease)) {
            self.adapter
                .begin()
                .map_err(|e| self.db_error("begin a transaction", e))?;
            self.in_tx = true;
            Ok(false)
        } else {
            self.lock(timeout)?;
            Ok(true)
        }
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_tx {
            if let Err(e) = self.adapter.commit() {
                // A failed COMMIT can leave the transaction (and SQLite's write lock) open:
                // end it here rather than hand the connection back inside it.
                self.rollback();
                return Err(self.db_error("commit (rolled back instead)", e));
            }
            self.in_tx = false;
        }
        Ok(())
    }

    fn rollback(&mut self) {
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.adapter.rollback() {
                log::warn!("rollback failed on {}: {e}", self.adapter.database());
            }
        }
    }

    fn read(&mut self) -> Result<Vec<Record>> {
        self.adapter
            .read_or_create_history(self.table)
            .map_err(|e| self.db_error("read the history table", e))
    }

    fn write(&mut self, record: &Record) -> Result<()> {
        self.renew()?;
        self.adapter
            .write_record(self.table, record)
            .map_err(|e| self.db_error("write to the history table", e))
    }

    fn delete(&mut self, set: &str, version: u64) -> Result<()> {
        self.renew()?;
        self.adapter
            .delete_record(self.table, set, version)
            .map_err(|e| self.db_error("delete from the history table", e))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.rollback();
        if let Some(lock @ (Lock::Session | Lock::Lease)) = self.lock
            && let Err(e) = self.adapter.unlock(self.table, lock)
        {
            log::warn!(
                "releasing the migration lock failed on {}: {e}",
                self.adapter.database()
            );
        }
        if let Some(on) = self.restore_foreign_keys.take()
            && let Err(e) = setup::set_foreign_keys(self.adapter, on)
        {
            log::warn!(
                "restoring `PRAGMA foreign_keys` failed on {}: {e}",
                self.adapter.database()
            );
        }
    }
}

/// What runs for one step.
enum Work<'a> {
    Sql(&'a str, bool),
    Function(&'a MigrationFn),
}

impl<'a> Work<'a> {
    fn of(step: &Step<'a>) -> Option<Work<'a>> {
        let body = match (step.node, step.direction) {
            (Node::Known(m, _), Direction::Up) => &m.up,
            (Node::Known(m, _), Direction::Down) => m.down.as_ref()?,
            (Node::Unknown(_), Direction::Up) => return None,
            (Node::Unknown(r), Direction::Down) => {
                let down = r.down_sql.as_deref()?;
                let no_transaction =
                    crate::source::directives(&r.id(), down, false).is_ok_and(|d| d.no_transaction);
                return Some(Work::Sql(down, no_transaction));
            }
        };
        Some(match body {
            Body::Sql {
                text,
                no_transaction,
            } => Work::Sql(text, *no_transaction),
            Body::Function(f) => Work::Function(f.as_ref()),
        })
    }

    fn no_transaction(&self) -> bool {
        matches!(self, Work::Sql(_, true))
    }

    fn is_function(&self) -> bool {
        matches!(self, Work::Function(_))
    }
}

/// A failure inside a migration: which statement, and the driver's error.
struct Failure {
    position: Option<Position>,
    completed: u32,
    source: BoxError,
    /// The migration itself ended the run's transaction (a `COMMIT` in its SQL).
    ended_transaction: bool,
}

struct Runner<'a> {
    session: Session<'a>,
    migrations: &'a Migrations,
    /// Asked of the adapter when first needed (an error or a wait).
    database: Option<Database>,
    report: Report,
    start: Instant,
    /// How many of the last report steps ran in the open transaction (rolled back with a
    /// failure).
    uncommitted: usize,
    /// The adapter's data version after this run's last commit.
    data_version: Option<u64>,
    /// SQLite's foreign-key violations before the run's first migration, when foreign keys
    /// are off during the run: a migration may not add to them.
    violations: Option<ViolationCounts>,
}

type ViolationCounts = std::collections::BTreeMap<(String, String), u64>;

impl<'a> Runner<'a> {
    /// A runner for `migrations` on `adapter`, once the history table name suits the database.
    fn new(adapter: &'a mut dyn Adapter, migrations: &'a Migrations) -> Result<Runner<'a>> {
        migrations.table.check(&adapter.dialect())?;
        Ok(Runner {
            session: Session {
                adapter,
                table: &migrations.table,
                lock: None,
                in_tx: false,
                restore_foreign_keys: None,
            },
            migrations,
            database: None,
            report: Report::default(),
            start: Instant::now(),
            uncommitted: 0,
            data_version: None,
            violations: None,
        })
    }

    fn database(&mut self) -> Database {
        if let Some(database) = &self.database {
            return database.clone();
        }
        let database = self.session.adapter.database();
        self.database = Some(database.clone());
        database
    }

    fn finish(mut self) -> Result<Report> {
        self.session.commit()?;
        self.report.duration = self.start.elapsed();
        Ok(self.report)
    }

    /// Commits mid-run: more transactions follow.
    fn commit(&mut self) -> Result<()> {
        if self.session.in_tx && self.session.lock == Some(Lock::Transaction) {
            // Read before committing, while the lock keeps every other writer out: a commit
            // of another connection between our commit and this read would otherwise hide in
            // the baseline. Our own commit does not change the number.
            self.data_version = self.session.adapter.data_version().ok().flatten();
        }
        self.session.commit()?;
        self.uncommitted = 0;
        Ok(())
    }

    /// After re-taking a transaction-scoped lock: whether another connection may have
    /// committed since this run's last commit.
    fn others_may_have_committed(&mut self) -> bool {
        match (self.data_version, self.session.adapter.data_version()) {
            (Some(before), Ok(Some(now))) => before != now,
            _ => true,
        }
    }

    /// Tells the progress hook, if there is one, that step `step.0` of `step.1` starts (`None`)
    /// or has run.
    fn progress(
        &self,
        migration: &str,
        direction: Direction,
        step: (usize, usize),
        duration: Option<Duration>,
    ) {
        if let Some(hook) = &self.migrations.progress {
            (hook.0)(&Progress {
                migration,
                direction,
                step: step.0,
                steps: step.1,
                duration,
            });
        }
    }

    fn record(&mut self, migration: String, action: Action, duration: Duration) {
        self.report.steps.push(ReportStep {
            migration,
            action,
            duration,
        });
    }

    /// Repairs every set's rows, or those of `only` that set.
    fn repair(mut self, only: Option<&str>) -> Result<Report> {
        let timeout = self.migrations.lock_timeout;
        self.session.lock(timeout)?;
        self.session.begin(timeout)?;
        let records = self.session.read()?;
        let applied = Applied::new(&records);
        let in_scope = |set: &str| only.is_none_or(|o| o == set);
        for r in records.iter().filter(|r| in_scope(&r.set)) {
            match r.state {
                RecordState::Applied => {}
                // Stopped while applying: back to pending, so it runs again.
                RecordState::Dirty {
                    direction: Direction::Up,
                    ..
                } => {
                    self.session.delete(&r.set, r.version)?;
                    log::info!("cleared the dirty row of `{}`; it is pending again", r.id());
                    self.record(r.id(), Action::DirtyCleared, Duration::ZERO);
                }
                // Stopped while reverting: back to applied, so it can be reverted again.
                RecordState::Dirty {
                    direction: Direction::Down,
                    ..
                } => {
                    let restored = Record {
                        state: RecordState::Applied,
                        ..r.clone()
                    };
                    self.session.write(&restored)?;
                    log::info!("cleared the dirty row of `{}`; it is applied again", r.id());
                    self.record(r.id(), Action::DirtyCleared, Duration::ZERO);
                }
            }
        }
        for set in self.migrations.sets.iter().filter(|s| in_scope(s.name())) {
            for m in set.migrations() {
                let Some(r) = applied.get(set.name(), m.version) else {
                    continue;
                };
                if r.state == RecordState::Applied && plan::checksum_mismatch(m, r).is_some() {
                    let fixed = Record {
                        checksum: m.checksum.to_string(),
                        normalization: NORMALIZATION,
                        down_sql: m.down_sql().map(str::to_owned),
                        set_version: set.version().to_string(),
                        ..r.clone()
                    };
                    self.session.write(&fixed)?;
                    log::info!("accepted the new checksum of `{m}`");
                    self.record(m.to_string(), Action::ChecksumAccepted, Duration::ZERO);
                }
            }
        }
        self.finish()
    }

    fn run(mut self, target: &Target, operation: Operation) -> Result<Report> {
        let timeout = self.migrations.lock_timeout;
        self.session.restore_foreign_keys =
            self.migrations.setup.foreign_keys(self.session.adapter)?;
        self.session.lock(timeout)?;
        let mut records = self.read_waiting_out_dirty(timeout)?;
        let sets = &self.migrations.sets;
        let mut steps = plan::plan(sets, &records, target, operation, self.migrations.policy)?;
        if operation != Operation::Stamp && !steps.is_empty() && self.prepare_connection()? {
            // The lock was given up for the setup: read and plan again under the new one.
            records = self.read_waiting_out_dirty(timeout)?;
            steps = plan::plan(sets, &records, target, operation, self.migrations.policy)?;
        }
        let mut queue: VecDeque<Step<'_>> = steps.into();
        if operation == Operation::Stamp {
            self.session.begin(timeout)?;
            while let Some(step) = queue.pop_front() {
                self.stamp(&step)?;
            }
            return self.finish();
        }
        // Every step is split before the first statement runs: on MySQL, nothing may commit
        // before a later file turns out to be unsplittable.
        let dialect = self.session.adapter.dialect();
        for step in &queue {
            if let Some(Work::Sql(text, _)) = Work::of(step) {
                sql::split(text, dialect.syntax)
                    .map_err(|e| e.into_error(sql_origin(step), dialect.backend))?;
            }
        }
        let transactional = dialect.transactional_ddl;
        let (total, mut done) = (queue.len(), 0);
        while let Some(&step) = queue.front() {
            let Some(work) = Work::of(&step) else {
                return Err(Error::new(ErrorKind::Irreversible {
                    migration: step.node.id(),
                }));
            };
            // Without transactional DDL, SQL runs statement by statement with its progress
            // recorded; a Rust function (a data migration) still gets a transaction.
            let outside = work.no_transaction() || (!transactional && !work.is_function());
            if outside && self.uncommitted > 0 {
                self.commit()?;
            }
            // Under a lock held by the connection, a step outside any transaction writes its
            // history rows as single autocommit upserts: no transaction to open.
            let held = matches!(self.session.lock, Some(Lock::Session | Lock::Lease));
            if !(outside && held)
                && self.session.begin(timeout)?
                && self.others_may_have_committed()
            {
                // A transaction-scoped lock was taken again: other processes may have moved on.
                self.refresh(&mut queue, timeout)?;
                continue;
            }
            queue.pop_front();
            done += 1;
            let id = step.node.id();
            let started = Instant::now();
            self.progress(&id, step.direction, (done, total), None);
            if outside {
                self.outside_transaction(&step, &work, &records)?;
            } else {
                self.in_transaction(&step, &work)?;
                if self.migrations.mode == Mode::PerMigration {
                    self.commit()?;
                }
            }
            self.progress(&id, step.direction, (done, total), Some(started.elapsed()));
        }
        self.finish()
    }

    /// Before the first migration of a run with work: the setup SQL, outside any transaction
    /// (a transaction-scoped lock is given up for it and taken again: a `PRAGMA` such as
    /// `foreign_keys` has no effect inside a transaction). Returns whether the lock was taken
    /// again, so that the history must be read again. Also counts SQLite's foreign-key
    /// violations when foreign keys are off.
    fn prepare_connection(&mut self) -> Result<bool> {
        let setup = &self.migrations.setup;
        let needed = setup.has_sql_for(self.session.adapter.dialect().backend);
        let retake = needed && self.session.in_tx && self.session.lock == Some(Lock::Transaction);
        if needed {
            if retake {
                self.session.rollback();
            }
            setup.run_sql(&mut *self.session.adapter)?;
            if retake {
                self.session.lock(self.migrations.lock_timeout)?;
            }
        }
        if setup::foreign_keys(&mut *self.session.adapter) == Some(false) {
            self.violations = Some(self.violations()?);
        }
        Ok(retake)
    }

    fn violations(&mut self) -> Result<ViolationCounts> {
        setup::violations(&mut *self.session.adapter)
            .map_err(|e| self.session.db_error("run `PRAGMA foreign_key_check`", e))
    }

    /// With SQLite's foreign keys off: fails when `step` left rows without a parent row that
    /// were not there before the run.
    fn check_foreign_keys(&mut self, step: &Step<'_>) -> Result<()> {
        let Some(before) = self.violations.take() else {
            return Ok(());
        };
        let now = self.violations()?;
        let found = setup::new_violation(&before, &now);
        self.violations = Some(before);
        if let Some((table, parent, rows)) = found {
            self.session.rollback();
            return Err(Error::new(ErrorKind::ForeignKeyViolation {
                migration: step.node.id(),
                database: self.database(),
                table,
                parent,
                rows,
            }));
        }
        Ok(())
    }

    /// Reads the history under the lock. With a transaction-scoped lock, a dirty row may be a
    /// no-transaction migration that another process is running right now (it released the
    /// lock while it runs): wait for it, re-taking the lock, until the lock timeout. A dirty row
    /// still there after that is an error that says how long it waited.
    fn read_waiting_out_dirty(&mut self, timeout: Duration) -> Result<Vec<Record>> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let records = self.session.read()?;
            let dirty = records
                .iter()
                .find(|r| matches!(r.state, RecordState::Dirty { .. }));
            let Some(dirty) = dirty else {
                return Ok(records);
            };
            if self.session.lock != Some(Lock::Transaction) {
                return Ok(records);
            }
            if start.elapsed() >= timeout {
                return Err(Error::new(ErrorKind::Dirty {
                    migration: dirty.id(),
                    completed: dirty.state.completed().unwrap_or(0),
                    waited: Some(start.elapsed()),
                }));
            }
            if pause == Duration::from_millis(10) {
                let id = dirty.id();
                log::info!(
                    "`{id}` is dirty on {}: waiting up to {:.1}s in case another process is still running it",
                    self.database(),
                    timeout.as_secs_f64()
                );
            }
            self.session.rollback();
            std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_millis(250));
            self.session.lock(
                timeout
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_millis(1)),
            )?;
        }
    }

    /// After re-taking a transaction-scoped lock: drops the steps that another process did
    /// meanwhile, waiting first for a no-transaction migration another process may be running
    /// (so no row read here is dirty).
    fn refresh(&mut self, queue: &mut VecDeque<Step<'_>>, timeout: Duration) -> Result<()> {
        let records = self.read_waiting_out_dirty(timeout)?;
        let applied = Applied::new(&records);
        queue.retain(|step| {
            let row = applied.get(step.node.set(), step.node.version());
            match step.direction {
                Direction::Up => row.is_none(),
                Direction::Down => row.is_some(),
            }
        });
        Ok(())
    }

    fn applied_record(step: &Step<'_>, duration: Duration, state: RecordState) -> Option<Record> {
        let Node::Known(m, set) = step.node else {
            return None;
        };
        Some(new_record(m, set, duration, state))
    }

    fn stamp(&mut self, step: &Step<'_>) -> Result<()> {
        let id = step.node.id();
        match step.direction {
            Direction::Up => {
                if let Some(r) = Self::applied_record(step, Duration::ZERO, RecordState::Applied) {
                    self.session.write(&r)?;
                }
                log::info!("stamped `{id}` as applied");
                self.record(id, Action::Stamped, Duration::ZERO);
            }
            Direction::Down => {
                self.session.delete(step.node.set(), step.node.version())?;
                log::info!("unstamped `{id}`");
                self.record(id, Action::Unstamped, Duration::ZERO);
            }
        }
        Ok(())
    }

    fn migration_error(&mut self, step: &Step<'_>, failure: Failure, in_tx: bool) -> Error {
        let before: Vec<String> = self
            .report
            .steps
            .iter()
            .map(|s| s.migration.clone())
            .collect();
        let rolled_back = if in_tx { self.uncommitted } else { 0 };
        Error::with_source(
            ErrorKind::Migration {
                migration: step.node.id(),
                direction: step.direction,
                position: failure.position,
                database: self.database(),
                before,
                rolled_back,
                committed: if in_tx { None } else { Some(failure.completed) },
            },
            failure.source,
        )
    }

    fn in_transaction(&mut self, step: &Step<'_>, work: &Work<'_>) -> Result<()> {
        let start = Instant::now();
        if let Err(failure) = self.execute(step, work, None) {
            self.session.rollback();
            if failure.ended_transaction {
                return Err(Error::with_source(
                    ErrorKind::TransactionEnded {
                        migration: step.node.id(),
                        position: failure.position,
                        database: self.database(),
                    },
                    failure.source,
                ));
            }
            return Err(self.migration_error(step, failure, true));
        }
        let duration = start.elapsed();
        self.check_foreign_keys(step)?;
        self.bookkeep(step, duration)?;
        self.uncommitted += 1;
        Ok(())
    }

    /// Writes (up) or deletes (down) the history row after a migration ran.
    fn bookkeep(&mut self, step: &Step<'_>, duration: Duration) -> Result<()> {
        let id = step.node.id();
        match step.direction {
            Direction::Up => {
                if let Some(r) = Self::applied_record(step, duration, RecordState::Applied) {
                    self.session.write(&r)?;
                }
                log::info!("applied `{id}` in {duration:.1?}");
                self.record(id, Action::Applied, duration);
            }
            Direction::Down => {
                self.session.delete(step.node.set(), step.node.version())?;
                log::info!("reverted `{id}` in {duration:.1?}");
                self.record(id, Action::Reverted, duration);
            }
        }
        Ok(())
    }

    /// Runs a migration statement by statement outside a transaction, with a dirty row that
    /// counts completed statements until it is done.
    fn outside_transaction(
        &mut self,
        step: &Step<'_>,
        work: &Work<'_>,
        records: &[Record],
    ) -> Result<()> {
        // Mark the migration dirty first, under the lock.
        let state = RecordState::Dirty {
            completed: 0,
            direction: step.direction,
        };
        // Reverting: keep the applied row as it was read (its `applied_at` above all), marked
        // dirty. An applied row does not change while it stays applied.
        let existing = match step.direction {
            Direction::Down => Applied::new(records).get(step.node.set(), step.node.version()),
            Direction::Up => None,
        };
        let mut dirty = match (existing, step.node) {
            (Some(r), _) | (None, Node::Unknown(r)) => Record { state, ..r.clone() },
            (None, Node::Known(m, s)) => new_record(m, s, Duration::ZERO, state),
        };
        self.session.write(&dirty)?;
        self.commit()?;
        let start = Instant::now();
        let result = self.execute(step, work, Some(&mut dirty));
        if let Err(failure) = result {
            return Err(self.migration_error(step, failure, false));
        }
        let duration = start.elapsed();
        let reported = self.report.steps.len();
        if let Err(e) = self.finish_outside(step, duration) {
            // Every statement committed; only the bookkeeping after them failed. Say so: the
            // row still says dirty, and the operator must not run the statements again.
            self.report.steps.truncate(reported);
            let failure = Failure {
                position: None,
                completed: dirty.state.completed().unwrap_or(0),
                source: Box::new(e),
                ended_transaction: false,
            };
            return Err(self.migration_error(step, failure, false));
        }
        Ok(())
    }

    /// After a step outside a transaction ran: its final history row, under the lock.
    fn finish_outside(&mut self, step: &Step<'_>, duration: Duration) -> Result<()> {
        if self.session.lock == Some(Lock::Transaction) {
            // Re-take the lock (it was released while the statements ran) for the final row.
            self.session.begin(self.migrations.lock_timeout)?;
        }
        self.bookkeep(step, duration)?;
        // Other connections may have committed while the lock was free: make the next
        // transaction re-read the history.
        self.uncommitted += 1;
        self.session.commit()?;
        self.uncommitted = 0;
        self.data_version = None;
        Ok(())
    }

    /// Runs the statements (or the function) of one step. With `progress`, each completed
    /// statement is recorded in that dirty row.
    fn execute(
        &mut self,
        step: &Step<'_>,
        work: &Work<'_>,
        mut progress: Option<&mut Record>,
    ) -> Result<(), Failure> {
        match work {
            Work::Function(f) => {
                log::debug!("running function `{}`", step.node.id());
                let mut tx = Transaction::new(&mut *self.session.adapter);
                f(&mut tx).map_err(|source| Failure {
                    position: None,
                    completed: 0,
                    source,
                    ended_transaction: false,
                })?;
                if progress.is_none() && self.session.adapter.is_in_transaction() == Some(false) {
                    return Err(Failure {
                        position: None,
                        completed: 0,
                        source: "the function ended the transaction".into(),
                        ended_transaction: true,
                    });
                }
                Ok(())
            }
            Work::Sql(text, _) => {
                let syntax = self.session.adapter.dialect().syntax;
                // Split before the run started (`run`): an error here is the same refusal.
                let statements = sql::split(text, syntax).map_err(|e| Failure {
                    position: None,
                    completed: 0,
                    source: Box::new(e),
                    ended_transaction: false,
                })?;
                let count = statements.len();
                for (i, statement) in statements.iter().enumerate() {
                    if let Err(lost) = self.session.renew() {
                        return Err(Failure {
                            position: Some(Position {
                                statement: i + 1,
                                statements: count,
                                line: statement.line,
                            }),
                            completed: u32::try_from(i).unwrap_or(u32::MAX),
                            source: Box::new(lost),
                            ended_transaction: false,
                        });
                    }
                    log::debug!(
                        "`{}` statement {} of {count} (line {})",
                        step.node.id(),
                        i + 1,
                        statement.line
                    );
                    if progress.is_none() {
                        refuse_transaction_control(statement, i, count)?;
                    }
                    if let Err(source) = self.session.adapter.execute(statement.text) {
                        let line = self
                            .session
                            .adapter
                            .error_offset(&source, statement.text)
                            .map_or(statement.line, |off| {
                                sql::line_at(text, statement.offset + off)
                            });
                        return Err(Failure {
                            position: Some(Position {
                                statement: i + 1,
                                statements: count,
                                line,
                            }),
                            completed: u32::try_from(i).unwrap_or(u32::MAX),
                            source,
                            ended_transaction: false,
                        });
                    }
                    if progress.is_none() && self.session.adapter.is_in_transaction() == Some(false)
                    {
                        return Err(Failure {
                            position: Some(Position {
                                statement: i + 1,
                                statements: count,
                                line: statement.line,
                            }),
                            completed: u32::try_from(i + 1).unwrap_or(u32::MAX),
                            source: "the statement ended the transaction".into(),
                            ended_transaction: true,
                        });
                    }
                    if let Some(row) = progress.as_deref_mut() {
                        row.state = RecordState::Dirty {
                            completed: u32::try_from(i + 1).unwrap_or(u32::MAX),
                            direction: step.direction,
                        };
                        let written = self.session.adapter.write_record(self.session.table, row);
                        if let Err(source) = written {
                            return Err(Failure {
                                position: None,
                                completed: u32::try_from(i + 1).unwrap_or(u32::MAX),
                                source,
                                ended_transaction: false,
                            });
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// The file (or migration) a step's SQL comes from, for errors.
pub(crate) fn sql_origin(step: &Step<'_>) -> String {
    match step.node {
        Node::Known(m, _) => m.sql_origin(step.direction == Direction::Down),
        Node::Unknown(r) => format!("{} (down, from the history table)", r.id()),
    }
}

/// Refuses, before it is sent, a statement that would end the run's transaction (PostgreSQL
/// cannot say afterwards whether it did).
fn refuse_transaction_control(
    statement: &sql::Statement<'_>,
    i: usize,
    count: usize,
) -> Result<(), Failure> {
    if !crate::transaction_control::ends_transaction(statement.text) {
        return Ok(());
    }
    Err(Failure {
        position: Some(Position {
            statement: i + 1,
            statements: count,
            line: statement.line,
        }),
        completed: u32::try_from(i).unwrap_or(u32::MAX),
        source: "the statement ends the transaction".into(),
        ended_transaction: true,
    })
}

fn new_record(m: &Migration, set: &Set, duration: Duration, state: RecordState) -> Record {
    Record {
        set: m.set.clone(),
        version: m.version,
        name: m.name.clone(),
        checksum: m.checksum.to_string(),
        normalization: NORMALIZATION,
        down_sql: m.down_sql().map(str::to_owned),
        set_version: set.version().to_string(),
        applied_at: utc_now(),
        duration_ms: millis(duration),
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rusqlite")]
    #[test]
    fn the_progress_hook_sees_each_migration_start_then_finish() -> Result<()> {
        use std::sync::{Arc, Mutex};
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(1, "a", "CREATE TABLE a (x INTEGER)")?.with_down("DROP TABLE a")?)?;
        set.add(Migration::sql(2, "b", "CREATE TABLE b (x INTEGER)")?.with_down("DROP TABLE b")?)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let migrations = Migrations::new([set])?.on_progress(move |p| {
            let event = format!(
                "{:?} {} {}/{} {}",
                p.direction,
                p.migration,
                p.step,
                p.steps,
                if p.duration.is_some() {
                    "done"
                } else {
                    "start"
                }
            );
            sink.lock().map(|mut v| v.push(event)).ok();
        });
        let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| {
            Error::with_source(
                ErrorKind::Database {
                    operation: "open",
                    database: Database {
                        backend: "sqlite",
                        name: ":memory:".into(),
                    },
                },
                Box::new(e),
            )
        })?;
        conn.migrate(&migrations)?;
        conn.stamp(&migrations, "1")?;
        conn.downgrade(&migrations, "base")?;
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(
            seen,
            [
                "Up app@1_a 1/2 start",
                "Up app@1_a 1/2 done",
                "Up app@2_b 2/2 start",
                "Up app@2_b 2/2 done",
                // the stamp (down to 1) is silent
                "Down app@1_a 1/1 start",
                "Down app@1_a 1/1 done",
            ]
        );
        Ok(())
    }

    #[test]
    fn utc_now_has_the_iso_shape() {
        let now = utc_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.starts_with("20"), "{now}");
        assert!(now.ends_with('Z'));
        assert_eq!(&now[10..11], "T");
    }
}
