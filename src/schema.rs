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

use crate::error::{BoxError, Database, Error, ErrorKind, Result};

mod check;
mod diff;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rusqlite")]
mod sqlite;

pub use check::{Reversal, Reversibility, check_reversible};
pub use diff::Difference;

/// A connection whose schema strata can read.
pub trait Snapshot {
    /// The schema of the connection's database as the database reports it: every table and
    /// view, the history table included (see [`Schema::without_table`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Database`] with the driver's error as the source when the catalog cannot
    /// be read.
    fn snapshot(&mut self) -> Result<Schema>;
}

/// A snapshot of a database schema: tables and views ordered by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    tables: Vec<Table>,
    views: Vec<View>,
}

/// A table: its columns in ordinal order, its indexes and its constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    name: String,
    columns: Vec<Column>,
    indexes: Vec<Index>,
    constraints: Vec<Constraint>,
}

/// A column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    data_type: String,
    nullable: bool,
    default: Option<String>,
    generated: Option<String>,
}

/// An index that does not implement a primary key or unique constraint (those are
/// [`Constraint`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    name: String,
    columns: Vec<String>,
    unique: bool,
    definition: String,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    name: Option<String>,
    kind: ConstraintKind,
    columns: Vec<String>,
    definition: String,
}

/// What a [`Constraint`] is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// `PRIMARY KEY`.
    PrimaryKey,
    /// `UNIQUE`.
    Unique,
    /// `FOREIGN KEY ... REFERENCES`.
    ForeignKey {
        /// The referenced table (schema-qualified when it is in another schema).
        table: String,
        /// The referenced columns; empty when the database leaves them implicit (SQLite's
        /// `REFERENCES t` means `t`'s primary key).
        columns: Vec<String>,
    },
    /// `CHECK`.
    Check,
    /// PostgreSQL's `EXCLUDE`.
    Exclusion,
}

/// A view (or a PostgreSQL materialized view) and its definition as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    name: String,
    definition: String,
}

impl Schema {
    /// Builds a snapshot, ordering tables, views, indexes and constraints by name.
    pub(crate) fn new(mut tables: Vec<Table>, mut views: Vec<View>) -> Schema {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        views.sort_by(|a, b| a.name.cmp(&b.name));
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
        diff::schemas(self, other)
    }
}

impl Table {
    /// The name; on PostgreSQL `schema.table` unless the table is in the current schema.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The columns in ordinal order.
    #[must_use]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column named `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The indexes, ordered by name.
    #[must_use]
    pub fn indexes(&self) -> &[Index] {
        &self.indexes
    }

    /// The index named `name`.
    #[must_use]
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// The constraints: primary key, unique, foreign keys, checks, each ordered by name (or
    /// definition, for unnamed ones).
    #[must_use]
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// The primary key, if the table has one.
    #[must_use]
    pub fn primary_key(&self) -> Option<&Constraint> {
        self.constraints
            .iter()
            .find(|c| c.kind == ConstraintKind::PrimaryKey)
    }
}

impl Column {
    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type as the database reports it: `INTEGER` as declared on SQLite, `character
    /// varying(255)` on PostgreSQL, `varchar(255)` on MySQL.
    #[must_use]
    pub fn data_type(&self) -> &str {
        &self.data_type
    }

    /// Whether the column accepts `NULL`, as the database reports it.
    #[must_use]
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// The default expression as the database reports it, or `None`.
    #[must_use]
    pub fn default(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// How the database generates the value when not from a default: PostgreSQL identity and
    /// generated columns, MySQL's `EXTRA` (`auto_increment`, `on update ...`), SQLite's
    /// generated columns (`VIRTUAL` or `STORED`).
    #[must_use]
    pub fn generated(&self) -> Option<&str> {
        self.generated.as_deref()
    }
}

impl Index {
    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The indexed columns or expressions, in index order.
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Whether the index is unique.
    #[must_use]
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// The definition: the `CREATE INDEX` statement on SQLite and PostgreSQL, one built from
    /// `information_schema.STATISTICS` on MySQL.
    #[must_use]
    pub fn definition(&self) -> &str {
        &self.definition
    }
}

impl Constraint {
    /// The name, when the database has one (SQLite's are mostly unnamed).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What the constraint is.
    #[must_use]
    pub fn kind(&self) -> &ConstraintKind {
        &self.kind
    }

    /// The constrained columns (empty for checks).
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The definition as the database reports it (`pg_get_constraintdef` on PostgreSQL), or
    /// as strata rebuilds it from the catalog (`CHECK` as written on SQLite).
    #[must_use]
    pub fn definition(&self) -> &str {
        &self.definition
    }

    /// What identifies the constraint in a diff: its name, or its definition when unnamed.
    fn key(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.definition)
    }
}

impl View {
    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The definition as the database reports it.
    #[must_use]
    pub fn definition(&self) -> &str {
        &self.definition
    }
}

/// One item per line: ``table `users` ``, then its columns, indexes and constraints indented.
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            writeln!(f, "table `{}`", t.name)?;
            for c in &t.columns {
                write!(f, "  column `{}` {}", c.name, c.data_type)?;
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
            writeln!(f, "view `{}`: {}", v.name, v.definition)?;
        }
        Ok(())
    }
}

/// The error of a failed catalog read.
fn failed(database: Database, source: BoxError) -> Error {
    Error::with_source(
        ErrorKind::Database {
            operation: "read the schema",
            database,
        },
        source,
    )
}

/// A foreign key and its definition, `FOREIGN KEY (a) REFERENCES t (b) ON DELETE CASCADE`
/// (actions as reported, `NO ACTION` left out).
#[cfg_attr(not(any(feature = "rusqlite", feature = "mysql")), allow(dead_code))]
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

/// `text` with every run of whitespace outside quotes turned into one space, trimmed: SQL as
/// SQLite stores it (as written) compares equal however it was indented.
#[cfg_attr(not(feature = "rusqlite"), allow(dead_code))]
fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote = None;
    let mut space = false;
    for c in text.trim().chars() {
        match quote {
            Some(q) => quote = (c != q).then_some(q),
            None if c.is_whitespace() => {
                space = true;
                continue;
            }
            None => {
                quote = match c {
                    '\'' | '"' | '`' => Some(c),
                    '[' => Some(']'),
                    _ => None,
                }
            }
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}
