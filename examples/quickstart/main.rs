//! Creates or migrates `quickstart.db` in the current directory with the migrations embedded
//! from `examples/quickstart/migrations`, then prints the status. A second run applies nothing.
//!
//! ```sh
//! cargo run --example quickstart
//! RUST_LOG=debug cargo run --example quickstart other.db   # with strata's log lines
//! ```

use strata::{Migrations, Migrator};

static MIGRATIONS: &strata::Embedded =
    strata::embed_migrations!("examples/quickstart/migrations", name = "quickstart");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "quickstart.db".to_owned());
    let migrations = Migrations::new([MIGRATIONS.to_set()?])?;
    let mut conn = rusqlite::Connection::open(&path)?;

    let report = conn.migrate(&migrations)?;
    if report.is_empty() {
        println!("{path}: up to date, nothing applied");
    } else {
        println!("{path}: applied {} migrations", report.applied().len());
        print!("{report}");
    }
    println!("\nstatus:");
    print!("{}", conn.status(&migrations)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::MIGRATIONS.assert_valid();
    }
}
