//! `strata new`: a new migration file (or pair) named with the UTC time; and the set name of
//! a migrations directory from its crate's `Cargo.toml`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::migrator::utc_now;
use crate::source::{Part, check_name, parse_file_name};

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
/// time as `yyyymmddhhmmss`, or, when `dir` already holds that version or a later one, the
/// second after the latest one (as a real time: `20261122013059` is followed by
/// `20261122013100`). Never overwrites a file; several processes writing into one directory
/// at once get distinct versions (each checks after writing and moves on to the next version
/// when another took the same). Returns the paths written.
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
    let parts: &[Part] = if reversible {
        &[Part::Up, Part::Down]
    } else {
        &[Part::Whole]
    };
    if let Err(reason) = check_name(name) {
        return Err(Error::new(ErrorKind::InvalidFileName {
            file: file_name(now, name, parts[0]),
            reason,
        }));
    }
    fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let mut floor = now;
    for attempt in 0..ATTEMPTS {
        let version = match versions(dir)?.into_iter().max() {
            Some(latest) if latest >= floor => next_second(latest),
            _ => floor,
        };
        if let Some(written) = create(dir, version, name, parts)? {
            let versions = versions_except(dir, &written)?;
            if !versions.contains(&version) {
                return Ok(written);
            }
            // Another process took this version in the same moment: leave it theirs.
            for path in &written {
                let _ = fs::remove_file(path);
            }
        }
        floor = next_second(version);
        // Processes that collided retry a little apart.
        let jitter = std::process::id().wrapping_add(attempt) % 5;
        std::thread::sleep(std::time::Duration::from_millis(u64::from(jitter)));
    }
    Err(io_error(
        "create",
        dir,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "every version tried was taken by another process",
        ),
    ))
}

/// How many versions `new_migration` tries before it gives up.
const ATTEMPTS: u32 = 1000;

fn file_name(version: u64, name: &str, part: Part) -> String {
    match part {
        Part::Whole => format!("{version}_{name}.sql"),
        Part::Up => format!("{version}_{name}.up.sql"),
        Part::Down => format!("{version}_{name}.down.sql"),
    }
}

/// The versions of the migration files in `dir`.
fn versions(dir: &Path) -> Result<Vec<u64>> {
    versions_except(dir, &[])
}

/// The versions of the migration files in `dir` other than `mine`.
fn versions_except(dir: &Path, mine: &[PathBuf]) -> Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error("read", dir, e))? {
        let entry = entry.map_err(|e| io_error("read", dir, e))?;
        if mine.contains(&entry.path()) {
            continue;
        }
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(Ok((version, _, _))) = parse_file_name(&file) {
            found.push(version);
        }
    }
    Ok(found)
}

/// Creates the files of `version`, or none: `None` when one of them exists already.
fn create(dir: &Path, version: u64, name: &str, parts: &[Part]) -> Result<Option<Vec<PathBuf>>> {
    let mut written = Vec::new();
    for &part in parts {
        let path = dir.join(file_name(version, name, part));
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
            if e.kind() == std::io::ErrorKind::AlreadyExists && !path.is_dir() {
                return Ok(None);
            }
            return Err(io_error("create", &path, e));
        }
        written.push(path);
    }
    Ok(Some(written))
}

/// The version after `version`: the next second when it is a `yyyymmddhhmmss` UTC time,
/// otherwise `version + 1`.
fn next_second(version: u64) -> u64 {
    let digits = |at: u32, n: u32| version / 10_u64.pow(14 - at - n) % 10_u64.pow(n);
    let (year, month, day) = (digits(0, 4), digits(4, 2), digits(6, 2));
    let (hour, minute, second) = (digits(8, 2), digits(10, 2), digits(12, 2));
    let is_time = (10_000_000_000_000..100_000_000_000_000).contains(&version)
        && (1..=12).contains(&month)
        && (1..=days_in(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !is_time {
        return version.saturating_add(1);
    }
    let mut t = [year, month, day, hour, minute, second + 1];
    // Carry from the seconds up: each field's limit, then the value it wraps to.
    for i in (1..6).rev() {
        let (limit, first) = match i {
            5 | 4 => (60, 0),
            3 => (24, 0),
            2 => (days_in(t[0], t[1]) + 1, 1),
            _ => (13, 1),
        };
        if t[i] >= limit {
            t[i] = first;
            t[i - 1] += 1;
        }
    }
    t[1..].iter().fold(t[0], |acc, &field| acc * 100 + field)
}

fn days_in(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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
            in_package = line.split('#').next().map(str::trim) == Some("[package]");
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            // A basic (`"..."`) or literal (`'...'`) TOML string.
            let v = v.trim();
            let quote = v.chars().next().filter(|c| matches!(c, '"' | '\''))?;
            return v[1..].split(quote).next().map(str::to_owned);
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
    fn the_next_version_is_the_next_real_second() {
        for (version, next) in [
            (20_261_122_013_058, 20_261_122_013_059),
            (20_261_122_013_059, 20_261_122_013_100),
            (20_261_122_235_959, 20_261_123_000_000),
            (20_261_130_235_959, 20_261_201_000_000),
            (20_261_231_235_959, 20_270_101_000_000),
            (20_280_228_235_959, 20_280_229_000_000),
            (21_000_228_235_959, 21_000_301_000_000),
            // Not a time: one more.
            (3, 4),
            (20_261_122_013_060, 20_261_122_013_061),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(next_second(version), next, "{version}");
        }
    }

    #[test]
    fn names_with_a_part_or_an_extension_are_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("migrations");
        for (name, reversible) in [
            ("b.down", false),
            ("x.up", true),
            ("a.up", false),
            ("", false),
        ] {
            let err = new_migration(&dir, name, reversible)
                .unwrap_err()
                .to_string();
            assert!(
                err.ends_with(&format!(
                    "_{name}.{}sql`: the name must be lowercase letters, digits and `_`",
                    if reversible { "up." } else { "" }
                )),
                "{err}"
            );
        }
        assert!(!dir.exists());
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
        fs::write(
            tmp.path().join("Cargo.toml"),
            "[package] # the crate\nname = 'quoted'\nversion = '0.2.0'\n",
        )?;
        assert_eq!(package_of(&dir)?, ("quoted".to_owned(), "0.2.0".to_owned()));
        Ok(())
    }
}
