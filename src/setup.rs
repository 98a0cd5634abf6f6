//! Preparing the migrating connection for a run that has work to do: SQLite's foreign-key
//! enforcement (set before strata's `BEGIN IMMEDIATE`, where `PRAGMA foreign_keys` has an
//! effect, and restored after the run) and the session setup statements of
//! [`Migrations::setup_sql`](crate::Migrations::setup_sql).

use std::collections::BTreeMap;

use crate::adapter::Adapter;
use crate::error::{BoxError, Error, ErrorKind, Position, Result};
use crate::script::Flavor;
use crate::sql::{self, Syntax};

/// The backends whose setup statements [`Migrations::setup_sql`](crate::Migrations::setup_sql)
/// takes.
pub(crate) const BACKENDS: [&str; 3] = ["sqlite", "postgres", "mysql"];

/// What a run sets on its connection before its first migration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setup {
    /// Setup SQL by backend, in the order it was given.
    sql: Vec<(&'static str, String)>,
    /// Whether SQLite enforces foreign keys during the run (default: off, as `sqlite3` does).
    pub(crate) sqlite_foreign_keys: bool,
}

impl Setup {
    /// Adds setup SQL for `backend`.
    pub(crate) fn add(&mut self, backend: &str, sql: String) -> Result<()> {
        let Some(backend) = BACKENDS.iter().copied().find(|b| *b == backend) else {
            return Err(Error::new(ErrorKind::UnknownBackend {
                backend: backend.to_owned(),
            }));
        };
        // Refused now, not at the first run with work to do.
        sql::split(&sql, syntax_of(backend))
            .map_err(|e| e.into_error(format!("setup SQL for `{backend}`"), backend))?;
        self.sql.push((backend, sql));
        Ok(())
    }

    /// The setup SQL of `backend`, every piece as given.
    pub(crate) fn sql_for(&self, backend: &str) -> impl Iterator<Item = &str> {
        self.sql
            .iter()
            .filter(move |(b, _)| *b == backend)
            .map(|(_, sql)| sql.as_str())
    }

    /// The statements an offline script of `flavor` starts with, before its first transaction:
    /// SQLite's `PRAGMA foreign_keys`, then the setup SQL of the flavor's backend.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidSql`] when the setup SQL does not split (it was checked when added).
    pub(crate) fn script_preamble(&self, flavor: Flavor) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let (backend, syntax) = match flavor {
            Flavor::Sqlite => {
                out.push(format!(
                    "PRAGMA foreign_keys = {}",
                    if self.sqlite_foreign_keys {
                        "ON"
                    } else {
                        "OFF"
                    }
                ));
                ("sqlite", Syntax::SQLITE)
            }
            Flavor::Postgres => ("postgres", Syntax::POSTGRES),
            Flavor::Mysql => ("mysql", Syntax::MYSQL),
        };
        for text in self.sql_for(backend) {
            let statements = sql::split(text, syntax)
                .map_err(|e| e.into_error(format!("setup SQL for `{backend}`"), backend))?;
            out.extend(statements.iter().map(|s| s.text.to_owned()));
        }
        Ok(out)
    }

    /// Whether there is setup SQL for `backend`.
    pub(crate) fn has_sql_for(&self, backend: &str) -> bool {
        self.sql_for(backend).next().is_some()
    }

    /// Before strata's lock (outside a transaction, where `PRAGMA foreign_keys` has an
    /// effect): sets SQLite's foreign keys as the run wants them, in-process. Returns the
    /// connection's setting to restore after the run, when it was changed.
    pub(crate) fn foreign_keys(&self, adapter: &mut dyn Adapter) -> Result<Option<bool>> {
        let Some(previous) = foreign_keys(adapter) else {
            return Ok(None);
        };
        if previous == self.sqlite_foreign_keys {
            return Ok(None);
        }
        set_foreign_keys(adapter, self.sqlite_foreign_keys).map_err(|e| {
            Error::with_source(
                ErrorKind::Database {
                    operation: "set `PRAGMA foreign_keys`",
                    database: adapter.database(),
                },
                e,
            )
        })?;
        Ok(Some(previous))
    }

    /// Outside any transaction: runs the setup statements of the connection's backend.
    pub(crate) fn run_sql(&self, adapter: &mut dyn Adapter) -> Result<()> {
        let dialect = adapter.dialect();
        let texts: Vec<&str> = self.sql_for(dialect.backend).collect();
        let mut statements: Vec<sql::Statement<'_>> = Vec::new();
        for text in &texts {
            let split = sql::split(text, dialect.syntax).map_err(|e| {
                e.into_error(
                    format!("setup SQL for `{}`", dialect.backend),
                    dialect.backend,
                )
            })?;
            statements.extend(split);
        }
        let count = statements.len();
        for (i, statement) in statements.iter().enumerate() {
            log::debug!("setup statement {} of {count}", i + 1);
            if let Err(source) = adapter.execute(statement.text) {
                return Err(Error::with_source(
                    ErrorKind::Setup {
                        position: Position {
                            statement: i + 1,
                            statements: count,
                            line: statement.line,
                        },
                        database: adapter.database(),
                    },
                    source,
                ));
            }
        }
        Ok(())
    }
}

