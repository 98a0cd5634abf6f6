//! Schema snapshots: what the database reports about its tables, columns, indexes, constraints
//! and views, compared with [`Schema::diff`], and the reversibility check built on them
//! ([`check_reversible`]).
//!
//! A snapshot is taken through [`Snapshot`], implemented for every driver strata adapts.
//! Everything is kept as the database reports it (types, defaults, definitions), so two
//! snapshots compare equal when the same migrations ran on the same kind of database, and a
//! manual `ALTER TABLE` shows up as a [`Difference`]. Snapshots of different databases (SQLite
//! and PostgreSQL) are not comparable.
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use strata::schema::Snapshot;
//!
//! let mut conn = rusqlite::Connection::open_in_memory()?;
//! conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")?;
//! let expected = conn.snapshot()?;
//! let name = expected.table("users").and_then(|t| t.column("name")).ok_or("no column")?;
//! assert_eq!((name.data_type(), name.is_nullable()), ("TEXT", false));
//!
//! conn.execute_batch("ALTER TABLE users ADD COLUMN email TEXT")?;
//! let differences = expected.diff(&conn.snapshot()?);
//! assert_eq!(differences[0].to_string(), "table `users`: column `email` is extra");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```

use std::fmt;

use crate::error::Result;

mod check;
mod diff;
#[cfg(feature = "mysql")]
mod mysql;
mod objects;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

pub use check::{Reversal, Reversibility, check_reversible, check_reversible_with};
pub use diff::{Comparison, Difference};
pub use objects::{Column, Constraint, ConstraintKind, Index, Table, View};

/// A connection whose schema strata can read.
pub trait Snapshot {
    /// The schema of the connection's database as the database reports it: every table and
    /// view, the history table included (see [`Schema::without_table`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Database`](crate::ErrorKind::Database) with the driver's error as the source when the catalog cannot
    /// be read.
    fn snapshot(&mut self) -> Result<Schema>;
}

/// A snapshot of a database schema: tables and views ordered by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    tables: Vec<Table>,
    views: Vec<View>,
}

impl Schema {
    /// A schema of `tables` and `views`, ordering them, and each table's (or materialized
    /// view's) indexes and constraints, by name: what an adapter's [`Snapshot`] returns, or an expected schema
    /// built by hand. Columns keep their order.
    #[must_use]
    pub fn new(mut tables: Vec<Table>, mut views: Vec<View>) -> Schema {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        views.sort_by(|a, b| a.name.cmp(&b.name));
        for v in &mut views {
            v.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        }
        for t in &mut tables {
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.constraints
                .sort_by(|a, b| (&a.kind, a.key()).cmp(&(&b.kind, b.key())));
        }
        Schema { tables, views }
    }

    /// The tables, ordered by name.
    #[must_use]
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The views, ordered by name.
    #[must_use]
    pub fn views(&self) -> &[View] {
        &self.views
    }

    /// The table named `name` (as [`Table::name`] shows it).
    #[must_use]
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The view named `name`.
    #[must_use]
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }

    /// This snapshot without the table `name`, such as the history table when comparing with a
    /// database that strata never migrated. A `schema.table` name also matches the unqualified
    /// `table` when no table has the qualified name (PostgreSQL leaves the current schema out).
    #[must_use]
    pub fn without_table(mut self, name: &str) -> Schema {
        let exact = self.tables.iter().any(|t| t.name == name);
        let short = name.rsplit_once('.').map_or(name, |(_, t)| t);
        self.tables
            .retain(|t| t.name != name && (exact || t.name != short));
        self
    }

    /// What differs in `other` compared with this snapshot, which is what was expected:
    /// what `other` lacks is missing, what it has on top is extra, and changes read
    /// "`expected` became `found`". Empty when the snapshots are equal.
    #[must_use]
    pub fn diff(&self, other: &Schema) -> Vec<Difference> {
        diff::schemas(self, other, Comparison::default())
    }

    /// [`diff`](Schema::diff), leaving out what `comparison` says: column order, view
    /// definitions.
    #[must_use]
    pub fn diff_with(&self, other: &Schema, comparison: Comparison) -> Vec<Difference> {
        diff::schemas(self, other, comparison)
    }
}

