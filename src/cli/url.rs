//! Database URLs for the `strata` binary, and keeping their passwords out of every output.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};

/// A database URL, by backend.
///
/// ```
/// use strata::cli::DatabaseUrl;
///
/// # fn main() -> Result<(), strata::Error> {
/// assert_eq!(DatabaseUrl::parse("sqlite:app.db")?, DatabaseUrl::Sqlite("app.db".into()));
/// assert_eq!(DatabaseUrl::parse("app.db")?, DatabaseUrl::Sqlite("app.db".into()));
/// assert_eq!(
///     DatabaseUrl::parse("sqlite:app.db?mode=ro")?,
///     DatabaseUrl::Sqlite("file:app.db?mode=ro".into())
/// );
/// assert_eq!(
///     DatabaseUrl::parse("mariadb://root@127.0.0.1/app")?,
///     DatabaseUrl::Mysql("mysql://root@127.0.0.1/app".into())
/// );
/// assert_eq!(
///     DatabaseUrl::parse("host=db user=app dbname=app")?,
///     DatabaseUrl::Postgres("host=db user=app dbname=app".into())
/// );
/// let err = DatabaseUrl::parse("redis://:hunter2@cache/0").unwrap_err();
/// assert!(err.to_string().starts_with("invalid database url `redis://:***@cache/0`"));
/// // Debug output redacts too.
/// let url = DatabaseUrl::parse("postgres://app:hunter2@db/app")?;
/// assert_eq!(format!("{url:?}"), r#"Postgres("postgres://app:***@db/app")"#);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:<path>`, `sqlite://<path>`, `sqlite::memory:`, or a plain path: the file (or
    /// `:memory:`). A `sqlite:` URL with a query (`sqlite:app.db?mode=ro`) is the SQLite URI
    /// `file:app.db?mode=ro`, for a connection opened with `SQLITE_OPEN_URI` (rusqlite's
    /// default).
    Sqlite(String),
    /// `postgres://...` or `postgresql://...` (the scheme in lowercase), or a libpq key/value
    /// string (`host=db user=app dbname=app`), as `postgres::Config` reads both.
    Postgres(String),
    /// `mysql://...`, or `mariadb://...`, with the scheme written `mysql`.
    Mysql(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (variant, url) = match self {
            DatabaseUrl::Sqlite(u) => ("Sqlite", u),
            DatabaseUrl::Postgres(u) => ("Postgres", u),
            DatabaseUrl::Mysql(u) => ("Mysql", u),
        };
        f.debug_tuple(variant).field(&redact(url)).finish()
    }
}

impl DatabaseUrl {
    /// Reads a URL. A string without a `scheme:` prefix is a libpq key/value string when it
    /// starts with `key=`, and a SQLite file path otherwise.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidUrl`] for an empty URL, another scheme, an empty SQLite path or a
    /// SQLite URL with a fragment (`#...`); the URL in the message has its password redacted.
    pub fn parse(url: &str) -> Result<DatabaseUrl> {
        let invalid = |reason: &str| {
            Err(Error::new(ErrorKind::InvalidUrl {
                url: redact(url).replace('\0', "\\0"),
                reason: reason.to_owned(),
            }))
        };
        if url.trim().is_empty() {
            return invalid("the url is empty");
        }
        if url.contains('\0') {
            return invalid("a url cannot hold a NUL byte");
        }
        let nul = "`%00` is a NUL byte, which no user, password, host, database name or parameter can hold";
        let Some(scheme) = scheme(url) else {
            if is_key_value(url) {
                if has_encoded_nul(url) {
                    return invalid(nul);
                }
                return Ok(DatabaseUrl::Postgres(url.to_owned()));
            }
            return Ok(DatabaseUrl::Sqlite(url.to_owned()));
        };
        let rest = &url[scheme.len() + 1..];
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.contains('#') {
                    return invalid(
                        "a sqlite url has no fragment (`#`); for a file name with `#`, give the plain path",
                    );
                }
                match path.split_once('?') {
                    None if !path.is_empty() => Ok(DatabaseUrl::Sqlite(path.to_owned())),
                    Some((_, _)) if has_encoded_nul(path) => invalid(nul),
                    Some((file, query)) if !file.is_empty() => {
                        let file = file.strip_prefix("file:").unwrap_or(file);
                        Ok(DatabaseUrl::Sqlite(format!("file:{file}?{query}")))
                    }
                    _ => invalid("expected `sqlite:<path>` or `sqlite:<path>?<parameters>`"),
                }
            }
            "postgres" | "postgresql" | "mysql" | "mariadb" if has_encoded_nul(rest) => {
                invalid(nul)
            }
            s @ ("postgres" | "postgresql") => Ok(DatabaseUrl::Postgres(format!("{s}:{rest}"))),
            "mysql" | "mariadb" => Ok(DatabaseUrl::Mysql(format!("mysql:{rest}"))),
            other => invalid(&format!(
                "unsupported scheme `{other}`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or a `key=value` connection string"
            )),
        }
    }

    /// The cargo feature that enables this URL's driver: `rusqlite`, `postgres`, `mysql`.
    #[must_use]
    pub fn feature(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "rusqlite",
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Mysql(_) => "mysql",
        }
    }

    /// `text` with every occurrence of this URL's password (as written, unquoted and
    /// percent-decoded) replaced by `***`: for messages that come from a driver and might
    /// quote it. Apply it to the driver's text only: it replaces the password wherever it
    /// occurs, inside other words too.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let url = match self {
            DatabaseUrl::Sqlite(_) => return text.to_owned(),
            DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => u,
        };
        let mut out = text.to_owned();
        for span in secrets(url) {
            let secret = unquote(&url[span]);
            for form in [secret.clone(), percent_decode(&secret).into_owned()] {
                if !form.is_empty() {
                    out = out.replace(&form, "***");
                }
            }
        }
        out
    }
}

