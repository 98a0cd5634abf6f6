//! Migration files: names, directives, and the runtime side of [`embed_migrations!`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use include_dir::Dir;

use crate::error::{Error, ErrorKind, Result};
use crate::migration::{Dependency, Migration, Set};
use crate::sql::{self, Dialect, Syntax};

/// Embeds the `*.sql` files of a directory into the binary and yields a `&'static`
/// [`Embedded`], from which [`Embedded::to_set`] makes the crate's [`Set`].
///
/// The path is relative to the embedding crate's `Cargo.toml` (its `CARGO_MANIFEST_DIR`). The
/// set is named after the embedding crate and has its version (`CARGO_PKG_NAME`,
/// `CARGO_PKG_VERSION`); `name = "..."` and `version = "..."` override them.
///
/// Files are parsed and checked once, on first use; an invalid file is an error that names it.
/// Add a [`build.rs`](crate::build) so that a new migration file triggers a rebuild.
///
/// Each file is split with the rules of every dialect the set can run on: by default
/// [`Dialect::compiled`] (the adapter features enabled, all three when none is);
/// `dialects = [Mysql]` (any of `Sqlite`, `Postgres`, `Mysql`) names them, so that a file only
/// MySQL can split (backslash escapes) is not refused for PostgreSQL's rules.
///
/// ```
/// static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("examples/quickstart/migrations");
/// static RENAMED: &strata::Embedded =
///     strata::embed_migrations!("examples/quickstart/migrations", name = "core", version = "2.1.0");
///
/// # fn main() -> Result<(), strata::Error> {
/// let set = MIGRATIONS.to_set()?;
/// assert_eq!(set.name(), "strata");
/// assert_eq!(RENAMED.to_set()?.name(), "core");
/// static FOR_MYSQL: &strata::Embedded =
///     strata::embed_migrations!("examples/quickstart/migrations", dialects = [Mysql]);
/// assert_eq!(FOR_MYSQL.dialects(), [strata::sql::Dialect::Mysql]);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! embed_migrations {
    (
        $path:literal
        $(, name = $name:literal)?
        $(, version = $version:literal)?
        $(, dialects = [$($dialect:ident),* $(,)?])?
        $(,)?
    ) => {{
        use $crate::__private::include_dir;
        static DIR: include_dir::Dir<'static> = $crate::__private::include_manifest_dir!($path);
        static EMBEDDED: $crate::Embedded = $crate::Embedded::__new(
            &DIR,
            $path,
            ::core::env!("CARGO_PKG_NAME"),
            ::core::env!("CARGO_PKG_VERSION"),
            &[$($name)?],
            &[$($version)?],
            &[$(&[$($crate::sql::Dialect::$dialect),*])?],
        );
        &EMBEDDED
    }};
}

/// A directory of migrations embedded by [`embed_migrations!`].
pub struct Embedded {
    dir: &'static Dir<'static>,
    path: &'static str,
    name: &'static str,
    version: &'static str,
    dialects: &'static [Dialect],
    /// Whether `dialects = [...]` named them (rather than [`Dialect::compiled`]).
    named: bool,
    parsed: OnceLock<Set>,
}

