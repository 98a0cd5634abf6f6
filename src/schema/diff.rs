//! [`Schema::diff`]: what differs between two snapshots, in words.

use std::fmt;

use super::{Column, Constraint, Index, Schema, Table, View};

/// One difference between an expected [`Schema`] and the one found, such as
/// ``table `users`: column `email` is missing``.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// Something expected is not in the schema found.
    Missing {
        /// What, such as ``table `users`: column `email` ``.
        path: String,
    },
    /// The schema found has something that was not expected.
    Extra {
        /// What, such as ``table `users`: index `users_email` ``.
        path: String,
    },
    /// Something is in both but differs.
    Changed {
        /// What, such as ``table `users`: column `age` ``.
        path: String,
        /// Which aspect, such as `type` (empty for nullability, whose values say it).
        aspect: &'static str,
        /// The expected value, as shown: `` `integer` ``, `none`, `nullable`.
        expected: String,
        /// The value found.
        found: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { path } => write!(f, "{path} is missing"),
            Difference::Extra { path } => write!(f, "{path} is extra"),
            Difference::Changed {
                path,
                aspect: "",
                expected,
                found,
            } => write!(f, "{path}: {expected} became {found}"),
            Difference::Changed {
                path,
                aspect,
                expected,
                found,
            } => write!(f, "{path}: {aspect} {expected} became {found}"),
        }
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("`{v}`"))
}

/// What a comparison of schemas ([`Schema::diff_with`],
/// [`check_reversible_with`](super::check_reversible_with)) leaves out. The default leaves out
/// nothing, as [`Schema::diff`] does.
///
/// ```
/// use strata::schema::Comparison;
///
/// let lenient = Comparison::default()
///     .ignore_column_order(true)
///     .views_by_name_and_columns(true);
/// assert_ne!(lenient, Comparison::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Comparison {
    ignore_column_order: bool,
    views_by_columns: bool,
}

impl Comparison {
    /// Whether a table's columns may come in another order (default `false`). PostgreSQL and
    /// SQLite cannot reorder columns, so a down migration that adds back a dropped column
    /// always puts it last.
    #[must_use]
    pub fn ignore_column_order(mut self, ignore: bool) -> Comparison {
        self.ignore_column_order = ignore;
        self
    }

    /// Whether views are compared by name and column names only, in order, not by their
    /// definition text (default `false`): a down migration that recreates a view in a form
    /// the database reports differently passes.
    #[must_use]
    pub fn views_by_name_and_columns(mut self, by_columns: bool) -> Comparison {
        self.views_by_columns = by_columns;
        self
    }
}

/// The differences found so far.
#[derive(Default)]
struct Diff(Vec<Difference>, Comparison);

impl Diff {
    /// A change of `aspect` when `expected` and `found` differ, shown as they are.
    fn change(&mut self, path: &str, aspect: &'static str, expected: String, found: String) {
        if expected != found {
            self.0.push(Difference::Changed {
                path: path.to_owned(),
                aspect,
                expected,
                found,
            });
        }
    }

    /// A change of a value shown in backticks, `none` when absent.
    fn value(&mut self, path: &str, aspect: &'static str, e: Option<&str>, f: Option<&str>) {
        if e != f {
            self.change(path, aspect, shown(e), shown(f));
        }
    }

    fn definition(&mut self, path: &str, expected: &str, found: &str) {
        self.value(path, "definition", Some(expected), Some(found));
    }

    /// Matches `expected` and `found` by `key`: missing ones in `expected`'s order, then the
    /// changes of `compare` for each pair, then extra ones in `found`'s order. `path` names an
    /// item in the differences.
    fn by_key<T, K: PartialEq>(
        &mut self,
        (expected, found): (&[T], &[T]),
        key: impl Fn(&T) -> K,
        path: impl Fn(&T) -> String,
        mut compare: impl FnMut(&mut Diff, &str, &T, &T),
    ) {
        for e in expected {
            match found.iter().find(|f| key(f) == key(e)) {
                Some(f) => compare(self, &path(e), e, f),
                None => self.0.push(Difference::Missing { path: path(e) }),
            }
        }
        for f in found {
            if !expected.iter().any(|e| key(e) == key(f)) {
                self.0.push(Difference::Extra { path: path(f) });
            }
        }
    }