/// Whether `text` holds `%00`, a percent-encoded NUL byte.
fn has_encoded_nul(text: &str) -> bool {
    text.contains("%00")
}

/// The `scheme` of `scheme:rest`: two or more of letters, digits, `+`, `.`, `-`, starting with
/// a letter (so that `C:\data\app.db` is a path).
fn scheme(url: &str) -> Option<&str> {
    url.split_once(':').map(|(s, _)| s).filter(|s| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    })
}

/// Whether `text` starts like a libpq key/value string: `key=` or `key =`.
fn is_key_value(text: &str) -> bool {
    let text = text.trim_start();
    let key = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    key > 0 && text[key..].trim_start().starts_with('=')
}

/// The byte ranges of the passwords in `text`: the `password` of each
/// `scheme://user:password@` and the value of each `password=` (any case, spaces around `=`
/// allowed; a single-quoted value is the range inside the quotes). Redacting a redacted text
/// again changes nothing: `***` is replaced by itself.
fn secrets(text: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://").map(|i| from + i) {
        from = i + 3;
        let scheme_start = text[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
            .map_or(0, |j| j + 1);
        if !text[scheme_start..i].starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let rest = &text[from..];
        let token = &rest[..rest
            .find(|c: char| c.is_whitespace() || c == '`' || c == '"')
            .unwrap_or(rest.len())];
        if let Some((user, pass)) = userinfo(token).and_then(|u| u.split_once(':')) {
            let start = from + user.len() + 1;
            found.push(start..start + pass.len());
        }
    }
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password").map(|i| from + i) {
        from = i + "password".len();
        let after = &text[from..];
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let trimmed = value.trim_start();
        let mut start = text.len() - trimmed.len();
        let len = match trimmed.strip_prefix('\'') {
            Some(quoted) => {
                start += 1;
                quoted_len(quoted)
            }
            None => value_len(trimmed),
        };
        found.push(start..start + len);
        from = start + len;
    }
    found
}

/// The length of a libpq single-quoted value after its opening quote, up to the closing one:
/// `\` escapes the next character.
fn quoted_len(quoted: &str) -> usize {
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' => return i,
            _ => {}
        }
    }
    quoted.len()
}

/// The length of an unquoted `password=` value: up to white space, `&` or `;`, or a closing
/// quote of the text around it (a quote followed by white space, `:`, `,`, `)` or the end).
fn value_len(value: &str) -> usize {
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let closes = matches!(c, '`' | '\'' | '"')
            && chars
                .peek()
                .is_none_or(|&(_, n)| n.is_whitespace() || matches!(n, ':' | ',' | ')'));
        if c.is_whitespace() || c == '&' || c == ';' || closes {
            return i;
        }
    }
    value.len()
}

/// The `user:password` part of `user:password@host/...` (what follows `scheme://`).
fn userinfo(rest: &str) -> Option<&str> {
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => Some(&authority[..at]),
        // A password with an unencoded `/`: the last `@` of the URL ends it.
        None => rest
            .rfind('@')
            .map(|at| &rest[..at])
            .filter(|u| u.contains(':')),
    }
}

