//! SQLite: `sqlite_master` and the `pragma_*` table-valued functions. `CHECK` constraints exist
//! only in the `CREATE TABLE` text, so they are read from it.

use rusqlite::{Connection, Params, Row};

use super::{
    Column, Constraint, ConstraintKind, Index, Schema, Snapshot, Table, View, failed, foreign_key,
    squeeze,
};
use crate::adapter::Adapter;
use crate::error::{BoxError, Result};

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
            views.push(View {
                name,
                definition: squeeze(&sql),
            });
        } else {
            tables.push(table(conn, name, &sql)?);
        }
    }
    Ok(Schema::new(tables, views))
}

fn table(conn: &Connection, name: String, sql: &str) -> Result<Table, BoxError> {
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
    for (column, data_type, not_null, default, pk, hidden) in rows {
        let generated = match hidden {
            1 => continue, // a hidden column of a virtual table
            2 => Some("VIRTUAL".to_owned()),
            3 => Some("STORED".to_owned()),
            _ => None,
        };
        if pk > 0 {
            key.push((pk, column.clone()));
        }
        columns.push(Column {
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
    constraints.extend(foreign_keys(conn, &name)?);
    Ok(Table {
        name,
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

fn foreign_keys(conn: &Connection, table: &str) -> Result<Vec<Constraint>, BoxError> {
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
            foreign_key(
                None,
                group.iter().map(|r| r.2.clone()).collect(),
                target.clone(),
                group.iter().filter_map(|r| r.3.clone()).collect(),
                [on_update.as_str(), on_delete.as_str()],
            )
        })
        .collect())
}

/// A token of SQL text: its kind and byte range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Word,
    Quoted,
    Open,
    Close,
    Other,
}

/// Splits `sql` into words, quoted identifiers, parentheses and other characters, skipping
/// whitespace, comments and string literals.
fn tokens(sql: &str) -> Vec<(Token, usize, usize)> {
    let mut out = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end_after = |close: &str| {
            let end = sql[start + 1..]
                .find(close)
                .map_or(sql.len(), |i| start + 1 + i + close.len());
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
            end
        };
        let token = match c {
            '\'' => {
                end_after("'");
                continue;
            }
            '-' if sql[start..].starts_with("--") => {
                end_after("\n");
                continue;
            }
            '/' if sql[start..].starts_with("/*") => {
                end_after("*/");
                continue;
            }
            '"' => (Token::Quoted, start, end_after("\"")),
            '`' => (Token::Quoted, start, end_after("`")),
            '[' => (Token::Quoted, start, end_after("]")),
            '(' => (Token::Open, start, start + 1),
            ')' => (Token::Close, start, start + 1),
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_' || n == '$') {
                        break;
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                (Token::Word, start, end)
            }
            c if c.is_whitespace() => continue,
            c => (Token::Other, start, start + c.len_utf8()),
        };
        out.push(token);
    }
    out
}

/// The `CHECK (...)` constraints of a `CREATE TABLE` statement, table- or column-level, named
/// when a `CONSTRAINT <name>` precedes them.
fn checks(sql: &str) -> Vec<Constraint> {
    let tokens = tokens(sql);
    let is_word = |i: usize, word: &str| {
        tokens
            .get(i)
            .is_some_and(|&(t, s, e)| t == Token::Word && sql[s..e].eq_ignore_ascii_case(word))
    };
    let mut out = Vec::new();
    for (i, &(_, _, open_end)) in tokens.iter().enumerate().skip(1) {
        if !is_word(i - 1, "check") || tokens[i].0 != Token::Open {
            continue;
        }
        let mut depth = 0usize;
        let close = tokens[i..].iter().find(|&&(t, ..)| {
            match t {
                Token::Open => depth += 1,
                Token::Close => depth -= 1,
                _ => {}
            }
            depth == 0
        });
        let Some(&(_, close_start, _)) = close else {
            break;
        };
        let name = (i >= 3 && is_word(i - 3, "constraint")).then(|| {
            let (t, s, e) = tokens[i - 2];
            let name = &sql[s..e];
            if t == Token::Quoted {
                name[1..name.len() - 1].to_owned()
            } else {
                name.to_owned()
            }
        });
        out.push(Constraint {
            name,
            kind: ConstraintKind::Check,
            columns: Vec::new(),
            definition: format!("CHECK ({})", squeeze(&sql[open_end..close_start])),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_read_from_the_create_table_text() {
        let sql = "CREATE TABLE t (\n  a INTEGER CHECK (a > 0), -- CHECK (not this)\n  b TEXT \
                   DEFAULT 'CHECK (nor this)',\n  CONSTRAINT \"b_short\" CHECK (length(b)   <\n 9)\n)";
        let found: Vec<(Option<String>, String)> = checks(sql)
            .into_iter()
            .map(|c| (c.name, c.definition))
            .collect();
        let expected = [
            (None, "CHECK (a > 0)".to_owned()),
            (
                Some("b_short".to_owned()),
                "CHECK (length(b) < 9)".to_owned(),
            ),
        ];
        assert_eq!(found, expected);
    }

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
