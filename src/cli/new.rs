//! `strata new`: a new migration file (or pair) named with the UTC time; and the set name of
//! a migrations directory from its crate's `Cargo.toml`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::migrator::utc_now;
use crate::source::{Part, parse_file_name};

fn io_error(operation: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io {
            operation,
            path: path.display().to_string(),
        },
        Box::new(e),
    )
}

/// Writes a new migration into `dir` (created if needed): `<version>_<name>.sql`, or the
/// `<version>_<name>.up.sql` and `.down.sql` pair when `reversible`. The version is the UTC
/// time as `yyyymmddhhmmss`, or one more than the highest version in `dir` when that is not
/// lower. Never overwrites a file. Returns the paths written.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let files = strata::cli::new_migration(dir.path(), "add_users", true)?;
/// assert!(files[0].to_string_lossy().ends_with("_add_users.up.sql"));
/// assert!(files[1].to_string_lossy().ends_with("_add_users.down.sql"));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A name that is not lowercase letters, digits and `_` ([`ErrorKind::InvalidFileName`]), or
/// a directory or file that cannot be read or created ([`ErrorKind::Io`]).
pub fn new_migration(dir: &Path, name: &str, reversible: bool) -> Result<Vec<PathBuf>> {
    let now: String = utc_now()
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    let now: u64 = now.parse().unwrap_or(0);
    if let Some(Err(e)) = parse_file_name(&format!("{now}_{name}.sql")) {
        return Err(e);
    }
    let mut latest = None;
    if dir.exists() {
        for entry in fs::read_dir(dir).map_err(|e| io_error("read", dir, e))? {
            let entry = entry.map_err(|e| io_error("read", dir, e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(Ok((version, _, _))) = parse_file_name(&file) {
                latest = latest.max(Some(version));
            }
        }
    }
    let version = match latest {
        Some(v) if v >= now => v.saturating_add(1),
        _ => now,
    };
    fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let files: Vec<(Part, String)> = if reversible {
        vec![
            (Part::Up, format!("{version}_{name}.up.sql")),
            (Part::Down, format!("{version}_{name}.down.sql")),
        ]
    } else {
        vec![(Part::Whole, format!("{version}_{name}.sql"))]
    };
    let mut written = Vec::new();
    for (part, file) in files {
        let path = dir.join(file);
        let text = match part {
            Part::Whole | Part::Up => format!("-- {name}: write the migration here\n"),
            Part::Down => format!("-- {name}: write the SQL that reverts it here\n"),
        };
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = created {
            for done in &written {
                let _ = fs::remove_file(done);
            }
            return Err(io_error("create", &path, e));
        }
        written.push(path);
    }
    Ok(written)
}

/// The set name and version for the migrations directory `dir`: the `name` and `version` of
/// the `[package]` table of the `Cargo.toml` next to it (in its parent directory), as
/// [`embed_migrations!`](crate::embed_migrations) names the set of a crate. The version is
/// `0.0.0` when the manifest does not spell it out (`version.workspace = true`).
///
/// # Errors
///
/// [`ErrorKind::NoSetName`] when there is no such manifest or it has no package name.
pub fn package_of(dir: &Path) -> Result<(String, String)> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => dir.join(".."),
    };
    let no_name = || {
        Error::new(ErrorKind::NoSetName {
            dir: dir.display().to_string(),
        })
    };
    let manifest = fs::read_to_string(parent.join("Cargo.toml")).map_err(|_| no_name())?;
    let name = package_field(&manifest, "name").ok_or_else(no_name)?;
    let version = package_field(&manifest, "version").unwrap_or_else(|| "0.0.0".to_owned());
    Ok((name, version))
}

/// A `key = "value"` of a manifest's `[package]` table (the plain form Cargo writes).
fn package_field(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            let v = v.trim();
            let v = v.strip_prefix('"')?.split('"').next()?;
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn new_files_are_timestamped_validated_and_bumped() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("migrations");
        let first = names(&new_migration(&dir, "add_users", false)?);
        let version: u64 = first[0].split('_').next().unwrap_or_default().parse()?;
        assert_eq!(version.to_string().len(), 14, "{first:?}");
        assert_eq!(first, [format!("{version}_add_users.sql")]);
        // A second one in the same second, and one after a version from the future: bumped.
        let second = names(&new_migration(&dir, "add_posts", true)?);
        let next: u64 = second[0].split('_').next().unwrap_or_default().parse()?;
        assert!(next > version);
        assert_eq!(
            second,
            [
                format!("{next}_add_posts.up.sql"),
                format!("{next}_add_posts.down.sql")
            ]
        );
        fs::write(dir.join("99990101000000_future.sql"), "SELECT 1")?;
        assert_eq!(
            names(&new_migration(&dir, "later", false)?),
            ["99990101000001_later.sql"]
        );
        let set = crate::Set::from_dir("app", "1.0.0", &dir);
        assert!(
            matches!(set.map_err(|e| e.to_string()), Err(e) if e.contains("contains no SQL statement")),
            "a new file must be filled in"
        );
        let err = new_migration(&dir, "Add-Users", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("_Add-Users.sql`: the name must be lowercase letters, digits and `_`"),
            "{err}"
        );
        assert_eq!(
            fs::read_dir(&dir)?.count(),
            5,
            "nothing written for a bad name"
        );
        Ok(())
    }

    #[test]
    fn the_set_name_comes_from_the_manifest_next_to_the_directory() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("migrations");
        assert_eq!(
            package_of(&dir).unwrap_err().to_string(),
            format!(
                "cannot name the set of `{}`: no `Cargo.toml` with a `[package]` name next to it; pass `--set`",
                dir.display()
            )
        );
        fs::write(
            tmp.path().join("Cargo.toml"),
            "[workspace]\nname = \"no\"\n\n[package]\nname = \"my-app\" # the app\nversion = \"1.2.3\"\n\n[dependencies]\nversion = \"9\"\n",
        )?;
        assert_eq!(package_of(&dir)?, ("my-app".to_owned(), "1.2.3".to_owned()));
        fs::write(
            tmp.path().join("Cargo.toml"),
            "[package]\nname = \"app\"\nversion.workspace = true\n",
        )?;
        assert_eq!(package_of(&dir)?, ("app".to_owned(), "0.0.0".to_owned()));
        Ok(())
    }
}
