//! The billing plugin of strata's plugins example: invoices of the accounts plugin's users.
//!
//! The plugin embeds its own `migrations/` directory as the migration set `billing`, at this
//! crate's version (0.3.0). Two things tie it to the accounts plugin:
//!
//! - its migration files name the accounts migrations they build on, with
//!   `-- strata:depends-on accounts@<version>`, so that strata applies those first (and reverts
//!   them last);
//! - [`migrations()`] requires the `accounts` set at `^1.2`, the first version with display
//!   names, so that a host registering an older accounts plugin (or none) fails at start-up,
//!   before any database is touched.

/// The name of the set this plugin builds on.
pub const ACCOUNTS: &str = "accounts";

/// The accounts versions this plugin works with (a semver requirement).
pub const ACCOUNTS_REQUIREMENT: &str = "^1.2";

/// The plugin's migrations, embedded at compile time as set `billing` (the version is the
/// crate's, `CARGO_PKG_VERSION`).
pub static MIGRATIONS: &strata::Embedded =
    strata::embed_migrations!("migrations", name = "billing");

/// The plugin's migration set, with its requirement on the accounts set, for the host to
/// register with `strata::Migrations::new`.
///
/// # Errors
///
/// A migration file that does not parse (see [`strata::Embedded::to_set`]).
pub fn migrations() -> strata::Result<strata::Set> {
    let mut set = MIGRATIONS.to_set()?;
    set.require(ACCOUNTS, ACCOUNTS_REQUIREMENT)?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use strata::{Migrations, Migrator};

    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }

    #[test]
    fn migrations_apply_and_revert_with_accounts() -> Result<(), Box<dyn std::error::Error>> {
        let migrations = Migrations::new([
            strata_example_plugin_accounts::migrations()?,
            super::migrations()?,
        ])?;
        let mut conn = rusqlite::Connection::open_in_memory()?;
        assert_eq!(conn.migrate(&migrations)?.applied().len(), 4);
        assert_eq!(
            conn.downgrade(&migrations, "billing@base")?
                .reverted()
                .len(),
            2
        );
        assert_eq!(conn.downgrade(&migrations, "base")?.reverted().len(), 2);
        Ok(())
    }
}
