//! [`check_reversible`]: apply, revert and re-apply each migration, comparing snapshots.

use super::{Comparison, Difference, Schema, Snapshot, failed};
use crate::adapter::Adapter;
use crate::error::{Error, ErrorKind, Result};
use crate::migrator::{Migrations, Migrator};

/// What [`check_reversible`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reversibility {
    checked: Vec<String>,
    irreversible: Vec<String>,
}

impl Reversibility {
    /// The migrations applied, reverted and applied again with matching snapshots, in order.
    #[must_use]
    pub fn checked(&self) -> &[String] {
        &self.checked
    }

    /// The migrations without a down migration, applied once and not checked, in order.
    #[must_use]
    pub fn irreversible(&self) -> &[String] {
        &self.irreversible
    }
}

/// How a migration failed the reversibility check ([`ErrorKind::NotReversible`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reversal {
    /// After its down migration the schema differs from the schema before it: what was
    /// expected is the schema before.
    Down {
        /// The differences, in [`Schema::diff`] order.
        differences: Vec<Difference>,
    },
    /// Applied again after its down migration, the schema differs from the schema after its
    /// first application, which is what was expected.
    Reapply {
        /// The differences, in [`Schema::diff`] order.
        differences: Vec<Difference>,
    },
    /// Applying it again after its down migration failed (the error's
    /// [`source`](std::error::Error::source) says how): the down migration most likely left
    /// something behind that the up migration creates.
    ReapplyFailed,
}

/// Checks that every pending migration's down migration undoes it: walks the upgrade plan to
/// `heads` from wherever the database is, and for each migration takes a snapshot, applies
/// it, takes a snapshot, reverts it, compares with the first snapshot, applies it again and
/// compares with the second. Migrations without a down migration are applied once and listed
/// in [`Reversibility::irreversible`]. Meant for a unit test against a scratch database: it
/// leaves the database at `heads`.
///
/// Each migration is reverted with the target `<set>@-1`, which reverts the last applied
/// migration of its set: the one just applied, unless an out-of-order migration (older than an
/// applied one of its set) is pending. Run the check from `base`, where there is none.
///
/// Snapshots leave out the history table and the tables the adapter keeps for itself
/// ([`Adapter::bookkeeping_tables`]: the lease table `strata_locks` on a Galera cluster), which
/// strata creates on the first run. A Rust-function migration is checked like the
/// others, but only its effect on the schema is compared, not on the data.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use strata::{Migration, Migrations, Set};
///
/// let mut set = Set::new("app", "1.0.0")?;
/// set.add(
///     Migration::sql(1, "add_users", "CREATE TABLE users (id INTEGER PRIMARY KEY);")?
///         .with_down("DROP TABLE users;")?,
/// )?;
/// set.add(
///     Migration::sql(2, "add_email", "ALTER TABLE users ADD COLUMN email TEXT;")?
///         .with_down("SELECT 1;")?, // forgets to drop the column
/// )?;
/// let migrations = Migrations::new([set])?;
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let err = strata::schema::check_reversible(&mut conn, &migrations).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "migration `app@2_add_email` is not reversible: after its down migration the schema \
///      differs from before it: table `users`: column `email` is extra"
/// );
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
///
/// # Errors
///
/// [`ErrorKind::NotReversible`] naming the first migration whose down migration does not undo
/// it; [`ErrorKind::Database`] when the adapter cannot list its bookkeeping tables; any error
/// of [`Migrator::upgrade`], [`Migrator::downgrade`] or [`Snapshot::snapshot`] as it is.
pub fn check_reversible<C: Adapter + Snapshot>(
    conn: &mut C,
    migrations: &Migrations,
) -> Result<Reversibility> {
    check_reversible_with(conn, migrations, Comparison::default())
}

/// [`check_reversible`], comparing snapshots as `comparison` says: a project that accepts that
/// a down migration re-adds a column last (PostgreSQL and SQLite cannot reorder columns), or
/// recreates a view whose text the database reports differently, opts out of those
/// comparisons. See `docs/schema.md`.
///
/// # Errors
///
/// As [`check_reversible`].
pub fn check_reversible_with<C: Adapter + Snapshot>(
    conn: &mut C,
    migrations: &Migrations,
    comparison: Comparison,
) -> Result<Reversibility> {
    let mut own = match conn.bookkeeping_tables() {
        Ok(tables) => tables,
        Err(e) => return Err(failed(conn.database(), e)),
    };
    own.push(migrations.history_table().to_string());
    let snapshot = |conn: &mut C| -> Result<Schema> {
        let schema = conn.snapshot()?;
        Ok(own.iter().fold(schema, |s, table| s.without_table(table)))
    };
    let plan = migrations.plan_upgrade(&conn.history(migrations)?, "heads")?;
    let mut report = Reversibility::default();
    for step in plan {
        let target = format!("{}@{}", step.set, step.version);
        let reversible = migrations
            .sets()
            .iter()
            .filter(|s| s.name() == step.set)
            .flat_map(crate::Set::migrations)
            .any(|m| m.version() == step.version && m.is_reversible());
        if !reversible {
            conn.upgrade(migrations, &target)?;
            report.irreversible.push(step.migration);
            continue;
        }
        let not_reversible = |reversal| ErrorKind::NotReversible {
            migration: step.migration.clone(),
            reversal,
        };
        let before = snapshot(conn)?;
        conn.upgrade(migrations, &target)?;
        let after = snapshot(conn)?;
        conn.downgrade(migrations, &format!("{}@-1", step.set))?;
        let differences = before.diff_with(&snapshot(conn)?, comparison);
        if !differences.is_empty() {
            return Err(Error::new(not_reversible(Reversal::Down { differences })));
        }
        if let Err(e) = conn.upgrade(migrations, &target) {
            return Err(Error::with_source(
                not_reversible(Reversal::ReapplyFailed),
                Box::new(e),
            ));
        }
        let differences = after.diff_with(&snapshot(conn)?, comparison);
        if !differences.is_empty() {
            return Err(Error::new(not_reversible(Reversal::Reapply {
                differences,
            })));
        }
        report.checked.push(step.migration);
    }
    Ok(report)
}
