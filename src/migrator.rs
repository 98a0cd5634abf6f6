//! The [`Migrator`] trait: drives an [`Adapter`] through a plan, logs, reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::adapter::{Adapter, Lock, Record, RecordState, Table};
use crate::error::{
    BoxError, Database, Direction, Error, ErrorKind, InFlight, InFlightOutcome, Position, Result,
};
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
            history,
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

    /// Accepts deliberate changes: stores the current checksum of every diverged migration, and
    /// settles dirty rows so that the next run resumes after the statements known to have
    /// committed: a dirty row that stopped after `k` statements becomes
    /// [`RecordState::Partial`] with `k` (the next run skips them), or, with `k = 0`, goes away
    /// (up: pending again) or becomes applied again (down).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InFlightUnknown`] for a dirty row whose statement in flight may or may not
    /// have committed (nothing is written: say which with
    /// [`repair_in_flight`](Migrator::repair_in_flight)); the lock not granted in time, or a
    /// history write failed.
    fn repair(&mut self, migrations: &Migrations) -> Result<Report>;

    /// [`repair`](Migrator::repair) (of one set's rows with `set`), told what became of the
    /// statements dirty rows name as in flight: [`InFlightOutcome::Committed`] counts each as
    /// completed (the next run resumes after it), [`InFlightOutcome::NotCommitted`] as not (the
    /// next run resumes at it). Dirty rows without a statement in flight are repaired as by
    /// `repair`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # #[cfg(feature = "rusqlite")] {
    /// use strata::{ErrorKind, InFlightOutcome, Migration, Migrations, Migrator, Set};
    ///
    /// let mut set = Set::new("app", "1.0.0")?;
    /// set.add(Migration::sql(1, "seed", "-- strata:no-transaction\nCREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);")?)?;
    /// let migrations = Migrations::new([set])?;
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// conn.migrate(&migrations)?;
    /// // As a process killed during statement 2 leaves it:
    /// conn.execute_batch("UPDATE strata_migrations SET state = 'dirty', completed = 1, in_flight = '2:3:INSERT INTO t VALUES (1)'")?;
    /// let err = conn.repair(&migrations).unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::InFlightUnknown { .. }));
    /// // Looked at the database: the row that statement inserts is there.
    /// let report = conn.repair_in_flight(&migrations, None, InFlightOutcome::Committed)?;
    /// assert_eq!(report.steps()[0].completed, 2);
    /// assert_eq!(conn.migrate(&migrations)?.steps()[0].completed, 2); // nothing left to send
    /// # }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`repair`](Migrator::repair) (never [`ErrorKind::InFlightUnknown`]), and
    /// [`ErrorKind::UnknownSet`] for a set that is not registered.
    fn repair_in_flight(
        &mut self,
        migrations: &Migrations,
        set: Option<&str>,
        outcome: InFlightOutcome,
    ) -> Result<Report>;

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
        Runner::new(self, migrations)?.repair(None, None)
    }

    fn repair_set(&mut self, migrations: &Migrations, set: &str) -> Result<Report> {
        known_set(migrations, set)?;
        Runner::new(self, migrations)?.repair(Some(set), None)
    }

    fn repair_in_flight(
        &mut self,
        migrations: &Migrations,
        set: Option<&str>,
        outcome: InFlightOutcome,
    ) -> Result<Report> {
        if let Some(set) = set {
            known_set(migrations, set)?;
        }
        Runner::new(self, migrations)?.repair(set, Some(outcome))
    }
}

fn known_set(migrations: &Migrations, set: &str) -> Result<()> {
    if migrations.sets.iter().any(|s| s.name() == set) {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::UnknownSet {
            set: set.to_owned(),
        }))
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
    /// [`Adapter::upgrade_history`] ran in this run.
    upgraded: bool,
}

impl Session<'_> {
    /// Before the first history write of a run: adds columns an older strata's table lacks.
    fn upgrade(&mut self) -> Result<()> {
        if !self.upgraded {
            self.adapter
                .upgrade_history(self.table)
                .map_err(|e| self.db_error("add the `in_flight` column to the history table", e))?;
            self.upgraded = true;
        }
        Ok(())
    }

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
    /// The failing statement may have committed, and the history row names it in flight.
    uncertain: bool,
}