/// One item per line: ``table `users` ``, then its columns, indexes and constraints indented.
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            write!(f, "table `{}`", t.name)?;
            if !t.options.is_empty() {
                write!(f, ": {}", t.options.join(", "))?;
            }
            writeln!(f)?;
            for c in &t.columns {
                write!(f, "  column `{}` {}", c.name, c.data_type)?;
                if let Some(collation) = &c.collation {
                    write!(f, " collate {collation}")?;
                }
                f.write_str(if c.nullable { " null" } else { " not null" })?;
                if let Some(d) = &c.default {
                    write!(f, " default {d}")?;
                }
                if let Some(g) = &c.generated {
                    write!(f, " {g}")?;
                }
                writeln!(f)?;
            }
            for i in &t.indexes {
                writeln!(f, "  index `{}`: {}", i.name, i.definition)?;
            }
            for c in &t.constraints {
                match &c.name {
                    Some(name) => writeln!(f, "  constraint `{name}`: {}", c.definition)?,
                    None => writeln!(f, "  constraint: {}", c.definition)?,
                }
            }
        }
        for v in &self.views {
            let kind = if v.materialized {
                "materialized view"
            } else {
                "view"
            };
            writeln!(f, "{kind} `{}`: {}", v.name, v.definition)?;
            for i in &v.indexes {
                writeln!(f, "  index `{}`: {}", i.name, i.definition)?;
            }
        }
        Ok(())
    }
}

/// The error of a failed catalog read.
fn failed(database: crate::Database, source: crate::BoxError) -> crate::Error {
    crate::Error::with_source(
        crate::ErrorKind::Database {
            operation: "read the schema",
            database,
        },
        source,
    )
}

/// The length of the string or quoted identifier that opens `text` with `quote`, its closing
/// quote included (all of `text` when it is not closed): a doubled quote is inside it, and so
/// is a character after a backslash when `backslash` escapes (MySQL strings).
#[cfg(any(feature = "rusqlite", feature = "mysql"))]
fn quoted_len(text: &str, quote: char, backslash: bool) -> usize {
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == '\\' && backslash {
            chars.next();
        } else if c == quote {
            if text[i + 1..].starts_with(quote) {
                chars.next();
            } else {
                return i + 1;
            }
        }
    }
    text.len()
}

/// A foreign key and its definition, `FOREIGN KEY (a) REFERENCES t (b) ON DELETE CASCADE`
/// (actions as reported, `NO ACTION` left out).
#[cfg(any(feature = "rusqlite", feature = "mysql"))]
fn foreign_key(
    name: Option<String>,
    columns: Vec<String>,
    table: String,
    referenced: Vec<String>,
    [on_update, on_delete]: [&str; 2],
) -> Constraint {
    let mut definition = format!("FOREIGN KEY ({}) REFERENCES {table}", columns.join(", "));
    if !referenced.is_empty() {
        definition = format!("{definition} ({})", referenced.join(", "));
    }
    for (on, action) in [("UPDATE", on_update), ("DELETE", on_delete)] {
        if action != "NO ACTION" {
            definition = format!("{definition} ON {on} {action}");
        }
    }
    Constraint {
        name,
        kind: ConstraintKind::ForeignKey {
            table,
            columns: referenced,
        },
        columns,
        definition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Table {
        Table::new(name, vec![], vec![], vec![])
    }

    #[test]
    fn equal_schemas_have_no_difference() {
        let s = Schema::new(
            vec![diff::tests::users(
                vec![diff::tests::column("id", "integer", false, None)],
                vec![],
            )],
            vec![],
        );
        assert!(s.diff(&s.clone()).is_empty());
        assert_eq!(
            s.to_string(),
            "table `users`\n  column `id` integer not null\n  constraint `users_pkey`: PRIMARY KEY (id)\n"
        );
    }

    #[test]
    fn materialized_views_show_their_kind_and_indexes() {
        let index = Index::new(
            "totals_id",
            vec!["id".to_owned()],
            true,
            "CREATE UNIQUE INDEX ...",
        );
        let s = Schema::new(
            vec![],
            vec![
                View::materialized("totals", "SELECT 1", vec![index]),
                View::new("big", "SELECT 2"),
            ],
        );
        assert_eq!(
            s.to_string(),
            "view `big`: SELECT 2\nmaterialized view `totals`: SELECT 1\n  \
             index `totals_id`: CREATE UNIQUE INDEX ...\n"
        );
    }

    #[test]
    fn without_table_drops_qualified_or_current_schema_names() {
        let s = Schema::new(
            vec![table("ops.strata_migrations"), table("strata_migrations")],
            vec![],
        );
        let names = |s: &Schema| {
            s.tables()
                .iter()
                .map(|t| t.name().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&s.clone().without_table("ops.strata_migrations")),
            ["strata_migrations"]
        );
        assert_eq!(
            names(&s.clone().without_table("public.strata_migrations")),
            ["ops.strata_migrations"]
        );
        assert_eq!(
            names(&s.without_table("strata_migrations")),
            ["ops.strata_migrations"]
        );
    }
}
