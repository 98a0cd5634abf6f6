//! What a schema holds: tables with their columns, indexes and constraints, and views.

/// A table: its columns in ordinal order, its indexes and its constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub(super) name: String,
    pub(super) options: Vec<String>,
    pub(super) columns: Vec<Column>,
    pub(super) indexes: Vec<Index>,
    pub(super) constraints: Vec<Constraint>,
}

/// A column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub(super) name: String,
    pub(super) data_type: String,
    pub(super) nullable: bool,
    pub(super) default: Option<String>,
    pub(super) generated: Option<String>,
    pub(super) collation: Option<String>,
}

/// An index that does not implement a primary key or unique constraint (those are
/// [`Constraint`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub(super) name: String,
    pub(super) columns: Vec<String>,
    pub(super) unique: bool,
    pub(super) definition: String,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub(super) name: Option<String>,
    pub(super) kind: ConstraintKind,
    pub(super) columns: Vec<String>,
    pub(super) definition: String,
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

/// A view, or a PostgreSQL materialized view with its indexes, and its definition as the
/// database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub(super) name: String,
    pub(super) definition: String,
    pub(super) materialized: bool,
    pub(super) indexes: Vec<Index>,
    pub(super) columns: Vec<String>,
}

impl Table {
    /// A table, for an adapter's [`Snapshot`](super::Snapshot) or a schema built by hand;
    /// [`Schema::new`](super::Schema::new) orders the indexes and constraints.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        columns: Vec<Column>,
        indexes: Vec<Index>,
        constraints: Vec<Constraint>,
    ) -> Table {
        Table {
            name: name.into(),
            options: Vec::new(),
            columns,
            indexes,
            constraints,
        }
    }

    /// The table with `options`, such as SQLite's `STRICT` and `WITHOUT ROWID`.
    #[must_use]
    pub fn with_options(mut self, options: Vec<String>) -> Table {
        self.options = options;
        self
    }

    /// The name; on PostgreSQL `schema.table` unless the table is in the current schema.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table options: SQLite's `STRICT` and `WITHOUT ROWID` as declared, in upper case and
    /// alphabetical order (none on PostgreSQL and MySQL).
    #[must_use]
    pub fn options(&self) -> &[String] {
        &self.options
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
    /// A column: its name, its type as the database reports it, whether it accepts `NULL`, its
    /// default expression and how the database generates it (see [`Column::generated`]).
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        data_type: impl Into<String>,
        nullable: bool,
        default: Option<String>,
        generated: Option<String>,
    ) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable,
            default,
            generated,
            collation: None,
        }
    }

    /// The column with the collation `collation` (see [`Column::collation`]).
    #[must_use]
    pub fn with_collation(mut self, collation: impl Into<String>) -> Column {
        self.collation = Some(collation.into());
        self
    }

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
    /// generated columns (`VIRTUAL` or `STORED`) and `AUTOINCREMENT`.
    #[must_use]
    pub fn generated(&self) -> Option<&str> {
        self.generated.as_deref()
    }

    /// The collation declared with `COLLATE` on SQLite, in upper case (`NOCASE`), unless it is
    /// the default `BINARY`; `None` on PostgreSQL and MySQL, whose collations snapshots leave
    /// out.
    #[must_use]
    pub fn collation(&self) -> Option<&str> {
        self.collation.as_deref()
    }
}

impl Index {
    /// An index: its name, its columns or expressions in order, whether it is unique, and its
    /// definition.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        columns: Vec<String>,
        unique: bool,
        definition: impl Into<String>,
    ) -> Index {
        Index {
            name: name.into(),
            columns,
            unique,
            definition: definition.into(),
        }
    }

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
    /// A constraint: its name when it has one, what it is, the constrained columns and its
    /// definition (which identifies it when it has no name).
    #[must_use]
    pub fn new(
        name: Option<String>,
        kind: ConstraintKind,
        columns: Vec<String>,
        definition: impl Into<String>,
    ) -> Constraint {
        Constraint {
            name,
            kind,
            columns,
            definition: definition.into(),
        }
    }

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
    pub(super) fn key(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.definition)
    }
}

impl View {
    /// A view and its definition.
    #[must_use]
    pub fn new(name: impl Into<String>, definition: impl Into<String>) -> View {
        View {
            name: name.into(),
            definition: definition.into(),
            materialized: false,
            indexes: Vec::new(),
            columns: Vec::new(),
        }
    }

    /// The view with the names of its columns, in order (what the snapshots report).
    #[must_use]
    pub fn with_columns(mut self, columns: Vec<String>) -> View {
        self.columns = columns;
        self
    }

    /// The names of its columns, in order. Compared only with
    /// [`Comparison::views_by_name_and_columns`](super::Comparison::views_by_name_and_columns).
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// A materialized view, its definition and its indexes;
    /// [`Schema::new`](super::Schema::new) orders the indexes.
    #[must_use]
    pub fn materialized(
        name: impl Into<String>,
        definition: impl Into<String>,
        indexes: Vec<Index>,
    ) -> View {
        View {
            materialized: true,
            indexes,
            ..View::new(name, definition)
        }
    }

    /// Whether it is a materialized view (PostgreSQL).
    #[must_use]
    pub fn is_materialized(&self) -> bool {
        self.materialized
    }

    /// A materialized view's indexes, ordered by name (none for a view).
    #[must_use]
    pub fn indexes(&self) -> &[Index] {
        &self.indexes
    }

    /// The index named `name`.
    #[must_use]
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

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
