//! SQLite: `sqlite_master` and the `pragma_*` table-valued functions. `CHECK` constraints exist
//! only in the `CREATE TABLE` text, so they are read from it.

use rusqlite::{Connection, Params, Row};

use super::{
    Column, Constraint, ConstraintKind, Index, Schema, Snapshot, Table, View, failed, foreign_key,
};

mod text;

use crate::adapter::Adapter;
use crate::error::{BoxError, Result};
use text::{checks, declared, squeeze};

impl Snapshot for Connection {
    fn snapshot(&mut self) -> Result<Schema> {
        read(self).map_err(|e| failed(Adapter::database(self), e))
    }
}

fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, BoxError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn read(conn: &Connection) -> Result<Schema, BoxError> {
    let objects = all(
        conn,
        "SELECT type, name, sql FROM sqlite_master \
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        [],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        },
    )?;
    let mut tables = Vec::new();
    let mut views = Vec::new();
    for (kind, name, sql) in objects {
        let sql = sql.unwrap_or_default();
        if kind == "view" {
            let columns = all(
                conn,
                "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                [&name],
                |r| r.get(0),
            )?;
            views.push(View::new(name, squeeze(&sql)).with_columns(columns));
        } else {
            tables.push(table(conn, name, &sql)?);
        }
    }
    Ok(Schema::new(tables, views))
}

fn table(conn: &Connection, name: String, sql: &str) -> Result<Table, BoxError> {
    let declared = declared(sql);
    let mut columns = Vec::new();
    let mut key: Vec<(i64, String)> = Vec::new();
    let rows = all(
        conn,
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
         FROM pragma_table_xinfo(?1) ORDER BY cid",
        [&name],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
    )?;
    let named = |declared: &Option<String>, column: &str| {
        declared
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(column))
    };
    for (column, data_type, not_null, default, pk, hidden) in rows {
        let generated = match hidden {
            1 => continue, // a hidden column of a virtual table
            2 => Some("VIRTUAL".to_owned()),
            3 => Some("STORED".to_owned()),
            _ if named(&declared.autoincrement, &column) => Some("AUTOINCREMENT".to_owned()),
            _ => None,
        };
        if pk > 0 {
            key.push((pk, column.clone()));
        }
        let mut collations = declared.collations.iter().rev();
        let collation = collations.find(|(c, _)| c.eq_ignore_ascii_case(&column));
        columns.push(Column {
            collation: collation.map(|(_, collation)| collation.clone()),
            name: column,
            data_type,
            nullable: !not_null,
            default,
            generated,
        });
    }
    let mut constraints = checks(sql);
    if !key.is_empty() {
        key.sort();
        let columns: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
        constraints.push(constraint(ConstraintKind::PrimaryKey, columns));
    }
    let mut indexes = Vec::new();
    let list = all(
        conn,
        "SELECT l.name, l.\"unique\", l.origin, m.sql FROM pragma_index_list(?1) AS l \
         LEFT JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name",
        [&name],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    )?;
    for (index, unique, origin, sql) in list {
        let columns = all(
            conn,
            "SELECT coalesce(name, '<expression>') FROM pragma_index_xinfo(?1) \
             WHERE key ORDER BY seqno",
            [&index],
            |r| r.get(0),
        )?;
        match origin.as_str() {
            "pk" => {} // the primary key, from the columns above
            "u" => constraints.push(constraint(ConstraintKind::Unique, columns)),
            _ => indexes.push(Index {
                name: index,
                columns,
                unique,
                definition: squeeze(&sql.unwrap_or_default()),
            }),
        }
    }
    constraints.extend(foreign_keys(conn, &name, &declared.deferred)?);
    Ok(Table {
        name,
        options: declared.options,
        columns,
        indexes,
        constraints,
    })
}

/// An unnamed primary key or unique constraint (SQLite does not report names).
fn constraint(kind: ConstraintKind, columns: Vec<String>) -> Constraint {
    let what = match kind {
        ConstraintKind::PrimaryKey => "PRIMARY KEY",
        _ => "UNIQUE",
    };
    Constraint {
        name: None,
        definition: format!("{what} ({})", columns.join(", ")),
        kind,
        columns,
    }
}

/// The foreign keys of `table`, with ` DEFERRABLE INITIALLY DEFERRED` after those the
/// `CREATE TABLE` text declares `deferred` (the pragma does not say).
fn foreign_keys(
    conn: &Connection,
    table: &str,
    deferred: &[(Vec<String>, String)],
) -> Result<Vec<Constraint>, BoxError> {
    let rows = all(
        conn,
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
         FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        [table],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        },
    )?;
    Ok(rows
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| {
            let (_, target, _, _, on_update, on_delete) = &group[0];
            let columns: Vec<String> = group.iter().map(|r| r.2.clone()).collect();
            let same = |a: &String, b: &String| a.eq_ignore_ascii_case(b);
            let is_deferred = deferred.iter().any(|(from, to)| {
                same(to, target)
                    && from.len() == columns.len()
                    && from.iter().zip(&columns).all(|(a, b)| same(a, b))
            });
            let mut key = foreign_key(
                None,
                columns,
                target.clone(),
                group.iter().filter_map(|r| r.3.clone()).collect(),
                [on_update.as_str(), on_delete.as_str()],
            );
            if is_deferred {
                key.definition.push_str(" DEFERRABLE INITIALLY DEFERRED");
            }
            key
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reports_columns_keys_indexes_and_views() -> Result<(), BoxError> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, \
               age INTEGER DEFAULT 0 CHECK (age >= 0));
             CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER \
               REFERENCES users (id) ON DELETE CASCADE, title TEXT);
             CREATE INDEX posts_title ON posts (lower(title)) WHERE title IS NOT NULL;
             CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18;",
        )?;
        let schema = conn.snapshot()?;
        assert_eq!(
            schema.to_string(),
            "table `posts`\n  column `id` INTEGER null\n  column `user_id` INTEGER null\n  \
             column `title` TEXT null\n  index `posts_title`: CREATE INDEX posts_title ON posts \
             (lower(title)) WHERE title IS NOT NULL\n  constraint: PRIMARY KEY (id)\n  \
             constraint: FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE\n\
             table `users`\n  column `id` INTEGER null\n  column `email` TEXT not null\n  \
             column `age` INTEGER null default 0\n  constraint: PRIMARY KEY (id)\n  \
             constraint: UNIQUE (email)\n  constraint: CHECK (age >= 0)\n\
             view `adults`: CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18\n"
        );
        assert_eq!(
            schema
                .table("posts")
                .and_then(|t| t.index("posts_title"))
                .map(Index::columns),
            Some(&["<expression>".to_owned()][..])
        );
        Ok(())
    }

    #[test]
    fn a_failed_read_names_the_database() -> Result<(), BoxError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("garbage.db");
        std::fs::write(&path, [7u8; 4096])?;
        let mut conn = Connection::open(&path)?;
        let err = conn.snapshot().unwrap_err();
        assert!(matches!(err.kind(), crate::ErrorKind::Database { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "failed to read the schema on sqlite database `{}`",
                path.display()
            )
        );
        assert!(std::error::Error::source(&err).is_some());
        Ok(())
    }
}
