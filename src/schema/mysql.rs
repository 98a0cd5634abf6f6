//! MySQL and MariaDB: `information_schema` for the current database (`DATABASE()`).

use std::collections::BTreeMap;

use mysql::prelude::{FromValue, Queryable};
use mysql::{Conn, PooledConn, Row};

use super::{
    Column, Constraint, ConstraintKind, Index, Schema, Snapshot, Table, View, failed, foreign_key,
    quoted_len,
};
use crate::adapter::Adapter;
use crate::error::{BoxError, Result};

impl Snapshot for Conn {
    fn snapshot(&mut self) -> Result<Schema> {
        read(self).map_err(|e| failed(Adapter::database(self), e))
    }
}

impl Snapshot for PooledConn {
    fn snapshot(&mut self) -> Result<Schema> {
        self.as_mut().snapshot()
    }
}

const TABLES: &str = "SELECT TABLE_NAME, TABLE_TYPE, \
     (SELECT VIEW_DEFINITION FROM information_schema.VIEWS v \
      WHERE v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME) \
     FROM information_schema.TABLES t WHERE TABLE_SCHEMA = DATABASE()";

const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, \
     COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION FROM information_schema.COLUMNS \
     WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION";

/// The key parts of every index. `s.*` brings MySQL 8's `EXPRESSION` (the expression of a
/// functional key part) where the server has that column, without naming it: MariaDB has none.
const STATISTICS: &str = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, \
     COLLATION, INDEX_TYPE, s.* FROM information_schema.STATISTICS s \
     WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

/// The columns of primary keys, unique keys and foreign keys. A foreign key may have the name
/// of a unique key of its table, so a key column row joins the constraint of its own type
/// (foreign key rows have a referenced table) and rows group by name and type.
const KEYS: &str = "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.COLUMN_NAME, \
     CASE WHEN k.REFERENCED_TABLE_SCHEMA = DATABASE() THEN k.REFERENCED_TABLE_NAME \
     ELSE CONCAT(k.REFERENCED_TABLE_SCHEMA, '.', k.REFERENCED_TABLE_NAME) END, \
     k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE \
     FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.TABLE_CONSTRAINTS c \
     ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME \
     AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     AND (c.CONSTRAINT_TYPE = 'FOREIGN KEY') = (k.REFERENCED_TABLE_NAME IS NOT NULL) \
     LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
     ON c.CONSTRAINT_TYPE = 'FOREIGN KEY' AND r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
     AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     WHERE k.TABLE_SCHEMA = DATABASE() \
     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.ORDINAL_POSITION";

/// `CHECK_CONSTRAINTS` has `TABLE_NAME` on MariaDB only (MySQL's check names are unique per
/// database), so the join adds it there.
fn checks(mariadb: bool) -> String {
    format!(
        "SELECT c.TABLE_NAME, c.CONSTRAINT_NAME, k.CHECK_CLAUSE \
         FROM information_schema.TABLE_CONSTRAINTS c JOIN information_schema.CHECK_CONSTRAINTS k \
         ON k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME{} \
         WHERE c.TABLE_SCHEMA = DATABASE() AND c.CONSTRAINT_TYPE = 'CHECK'",
        if mariadb {
            " AND k.TABLE_NAME = c.TABLE_NAME"
        } else {
            ""
        }
    )
}

fn take<T: FromValue>(row: &mut Row, i: usize) -> Result<T, BoxError> {
    match row.take_opt::<T, usize>(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(format!("column {i} of the catalog: {e}").into()),
        None => Err(format!("column {i} missing from the catalog").into()),
    }
}

fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<Row>, BoxError> {
    Ok(conn.query(sql)?)
}

