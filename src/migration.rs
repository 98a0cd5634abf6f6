//! Migrations, their checksums, and the sets that group them.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::adapter::Adapter;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::source::{self, Directives};

/// The current checksum normalisation: UTF-8 BOM dropped, CRLF and CR turned into LF.
///
/// Stored with every history row, so that a future normalisation can be introduced without
/// invalidating rows written under this one.
pub const NORMALIZATION: u32 = 1;

/// SHA-256 of a migration's normalised text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// The checksum of `text` under the current normalisation ([`NORMALIZATION`]).
    #[must_use]
    pub fn of(text: &str) -> Checksum {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut hasher = Sha256::new();
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\r' {
                hasher.update(&bytes[start..i]);
                hasher.update(b"\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            i += 1;
        }
        hasher.update(&bytes[start..]);
        Checksum(hasher.finalize().into())
    }

    /// Parses the 64 lowercase hexadecimal digits written by [`Display`](fmt::Display).
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Checksum> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digit = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            };
            out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Checksum(out))
    }

    /// The 64 lowercase hexadecimal digits, without allocating.
    fn hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }

    /// Whether `hex` (as stored in a history row, any case) is this checksum.
    #[must_use]
    pub fn matches_hex(&self, hex: &str) -> bool {
        hex.as_bytes().eq_ignore_ascii_case(&self.hex())
    }

    /// The 32 bytes of the digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // The digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

/// A Rust function run as a migration: it receives the open [`Transaction`].
pub type MigrationFn =
    dyn Fn(&mut Transaction<'_>) -> std::result::Result<(), BoxError> + Send + Sync;

/// The connection handed to a Rust-function migration, inside the run's open transaction.
///
/// [`execute`](Transaction::execute) runs portable SQL through the adapter;
/// [`downcast_mut`](Transaction::downcast_mut) gives the driver's own connection (for example
/// `rusqlite::Connection`) for queries with parameters.
pub struct Transaction<'a> {
    adapter: &'a mut dyn Adapter,
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(adapter: &'a mut dyn Adapter) -> Self {
        Transaction { adapter }
    }

    /// Runs one or more SQL statements, split as the adapter's dialect splits migration files.
    ///
    /// # Errors
    ///
    /// A [`SplitError`](crate::sql::SplitError) when the SQL cannot be split (nothing runs),
    /// or the driver's error for the first statement that fails; later statements do not run.
    pub fn execute(&mut self, sql: &str) -> std::result::Result<(), BoxError> {
        let syntax = self.adapter.dialect().syntax;
        for statement in crate::sql::split(sql, syntax)? {
            self.adapter.execute(statement.text)?;
        }
        Ok(())
    }

    /// The backend's name, such as `sqlite`, for migrations that differ per database.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.adapter.dialect().backend
    }

    /// The driver's connection, if it is a `T` (for SQLite: `rusqlite::Connection`).
    pub fn downcast_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.adapter.connection().downcast_mut::<T>()
    }
}

/// What a migration runs in one direction.
#[derive(Clone)]
pub(crate) enum Body {
    Sql {
        text: Cow<'static, str>,
        no_transaction: bool,
    },
    Function(Arc<MigrationFn>),
}

impl Body {
    pub(crate) fn is_no_transaction(&self) -> bool {
        matches!(
            self,
            Body::Sql {
                no_transaction: true,
                ..
            }
        )
    }

    pub(crate) fn sql(&self) -> Option<&str> {
        match self {
            Body::Sql { text, .. } => Some(text),
            Body::Function(_) => None,
        }
    }
}

/// A dependency of a migration on a migration of another set: `set@version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The set.
    pub set: String,
    /// The version within that set.
    pub version: u64,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.set, self.version)
    }
}

/// One change of the schema or data: SQL text or a Rust function, with an optional down.
///
/// Its identity is its set and version; it is shown everywhere as `set@version_name`.
#[derive(Clone)]
pub struct Migration {
    pub(crate) set: String,
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) up: Body,
    pub(crate) down: Option<Body>,
    pub(crate) depends_on: Vec<Dependency>,
    pub(crate) checksum: Checksum,
    /// The file the up migration came from, for errors.
    pub(crate) file: Option<String>,
}

impl Migration {
    /// A SQL migration. Leading `-- strata:` directives in `up` are honoured as in files.
    ///
    /// # Errors
    ///
    /// An invalid name, an unknown or malformed directive, or SQL with no statement.
    pub fn sql(version: u64, name: &str, up: impl Into<Cow<'static, str>>) -> Result<Migration> {
        validate_name(name)?;
        let up = up.into();
        let label = format!("{version}_{name}");
        let directives = source::directives(&label, &up, true)?;
        source::check_not_empty(&label, &up)?;
        Ok(Migration::from_parts(version, name, up, &directives, None))
    }

    /// The file of the up or down SQL, for errors: its file name when it came from one (the
    /// down file's name follows from the up file's), else the migration and direction.
    pub(crate) fn sql_origin(&self, down: bool) -> String {
        match (&self.file, down) {
            (Some(file), false) => file.clone(),
            (Some(file), true) if file.ends_with(".up.sql") => {
                format!("{}.down.sql", &file[..file.len() - ".up.sql".len()])
            }
            _ if down => format!("{}_{} (down)", self.version, self.name),
            _ => format!("{}_{}", self.version, self.name),
        }
    }

