//! Helpers for the embedding crate's `build.rs`.
//!
//! `include_dir!` (under [`embed_migrations!`](crate::embed_migrations)) reads the directory
//! at compile time, but on stable Rust the compiler is not told to watch it: a new migration
//! file is not embedded until something else triggers a rebuild. Call
//! [`watch_migrations`] from `build.rs` so that Cargo rebuilds when a file is added, changed or
//! removed:
//!
//! ```toml
//! [build-dependencies]
//! strata = { version = "0.1", default-features = false }
//! ```
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     strata::build::watch_migrations("migrations");
//! }
//! ```

// The example above is a whole `build.rs`, so its `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

use std::io::{self, Write};
use std::path::Path;

/// Prints `cargo::rerun-if-changed` for `dir` (relative to the crate's `Cargo.toml`) and every
/// file under it. A directory that does not exist is skipped with a `cargo::warning`.
pub fn watch_migrations(dir: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = write_rerun_lines(Path::new(dir), &mut out) {
        let _ = writeln!(out, "cargo::warning=strata: cannot watch `{dir}`: {e}");
    }
}

/// Writes the `cargo::rerun-if-changed` lines for `dir` and its files to `out`.
///
/// # Errors
///
/// Reading the directory or writing to `out` failed.
pub fn write_rerun_lines(dir: &Path, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "cargo::rerun-if-changed={}", dir.display())?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            write_rerun_lines(&path, out)?;
        } else {
            writeln!(out, "cargo::rerun-if-changed={}", path.display())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_directory_and_its_files() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("strata-build-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub"))?;
        std::fs::write(dir.join("2_b.sql"), "SELECT 1")?;
        std::fs::write(dir.join("1_a.sql"), "SELECT 1")?;
        std::fs::write(dir.join("sub/x.txt"), "x")?;
        let mut out = Vec::new();
        write_rerun_lines(&dir, &mut out)?;
        std::fs::remove_dir_all(&dir)?;
        let text = String::from_utf8_lossy(&out);
        let d = dir.display();
        assert_eq!(
            text,
            format!(
                "cargo::rerun-if-changed={d}\ncargo::rerun-if-changed={d}/1_a.sql\ncargo::rerun-if-changed={d}/2_b.sql\ncargo::rerun-if-changed={d}/sub\ncargo::rerun-if-changed={d}/sub/x.txt\n"
            )
        );
        let mut missing = Vec::new();
        assert!(write_rerun_lines(&dir, &mut missing).is_err());
        Ok(())
    }
}
