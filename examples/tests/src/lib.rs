//! strata's tests example: a tiny repository layer whose unit tests each get a fresh, fully
//! migrated database from `strata::testing`.
//!
//! The application embeds its `migrations/` directory ([`MIGRATIONS`]; `build.rs` rebuilds
//! the crate when a file is added there) and keeps its SQL behind the [`Users`] trait, for
//! SQLite and PostgreSQL. The tests at the bottom are the point of the example: each asks
//! `strata::testing` for its own database, so they run in parallel without seeing each other's
//! rows, and none of them replays the migrations.

use std::error::Error;

/// The application's migrations, embedded at compile time as set `app`.
pub static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("migrations", name = "app");

/// Every migration the application runs.
///
/// # Errors
///
/// A migration file that does not parse (the `migrations_are_valid` test makes sure it does).
pub fn migrations() -> strata::Result<strata::Migrations> {
    strata::Migrations::new([MIGRATIONS.to_set()?])
}

/// The error of a repository call: the driver's.
pub type DbError = Box<dyn Error + Send + Sync>;

/// A user of the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The key.
    pub email: String,
    /// The name shown.
    pub name: String,
    /// Whether the user may sign in.
    pub active: bool,
}

/// The repository of users, for each database the application runs on.
pub trait Users {
    /// Adds an active user.
    ///
    /// # Errors
    ///
    /// A user with this email exists, or the database fails.
    fn add_user(&mut self, email: &str, name: &str) -> Result<(), DbError>;

    /// The user with `email`, if there is one.
    ///
    /// # Errors
    ///
    /// The database fails.
    fn find_user(&mut self, email: &str) -> Result<Option<User>, DbError>;

    /// Marks the user with `email` inactive; `false` when there is none.
    ///
    /// # Errors
    ///
    /// The database fails.
    fn deactivate_user(&mut self, email: &str) -> Result<bool, DbError>;
}

const INSERT: &str = "INSERT INTO users (email, name) VALUES ($1, $2)";
const SELECT: &str = "SELECT email, name, active FROM users WHERE email = $1";
const DEACTIVATE: &str = "UPDATE users SET active = FALSE WHERE email = $1";

impl Users for rusqlite::Connection {
    fn add_user(&mut self, email: &str, name: &str) -> Result<(), DbError> {
        self.execute(INSERT, [email, name])?;
        Ok(())
    }

    fn find_user(&mut self, email: &str) -> Result<Option<User>, DbError> {
        let mut statement = self.prepare_cached(SELECT)?;
        let mut rows = statement.query([email])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(User {
            email: row.get(0)?,
            name: row.get(1)?,
            active: row.get(2)?,
        }))
    }

    fn deactivate_user(&mut self, email: &str) -> Result<bool, DbError> {
        Ok(self.execute(DEACTIVATE, [email])? == 1)
    }
}

impl Users for postgres::Client {
    fn add_user(&mut self, email: &str, name: &str) -> Result<(), DbError> {
        self.execute(INSERT, &[&email, &name])?;
        Ok(())
    }

    fn find_user(&mut self, email: &str) -> Result<Option<User>, DbError> {
        let Some(row) = self.query_opt(SELECT, &[&email])? else {
            return Ok(None);
        };
        Ok(Some(User {
            email: row.try_get(0)?,
            name: row.try_get(1)?,
            active: row.try_get(2)?,
        }))
    }

