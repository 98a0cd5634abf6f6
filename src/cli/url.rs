//! Database URLs for the `strata` binary, and keeping their passwords out of every output.

use std::borrow::Cow;

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
///     DatabaseUrl::parse("mariadb://root@127.0.0.1/app")?,
///     DatabaseUrl::Mysql("mysql://root@127.0.0.1/app".into())
/// );
/// let err = DatabaseUrl::parse("redis://:hunter2@cache/0").unwrap_err();
/// assert!(err.to_string().starts_with("invalid database url `redis://:***@cache/0`"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:<path>`, `sqlite://<path>`, `sqlite::memory:`, or a plain path: the file (or
    /// `:memory:`).
    Sqlite(String),
    /// `postgres://...` or `postgresql://...`, as given.
    Postgres(String),
    /// `mysql://...`, or `mariadb://...` with the scheme written `mysql`.
    Mysql(String),
}

impl DatabaseUrl {
    /// Reads a URL. A string without a `scheme:` prefix is a SQLite file path.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidUrl`] for another scheme or an empty SQLite path; the URL in the
    /// message has its password redacted.
    pub fn parse(url: &str) -> Result<DatabaseUrl> {
        let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
            s.len() > 1
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        });
        let invalid = |reason: String| {
            Err(Error::new(ErrorKind::InvalidUrl {
                url: redact(url),
                reason,
            }))
        };
        let Some(scheme) = scheme else {
            return Ok(DatabaseUrl::Sqlite(url.to_owned()));
        };
        let rest = &url[scheme.len() + 1..];
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return invalid("expected `sqlite:<path>`".to_owned());
                }
                Ok(DatabaseUrl::Sqlite(path.to_owned()))
            }
            "postgres" | "postgresql" => Ok(DatabaseUrl::Postgres(url.to_owned())),
            "mysql" => Ok(DatabaseUrl::Mysql(url.to_owned())),
            "mariadb" => Ok(DatabaseUrl::Mysql(format!("mysql:{rest}"))),
            other => invalid(format!(
                "unsupported scheme `{other}`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://` or `mariadb://`"
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

    /// `text` with every occurrence of this URL's password (as written, and percent-decoded)
    /// replaced by `***`: for messages that come from a driver and might quote it.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let url = match self {
            DatabaseUrl::Sqlite(_) => return text.to_owned(),
            DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => u,
        };
        let mut out = text.to_owned();
        for secret in passwords(url) {
            for form in [secret.to_owned(), percent_decode(secret).into_owned()] {
                if !form.is_empty() {
                    out = out.replace(&form, "***");
                }
            }
        }
        out
    }
}

/// The password spans of `url`: the one in `user:password@` and `password=` parameters.
fn passwords(url: &str) -> Vec<&str> {
    let mut found = Vec::new();
    if let Some((user, pass)) = userinfo(url).and_then(|u| u.split_once(':')) {
        let _ = user;
        found.push(pass);
    }
    let mut rest = url;
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let value = &rest[i + "password=".len()..];
        let end = value.find(['&', ' ', ';']).unwrap_or(value.len());
        found.push(&value[..end]);
        rest = &value[end..];
    }
    found
}

/// The `user:password` part of `scheme://user:password@host/...`.
fn userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
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

/// `url` with its password replaced by `***` (in `user:password@` and in `password=`
/// parameters), to show where a database is without giving its password away.
///
/// ```
/// assert_eq!(
///     strata::cli::redact("postgres://app:s3cr%2Ft@db:5432/app?sslmode=require"),
///     "postgres://app:***@db:5432/app?sslmode=require"
/// );
/// ```
#[must_use]
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((user, pass)) = userinfo(url).and_then(|u| u.split_once(':'))
        && let Some(start) = url.find("://")
    {
        let start = start + 3 + user.len() + 1;
        out.replace_range(start..start + pass.len(), "***");
    }
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..]
            .find(['&', ' ', ';'])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
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
            "invalid database url `http://user:***@example.com`: unsupported scheme `http`: expected `sqlite:`, `postgres://`, `postgresql://`, `mysql://` or `mariadb://`"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:").unwrap_err().to_string(),
            "invalid database url `sqlite:`: expected `sqlite:<path>`"
        );
        Ok(())
    }
}