impl Failure {
    fn new(position: Option<Position>, completed: usize, source: BoxError) -> Failure {
        Failure {
            position,
            completed: u32::try_from(completed).unwrap_or(u32::MAX),
            source,
            ended_transaction: false,
            uncertain: false,
        }
    }
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
                upgraded: false,
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
        self.record_step(migration, action, duration, 0);
    }

    fn record_step(
        &mut self,
        migration: String,
        action: Action,
        duration: Duration,
        completed: u32,
    ) {
        self.report.steps.push(ReportStep {
            migration,
            action,
            duration,
            completed,
        });
    }

    /// Repairs every set's rows, or those of `only` that set; `outcome` settles statements in
    /// flight.
    fn repair(mut self, only: Option<&str>, outcome: Option<InFlightOutcome>) -> Result<Report> {
        let timeout = self.migrations.lock_timeout;
        self.session.lock(timeout)?;
        self.session.begin(timeout)?;
        let records = self.session.read()?;
        let applied = Applied::new(&records);
        let in_scope = |set: &str| only.is_none_or(|o| o == set);
        // Refuse before writing anything: a statement in flight is the operator's call.
        if outcome.is_none()
            && let Some(r) = records
                .iter()
                .find(|r| in_scope(&r.set) && r.state.is_dirty() && r.in_flight.is_some())
            && let Some(in_flight) = &r.in_flight
        {
            return Err(Error::new(ErrorKind::InFlightUnknown {
                migration: r.id(),
                completed: r.state.completed().unwrap_or(0),
                in_flight: in_flight.clone(),
            }));
        }
        if records.iter().any(|r| in_scope(&r.set)) {
            self.session.upgrade()?;
        }
        for r in records.iter().filter(|r| in_scope(&r.set)) {
            self.settle(r, outcome)?;
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

    /// Settles a dirty row `r` (other rows are left alone): removed or applied again when no
    /// statement took effect, else partial with the statements that did.
    fn settle(&mut self, r: &Record, outcome: Option<InFlightOutcome>) -> Result<()> {
        let RecordState::Dirty {
            completed,
            direction,
        } = r.state
        else {
            return Ok(());
        };
        let completed = match (&r.in_flight, outcome) {
            (None, _) => completed,
            (Some(sent), Some(InFlightOutcome::Committed)) => {
                u32::try_from(sent.last).unwrap_or(u32::MAX)
            }
            (Some(sent), Some(InFlightOutcome::Completed(given))) => {
                let last = u32::try_from(sent.last).unwrap_or(u32::MAX);
                if given < completed || given > last {
                    return Err(Error::new(ErrorKind::InFlightCount {
                        migration: r.id(),
                        given,
                        completed,
                        in_flight: sent.clone(),
                    }));
                }
                given
            }
            (Some(sent), _) => u32::try_from(sent.statement.saturating_sub(1)).unwrap_or(u32::MAX),
        };
        if let (Some(sent), Some(outcome)) = (&r.in_flight, outcome) {
            log::info!(
                "`{}`: {sent} was in flight; told it {}",
                r.id(),
                match outcome {
                    InFlightOutcome::Committed => "committed".to_owned(),
                    InFlightOutcome::NotCommitted => "did not commit".to_owned(),
                    InFlightOutcome::Completed(n) => format!("left {n} statements completed"),
                }
            );
        }
        match (direction, completed) {
            // Nothing took effect while applying: back to pending, so it runs again.
            (Direction::Up, 0) => {
                self.session.delete(&r.set, r.version)?;
                log::info!("cleared the dirty row of `{}`; it is pending again", r.id());
            }
            // Nothing took effect while reverting: back to applied.
            (Direction::Down, 0) => {
                let restored = Record {
                    state: RecordState::Applied,
                    in_flight: None,
                    ..r.clone()
                };
                self.session.write(&restored)?;
                log::info!("cleared the dirty row of `{}`; it is applied again", r.id());
            }
            // Part of it took effect: the next run resumes after those statements.
            (direction, completed) => {
                let partial = Record {
                    state: RecordState::Partial {
                        completed,
                        direction,
                    },
                    in_flight: None,
                    ..r.clone()
                };
                self.session.write(&partial)?;
                log::info!(
                    "`{}` is partial now: the next {} resumes after statement {completed}",
                    r.id(),
                    match direction {
                        Direction::Up => "upgrade",
                        Direction::Down => "downgrade",
                    }
                );
            }
        }
        self.record_step(r.id(), Action::DirtyCleared, Duration::ZERO, completed);
        Ok(())
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
        if !queue.is_empty() {
            // Work to do: the history table may need the columns of this version.
            self.session.upgrade()?;
        }
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
                split_step(step, text, dialect)?;
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
            let skip = plan::resumed(&records, &step);
            if skip > 0 {
                log::info!(
                    "resuming `{id}` after statement {skip}: its partial history row says the statements before took effect"
                );
            }
            if outside {
                self.outside_transaction(&step, &work, &records, skip)?;
            } else {
                self.in_transaction(&step, &work, skip)?;
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
            let dirty = records.iter().find(|r| r.state.is_dirty());
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
                    in_flight: dirty.in_flight.clone(),
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
            let done = applied.is_applied(step.node.set(), step.node.version());
            match step.direction {
                Direction::Up => !done,
                Direction::Down => done,
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
                uncertain: failure.uncertain,
            },
            failure.source,
        )
    }

    fn in_transaction(&mut self, step: &Step<'_>, work: &Work<'_>, skip: u32) -> Result<()> {
        let start = Instant::now();
        if let Err(failure) = self.execute(step, work, None, skip) {
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
        self.bookkeep(step, duration, skip)?;
        self.uncommitted += 1;
        Ok(())
    }

    /// Writes (up) or deletes (down) the history row after a migration ran; `skip` statements
    /// of it had taken effect before (a partial row).
    fn bookkeep(&mut self, step: &Step<'_>, duration: Duration, skip: u32) -> Result<()> {
        let id = step.node.id();
        match step.direction {
            Direction::Up => {
                if let Some(r) = Self::applied_record(step, duration, RecordState::Applied) {
                    self.session.write(&r)?;
                }
                log::info!("applied `{id}` in {duration:.1?}");
                self.record_step(id, Action::Applied, duration, skip);
            }
            Direction::Down => {
                self.session.delete(step.node.set(), step.node.version())?;
                log::info!("reverted `{id}` in {duration:.1?}");
                self.record_step(id, Action::Reverted, duration, skip);
            }
        }
        Ok(())
    }

    /// Runs a migration statement by statement outside a transaction. Before each statement is
    /// sent, the history row says `dirty` with the statements before it completed and this one
    /// in flight (the first such write under the lock); the row becomes applied at the end.
    /// `skip` statements took effect in an earlier run (a partial row) and are not sent.
    fn outside_transaction(
        &mut self,
        step: &Step<'_>,
        work: &Work<'_>,
        records: &[Record],
        skip: u32,
    ) -> Result<()> {
        let Work::Sql(text, _) = work else {
            // Functions always run in a transaction; nothing to record per statement.
            return self.in_transaction(step, work, skip);
        };
        let dialect = self.session.adapter.dialect();
        let (statements, groups) = split_step(step, text, dialect)?;
        let first = usize::try_from(skip).unwrap_or(usize::MAX);
        if first > statements.len() {
            return Err(Error::new(ErrorKind::PartialMismatch {
                migration: step.node.id(),
                completed: skip,
                statements: statements.len(),
            }));
        }
        let state = RecordState::Dirty {
            completed: skip,
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
        let start = Instant::now();
        if let Some(statement) = statements.get(first) {
            // Statement `skip + 1` is in flight from here on: say so under the lock.
            dirty.in_flight = Some(
                InFlight::new(first + 1, statement.line, statement.text).through(groups[first] + 1),
            );
            self.session.write(&dirty)?;
            self.commit()?;
            if let Err(failure) = self.execute(step, work, Some(&mut dirty), skip) {
                return Err(self.migration_error(step, failure, false));
            }
        }
        let duration = start.elapsed();
        let reported = self.report.steps.len();
        if let Err(e) = self.finish_outside(step, duration, skip) {
            // Every statement committed; only the bookkeeping after them failed. Say so: the
            // row still says dirty, and the operator must not run the statements again.
            self.report.steps.truncate(reported);
            let failure = Failure::new(None, statements.len(), Box::new(e));
            return Err(self.migration_error(step, failure, false));
        }
        Ok(())
    }

    /// After a step outside a transaction ran: its final history row, under the lock.
    fn finish_outside(&mut self, step: &Step<'_>, duration: Duration, skip: u32) -> Result<()> {
        if self.session.lock == Some(Lock::Transaction) {
            // Re-take the lock (it was released while the statements ran) for the final row.
            self.session.begin(self.migrations.lock_timeout)?;
        }
        self.bookkeep(step, duration, skip)?;
        // Other connections may have committed while the lock was free: make the next
        // transaction re-read the history.
        self.uncommitted += 1;
        self.session.commit()?;
        self.uncommitted = 0;
        self.data_version = None;
        Ok(())
    }

    /// Before statement `index` (0-based) of a migration outside a transaction, after the
    /// first: the dirty row says the ones before it completed and this one is in flight.
    fn mark_in_flight(
        &mut self,
        row: &mut Record,
        direction: Direction,
        index: usize,
        last: usize,
        statement: &sql::Statement<'_>,
    ) -> Result<(), BoxError> {
        row.state = RecordState::Dirty {
            completed: u32::try_from(index).unwrap_or(u32::MAX),
            direction,
        };
        row.in_flight =
            Some(InFlight::new(index + 1, statement.line, statement.text).through(last + 1));
        self.session.adapter.write_record(self.session.table, row)
    }

    /// After statement `index` (0-based) failed with the connection still answering: the
    /// dirty row says it did not commit. Returns whether that was recorded; when not, the row
    /// still names the statement in flight.
    fn mark_failed(&mut self, row: &mut Record, direction: Direction, index: usize) -> bool {
        if self.session.renew().is_err() {
            return false;
        }
        row.state = RecordState::Dirty {
            completed: u32::try_from(index).unwrap_or(u32::MAX),
            direction,
        };
        let sent = row.in_flight.take();
        match self.session.adapter.write_record(self.session.table, row) {
            Ok(()) => true,
            Err(e) => {
                log::warn!(
                    "could not record on {} that the failed statement {} did not commit: {e}",
                    self.session.adapter.database(),
                    index + 1
                );
                row.in_flight = sent;
                false
            }
        }
    }

    /// Runs the statements (or the function) of one step, after the first `skip` (which took
    /// effect in an earlier run). With `progress` (outside a transaction, the row already
    /// naming the first statement to run as in flight), the dirty row names each next statement
    /// in flight before it is sent.
    #[allow(clippy::too_many_lines)] // one loop: each exit builds its failure where it happens
    fn execute(
        &mut self,
        step: &Step<'_>,
        work: &Work<'_>,
        mut progress: Option<&mut Record>,
        skip: u32,
    ) -> Result<(), Failure> {
        match work {
            Work::Function(f) => {
                if skip > 0 {
                    return Err(Failure::new(
                        None,
                        0,
                        format!("its history row says {skip} statements took effect, but it is a Rust function now").into(),
                    ));
                }
                log::debug!("running function `{}`", step.node.id());
                let mut tx = Transaction::new(&mut *self.session.adapter);
                f(&mut tx).map_err(|source| Failure::new(None, 0, source))?;
                if progress.is_none() && self.session.adapter.is_in_transaction() == Some(false) {
                    return Err(Failure {
                        ended_transaction: true,
                        ..Failure::new(None, 0, "the function ended the transaction".into())
                    });
                }
                Ok(())
            }
            Work::Sql(text, _) => {
                let syntax = self.session.adapter.dialect().syntax;
                // Split before the run started (`run`): an error here is the same refusal.
                let statements =
                    sql::split(text, syntax).map_err(|e| Failure::new(None, 0, Box::new(e)))?;
                let count = statements.len();
                // Outside a transaction on MySQL, a `LOCK TABLES` group is recorded as one.
                let transactional = self.session.adapter.dialect().transactional_ddl;
                let groups = progress_groups(&statements, progress.is_some() && !transactional)
                    .map_err(|i| Failure::new(None, i, "`LOCK TABLES` is never released".into()))?;
                let starts_group = |i: usize| i == 0 || groups[i - 1] < i;
                let first = usize::try_from(skip).unwrap_or(usize::MAX);
                if first > count {
                    return Err(Failure::new(
                        None,
                        0,
                        format!(
                            "its history row says {skip} statements took effect, but it has {count}"
                        )
                        .into(),
                    ));
                }
                for (i, statement) in statements.iter().enumerate().skip(first) {
                    let position = Some(Position {
                        statement: i + 1,
                        statements: count,
                        line: statement.line,
                    });
                    // Inside a `LOCK TABLES` group the connection reaches no other table:
                    // neither the lease nor the history row is written until it ends.
                    if starts_group(i)
                        && let Err(lost) = self.session.renew()
                    {
                        return Err(Failure::new(position, i, Box::new(lost)));
                    }
                    if i > first
                        && starts_group(i)
                        && let Some(row) = progress.as_deref_mut()
                        && let Err(source) =
                            self.mark_in_flight(row, step.direction, i, groups[i], statement)
                    {
                        return Err(Failure::new(None, i, source));
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
                        let position = Some(Position {
                            statement: i + 1,
                            statements: count,
                            line,
                        });
                        let in_group = groups[i] > i || !starts_group(i);
                        if in_group && progress.is_some() {
                            // Release the group's table locks, so the row can say what is known.
                            if let Err(e) = self.session.adapter.execute("UNLOCK TABLES") {
                                log::warn!("`UNLOCK TABLES` after a failed statement failed: {e}");
                            }
                        }
                        // A failed procedure call or block may have committed some of its
                        // work: it stays in flight for the operator to settle.
                        let part_way = crate::transaction_control::may_commit_part_way(
                            statement.text,
                            transactional,
                        );
                        let uncertain = match progress.as_deref_mut() {
                            Some(_) if part_way => true,
                            Some(row) => !self.mark_failed(row, step.direction, i),
                            None => false,
                        };
                        return Err(Failure {
                            uncertain,
                            ..Failure::new(position, i, source)
                        });
                    }
                    if progress.is_none() && self.session.adapter.is_in_transaction() == Some(false)
                    {
                        return Err(Failure {
                            ended_transaction: true,
                            ..Failure::new(
                                Some(Position {
                                    statement: i + 1,
                                    statements: count,
                                    line: statement.line,
                                }),
                                i + 1,
                                "the statement ended the transaction".into(),
                            )
                        });
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
        ended_transaction: true,
        ..Failure::new(
            Some(Position {
                statement: i + 1,
                statements: count,
                line: statement.line,
            }),
            i,
            "the statement ends the transaction".into(),
        )
    })
}

/// A step's statements with their progress groups, or the error that refuses the step before
/// anything of the run is sent: SQL the dialect cannot split, or (without transactional DDL)
/// a `LOCK TABLES` the migration never releases.
fn split_step<'t>(
    step: &Step<'_>,
    text: &'t str,
    dialect: crate::adapter::Dialect,
) -> Result<(Vec<sql::Statement<'t>>, Vec<usize>)> {
    let statements = sql::split(text, dialect.syntax)
        .map_err(|e| e.into_error(sql_origin(step), dialect.backend))?;
    let groups = progress_groups(&statements, !dialect.transactional_ddl).map_err(|i| {
        Error::new(ErrorKind::InvalidSql {
            file: sql_origin(step),
            line: statements[i].line,
            statement: i + 1,
            dialect: dialect.backend,
            problem: crate::sql::Unsplittable::UnreleasedTableLock,
        })
    })?;
    Ok((statements, groups))
}

/// [`lock_groups`](crate::transaction_control::lock_groups) of `statements` when `grouped`
/// (outside a transaction on a database whose `LOCK TABLES` hides the history table), else each
/// statement its own group.
fn progress_groups(
    statements: &[sql::Statement<'_>],
    grouped: bool,
) -> std::result::Result<Vec<usize>, usize> {
    if grouped {
        let texts: Vec<&str> = statements.iter().map(|s| s.text).collect();
        crate::transaction_control::lock_groups(&texts)
    } else {
        Ok((0..statements.len()).collect())
    }
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
        in_flight: None,
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