    fn table(&mut self, path: &str, e: &Table, f: &Table) {
        let options = |t: &Table| Some(t.options.join(", ")).filter(|o| !o.is_empty());
        self.value(
            path,
            "options",
            options(e).as_deref(),
            options(f).as_deref(),
        );
        let columns = (&e.columns[..], &f.columns[..]);
        let column = |c: &Column| format!("{path}: column `{}`", c.name);
        self.by_key(columns, |c| c.name.clone(), column, Diff::column);
        let order = |t: &Table, other: &Table| -> String {
            let common = t.columns.iter().filter(|c| other.column(&c.name).is_some());
            let names: Vec<String> = common.map(|c| format!("`{}`", c.name)).collect();
            names.join(", ")
        };
        if !self.1.ignore_column_order {
            self.change(path, "column order", order(e, f), order(f, e));
        }
        self.indexes(path, &e.indexes, &f.indexes);
        // MySQL lets a foreign key have the name of a unique key: matched by kind too.
        let constraints = (&e.constraints[..], &f.constraints[..]);
        let constraint = |c: &Constraint| format!("{path}: constraint `{}`", c.key());
        self.by_key(
            constraints,
            |c| (std::mem::discriminant(&c.kind), c.key().to_owned()),
            constraint,
            |d, path, e, f| {
                d.definition(path, &e.definition, &f.definition);
            },
        );
    }

    /// The indexes of a table or materialized view at `path`.
    fn indexes(&mut self, path: &str, e: &[Index], f: &[Index]) {
        let index = |i: &Index| format!("{path}: index `{}`", i.name);
        self.by_key(
            (e, f),
            |i| i.name.clone(),
            index,
            |d, path, e, f| {
                let unique = |u: bool| if u { "unique" } else { "not unique" }.to_owned();
                d.change(path, "", unique(e.unique), unique(f.unique));
                d.change(path, "columns", e.columns.join(", "), f.columns.join(", "));
                d.definition(path, &e.definition, &f.definition);
            },
        );
    }

    fn view(&mut self, path: &str, e: &View, f: &View) {
        let kind = |v: &View| {
            if v.materialized {
                "materialized view"
            } else {
                "view"
            }
        };
        self.change(path, "", kind(e).to_owned(), kind(f).to_owned());
        if self.1.views_by_columns {
            let columns = |v: &View| {
                let names: Vec<String> = v.columns.iter().map(|c| format!("`{c}`")).collect();
                names.join(", ")
            };
            self.change(path, "columns", columns(e), columns(f));
        } else {
            self.definition(path, &e.definition, &f.definition);
        }
        self.indexes(path, &e.indexes, &f.indexes);
    }

    fn column(&mut self, path: &str, e: &Column, f: &Column) {
        self.value(path, "type", Some(&e.data_type), Some(&f.data_type));
        let null = |n: bool| if n { "nullable" } else { "not null" }.to_owned();
        self.change(path, "", null(e.nullable), null(f.nullable));
        self.value(path, "default", e.default.as_deref(), f.default.as_deref());
        self.value(
            path,
            "generated",
            e.generated.as_deref(),
            f.generated.as_deref(),
        );
        self.value(
            path,
            "collation",
            e.collation.as_deref(),
            f.collation.as_deref(),
        );
    }
}

