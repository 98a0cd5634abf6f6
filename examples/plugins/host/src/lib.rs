//! The host application of strata's plugins example.
//!
//! The application has its own migrations (set `app`) and two plugins, each a crate with its
//! own migration set: `accounts`, and `billing`, which builds on accounts. [`run`] registers
//! the three sets together and migrates a SQLite database; `main.rs` is a thin wrapper around
//! it, so that tests can call it in-process.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use strata::{Migrations, Migrator};

/// The plugins, re-exported for the application's tests.
pub use strata_example_plugin_accounts as accounts;
pub use strata_example_plugin_billing as billing;

/// The host application's own migrations, embedded as set `app` (the version is the crate's).
pub static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("migrations", name = "app");

/// Every set the application runs: its own first, then the plugins'.
///
/// The plugins' order does not matter for correctness: billing's `depends-on` directives put
/// the accounts migrations they need before them whatever the order. (Billing is listed first
/// here so that the output shows it: the first accounts migration runs, then the billing one
/// that needs it, then the second accounts one, then the billing one that needs that.)
///
/// # Errors
///
/// A migration file of a set that does not parse, or sets that do not fit together: a set
/// registered twice, a requirement that does not hold (billing needs `accounts ^1.2`), a
/// `depends-on` naming a migration that is not registered. All of it before any database is
/// opened.
pub fn migrations() -> strata::Result<Migrations> {
    Migrations::new([
        MIGRATIONS.to_set()?,
        billing::migrations()?,
        accounts::migrations()?,
    ])
}

/// Migrates the SQLite database at `path` (created if missing) to the last migration of every
/// set, and returns what to print: the registered sets, the report, and the status of every
/// migration.
///
/// # Errors
///
/// An error of [`migrations()`], opening the database, or migrating it.
pub fn run(path: &Path) -> Result<String, Box<dyn Error>> {
    let migrations = migrations()?;
    let mut out = format!("{}: sets", path.display());
    for (i, set) in migrations.sets().iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        write!(out, "{comma} {} {}", set.name(), set.version())?;
        for (required, requirement) in set.requirements() {
            write!(out, " (requires {required} {requirement})")?;
        }
    }
    out.push('\n');

    let mut conn = rusqlite::Connection::open(path)?;
    let report = conn.migrate(&migrations)?;
    write!(out, "{report}")?;
    writeln!(out, "\nstatus:")?;
    write!(out, "{}", conn.status(&migrations)?)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }
}