impl Embedded {
    #[doc(hidden)]
    #[must_use]
    pub const fn __new(
        dir: &'static Dir<'static>,
        path: &'static str,
        package: &'static str,
        package_version: &'static str,
        name: &'static [&'static str],
        version: &'static [&'static str],
        dialects: &'static [&'static [Dialect]],
    ) -> Embedded {
        Embedded {
            dir,
            path,
            name: match name {
                [name, ..] => name,
                [] => package,
            },
            version: match version {
                [version, ..] => version,
                [] => package_version,
            },
            dialects: match dialects {
                [dialects, ..] => dialects,
                [] => Dialect::compiled(),
            },
            named: !dialects.is_empty(),
            parsed: OnceLock::new(),
        }
    }

    /// The set of these migrations. Parsed and checked on the first call, cloned after.
    ///
    /// # Errors
    ///
    /// Any invalid file: a malformed `*.sql` name, a duplicate version, a `.down.sql` file
    /// without its `.up.sql`, a file that is not UTF-8 or has no statement, SQL that one of
    /// [`dialects`](Embedded::dialects) cannot split ([`ErrorKind::InvalidSql`]), an unknown,
    /// malformed or look-alike `strata:` directive. The error names the file.
    pub fn to_set(&self) -> Result<Set> {
        if let Some(set) = self.parsed.get() {
            return Ok(set.clone());
        }
        let mut files = Vec::new();
        collect(self.dir, &mut files)?;
        let set = parse_files(self.name, self.version, files, self.rules())?;
        Ok(self.parsed.get_or_init(|| set).clone())
    }

    /// Named dialects must each split every file. Without names, the boot path refuses only a
    /// file that no compiled-in dialect can split: a MySQL-only file is not refused at boot for
    /// PostgreSQL's rules because the `postgres` feature is on somewhere in the build (the run
    /// still splits every step with its adapter's rules before anything runs).
    fn rules(&self) -> Rules<'static> {
        Rules {
            dialects: self.dialects,
            every: self.named,
        }
    }

    /// The dialects whose rules the files are split with: `dialects = [...]` of
    /// [`embed_migrations!`] (each must split every file), or [`Dialect::compiled`] (at
    /// load, at least one must; [`assert_valid`](Embedded::assert_valid) asks each).
    #[must_use]
    pub fn dialects(&self) -> &'static [Dialect] {
        self.dialects
    }

    /// The directory as given to [`embed_migrations!`].
    #[must_use]
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Panics with the error's message if the embedded migrations are invalid. Call it from a
    /// `#[test]` function so that a bad file fails `cargo test`, not the next deployment:
    ///
    /// ```
    /// static MIGRATIONS: &strata::Embedded = strata::embed_migrations!("examples/quickstart/migrations");
    ///
    /// // In a `#[cfg(test)]` module, marked `#[test]`:
    /// fn migrations_are_valid() {
    ///     MIGRATIONS.assert_valid();
    /// }
    /// # migrations_are_valid();
    /// ```
    ///
    /// Stricter than [`to_set`](Embedded::to_set) when no `dialects = [...]` were named: every
    /// file must split under the rules of each database this build has an adapter for, and the
    /// message says how to name the databases the set really runs on.
    ///
    /// # Panics
    ///
    /// When [`to_set`](Embedded::to_set) fails, or (without named dialects) a compiled-in
    /// dialect cannot split a file.
    #[track_caller]
    pub fn assert_valid(&self) {
        if let Err(e) = self.to_set() {
            panic!("invalid migrations in `{}`: {e}", self.path);
        }
        if !self.named {
            let mut files = Vec::new();
            let strict = Rules {
                dialects: self.dialects,
                every: true,
            };
            let checked = collect(self.dir, &mut files)
                .and_then(|()| parse_files(self.name, self.version, files, strict));
            if let Err(e) = checked {
                let names: Vec<&str> = self.dialects.iter().map(|d| d.name()).collect();
                panic!(
                    "invalid migrations in `{}`: {e}\n(files are checked with the rules of every database this build has an adapter for: {}; name the ones this set runs on with `embed_migrations!(\"{}\", dialects = [...])`)",
                    self.path,
                    names.join(", "),
                    self.path
                );
            }
        }
    }
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(String, Cow<'static, [u8]>)>) -> Result<()> {
    for file in dir.files() {
        let path = file.path().to_string_lossy().into_owned();
        out.push((path, Cow::Borrowed(file.contents())));
    }
    for sub in dir.dirs() {
        let mut nested = Vec::new();
        collect(sub, &mut nested)?;
        if let Some((path, _)) = nested.iter().find(|(p, _)| is_sql(p)) {
            return Err(nested_file(path));
        }
    }
    Ok(())
}

fn nested_file(path: &str) -> Error {
    Error::new(ErrorKind::InvalidFileName {
        file: path.to_owned(),
        reason: "migration files must be directly in the migrations directory",
    })
}

impl Set {
    /// Reads the set `name` at `version` from the `*.sql` files of a directory at run time,
    /// with the same file format and checks as [`embed_migrations!`]: for tools that migrate a
    /// directory without embedding it. Files that are not `*.sql` are ignored. Files are split
    /// with the rules of [`Dialect::compiled`]; [`from_dir_for`](Set::from_dir_for) names the
    /// dialects.
    ///
    /// ```
    /// # fn main() -> Result<(), strata::Error> {
    /// let set = strata::Set::from_dir("app", "1.0.0", "examples/quickstart/migrations")?;
    /// assert_eq!(set.migrations()[0].name(), "create_users");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A directory that cannot be read ([`ErrorKind::Io`]), a `*.sql` file in a subdirectory,
    /// an invalid set name or version, and every error of [`Embedded::to_set`].
    pub fn from_dir(name: &str, version: &str, dir: impl AsRef<Path>) -> Result<Set> {
        let mut files = Vec::new();
        read_dir(dir.as_ref(), Path::new(""), &mut files)?;
        let rules = Rules {
            dialects: Dialect::compiled(),
            every: false,
        };
        parse_files(name, version, files, rules)
    }