    fn deactivate_user(&mut self, email: &str) -> Result<bool, DbError> {
        Ok(self.execute(DEACTIVATE, &[&email])? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::{User, Users, migrations};

    type TestResult = Result<(), super::DbError>;

    const URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
    const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    fn ada() -> User {
        User {
            email: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
            active: true,
        }
    }

    /// The same cases for every database: each starts from an empty, fully migrated database,
    /// so every test may add Ada without colliding with another test running at the same time.
    fn adds_and_finds(db: &mut impl Users) -> TestResult {
        db.add_user("ada@example.com", "Ada")?;
        assert_eq!(db.find_user("ada@example.com")?, Some(ada()));
        assert_eq!(db.find_user("bob@example.com")?, None);
        Ok(())
    }

    fn refuses_a_second_user_with_one_email(db: &mut impl Users) -> TestResult {
        db.add_user("ada@example.com", "Ada")?;
        assert!(db.add_user("ada@example.com", "Ada again").is_err());
        Ok(())
    }

    fn deactivates(db: &mut impl Users) -> TestResult {
        db.add_user("ada@example.com", "Ada")?;
        assert!(db.deactivate_user("ada@example.com")?);
        assert!(!db.deactivate_user("bob@example.com")?);
        let found = db.find_user("ada@example.com")?.ok_or("ada is gone")?;
        assert!(!found.active);
        Ok(())
    }

    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }

    /// Every down migration undoes its up migration: applied, reverted and applied again, one
    /// at a time, with the schema compared after each step.
    #[test]
    fn every_down_migration_undoes_its_up_migration() -> TestResult {
        let migrations = migrations()?;
        let mut conn = rusqlite::Connection::open_in_memory()?;
        let report = strata::testing::check_reversible(&mut conn, &migrations)?;
        assert_eq!(report.checked().len(), 2);
        assert!(report.irreversible().is_empty());
        Ok(())
    }

    #[test]
    fn sqlite_adds_and_finds() -> TestResult {
        adds_and_finds(&mut strata::testing::sqlite(&migrations()?)?)
    }

    #[test]
    fn sqlite_refuses_a_second_user_with_one_email() -> TestResult {
        refuses_a_second_user_with_one_email(&mut strata::testing::sqlite(&migrations()?)?)
    }

    #[test]
    fn sqlite_deactivates() -> TestResult {
        deactivates(&mut strata::testing::sqlite(&migrations()?)?)
    }

    /// A fresh PostgreSQL database, or `None` (with a note) when the server of
    /// `STRATA_TEST_POSTGRES_URL` cannot be reached; under `CI=true` that fails the test.
    fn postgres() -> Result<Option<strata::testing::TestDatabase<postgres::Client>>, strata::Error>
    {
        reachable(strata::testing::postgres(&url(), &migrations()?))
    }

    fn url() -> String {
        std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned())
    }

    /// `None` (with a note) when the server cannot be reached; under `CI=true` that fails.
    fn reachable<T>(db: Result<T, strata::Error>) -> Result<Option<T>, strata::Error> {
        match db {
            Ok(db) => Ok(Some(db)),
            Err(e) if matches!(e.kind(), strata::ErrorKind::Database { operation, .. } if *operation == "connect") =>
            {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true and the server of {URL_VAR} cannot be reached: {e}"
                );
                eprintln!("skipping: the server of {URL_VAR} cannot be reached ({e})");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    #[test]
    fn postgres_adds_and_finds() -> TestResult {
        match postgres()? {
            Some(mut db) => adds_and_finds(&mut *db),
            None => Ok(()),
        }
    }

    #[test]
    fn postgres_refuses_a_second_user_with_one_email() -> TestResult {
        match postgres()? {
            Some(mut db) => refuses_a_second_user_with_one_email(&mut *db),
            None => Ok(()),
        }
    }

    #[test]
    fn postgres_deactivates() -> TestResult {
        match postgres()? {
            Some(mut db) => deactivates(&mut *db),
            None => Ok(()),
        }
    }

    /// The faster PostgreSQL mode for tests that do not commit: a transaction in one shared,
    /// migrated database, rolled back when the handle drops. The repository's methods never
    /// commit, so the cases run unchanged.
    #[test]
    fn postgres_transaction_deactivates() -> TestResult {
        match reachable(strata::testing::postgres_transaction(
            &url(),
            &migrations()?,
        ))? {
            Some(mut tx) => deactivates(&mut *tx),
            None => Ok(()),
        }
    }
}