    pub(crate) fn from_parts(
        version: u64,
        name: &str,
        up: Cow<'static, str>,
        directives: &Directives,
        file: Option<String>,
    ) -> Migration {
        Migration {
            set: String::new(),
            version,
            name: name.to_owned(),
            checksum: Checksum::of(&up),
            up: Body::Sql {
                text: up,
                no_transaction: directives.no_transaction,
            },
            down: None,
            depends_on: directives.depends_on.clone(),
            file,
        }
    }

    /// Adds down SQL (which may start with `-- strata:no-transaction`).
    ///
    /// # Errors
    ///
    /// An unknown or malformed directive, or SQL with no statement.
    pub fn with_down(mut self, down: impl Into<Cow<'static, str>>) -> Result<Migration> {
        let down = down.into();
        let label = format!("{}_{}.down", self.version, self.name);
        let directives = source::directives(&label, &down, false)?;
        source::check_not_empty(&label, &down)?;
        self.down = Some(Body::Sql {
            text: down,
            no_transaction: directives.no_transaction,
        });
        Ok(self)
    }

    /// A Rust-function migration, for data migrations and seed rows. It runs inside the run's
    /// transaction and receives it.
    ///
    /// Its checksum covers only its version and name: changing the function's code is not
    /// detected.
    ///
    /// # Errors
    ///
    /// An invalid name.
    pub fn function<F>(version: u64, name: &str, up: F) -> Result<Migration>
    where
        F: Fn(&mut Transaction<'_>) -> std::result::Result<(), BoxError> + Send + Sync + 'static,
    {
        validate_name(name)?;
        Ok(Migration {
            set: String::new(),
            version,
            name: name.to_owned(),
            up: Body::Function(Arc::new(up)),
            down: None,
            depends_on: Vec::new(),
            checksum: Checksum::of(&format!("function {version}_{name}")),
            file: None,
        })
    }

    /// Adds a down function.
    #[must_use]
    pub fn with_down_function<F>(mut self, down: F) -> Migration
    where
        F: Fn(&mut Transaction<'_>) -> std::result::Result<(), BoxError> + Send + Sync + 'static,
    {
        self.down = Some(Body::Function(Arc::new(down)));
        self
    }

    /// Adds a dependency on a migration of another set, as the
    /// `-- strata:depends-on set@version` directive does.
    #[must_use]
    pub fn depends_on(mut self, set: &str, version: u64) -> Migration {
        self.depends_on.push(Dependency {
            set: set.to_owned(),
            version,
        });
        self
    }

    /// The set this migration belongs to (empty until it is added to a [`Set`]).
    #[must_use]
    pub fn set(&self) -> &str {
        &self.set
    }

    /// The version: its order within the set.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The name, `[a-z0-9_]+`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checksum of the up migration's normalised text.
    #[must_use]
    pub fn checksum(&self) -> Checksum {
        self.checksum
    }

    /// The up SQL, or `None` for a function migration.
    #[must_use]
    pub fn up_sql(&self) -> Option<&str> {
        self.up.sql()
    }

    /// The down SQL, if the migration has down SQL.
    #[must_use]
    pub fn down_sql(&self) -> Option<&str> {
        self.down.as_ref().and_then(Body::sql)
    }

    /// Whether the migration can be reverted.
    #[must_use]
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// Whether the up migration runs outside a transaction (`-- strata:no-transaction`).
    #[must_use]
    pub fn is_no_transaction(&self) -> bool {
        self.up.is_no_transaction()
    }

    /// Whether the up migration is a Rust function.
    #[must_use]
    pub fn is_function(&self) -> bool {
        matches!(self.up, Body::Function(_))
    }

    /// The migrations of other sets this one depends on.
    #[must_use]
    pub fn dependencies(&self) -> &[Dependency] {
        &self.depends_on
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}_{}", self.set, self.version, self.name)
    }
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("id", &self.to_string())
            .field("checksum", &self.checksum)
            .field("reversible", &self.is_reversible())
            .field("no_transaction", &self.is_no_transaction())
            .field("function", &self.is_function())
            .field("depends_on", &self.depends_on)
            .finish_non_exhaustive()
    }
}

/// `set@version_name`, the one way a migration is shown.
pub(crate) fn id(set: &str, version: u64, name: &str) -> String {
    format!("{set}@{version}_{name}")
}

pub(crate) fn validate_name(name: &str) -> Result<()> {
    // At most 255 bytes: the history tables store names in `VARCHAR(255)` on MySQL.
    if !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidName {
            what: "migration",
            name: name.to_owned(),
            expected: "lowercase letters, digits and `_` (at most 255)",
        }))
    }
}

/// The migrations of one crate (the host application or a plugin), with its name, its semver
/// version and the other sets it requires.
#[derive(Clone, Debug)]
pub struct Set {
    name: String,
    version: semver::Version,
    requires: Vec<(String, semver::VersionReq)>,
    migrations: Vec<Migration>,
}