pub(super) fn schemas(expected: &Schema, found: &Schema, with: Comparison) -> Vec<Difference> {
    let mut diff = Diff(Vec::new(), with);
    let tables = (&expected.tables[..], &found.tables[..]);
    let table = |t: &Table| format!("table `{}`", t.name);
    diff.by_key(tables, |t| t.name.clone(), table, Diff::table);
    let views = (&expected.views[..], &found.views[..]);
    let view = |v: &View| format!("view `{}`", v.name);
    diff.by_key(views, |v| v.name.clone(), view, Diff::view);
    diff.0
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::ConstraintKind;
    use super::*;

    pub(in crate::schema) fn column(
        name: &str,
        data_type: &str,
        nullable: bool,
        default: Option<&str>,
    ) -> Column {
        Column::new(name, data_type, nullable, default.map(str::to_owned), None)
    }

    pub(in crate::schema) fn users(columns: Vec<Column>, indexes: Vec<Index>) -> Table {
        let key = Constraint::new(
            Some("users_pkey".to_owned()),
            ConstraintKind::PrimaryKey,
            vec!["id".to_owned()],
            "PRIMARY KEY (id)",
        );
        Table::new("users", columns, indexes, vec![key])
    }

    fn index(name: &str, unique: bool) -> Index {
        let definition = format!("CREATE INDEX {name} ON users (name)");
        Index::new(name, vec!["name".to_owned()], unique, definition)
    }

    fn texts(d: &[Difference]) -> Vec<String> {
        d.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_difference_reads_as_a_sentence() {
        let id = column("id", "integer", false, None);
        let expected = Schema::new(
            vec![users(
                vec![
                    id.clone(),
                    column("age", "integer", true, Some("0")),
                    column("email", "text", true, None),
                ],
                vec![index("users_name", false)],
            )],
            vec![View::new("adults", "SELECT 1")],
        );
        let mut changed = users(
            vec![
                id,
                column("age", "text", false, None),
                column("nick", "text", true, None),
            ],
            vec![index("users_nick", true)],
        );
        changed.constraints.clear();
        let found = Schema::new(
            vec![changed, Table::new("posts", vec![], vec![], vec![])],
            vec![],
        );
        assert_eq!(
            texts(&expected.diff(&found)),
            [
                "table `users`: column `age`: type `integer` became `text`",
                "table `users`: column `age`: nullable became not null",
                "table `users`: column `age`: default `0` became none",
                "table `users`: column `email` is missing",
                "table `users`: column `nick` is extra",
                "table `users`: index `users_name` is missing",
                "table `users`: index `users_nick` is extra",
                "table `users`: constraint `users_pkey` is missing",
                "table `posts` is extra",
                "view `adults` is missing",
            ]
        );
    }

    #[test]
    fn constraints_of_one_name_and_two_kinds_are_matched_by_kind() {
        let named = |kind, definition| {
            Constraint::new(
                Some("u".to_owned()),
                kind,
                vec!["uid".to_owned()],
                definition,
            )
        };
        let unique = named(ConstraintKind::Unique, "UNIQUE (uid)");
        let foreign = named(
            ConstraintKind::ForeignKey {
                table: "users".to_owned(),
                columns: vec!["id".to_owned()],
            },
            "FOREIGN KEY (uid) REFERENCES users (id)",
        );
        let posts = |constraints| {
            Schema::new(
                vec![Table::new("posts", vec![], vec![], constraints)],
                vec![],
            )
        };
        let both = posts(vec![foreign.clone(), unique.clone()]);
        assert!(both.diff(&both.clone()).is_empty());
        assert_eq!(
            texts(&both.diff(&posts(vec![unique]))),
            ["table `posts`: constraint `u` is missing"]
        );
        assert_eq!(
            texts(&posts(vec![foreign]).diff(&both)),
            ["table `posts`: constraint `u` is extra"]
        );
    }

    #[test]
    fn column_order_and_index_changes_are_named() {
        let a = column("a", "int", true, None);
        let b = column("b", "int", true, None);
        let expected = Schema::new(
            vec![users(vec![a.clone(), b.clone()], vec![index("i", false)])],
            vec![],
        );
        let found = Schema::new(vec![users(vec![b, a], vec![index("i", true)])], vec![]);
        assert_eq!(
            texts(&expected.diff(&found)),
            [
                "table `users`: column order `a`, `b` became `b`, `a`",
                "table `users`: index `i`: not unique became unique",
            ]
        );
    }

    #[test]
    fn comparisons_leave_out_column_order_and_view_text_when_asked() {
        let table = |cols: &[&str]| {
            let columns = cols
                .iter()
                .map(|c| column(c, "integer", true, None))
                .collect();
            Table::new("t", columns, vec![], vec![])
        };
        let view = |text: &str, cols: &[&str]| {
            View::new("v", text).with_columns(cols.iter().map(|c| (*c).to_owned()).collect())
        };
        let before = Schema::new(
            vec![table(&["id", "a", "b"])],
            vec![view("SELECT id, b FROM t", &["id", "b"])],
        );
        let after = Schema::new(
            vec![table(&["id", "b", "a"])],
            vec![view("SELECT id, b FROM t WHERE 1 = 1", &["id", "b"])],
        );
        let shown = |d: Vec<Difference>| d.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            shown(before.diff(&after)),
            [
                "table `t`: column order `id`, `a`, `b` became `id`, `b`, `a`",
                "view `v`: definition `SELECT id, b FROM t` became `SELECT id, b FROM t WHERE 1 = 1`",
            ]
        );
        let lenient = Comparison::default()
            .ignore_column_order(true)
            .views_by_name_and_columns(true);
        assert!(before.diff_with(&after, lenient).is_empty());
        let narrower = Schema::new(
            vec![table(&["id", "a", "b"])],
            vec![view("SELECT id FROM t", &["id"])],
        );
        assert_eq!(
            shown(before.diff_with(&narrower, lenient)),
            ["view `v`: columns `id`, `b` became `id`"]
        );
    }
}
