//! The accounts plugin of strata's plugins example: user accounts.
//!
//! The plugin embeds its own `migrations/` directory as the migration set `accounts`, at this
//! crate's version (1.2.0). A host application registers [`migrations()`] next to its own set.

/// The plugin's migrations, embedded at compile time as set `accounts` (the version is the
/// crate's, `CARGO_PKG_VERSION`).
pub static MIGRATIONS: &strata::Embedded =
    strata::embed_migrations!("migrations", name = "accounts");

/// The plugin's migration set, for the host to register with `strata::Migrations::new`.
///
/// # Errors
///
/// A migration file that does not parse (see [`strata::Embedded::to_set`]); the plugin's own
/// test below makes sure it does.
pub fn migrations() -> strata::Result<strata::Set> {
    MIGRATIONS.to_set()
}

#[cfg(test)]
mod tests {
    use strata::{Migrations, Migrator};

    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }

    #[test]
    fn migrations_apply_and_revert() -> Result<(), Box<dyn std::error::Error>> {
        let migrations = Migrations::new([super::migrations()?])?;
        let mut conn = rusqlite::Connection::open_in_memory()?;
        assert_eq!(conn.migrate(&migrations)?.applied().len(), 2);
        assert_eq!(conn.downgrade(&migrations, "base")?.reverted().len(), 2);
        Ok(())
    }
}