/// A libpq single-quoted value's text: `\x` is `x`. Other values as they are.
fn unquote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `text` with every password replaced by `***`: in each `scheme://user:password@` and in
/// `password=` parameters (URL queries and libpq key/value strings, quoted or not). `text` may
/// be a URL, a connection string, or any message that quotes them, such as a command-line
/// parser's error.
///
/// ```
/// assert_eq!(
///     strata::cli::redact("postgres://app:s3cr%2Ft@db:5432/app?sslmode=require"),
///     "postgres://app:***@db:5432/app?sslmode=require"
/// );
/// assert_eq!(
///     strata::cli::redact("error: unexpected argument 'mysql://root:pw@db/app' found"),
///     "error: unexpected argument 'mysql://root:***@db/app' found"
/// );
/// assert_eq!(
///     strata::cli::redact("host=db password = 'a b' dbname=app"),
///     "host=db password = '***' dbname=app"
/// );
/// ```
#[must_use]
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut spans = secrets(text);
    spans.sort_by_key(|s| s.start);
    for span in spans {
        if span.start < at {
            continue;
        }
        out.push_str(&text[at..span.start]);
        out.push_str("***");
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        for (url, shown) in [
            ("postgres://app:hunter2@db/app", "postgres://app:***@db/app"),
            ("postgres://app@db/app", "postgres://app@db/app"),
            (
                "mysql://root:@127.0.0.1:3306/test",
                "mysql://root:***@127.0.0.1:3306/test",
            ),
            ("mysql://u:p/w@d@host/db", "mysql://u:***@host/db"),
            (
                "postgres://db/app?user=app&password=hunter2&sslmode=disable",
                "postgres://db/app?user=app&password=***&sslmode=disable",
            ),
            (
                "host=db user=app PASSWORD=hunter2 dbname=app",
                "host=db user=app PASSWORD=*** dbname=app",
            ),
            ("sqlite:app.db", "sqlite:app.db"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn scrub_removes_the_password_as_written_and_decoded() -> Result<()> {
        let url = DatabaseUrl::parse("postgres://app:p%40ss%2Fw0rd@db/app")?;
        assert_eq!(
            url.scrub("auth failed for p@ss/w0rd (p%40ss%2Fw0rd)"),
            "auth failed for *** (***)"
        );
        let url = DatabaseUrl::parse("postgresql://db/app?password=hunter2")?;
        assert_eq!(url.scrub("bad hunter2"), "bad ***");
        Ok(())
    }

    #[test]
    fn schemes_choose_the_backend() -> Result<()> {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/app.db")?,
            DatabaseUrl::Sqlite("data/app.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:")?,
            DatabaseUrl::Sqlite(":memory:".into())
        );
        assert_eq!(
            DatabaseUrl::parse("C:\\data\\app.db")?,
            DatabaseUrl::Sqlite("C:\\data\\app.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://db/app")?.feature(),
            "postgres"
        );
        assert_eq!(
            DatabaseUrl::parse("http://user:hunter2@example.com")
                .unwrap_err()
                .to_string(),
            "invalid database url `http://user:***@example.com`: unsupported scheme `http`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or a `key=value` connection string"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:").unwrap_err().to_string(),
            "invalid database url `sqlite:`: expected `sqlite:<path>` or `sqlite:<path>?<parameters>`"
        );
        assert_eq!(
            DatabaseUrl::parse("POSTGRES://app@db/app")?,
            DatabaseUrl::Postgres("postgres://app@db/app".into())
        );
        assert_eq!(
            DatabaseUrl::parse("MariaDB://root@db/app")?,
            DatabaseUrl::Mysql("mysql://root@db/app".into())
        );
        Ok(())
    }

    #[test]
    fn nul_bytes_are_refused_and_never_printed_raw() {
        let nul = "`%00` is a NUL byte, which no user, password, host, database name or parameter can hold";
        for (url, shown) in [
            (
                "mysql://root@127.0.0.1:3306/te%00st",
                "mysql://root@127.0.0.1:3306/te%00st",
            ),
            ("mariadb://root:pw%00x@db/app", "mariadb://root:***@db/app"),
            ("postgres://app@db/app%00", "postgres://app@db/app%00"),
            ("host=db dbname=a%00b", "host=db dbname=a%00b"),
            ("sqlite:app.db?vfs=x%00", "sqlite:app.db?vfs=x%00"),
        ] {
            let err = DatabaseUrl::parse(url).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid database url `{shown}`: {nul}"),
                "{url}"
            );
        }
        let err = DatabaseUrl::parse("mysql://root@db/te\0st").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid database url `mysql://root@db/te\\0st`: a url cannot hold a NUL byte"
        );
        // A plain path is a file name as it is.
        assert_eq!(
            DatabaseUrl::parse("data/%00.db").ok(),
            Some(DatabaseUrl::Sqlite("data/%00.db".into()))
        );
    }

    #[test]
    fn an_empty_url_is_refused() {
        for url in ["", "  "] {
            assert_eq!(
                DatabaseUrl::parse(url).unwrap_err().to_string(),
                format!("invalid database url `{url}`: the url is empty")
            );
        }
    }

    #[test]
    fn key_value_strings_are_postgres_and_their_password_is_hidden() -> Result<()> {
        for text in [
            "host=127.0.0.1 user=postgres password=X dbname=db",
            "  host = db password = 'a b' ",
        ] {
            assert_eq!(
                DatabaseUrl::parse(text)?,
                DatabaseUrl::Postgres(text.into())
            );
        }
        assert_eq!(
            redact("host=127.0.0.1 user=postgres password=X dbname=db"),
            "host=127.0.0.1 user=postgres password=*** dbname=db"
        );
        assert_eq!(
            redact(r"host=db password = 'it\'s a b' dbname=x"),
            "host=db password = '***' dbname=x"
        );
        let url = DatabaseUrl::parse(r"host=db password='it\'s a b'")?;
        assert_eq!(url.scrub("it's a b; bad"), "***; bad");
        // A path with `=` after another character is still a path.
        assert_eq!(
            DatabaseUrl::parse("data/a=b.db")?,
            DatabaseUrl::Sqlite("data/a=b.db".into())
        );
        Ok(())
    }

    #[test]
    fn sqlite_urls_with_parameters_are_uris_and_fragments_are_refused() -> Result<()> {
        for (url, file) in [
            ("sqlite:b.db?mode=ro", "file:b.db?mode=ro"),
            (
                "sqlite:///abs/b.db?mode=rwc&cache=shared",
                "file:/abs/b.db?mode=rwc&cache=shared",
            ),
            // A plain path is a file name, whatever it holds.
            ("a#b?.db", "a#b?.db"),
        ] {
            assert_eq!(DatabaseUrl::parse(url)?, DatabaseUrl::Sqlite(file.into()));
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite:a.db#frag")
                .unwrap_err()
                .to_string(),
            "invalid database url `sqlite:a.db#frag`: a sqlite url has no fragment (`#`); for a file name with `#`, give the plain path"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:?mode=ro")
                .unwrap_err()
                .to_string(),
            "invalid database url `sqlite:?mode=ro`: expected `sqlite:<path>` or `sqlite:<path>?<parameters>`"
        );
        Ok(())
    }

    #[test]
    fn a_password_starting_with_stars_is_redacted_too() {
        assert_eq!(
            redact("host=h password=***abc user=u password='***d'"),
            "host=h password=*** user=u password='***'"
        );
    }

    #[test]
    fn redact_finds_urls_in_any_text_and_is_idempotent() -> Result<()> {
        for (text, shown) in [
            (
                "error: unexpected argument 'postgres://u:Secret9@h/db' found",
                "error: unexpected argument 'postgres://u:***@h/db' found",
            ),
            (
                "invalid target `postgres://u:Secret9@h/db`: expected a target",
                "invalid target `postgres://u:***@h/db`: expected a target",
            ),
            (
                "invalid database url `host=h password=***`: reason",
                "invalid database url `host=h password=***`: reason",
            ),
            (
                "two: mysql://a:x@h and (postgresql://b:y@h/d)",
                "two: mysql://a:***@h and (postgresql://b:***@h/d)",
            ),
            (
                "invalid target `password=abc`: expected a target",
                "invalid target `password=***`: expected a target",
            ),
            (
                "error: unexpected argument 'password=a\'b' found",
                "error: unexpected argument 'password=***' found",
            ),
            (
                "password authentication failed for user `app`",
                "password authentication failed for user `app`",
            ),
        ] {
            assert_eq!(redact(text), shown, "{text}");
            assert_eq!(redact(&redact(text)), shown, "twice: {text}");
        }
        let url = DatabaseUrl::parse("postgres://app:hunter2@db/app?password=other")?;
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("other"),
            "{debug}"
        );
        Ok(())
    }
}
