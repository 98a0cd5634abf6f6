//! Migrates a SQLite database (the path given as the first argument, or `plugins.db` in the
//! current directory) with the host application's migrations and both plugins', then prints the
//! report and the status of every migration. A second run applies nothing.
//!
//! ```sh
//! cargo run -p strata-example-plugins-host               # creates or migrates ./plugins.db
//! cargo run -p strata-example-plugins-host -- other.db
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("plugins.db"), PathBuf::from);
    match strata_example_plugins_host::run(&path) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
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