    /// [`from_dir`](Set::from_dir), splitting every file with the rules of each of `dialects`
    /// (the databases the set runs on; the `strata` binary passes its URL's).
    ///
    /// ```
    /// use strata::sql::Dialect;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// // A backslash escape: MySQL's string ends after `'s'`; PostgreSQL's would not end.
    /// std::fs::write(dir.path().join("1_a.sql"), "INSERT INTO t VALUES ('it\\'s');")?;
    /// assert!(strata::Set::from_dir_for("app", "1.0.0", dir.path(), &[Dialect::Mysql]).is_ok());
    /// let err = strata::Set::from_dir_for("app", "1.0.0", dir.path(), &[Dialect::Postgres]);
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "1_a.sql:1: invalid SQL in statement 1 for postgres: string opened with `'` is never closed"
    /// );
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_dir`](Set::from_dir).
    pub fn from_dir_for(
        name: &str,
        version: &str,
        dir: impl AsRef<Path>,
        dialects: &[Dialect],
    ) -> Result<Set> {
        let mut files = Vec::new();
        read_dir(dir.as_ref(), Path::new(""), &mut files)?;
        let rules = Rules {
            dialects,
            every: true,
        };
        parse_files(name, version, files, rules)
    }
}

/// The files under `dir` (recursively; paths relative to the top directory, `/`-separated):
/// what [`collect`] gets from an embedded directory.
fn read_dir(
    top: &Path,
    relative: &Path,
    out: &mut Vec<(String, Cow<'static, [u8]>)>,
) -> Result<()> {
    let dir = if relative.as_os_str().is_empty() {
        top.to_path_buf()
    } else {
        top.join(relative)
    };
    let io = |operation, path: &Path, e| {
        Error::with_source(
            ErrorKind::Io {
                operation,
                path: path.display().to_string(),
            },
            Box::new(e),
        )
    };
    let entries = std::fs::read_dir(&dir).map_err(|e| io("read", &dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("read", &dir, e))?;
        let path = entry.path();
        let rel = relative.join(entry.file_name());
        let shown = rel.to_string_lossy().replace('\\', "/");
        if path.is_dir() {
            let mut nested = Vec::new();
            read_dir(top, &rel, &mut nested)?;
            if let Some((path, _)) = nested.iter().find(|(p, _)| is_sql(p)) {
                return Err(nested_file(path));
            }
        } else if is_sql(&shown) {
            let bytes = std::fs::read(&path).map_err(|e| io("read", &path, e))?;
            out.push((shown, Cow::Owned(bytes)));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Whole,
    Up,
    Down,
}

const FILE_NAME_FORMAT: &str =
    "expected `<version>_<name>.sql`, `<version>_<name>.up.sql` or `<version>_<name>.down.sql`";

/// Whether `file` ends in `.sql` in any case: `.sql` itself included, which a path's
/// extension would miss.
fn is_sql(file: &str) -> bool {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.len() >= 4
        && base
            .get(base.len() - 4..)
            .is_some_and(|e| e.eq_ignore_ascii_case(".sql"))
}

/// Parses `<version>_<name>[.up|.down].sql`; `None` for files that are not `*.sql`.
pub(crate) fn parse_file_name(file: &str) -> Option<Result<(u64, &str, Part)>> {
    let invalid = |reason| {
        Err(Error::new(ErrorKind::InvalidFileName {
            file: file.to_owned(),
            reason,
        }))
    };
    if !is_sql(file) {
        return None;
    }
    let base = file.rsplit('/').next().unwrap_or(file);
    let Some(stem) = base.strip_suffix(".sql") else {
        return Some(invalid("the extension must be `.sql` in lowercase"));
    };
    let (stem, part) = if let Some(s) = stem.strip_suffix(".up") {
        (s, Part::Up)
    } else if let Some(s) = stem.strip_suffix(".down") {
        (s, Part::Down)
    } else {
        (stem, Part::Whole)
    };
    let Some((version, name)) = stem.split_once('_') else {
        return Some(invalid(FILE_NAME_FORMAT));
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Some(invalid(FILE_NAME_FORMAT));
    }
    let Ok(version) = version.parse::<u64>() else {
        return Some(invalid("the version does not fit in 64 bits"));
    };
    if let Err(reason) = check_name(name) {
        return Some(invalid(reason));
    }
    Some(Ok((version, name, part)))
}

/// Checks the `<name>` of a file name: lowercase letters, digits and `_`, at most 255 of
/// them. The error is the reason, for [`ErrorKind::InvalidFileName`].
pub(crate) fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("the name must be lowercase letters, digits and `_`");
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters");
    }
    Ok(())
}

fn utf8(file: &str, bytes: Cow<'static, [u8]>) -> Result<Cow<'static, str>> {
    let invalid = |offset| {
        Error::new(ErrorKind::NotUtf8 {
            file: file.to_owned(),
            offset,
        })
    };
    match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| invalid(e.valid_up_to())),
        Cow::Owned(b) => String::from_utf8(b)
            .map(Cow::Owned)
            .map_err(|e| invalid(e.utf8_error().valid_up_to())),
    }
}

/// The up (or whole) file with its name and kind, and the down file, of one version.
type Files = (Option<(String, String, Part)>, Option<String>);

/// Turns the files of a migrations directory into a set. Files that are not `*.sql` are
/// ignored; every `*.sql` file must be a valid migration.
pub(crate) fn parse_files(
    set_name: &str,
    set_version: &str,
    files: Vec<(String, Cow<'static, [u8]>)>,
    dialects: Rules<'_>,
) -> Result<Set> {
    let mut set = Set::new(set_name, set_version)?;
    // version -> (up file, down file)
    let mut by_version: BTreeMap<u64, Files> = BTreeMap::new();
    let mut contents = BTreeMap::new();
    let mut sorted = files;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (file, bytes) in sorted {
        let Some(parsed) = parse_file_name(&file) else {
            continue;
        };
        let (version, name, part) = parsed?;
        let name = name.to_owned();
        let entry = by_version.entry(version).or_default();
        if part == Part::Down {
            if let Some(other) = &entry.1 {
                return Err(duplicate(&set, version, other, &file));
            }
            entry.1 = Some(file.clone());
        } else {
            if let Some((other, _, _)) = &entry.0 {
                return Err(duplicate(&set, version, other, &file));
            }
            entry.0 = Some((file.clone(), name, part));
        }
        contents.insert(file, bytes);
    }
    for (version, (up, down)) in by_version {
        let Some((up_file, name, part)) = up else {
            let file = down.unwrap_or_default();
            return Err(Error::new(ErrorKind::OrphanDown { file }));
        };
        if let Some(down_file) = &down {
            let down_name = parse_file_name(down_file)
                .and_then(Result::ok)
                .map(|(_, n, _)| n);
            if part != Part::Up || down_name != Some(name.as_str()) {
                return Err(Error::new(ErrorKind::OrphanDown {
                    file: down_file.clone(),
                }));
            }
        }
        let up_text = utf8(&up_file, contents.remove(&up_file).unwrap_or_default())?;
        let up_directives = directives(&up_file, &up_text, true)?;
        check_splits(&up_file, &up_text, dialects)?;
        let mut migration = Migration::from_parts(
            version,
            &name,
            up_text,
            &up_directives,
            Some(up_file.clone()),
        );
        if let Some(down_file) = down {
            let down_text = utf8(&down_file, contents.remove(&down_file).unwrap_or_default())?;
            let down_directives = directives(&down_file, &down_text, false)?;
            check_splits(&down_file, &down_text, dialects)?;
            migration.down = Some(crate::migration::Body::Sql {
                text: down_text,
                no_transaction: down_directives.no_transaction,
            });
        }
        set.add(migration)?;
    }
    Ok(set)
}

fn duplicate(set: &Set, version: u64, first: &str, second: &str) -> Error {
    Error::new(ErrorKind::DuplicateVersion {
        set: set.name().to_owned(),
        version,
        first: first.to_owned(),
        second: second.to_owned(),
    })
}

/// The directives of one migration text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Directives {
    pub(crate) no_transaction: bool,
    pub(crate) depends_on: Vec<Dependency>,
}

/// Reads the leading `-- strata:` comments of a migration. A `strata:` comment after the first
/// statement, or an unknown one, is an error.
pub(crate) fn directives(file: &str, text: &str, up: bool) -> Result<Directives> {
    let mut out = Directives::default();
    let mut leading = true;
    let mut in_block = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in lines(text).enumerate() {
        let line = raw.trim();
        // A `/* ... */` comment (a licence header, say) may come before the directives.
        let mut line = line;
        if leading && (in_block || line.starts_with("/*")) {
            let body = if in_block { line } else { &line[2..] };
            let inner = body.split("*/").next().unwrap_or(body);
            let inner = inner.trim_start_matches(|c: char| c == '*' || c.is_whitespace());
            if looks_like_directive(inner) {
                let reason = "directives are `--` line comments; a `/* */` comment is not read";
                return Err(invalid_directive(file, i + 1, inner.trim_end(), reason));
            }
            match body.find("*/") {
                Some(close) => {
                    in_block = false;
                    line = body[close + 2..].trim();
                }
                None => {
                    in_block = true;
                    continue;
                }
            }
        }
        if let Some((directive, reason)) = misintroduced(line) {
            return Err(invalid_directive(file, i + 1, directive, reason));
        }
        let comment = line.strip_prefix("--").map(str::trim);
        let Some(body) = comment else {
            if !line.is_empty() {
                leading = false;
            }
            continue;
        };
        let invalid = |reason| Err(invalid_directive(file, i + 1, body, reason));
        let Some(directive) = body.strip_prefix("strata:") else {
            if looks_like_directive(body) {
                return invalid(
                    "directives are written `-- strata:` in lowercase, with a colon and no space before it",
                );
            }
            continue;
        };
        if !leading {
            return invalid("directives must come before the first statement");
        }
        let mut words = directive.split_whitespace();
        match words.next() {
            Some("no-transaction") => {
                if words.next().is_some() {
                    return invalid("`strata:no-transaction` takes no argument");
                }
                out.no_transaction = true;
            }
            Some("depends-on") => {
                if !up {
                    return invalid("`strata:depends-on` belongs in the up migration");
                }
                let mut any = false;
                for dep in words.flat_map(|w| w.split(',')).filter(|w| !w.is_empty()) {
                    let parsed = dep
                        .split_once('@')
                        .and_then(|(set, v)| Some((set, v.parse::<u64>().ok()?)))
                        .filter(|(set, _)| !set.is_empty());
                    let Some((set, version)) = parsed else {
                        return invalid("expected `strata:depends-on <set>@<version>`");
                    };
                    out.depends_on.push(Dependency {
                        set: set.to_owned(),
                        version,
                    });
                    any = true;
                }
                if !any {
                    return invalid("expected `strata:depends-on <set>@<version>`");
                }
            }
            _ => {
                return invalid(
                    "unknown directive; expected `strata:no-transaction` or `strata:depends-on <set>@<version>`",
                );
            }
        }
    }
    Ok(out)
}

/// Whether a comment's text (after `--`, or inside `/* */`) is meant as a directive but is not
/// one as written: `strata:` in another capitalisation, or `strata` followed by a separator
/// other than `:` (`strata no-transaction`, `strata-no-transaction`, `strata :depends-on`)
/// and a directive's name. Plain prose (`-- strata migrations for users`) is not.
fn looks_like_directive(comment: &str) -> bool {
    let Some(prefix) = comment.get(..6) else {
        return false;
    };
    if !prefix.eq_ignore_ascii_case("strata") {
        return false;
    }
    let rest = &comment[6..];
    if rest.starts_with(':') {
        // `-- strata:` itself is read by the caller; `/* strata: */` and `STRATA:` are not.
        return true;
    }
    let name: String = rest
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '_' | '.' | '='))
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '_' | ' '))
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    rest.starts_with(|c: char| !c.is_ascii_alphanumeric())
        && (name.starts_with("notransaction") || name.starts_with("dependson"))
}

fn invalid_directive(file: &str, line: usize, directive: &str, reason: &'static str) -> Error {
    Error::new(ErrorKind::InvalidDirective {
        file: file.to_owned(),
        line,
        directive: directive.to_owned(),
        reason,
    })
}

/// A directive written behind `#` (a comment only on MySQL, which would ignore it) or as
/// `--strata:` with no space (MySQL sends that line as SQL): the directive text and the reason
/// it is refused.
fn misintroduced(line: &str) -> Option<(&str, &'static str)> {
    if let Some(hashed) = line.strip_prefix('#').map(str::trim)
        && (hashed.starts_with("strata:") || looks_like_directive(hashed))
    {
        return Some((
            hashed,
            "directives are written `-- strata:`; a `#` comment is not read for directives",
        ));
    }
    let glued = line.strip_prefix("--")?;
    glued.starts_with("strata:").then_some((
        glued.trim(),
        "write a space after `--` (`-- strata:`): MySQL reads `--strata:` as SQL, not as a comment",
    ))
}

/// The lines of `text`, each of `\n`, `\r\n` and a lone `\r` ending one (as for checksums).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

/// Checks that a migration text has SQL (text the splitter refuses counts as SQL: the run
/// refuses it before anything runs). For migrations built in code, whose databases are not
/// known until they run.
pub(crate) fn check_not_empty(file: &str, text: &str) -> Result<()> {
    if sql::split(text, Syntax::SQLITE).is_ok_and(|s| s.is_empty()) {
        Err(Error::new(ErrorKind::EmptyMigration {
            file: file.to_owned(),
        }))
    } else {
        Ok(())
    }
}

/// Which dialects' rules a file must split under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) dialects: &'a [Dialect],
    /// Each of them must split it; otherwise one is enough.
    pub(crate) every: bool,
}

