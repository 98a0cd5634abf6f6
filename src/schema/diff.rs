//! [`Schema::diff`]: what differs between two snapshots, in words.

use std::fmt;

use super::{Column, Schema, Table};

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

/// Appends to `out` a change of `aspect` when `expected` and `found` differ.
fn change(out: &mut Vec<Difference>, path: &str, aspect: &'static str, e: String, f: String) {
    if e != f {
        out.push(Difference::Changed {
            path: path.to_owned(),
            aspect,
            expected: e,
            found: f,
        });
    }
}

/// Matches `expected` and `found` by `key`: missing ones in `expected`'s order, then the
/// changes of `compare` for each pair, then extra ones in `found`'s order.
fn by_key<T>(
    out: &mut Vec<Difference>,
    expected: &[T],
    found: &[T],
    key: impl Fn(&T) -> &str,
    path: impl Fn(&str) -> String,
    mut compare: impl FnMut(&mut Vec<Difference>, &str, &T, &T),
) {
    for e in expected {
        match found.iter().find(|f| key(f) == key(e)) {
            Some(f) => compare(out, &path(key(e)), e, f),
            None => out.push(Difference::Missing { path: path(key(e)) }),
        }
    }
    for f in found {
        if !expected.iter().any(|e| key(e) == key(f)) {
            out.push(Difference::Extra { path: path(key(f)) });
        }
    }
}

pub(super) fn schemas(expected: &Schema, found: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    by_key(
        &mut out,
        &expected.tables,
        &found.tables,
        |t| &t.name,
        |name| format!("table `{name}`"),
        tables,
    );
    by_key(
        &mut out,
        &expected.views,
        &found.views,
        |v| &v.name,
        |name| format!("view `{name}`"),
        |out, path, e, f| {
            change(
                out,
                path,
                "definition",
                shown(Some(&e.definition)),
                shown(Some(&f.definition)),
            );
        },
    );
    out
}

fn tables(out: &mut Vec<Difference>, path: &str, e: &Table, f: &Table) {
    let under = |what: &'static str| move |name: &str| format!("{path}: {what} `{name}`");
    by_key(
        out,
        &e.columns,
        &f.columns,
        |c| &c.name,
        under("column"),
        columns,
    );
    let order = |t: &Table, other: &Table| -> Vec<String> {
        t.columns
            .iter()
            .filter(|c| other.column(&c.name).is_some())
            .map(|c| format!("`{}`", c.name))
            .collect()
    };
    change(
        out,
        path,
        "column order",
        order(e, f).join(", "),
        order(f, e).join(", "),
    );
    by_key(
        out,
        &e.indexes,
        &f.indexes,
        |i| &i.name,
        under("index"),
        |out, path, e, f| {
            let unique = |u: bool| if u { "unique" } else { "not unique" }.to_owned();
            change(out, path, "", unique(e.unique), unique(f.unique));
            change(
                out,
                path,
                "columns",
                e.columns.join(", "),
                f.columns.join(", "),
            );
            change(
                out,
                path,
                "definition",
                shown(Some(&e.definition)),
                shown(Some(&f.definition)),
            );
        },
    );
    by_key(
        out,
        &e.constraints,
        &f.constraints,
        super::Constraint::key,
        under("constraint"),
        |out, path, e, f| {
            change(
                out,
                path,
                "definition",
                shown(Some(&e.definition)),
                shown(Some(&f.definition)),
            );
            if e.definition == f.definition && e != f {
                change(
                    out,
                    path,
                    "kind",
                    format!("{:?}", e.kind),
                    format!("{:?}", f.kind),
                );
            }
        },
    );
}

fn columns(out: &mut Vec<Difference>, path: &str, e: &Column, f: &Column) {
    change(
        out,
        path,
        "type",
        shown(Some(&e.data_type)),
        shown(Some(&f.data_type)),
    );
    let null = |n: bool| if n { "nullable" } else { "not null" }.to_owned();
    change(out, path, "", null(e.nullable), null(f.nullable));
    change(
        out,
        path,
        "default",
        shown(e.default.as_deref()),
        shown(f.default.as_deref()),
    );
    change(
        out,
        path,
        "generated",
        shown(e.generated.as_deref()),
        shown(f.generated.as_deref()),
    );
}

#[cfg(test)]
mod tests {
    use super::super::{Constraint, ConstraintKind, Index, View};
    use super::*;

    fn column(name: &str, data_type: &str, nullable: bool, default: Option<&str>) -> Column {
        Column {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            nullable,
            default: default.map(str::to_owned),
            generated: None,
        }
    }

    fn users(columns: Vec<Column>, indexes: Vec<Index>) -> Table {
        Table {
            name: "users".to_owned(),
            columns,
            indexes,
            constraints: vec![Constraint {
                name: Some("users_pkey".to_owned()),
                kind: ConstraintKind::PrimaryKey,
                columns: vec!["id".to_owned()],
                definition: "PRIMARY KEY (id)".to_owned(),
            }],
        }
    }

    fn index(name: &str, unique: bool) -> Index {
        Index {
            name: name.to_owned(),
            columns: vec!["name".to_owned()],
            unique,
            definition: format!("CREATE INDEX {name} ON users (name)"),
        }
    }

    fn texts(d: &[Difference]) -> Vec<String> {
        d.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn equal_schemas_have_no_difference() {
        let s = Schema::new(
            vec![users(vec![column("id", "integer", false, None)], vec![])],
            vec![],
        );
        assert!(s.diff(&s.clone()).is_empty());
        assert_eq!(
            s.to_string(),
            "table `users`\n  column `id` integer not null\n  constraint `users_pkey`: PRIMARY KEY (id)\n"
        );
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
            vec![View {
                name: "adults".to_owned(),
                definition: "SELECT 1".to_owned(),
            }],
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
            vec![
                changed,
                Table {
                    name: "posts".to_owned(),
                    columns: vec![],
                    indexes: vec![],
                    constraints: vec![],
                },
            ],
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
    fn without_table_drops_qualified_or_current_schema_names() {
        let table = |name: &str| Table {
            name: name.to_owned(),
            columns: vec![],
            indexes: vec![],
            constraints: vec![],
        };
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