/// `definition` without the qualifier `` `database`. `` that MySQL writes before every table
/// of the view's own database, outside string literals.
fn unqualified(definition: &str, database: &str) -> String {
    let qualifier = format!("`{}`.", database.replace('`', "``"));
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            _ if rest.starts_with(&qualifier) => {
                rest = &rest[qualifier.len()..];
                continue;
            }
            '\'' | '"' | '`' => quoted_len(rest, c, c != '`'),
            c => c.len_utf8(),
        };
        out.push_str(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

fn read(conn: &mut Conn) -> Result<Schema, BoxError> {
    let (version, database): (String, String) =
        conn.query_first("SELECT VERSION(), DATABASE()")?
            .ok_or("no answer to `SELECT VERSION(), DATABASE()`")?;
    let mariadb = version.contains("MariaDB");
    let mut tables = BTreeMap::new();
    let mut views = Vec::new();
    for mut row in rows(conn, TABLES)? {
        let name: String = take(&mut row, 0)?;
        if take::<String>(&mut row, 1)? == "VIEW" {
            let definition = take::<Option<String>>(&mut row, 2)?.unwrap_or_default();
            let definition = unqualified(&definition, &database);
            views.push(View::new(name, definition));
        } else {
            tables.insert(name.clone(), Table::new(name, vec![], vec![], vec![]));
        }
    }
    for mut row in rows(conn, COLUMNS)? {
        let name = take::<String>(&mut row, 0)?;
        let Some(table) = tables.get_mut(&name) else {
            if let Some(view) = views.iter_mut().find(|v: &&mut View| v.name == name) {
                view.columns.push(take::<String>(&mut row, 1)?);
            }
            continue;
        };
        let extra: String = take(&mut row, 5)?;
        let expression = take::<Option<String>>(&mut row, 6)?.filter(|e| !e.is_empty());
        table.columns.push(Column::new(
            take::<String>(&mut row, 1)?,
            take::<String>(&mut row, 2)?,
            take::<String>(&mut row, 3)? == "YES",
            take(&mut row, 4)?,
            match expression {
                Some(e) => Some(format!("{extra} AS ({e})")),
                None => Some(extra).filter(|e| !e.is_empty()),
            },
        ));
    }
    constraints(conn, &mut tables, mariadb)?;
    indexes(conn, &mut tables)?;
    Ok(Schema::new(tables.into_values().collect(), views))
}

/// One key part as `CREATE INDEX` writes it: `name(10) DESC`, or a functional key part's
/// `(expression)` (`<expression>` when the server does not say which).
fn key_part(
    column: Option<String>,
    expression: Option<String>,
    length: Option<u64>,
    descending: bool,
) -> String {
    let mut part = match (column, expression) {
        (Some(column), _) => column,
        (None, Some(expression)) => format!("({expression})"),
        (None, None) => "<expression>".to_owned(),
    };
    if let Some(length) = length {
        part = format!("{part}({length})");
    }
    if descending {
        part.push_str(" DESC");
    }
    part
}

/// Adds the indexes of `STATISTICS` to `tables`: as the definition of the primary key or
/// unique constraint an index implements, or as an [`Index`].
fn indexes(conn: &mut Conn, tables: &mut BTreeMap<String, Table>) -> Result<(), BoxError> {
    // Each index with its type (`BTREE`) as its definition until every part is known.
    let mut all: Vec<(String, Index)> = Vec::new();
    for mut row in rows(conn, STATISTICS)? {
        let expression = row
            .columns_ref()
            .iter()
            .position(|c| c.name_str() == "EXPRESSION");
        let expression = match expression {
            Some(i) => take(&mut row, i)?,
            None => None,
        };
        let (table, name): (String, String) = (take(&mut row, 0)?, take(&mut row, 1)?);
        let descending = take::<Option<String>>(&mut row, 5)?.as_deref() == Some("D");
        let part = key_part(
            take(&mut row, 3)?,
            expression,
            take(&mut row, 4)?,
            descending,
        );
        match all.last_mut() {
            Some((t, last)) if *t == table && last.name == name => last.columns.push(part),
            _ => {
                let unique = take::<i64>(&mut row, 2)? == 0;
                let definition = take(&mut row, 6)?;
                let columns = vec![part];
                all.push((
                    table,
                    Index {
                        name,
                        columns,
                        unique,
                        definition,
                    },
                ));
            }
        }
    }
    for (table, index) in all {
        let Some(table) = tables.get_mut(&table) else {
            continue;
        };
        let (parts, method) = (index.columns.join(", "), &index.definition);
        let key = table.constraints.iter_mut().find(|c| {
            matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
                && c.name.as_deref() == Some(&index.name)
        });
        if let Some(key) = key {
            let what = match key.kind {
                ConstraintKind::PrimaryKey => "PRIMARY KEY",
                _ => "UNIQUE",
            };
            key.definition = format!("{what} USING {method} ({parts})");
        } else {
            let unique = if index.unique { "UNIQUE " } else { "" };
            let definition = format!("{unique}INDEX {} USING {method} ({parts})", index.name);
            table.indexes.push(Index {
                definition,
                ..index
            });
        }
    }
    Ok(())
}

/// Adds the primary keys, unique constraints, foreign keys and checks to `tables`; the
/// definitions of primary keys and unique constraints are completed by [`indexes`].
fn constraints(
    conn: &mut Conn,
    tables: &mut BTreeMap<String, Table>,
    mariadb: bool,
) -> Result<(), BoxError> {
    let mut all: Vec<(String, Constraint, [String; 2])> = Vec::new();
    for mut row in rows(conn, KEYS)? {
        let table: String = take(&mut row, 0)?;
        let name: String = take(&mut row, 1)?;
        let kind: String = take(&mut row, 2)?;
        let column: String = take(&mut row, 3)?;
        let referenced: Option<String> = take(&mut row, 4)?;
        let referenced_column: Option<String> = take(&mut row, 5)?;
        let same = all.last().is_some_and(|(t, c, _)| {
            *t == table
                && c.name.as_deref() == Some(&name)
                && matches!(c.kind, ConstraintKind::ForeignKey { .. }) == referenced.is_some()
        });
        if !same {
            let kind = match (kind.as_str(), referenced) {
                ("PRIMARY KEY", _) => ConstraintKind::PrimaryKey,
                ("FOREIGN KEY", Some(table)) => ConstraintKind::ForeignKey {
                    table,
                    columns: Vec::new(),
                },
                _ => ConstraintKind::Unique,
            };
            let rules = [take(&mut row, 6)?, take(&mut row, 7)?].map(Option::unwrap_or_default);
            let constraint = Constraint {
                name: Some(name),
                kind,
                columns: Vec::new(),
                definition: String::new(),
            };
            all.push((table, constraint, rules));
        }
        if let Some((_, c, _)) = all.last_mut() {
            c.columns.push(column);
            if let (ConstraintKind::ForeignKey { columns, .. }, Some(to)) =
                (&mut c.kind, referenced_column)
            {
                columns.push(to);
            }
        }
    }
    for (table, mut c, [on_update, on_delete]) in all {
        c = match c.kind {
            ConstraintKind::ForeignKey { table, columns } => {
                foreign_key(c.name, c.columns, table, columns, [&on_update, &on_delete])
            }
            ConstraintKind::PrimaryKey => Constraint {
                definition: format!("PRIMARY KEY ({})", c.columns.join(", ")),
                ..c
            },
            _ => Constraint {
                definition: format!("UNIQUE ({})", c.columns.join(", ")),
                ..c
            },
        };
        if let Some(t) = tables.get_mut(&table) {
            t.constraints.push(c);
        }
    }
    for mut row in rows(conn, &checks(mariadb))? {
        if let Some(t) = tables.get_mut(&take::<String>(&mut row, 0)?) {
            t.constraints.push(Constraint {
                name: Some(take(&mut row, 1)?),
                kind: ConstraintKind::Check,
                columns: Vec::new(),
                definition: format!("CHECK ({})", take::<String>(&mut row, 2)?),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_read_like_create_index() {
        let part = |column: Option<&str>, expression: Option<&str>, length, descending| {
            key_part(
                column.map(str::to_owned),
                expression.map(str::to_owned),
                length,
                descending,
            )
        };
        assert_eq!(part(Some("email"), None, Some(10), true), "email(10) DESC");
        assert_eq!(
            part(None, Some("lower(`email`)"), None, false),
            "(lower(`email`))"
        );
        assert_eq!(part(None, None, None, true), "<expression> DESC");
    }

    #[test]
    fn view_definitions_leave_out_their_own_database() {
        let definition = "select `app`.`users`.`id` AS `id`,'`app`.x' AS `s`,\"`app`.\" AS `d`,\
                          'it\\'s `app`.' AS `e` from (`app`.`users` join `other`.`t`) \
                          where `app`.`users`.`id` = `app``s`.`id`";
        assert_eq!(
            unqualified(definition, "app"),
            "select `users`.`id` AS `id`,'`app`.x' AS `s`,\"`app`.\" AS `d`,\
             'it\\'s `app`.' AS `e` from (`users` join `other`.`t`) \
             where `users`.`id` = `app``s`.`id`"
        );
        assert_eq!(unqualified("`a``b`.`t`, '", "a`b"), "`t`, '");
    }
}