impl Set {
    /// An empty set.
    ///
    /// # Errors
    ///
    /// A name that is not `[A-Za-z0-9_-]+`, or a version that is not semver.
    pub fn new(name: &str, version: &str) -> Result<Set> {
        if name.is_empty()
            || name.len() > 255
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::new(ErrorKind::InvalidName {
                what: "set",
                name: name.to_owned(),
                expected: "ASCII letters, digits, `_` and `-` (at most 255)",
            }));
        }
        let version = semver::Version::parse(version).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidSetVersion {
                    set: name.to_owned(),
                    version: version.to_owned(),
                },
                Box::new(e),
            )
        })?;
        Ok(Set {
            name: name.to_owned(),
            version,
            requires: Vec::new(),
            migrations: Vec::new(),
        })
    }

    /// Adds a migration, keeping the set ordered by version.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DuplicateVersion`] when the set already has that version.
    pub fn add(&mut self, mut migration: Migration) -> Result<()> {
        migration.set.clone_from(&self.name);
        match self
            .migrations
            .binary_search_by_key(&migration.version, |m| m.version)
        {
            Ok(i) => {
                let label = |m: &Migration| m.file.clone().unwrap_or_else(|| m.to_string());
                Err(Error::new(ErrorKind::DuplicateVersion {
                    set: self.name.clone(),
                    version: migration.version,
                    first: label(&self.migrations[i]),
                    second: label(&migration),
                }))
            }
            Err(i) => {
                self.migrations.insert(i, migration);
                Ok(())
            }
        }
    }

    /// Declares that this set needs `set` at a version matching `requirement` (such as `^2.1`).
    /// Checked when the sets are registered together.
    ///
    /// # Errors
    ///
    /// A requirement that is not a semver requirement.
    pub fn require(&mut self, set: &str, requirement: &str) -> Result<()> {
        let req = semver::VersionReq::parse(requirement).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidSetVersion {
                    set: set.to_owned(),
                    version: requirement.to_owned(),
                },
                Box::new(e),
            )
        })?;
        self.requires.push((set.to_owned(), req));
        Ok(())
    }

    /// The set's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The set's version (the embedding crate's, by default).
    #[must_use]
    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    /// The migrations, ordered by version.
    #[must_use]
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The sets this one requires.
    #[must_use]
    pub fn requirements(&self) -> &[(String, semver::VersionReq)] {
        &self.requires
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_history_columns() {
        let long = "a".repeat(256);
        assert!(Migration::sql(1, &long[..255], "SELECT 1").is_ok());
        assert_eq!(
            Migration::sql(1, &long, "SELECT 1")
                .unwrap_err()
                .to_string(),
            format!(
                "invalid migration name `{long}`: expected lowercase letters, digits and `_` (at most 255)"
            )
        );
        assert!(Set::new(&long[..255], "1.0.0").is_ok());
        assert!(matches!(
            Set::new(&long, "1.0.0").unwrap_err().kind(),
            ErrorKind::InvalidName { what: "set", .. }
        ));
    }

    #[test]
    fn checksum_ignores_line_endings_and_bom() {
        let lf = Checksum::of("CREATE TABLE a (x INT);\nSELECT 1;\n");
        assert_eq!(Checksum::of("CREATE TABLE a (x INT);\r\nSELECT 1;\r\n"), lf);
        assert_eq!(Checksum::of("CREATE TABLE a (x INT);\rSELECT 1;\r"), lf);
        assert_eq!(
            Checksum::of("\u{feff}CREATE TABLE a (x INT);\nSELECT 1;\n"),
            lf
        );
        assert_ne!(Checksum::of("CREATE TABLE a (x INT);\n\nSELECT 1;\n"), lf);
        // An empty string hashes as SHA-256 of nothing.
        assert_eq!(
            Checksum::of("").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn checksum_round_trips_through_hex() {
        let c = Checksum::of("SELECT 1");
        assert_eq!(Checksum::from_hex(&c.to_string()), Some(c));
        assert!(c.matches_hex(&c.to_string()));
        assert!(c.matches_hex(&c.to_string().to_uppercase()));
        assert!(!c.matches_hex(&Checksum::of("SELECT 2").to_string()));
        assert!(!c.matches_hex("abc"));
        assert_eq!(Checksum::from_hex("xyz"), None);
    }

    #[test]
    fn set_orders_and_rejects_duplicates() -> Result<()> {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(2, "b", "SELECT 2")?)?;
        set.add(Migration::sql(1, "a", "SELECT 1")?)?;
        let versions: Vec<u64> = set.migrations().iter().map(Migration::version).collect();
        assert_eq!(versions, [1, 2]);
        assert_eq!(set.migrations()[0].to_string(), "app@1_a");
        let err = set.add(Migration::sql(2, "c", "SELECT 3")?).unwrap_err();
        assert_eq!(
            err.to_string(),
            "duplicate version 2 in set `app`: `app@2_b` and `app@2_c`"
        );
        Ok(())
    }
}
