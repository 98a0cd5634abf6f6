//! An application's `main()` that brings its database up to date before it serves.
//!
//! The migrations in `migrations/` are compiled into the binary by `embed_migrations!` (and
//! `build.rs` makes a new file trigger a rebuild); a data migration written in Rust joins them.
//! Every replica of the application runs this at boot: the migration lock makes them apply
//! each migration once, and the ones that waited find the work done.
//!
//! ```sh
//! cargo run -p strata-example-boot                                    # ./boot.db
//! DATABASE_URL=postgres://postgres@127.0.0.1/app cargo run -p strata-example-boot
//! RUST_LOG=info cargo run -p strata-example-boot                      # strata's log lines
//! ```

use std::error::Error;
use std::process::ExitCode;

use strata::{Migration, Migrations, Migrator};

/// The application's migrations; the set is named after the crate, `strata-example-boot`.
static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("migrations");

/// The embedded SQL files plus one data migration written in Rust.
fn migrations() -> strata::Result<Migrations> {
    let mut set = MIGRATIONS.to_set()?;
    set.add(
        Migration::function(20_261_120_093_000, "seed_admin", |tx| {
            tx.execute(
                "INSERT INTO users (id, email, name) VALUES (1, 'admin@example.com', 'admin')",
            )
        })?
        .with_down_function(|tx| tx.execute("DELETE FROM users WHERE id = 1")),
    )?;
    Migrations::new([set])
}

/// Migrates, then "serves": here, one query that needs the migrated schema.
fn boot(url: &str, migrations: &Migrations) -> Result<(), Box<dyn Error>> {
    let (report, users): (strata::Report, i64) = if url.starts_with("postgres://") {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        let report = client.migrate(migrations)?;
        let users = client.query_one("SELECT count(*) FROM users", &[])?.get(0);
        (report, users)
    } else {
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        let mut conn = rusqlite::Connection::open(path)?;
        let report = conn.migrate(migrations)?;
        let users = conn.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?;
        (report, users)
    };
    if report.is_empty() {
        println!("up to date, nothing applied");
    } else {
        println!(
            "applied {} migrations in {:?}",
            report.applied().len(),
            report.duration()
        );
        print!("{report}");
    }
    println!("serving with {users} users");
    Ok(())
}

fn main() -> ExitCode {
    env_logger::init();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:boot.db".to_owned());
    // Validating the embedded files is the first thing a boot does, before any connection.
    let result = migrations()
        .map_err(Box::<dyn Error>::from)
        .and_then(|m| boot(&url, &m));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // strata's errors name the migration, the statement and the database, never the
            // URL; the driver's error is the source.
            eprintln!("error: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                eprintln!("  caused by: {c}");
                cause = c.source();
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() -> strata::Result<()> {
        super::MIGRATIONS.assert_valid();
        super::migrations().map(drop)
    }
}