/// Checks that `rules` split a migration file into at least one statement: with `every`, each
/// dialect; otherwise at least one (the error is the first dialect's when none can).
pub(crate) fn check_splits(file: &str, text: &str, rules: Rules<'_>) -> Result<()> {
    if rules.dialects.is_empty() {
        return check_not_empty(file, text);
    }
    let mut first = None;
    for &dialect in rules.dialects {
        match sql::split(text, dialect.syntax()) {
            Ok(statements) if statements.is_empty() => {
                return Err(Error::new(ErrorKind::EmptyMigration {
                    file: file.to_owned(),
                }));
            }
            Ok(_) if !rules.every => return Ok(()),
            Ok(_) => {}
            Err(e) if rules.every => return Err(e.into_error(file.to_owned(), dialect.name())),
            Err(e) => {
                first.get_or_insert_with(|| e.into_error(file.to_owned(), dialect.name()));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &'static [u8])]) -> Result<Set> {
        parse_for(files, Dialect::ALL)
    }

    fn parse_for(files: &[(&str, &'static [u8])], dialects: &[Dialect]) -> Result<Set> {
        parse_files(
            "app",
            "1.0.0",
            files
                .iter()
                .map(|(n, b)| ((*n).to_owned(), Cow::Borrowed(*b)))
                .collect(),
            Rules {
                dialects,
                every: true,
            },
        )
    }

    fn err(files: &[(&str, &'static [u8])]) -> String {
        parse(files).unwrap_err().to_string()
    }

    #[test]
    fn from_dir_reads_what_the_macro_embeds() -> Result<(), Box<dyn std::error::Error>> {
        let dir = "examples/quickstart/migrations";
        let embedded = crate::embed_migrations!("examples/quickstart/migrations", name = "app");
        let read = Set::from_dir("app", "0.1.0", dir)?;
        let ids = |s: &Set| -> Vec<(String, crate::Checksum)> {
            s.migrations()
                .iter()
                .map(|m| (m.to_string(), m.checksum()))
                .collect()
        };
        assert_eq!(ids(&read), ids(&embedded.to_set()?));
        assert_eq!(
            read.migrations()[0].down_sql(),
            embedded.to_set()?.migrations()[0].down_sql()
        );

        let tmp = tempfile::tempdir()?;
        std::fs::create_dir(tmp.path().join("old"))?;
        std::fs::write(tmp.path().join("old/1_a.sql"), "SELECT 1")?;
        assert_eq!(
            Set::from_dir("app", "1.0.0", tmp.path())
                .unwrap_err()
                .to_string(),
            "invalid migration file name `old/1_a.sql`: migration files must be directly in the migrations directory"
        );
        std::fs::remove_dir_all(tmp.path().join("old"))?;
        std::fs::write(tmp.path().join("1_a.sql"), "SELECT 1")?;
        std::fs::write(tmp.path().join("2_b.sql"), b"SELECT \xff")?;
        assert_eq!(
            Set::from_dir("app", "1.0.0", tmp.path())
                .unwrap_err()
                .to_string(),
            "migration file `2_b.sql` is not valid UTF-8 (invalid byte at offset 7)"
        );
        let missing = tmp.path().join("missing");
        let err = Set::from_dir("app", "1.0.0", &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to read `{}`", missing.display())
        );
        assert!(std::error::Error::source(&err).is_some());
        Ok(())
    }

    #[test]
    fn parses_plain_and_paired_files() -> Result<()> {
        let set = parse(&[
            ("2_b.up.sql", b"CREATE TABLE b (x INT);"),
            ("2_b.down.sql", b"DROP TABLE b;"),
            (
                "1_a.sql",
                b"-- strata:no-transaction\nCREATE TABLE a (x INT);",
            ),
            ("README.md", b"not a migration"),
            (".gitkeep", b""),
        ])?;
        let m = set.migrations();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].to_string(), "app@1_a");
        assert!(m[0].is_no_transaction());
        assert!(!m[0].is_reversible());
        assert_eq!(m[1].down_sql(), Some("DROP TABLE b;"));
        Ok(())
    }

    #[test]
    fn file_errors_name_the_file() {
        assert_eq!(
            err(&[("add_users.sql", b"SELECT 1")]),
            "invalid migration file name `add_users.sql`: expected `<version>_<name>.sql`, `<version>_<name>.up.sql` or `<version>_<name>.down.sql`"
        );
        assert_eq!(
            err(&[("1_Add-Users.sql", b"SELECT 1")]),
            "invalid migration file name `1_Add-Users.sql`: the name must be lowercase letters, digits and `_`"
        );
        assert_eq!(
            err(&[("99999999999999999999_a.sql", b"SELECT 1")]),
            "invalid migration file name `99999999999999999999_a.sql`: the version does not fit in 64 bits"
        );
        assert_eq!(
            err(&[("1_a.sql", b"SELECT 1"), ("1_b.sql", b"SELECT 2")]),
            "duplicate version 1 in set `app`: `1_a.sql` and `1_b.sql`"
        );
        assert_eq!(
            err(&[("1_a.sql", b"SELECT 1"), ("1_a.up.sql", b"SELECT 2")]),
            "duplicate version 1 in set `app`: `1_a.sql` and `1_a.up.sql`"
        );
        assert_eq!(
            err(&[("1_a.down.sql", b"SELECT 1")]),
            "down migration `1_a.down.sql` has no matching `.up.sql` file"
        );
        assert_eq!(
            err(&[("1_a.up.sql", b"SELECT 1"), ("1_b.down.sql", b"SELECT 1")]),
            "down migration `1_b.down.sql` has no matching `.up.sql` file"
        );
        assert_eq!(
            err(&[("1_a.sql", b"SELECT 1"), ("1_a.down.sql", b"SELECT 1")]),
            "down migration `1_a.down.sql` has no matching `.up.sql` file"
        );
        assert_eq!(
            err(&[("1_a.sql", b"SELECT '\xff'")]),
            "migration file `1_a.sql` is not valid UTF-8 (invalid byte at offset 8)"
        );
        assert_eq!(
            err(&[("1_a.SQL", b"SELECT 1")]),
            "invalid migration file name `1_a.SQL`: the extension must be `.sql` in lowercase"
        );
        assert_eq!(
            err(&[("1_a.sql", b"-- nothing here\n  ;\n")]),
            "migration file `1_a.sql` contains no SQL statement"
        );
    }

    #[test]
    fn directive_errors_name_file_and_line() {
        assert_eq!(
            err(&[("1_a.sql", b"-- intro\n-- strata:no-transactoin\nSELECT 1")]),
            "1_a.sql:2: invalid directive `strata:no-transactoin`: unknown directive; expected `strata:no-transaction` or `strata:depends-on <set>@<version>`"
        );
        assert_eq!(
            err(&[("1_a.sql", b"SELECT 1;\n-- strata:no-transaction\n")]),
            "1_a.sql:2: invalid directive `strata:no-transaction`: directives must come before the first statement"
        );
        assert_eq!(
            err(&[("1_a.sql", b"-- strata:depends-on core\nSELECT 1")]),
            "1_a.sql:1: invalid directive `strata:depends-on core`: expected `strata:depends-on <set>@<version>`"
        );
        assert_eq!(
            err(&[("1_a.sql", b"-- strata:no-transaction now\nSELECT 1")]),
            "1_a.sql:1: invalid directive `strata:no-transaction now`: `strata:no-transaction` takes no argument"
        );
        assert_eq!(
            err(&[
                ("1_a.up.sql", b"SELECT 1"),
                ("1_a.down.sql", b"-- strata:depends-on core@1\nSELECT 1")
            ]),
            "1_a.down.sql:1: invalid directive `strata:depends-on core@1`: `strata:depends-on` belongs in the up migration"
        );
    }

    #[test]
    fn directive_look_alikes_are_errors() -> Result<()> {
        let caps =
            "directives are written `-- strata:` in lowercase, with a colon and no space before it";
        for (text, line, directive) in [
            (
                &b"-- Strata:no-transaction\nVACUUM;"[..],
                1,
                "Strata:no-transaction",
            ),
            (
                b"-- intro\n-- STRATA:no-transaction\nVACUUM;",
                2,
                "STRATA:no-transaction",
            ),
            (
                b"--STRATA:depends-on core@1\nSELECT 1;",
                1,
                "STRATA:depends-on core@1",
            ),
            (
                b"-- strata no-transaction\nVACUUM;",
                1,
                "strata no-transaction",
            ),
            (
                b"-- strata-no-transaction\nVACUUM;",
                1,
                "strata-no-transaction",
            ),
            (
                b"-- strata :no-transaction\nVACUUM;",
                1,
                "strata :no-transaction",
            ),
            (
                b"-- strata_depends_on core@1\nSELECT 1;",
                1,
                "strata_depends_on core@1",
            ),
            (
                b"-- Strata: No Transaction\nVACUUM;",
                1,
                "Strata: No Transaction",
            ),
            (
                b"VACUUM;\n-- Strata:no-transaction\n",
                2,
                "Strata:no-transaction",
            ),
        ] {
            assert_eq!(
                err(&[("1_a.sql", text)]),
                format!("1_a.sql:{line}: invalid directive `{directive}`: {caps}")
            );
        }
        let block = "directives are `--` line comments; a `/* */` comment is not read";
        assert_eq!(
            err(&[("1_a.sql", b"/* strata:no-transaction */\nVACUUM;")]),
            format!("1_a.sql:1: invalid directive `strata:no-transaction`: {block}")
        );
        assert_eq!(
            err(&[(
                "1_a.sql",
                b"/*\n * Header.\n * Strata:no-transaction\n */\nVACUUM;"
            )]),
            format!("1_a.sql:3: invalid directive `Strata:no-transaction`: {block}")
        );
        // Prose that mentions strata is fine.
        let set = parse(&[(
            "1_a.sql",
            b"-- strata migrations for users\n/* written for strata */\n-- strata:no-transaction\nVACUUM;",
        )])?;
        assert!(set.migrations()[0].is_no_transaction());
        // `--strata:` (MySQL sends it as SQL) and `# strata:` (MySQL ignores it) are refused.
        assert_eq!(
            err(&[("1_a.sql", b"--strata:no-transaction\nVACUUM;")]),
            "1_a.sql:1: invalid directive `strata:no-transaction`: write a space after `--` (`-- strata:`): MySQL reads `--strata:` as SQL, not as a comment"
        );
        assert_eq!(
            err(&[(
                "1_a.sql",
                b"# strata:depends-on core@5\nCREATE TABLE x (id INT);"
            )]),
            "1_a.sql:1: invalid directive `strata:depends-on core@5`: directives are written `-- strata:`; a `#` comment is not read for directives"
        );
        Ok(())
    }

    #[test]
    fn files_named_only_sql_are_refused() {
        for name in [".sql", ".up.sql", ".down.sql", ".SQL"] {
            let message = err(&[(name, b"SELECT 1")]);
            assert!(
                message.starts_with(&format!("invalid migration file name `{name}`: ")),
                "{message}"
            );
        }
    }

    #[test]
    fn files_are_split_with_each_dialect_the_set_runs_on() -> Result<()> {
        // MySQL's backslash escape: PostgreSQL and SQLite would not see the string end.
        let mysql_only: &[(&str, &'static [u8])] =
            &[("1_a.sql", b"INSERT INTO t VALUES ('it\\'s');")];
        parse_for(mysql_only, &[Dialect::Mysql])?;
        assert_eq!(
            parse_for(mysql_only, &[Dialect::Mysql, Dialect::Sqlite])
                .unwrap_err()
                .to_string(),
            "1_a.sql:1: invalid SQL in statement 1 for sqlite: string opened with `'` is never closed"
        );
        // Nested comments are PostgreSQL's: the same file is refused there only.
        let nested: &[(&str, &'static [u8])] = &[("1_a.sql", b"/* a /* b */ SELECT 1;")];
        parse_for(nested, &[Dialect::Sqlite, Dialect::Mysql])?;
        assert_eq!(
            parse_for(nested, &[Dialect::Postgres])
                .unwrap_err()
                .to_string(),
            "1_a.sql:1: invalid SQL in statement 1 for postgres: `/*` comment is never closed"
        );
        assert_eq!(
            err(&[
                ("1_a.up.sql", b"SELECT 1;"),
                ("1_a.down.sql", b"DROP TABLE t;\n/* oops\n")
            ]),
            "1_a.down.sql:2: invalid SQL in statement 2 for sqlite: `/*` comment is never closed"
        );
        // Whitespace only, vertical tab included, is an empty file.
        assert_eq!(
            err(&[("1_a.sql", b" \x0b\t\n\x0c")]),
            "migration file `1_a.sql` contains no SQL statement"
        );
        // DELIMITER lines alone hold no statement for MySQL.
        assert_eq!(
            parse_for(
                &[("1_a.sql", b"DELIMITER $$\nDELIMITER ;\n")],
                &[Dialect::Mysql]
            )
            .unwrap_err()
            .to_string(),
            "migration file `1_a.sql` contains no SQL statement"
        );
        Ok(())
    }

    #[test]
    fn directives_may_follow_a_block_comment_header() -> Result<()> {
        let set = parse(&[(
            "1_a.sql",
            b"/*\n * Copyright header.\n */\n/* one line */\n-- strata:no-transaction\nVACUUM;\n",
        )])?;
        assert!(set.migrations()[0].is_no_transaction());
        // SQL after a comment on the same line is a statement: later directives are misplaced.
        assert_eq!(
            err(&[("1_a.sql", b"/* note */ VACUUM;\n-- strata:no-transaction\n")]),
            "1_a.sql:2: invalid directive `strata:no-transaction`: directives must come before the first statement"
        );
        Ok(())
    }

    #[test]
    fn directives_in_cr_only_files() -> Result<()> {
        let set = parse(&[("1_a.sql", b"-- intro\r-- strata:no-transaction\rVACUUM;\r")])?;
        assert!(set.migrations()[0].is_no_transaction());
        assert_eq!(
            err(&[("1_a.sql", b"SELECT 1;\r\r-- strata:no-transaction\r")]),
            "1_a.sql:3: invalid directive `strata:no-transaction`: directives must come before the first statement"
        );
        Ok(())
    }

    #[test]
    fn depends_on_is_parsed() -> Result<()> {
        let set = parse(&[(
            "1_a.sql",
            b"-- strata:depends-on core@20261101120000\n-- strata:depends-on auth@1, auth@2\nSELECT 1",
        )])?;
        let deps: Vec<String> = set.migrations()[0]
            .dependencies()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(deps, ["core@20261101120000", "auth@1", "auth@2"]);
        Ok(())
    }

    #[test]
    fn crlf_files_have_the_lf_checksum() -> Result<()> {
        let lf = parse(&[("1_a.sql", b"CREATE TABLE a (x INT);\nSELECT 1;\n")])?;
        let crlf = parse(&[(
            "1_a.sql",
            b"\xef\xbb\xbfCREATE TABLE a (x INT);\r\nSELECT 1;\r\n",
        )])?;
        assert_eq!(
            lf.migrations()[0].checksum(),
            crlf.migrations()[0].checksum()
        );
        Ok(())
    }
}