/// The splitting rules of a backend named in [`BACKENDS`].
fn syntax_of(backend: &str) -> Syntax {
    match backend {
        "postgres" => Syntax::POSTGRES,
        "mysql" => Syntax::MYSQL,
        _ => Syntax::SQLITE,
    }
}

/// SQLite's `PRAGMA foreign_keys` on this connection, or `None` when it is not SQLite.
#[cfg(feature = "rusqlite")]
pub(crate) fn foreign_keys(adapter: &mut dyn Adapter) -> Option<bool> {
    let conn = adapter
        .connection()
        .downcast_mut::<rusqlite::Connection>()?;
    conn.query_row("PRAGMA foreign_keys", [], |row| row.get::<_, i64>(0))
        .ok()
        .map(|on| on != 0)
}

/// Without the SQLite adapter there is no SQLite connection.
#[cfg(not(feature = "rusqlite"))]
pub(crate) fn foreign_keys(_adapter: &mut dyn Adapter) -> Option<bool> {
    None
}

/// Sets SQLite's `PRAGMA foreign_keys` (outside a transaction, where it has an effect).
pub(crate) fn set_foreign_keys(adapter: &mut dyn Adapter, on: bool) -> Result<(), BoxError> {
    adapter.execute(if on {
        "PRAGMA foreign_keys = ON"
    } else {
        "PRAGMA foreign_keys = OFF"
    })
}

/// SQLite's foreign-key violations (`PRAGMA foreign_key_check`), counted by child table and
/// parent table; empty when the connection is not SQLite.
#[cfg(feature = "rusqlite")]
pub(crate) fn violations(
    adapter: &mut dyn Adapter,
) -> Result<BTreeMap<(String, String), u64>, BoxError> {
    let mut out = BTreeMap::new();
    let Some(conn) = adapter.connection().downcast_mut::<rusqlite::Connection>() else {
        return Ok(out);
    };
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key: (String, String) = (row.get(0)?, row.get(2)?);
        *out.entry(key).or_insert(0) += 1;
    }
    Ok(out)
}

/// Without the SQLite adapter there is no SQLite connection.
#[cfg(not(feature = "rusqlite"))]
pub(crate) fn violations(
    _adapter: &mut dyn Adapter,
) -> Result<BTreeMap<(String, String), u64>, BoxError> {
    Ok(BTreeMap::new())
}

/// The first (child, parent) pair with more violations in `now` than in `before`, with the
/// number it gained.
pub(crate) fn new_violation(
    before: &BTreeMap<(String, String), u64>,
    now: &BTreeMap<(String, String), u64>,
) -> Option<(String, String, u64)> {
    now.iter().find_map(|((table, parent), n)| {
        let was = before
            .get(&(table.clone(), parent.clone()))
            .copied()
            .unwrap_or(0);
        (*n > was).then(|| (table.clone(), parent.clone(), n - was))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_sql_is_kept_per_backend_and_unknown_backends_are_refused() -> Result<()> {
        let mut setup = Setup::default();
        setup.add("mysql", "SET FOREIGN_KEY_CHECKS = 0;".to_owned())?;
        setup.add("sqlite", "PRAGMA recursive_triggers = ON".to_owned())?;
        setup.add("mysql", "SET NAMES utf8mb4".to_owned())?;
        assert_eq!(
            setup.sql_for("mysql").collect::<Vec<_>>(),
            ["SET FOREIGN_KEY_CHECKS = 0;", "SET NAMES utf8mb4"]
        );
        assert_eq!(
            setup.script_preamble(Flavor::Sqlite)?,
            [
                "PRAGMA foreign_keys = OFF",
                "PRAGMA recursive_triggers = ON"
            ]
        );
        assert_eq!(
            setup.script_preamble(Flavor::Mysql)?,
            ["SET FOREIGN_KEY_CHECKS = 0", "SET NAMES utf8mb4"]
        );
        assert!(setup.script_preamble(Flavor::Postgres)?.is_empty());
        assert_eq!(
            setup
                .add("mysql", "SET @x = 'open".to_owned())
                .unwrap_err()
                .to_string(),
            "setup SQL for `mysql`:1: invalid SQL in statement 1 for mysql: string opened with `'` is never closed"
        );
        let err = setup.add("postgresql", String::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown backend `postgresql` for setup sql: expected `sqlite`, `postgres` or `mysql`"
        );
        Ok(())
    }

    #[test]
    fn only_violations_a_migration_added_count() {
        let key = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        let before = BTreeMap::from([(key("posts", "users"), 2)]);
        let same = before.clone();
        assert_eq!(new_violation(&before, &same), None);
        let more = BTreeMap::from([(key("posts", "users"), 3), (key("a", "b"), 0)]);
        assert_eq!(
            new_violation(&before, &more),
            Some(("posts".to_owned(), "users".to_owned(), 1))
        );
        let other = BTreeMap::from([(key("tags", "posts"), 1)]);
        assert_eq!(
            new_violation(&BTreeMap::new(), &other),
            Some(("tags".to_owned(), "posts".to_owned(), 1))
        );
    }
}
