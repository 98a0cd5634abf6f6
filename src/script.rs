//! Offline SQL: the complete script of a plan, history-table statements included, for a DBA to
//! review and run by hand (Alembic's `--sql`). No database and no driver feature is needed.
//!
//! ```
//! # fn main() -> Result<(), strata::Error> {
//! use strata::{Flavor, Migration, Migrations, Set};
//!
//! let mut set = Set::new("app", "1.0.0")?;
//! set.add(Migration::sql(1, "users", "CREATE TABLE users (id BIGINT PRIMARY KEY);")?)?;
//! let migrations = Migrations::new([set])?;
//! let script = migrations.upgrade_script(Flavor::Postgres, "base", "heads")?;
//! assert!(script.contains("CREATE TABLE users (id BIGINT PRIMARY KEY);"));
//! assert!(script.contains("INSERT INTO \"strata_migrations\""));
//! # Ok(())
//! # }
//! ```
//!
//! The history-table SQL that the built-in adapters run lives here too, so that a script writes
//! the same `applied` rows a run would (a script writes no `dirty` rows: a failure stops it at
//! the failing statement, and the rows written so far say how far it got).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::adapter::{Dialect, Record, Table};
use crate::error::{Direction, Error, ErrorKind, Result};
use crate::migration::{Body, Migration};
use crate::plan::{self, Node, Step};
use crate::sql::{self, Syntax};

/// The SQL dialect of an offline script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// SQLite: run it with `sqlite3 app.db < script.sql`.
    Sqlite,
    /// PostgreSQL: run it with `psql -v ON_ERROR_STOP=1 -f script.sql`.
    Postgres,
    /// MySQL and MariaDB: run it with `mysql --database=app < script.sql`.
    Mysql,
}

/// The history table's columns, in the order of every `INSERT` of a script. Scripts write no
/// `in_flight` value (their rows are applied, and a partial row they finish has none), so that
/// they also run against a history table an older strata created.
pub(crate) const COLUMNS: &str = "set_name, version, name, checksum, normalization, down_sql, \
                                  set_version, applied_at, duration_ms, state, completed";

/// The column that names a dirty row's statement in flight, written by the adapters after
/// [`COLUMNS`].
pub(crate) const IN_FLIGHT: &str = "in_flight";

impl Flavor {
    /// The flavor of scripts for a database of `dialect` (the built-in adapters' backends
    /// `sqlite`, `postgres`, `mysql`), or `None` for another database.
    #[must_use]
    pub fn of(dialect: &Dialect) -> Option<Flavor> {
        match dialect.backend {
            "sqlite" => Some(Flavor::Sqlite),
            "postgres" => Some(Flavor::Postgres),
            "mysql" => Some(Flavor::Mysql),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flavor::Sqlite => "sqlite",
            Flavor::Postgres => "postgres",
            Flavor::Mysql => "mysql",
        }
    }

    fn dialect(self) -> sql::Dialect {
        match self {
            Flavor::Sqlite => sql::Dialect::Sqlite,
            Flavor::Postgres => sql::Dialect::Postgres,
            Flavor::Mysql => sql::Dialect::Mysql,
        }
    }

    fn syntax(self) -> Syntax {
        match self {
            Flavor::Sqlite => Syntax::SQLITE,
            Flavor::Postgres => Syntax::POSTGRES,
            Flavor::Mysql => Syntax::MYSQL,
        }
    }

    fn transactional_ddl(self) -> bool {
        self != Flavor::Mysql
    }

    /// The history table name, quoted.
    pub(crate) fn table(self, table: &Table) -> String {
        table.quoted(if self == Flavor::Mysql { '`' } else { '"' })
    }

    /// A string literal.
    fn literal(self, text: &str) -> String {
        let escaped = text.replace('\'', "''");
        match self {
            // MySQL reads backslashes as escapes (unless NO_BACKSLASH_ESCAPES is set).
            Flavor::Mysql => format!("'{}'", escaped.replace('\\', "\\\\")),
            Flavor::Sqlite | Flavor::Postgres => format!("'{escaped}'"),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for the history table, after `CREATE SCHEMA IF NOT EXISTS`
    /// for a schema-qualified one.
    pub(crate) fn create_history(self, table: &Table) -> String {
        match (self, table.schema()) {
            (Flavor::Postgres, Some(s)) => {
                format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{s}\";\n{}",
                    self.create_table(table)
                )
            }
            _ => self.create_table(table),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for the history table.
    pub(crate) fn create_table(self, table: &Table) -> String {
        let name = self.table(table);
        match self {
            Flavor::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS {name} (
    set_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    normalization INTEGER NOT NULL,
    down_sql TEXT,
    set_version TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    completed INTEGER,
    in_flight TEXT,
    PRIMARY KEY (set_name, version)
)"
            ),
            Flavor::Postgres => {
                format!(
                    "CREATE TABLE IF NOT EXISTS {name} (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    set_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    normalization INTEGER NOT NULL,
    down_sql TEXT,
    set_version TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    completed INTEGER,
    in_flight TEXT,
    PRIMARY KEY (set_name, version)
)"
                )
            }
            Flavor::Mysql => format!(
                "CREATE TABLE IF NOT EXISTS {name} (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    set_name VARCHAR(255) NOT NULL,
    version BIGINT UNSIGNED NOT NULL,
    name VARCHAR(255) NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    normalization INT UNSIGNED NOT NULL,
    down_sql LONGTEXT NULL,
    set_version VARCHAR(255) NOT NULL,
    applied_at VARCHAR(32) NOT NULL,
    duration_ms BIGINT UNSIGNED NOT NULL,
    state VARCHAR(16) NOT NULL,
    completed INT UNSIGNED NULL,
    in_flight TEXT NULL,
    UNIQUE KEY strata_set_version (set_name, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
        }
    }

    /// The one-statement upsert of a history row, with `values` (placeholders or literals) in
    /// [`COLUMNS`] order: a script's row, leaving `in_flight` as it is.
    pub(crate) fn upsert(self, table: &Table, values: &[String; 11]) -> String {
        self.upsert_of(table, values, false)
    }

    /// The upsert of an adapter's row: `values` in [`COLUMNS`] order, then [`IN_FLIGHT`].
    #[cfg_attr(
        not(any(feature = "rusqlite", feature = "postgres", feature = "mysql")),
        allow(dead_code)
    )]
    pub(crate) fn upsert_record(self, table: &Table, values: &[String; 12]) -> String {
        self.upsert_of(table, values, true)
    }

    fn upsert_of(self, table: &Table, values: &[String], in_flight: bool) -> String {
        let name = self.table(table);
        let values = values.join(", ");
        let (columns, extra) = if in_flight {
            (format!("{COLUMNS}, {IN_FLIGHT}"), true)
        } else {
            (COLUMNS.to_owned(), false)
        };
        match self {
            Flavor::Mysql => format!(
                "INSERT INTO {name} ({columns}) VALUES ({values}) ON DUPLICATE KEY UPDATE \
                 name = VALUES(name), checksum = VALUES(checksum), \
                 normalization = VALUES(normalization), down_sql = VALUES(down_sql), \
                 set_version = VALUES(set_version), applied_at = VALUES(applied_at), \
                 duration_ms = VALUES(duration_ms), state = VALUES(state), \
                 completed = VALUES(completed){}",
                if extra {
                    format!(", {IN_FLIGHT} = VALUES({IN_FLIGHT})")
                } else {
                    String::new()
                }
            ),
            Flavor::Sqlite | Flavor::Postgres => format!(
                "INSERT INTO {name} ({columns}) VALUES ({values}) \
                 ON CONFLICT (set_name, version) DO UPDATE SET \
                 name = excluded.name, checksum = excluded.checksum, \
                 normalization = excluded.normalization, down_sql = excluded.down_sql, \
                 set_version = excluded.set_version, applied_at = excluded.applied_at, \
                 duration_ms = excluded.duration_ms, state = excluded.state, \
                 completed = excluded.completed{}",
                if extra {
                    format!(", {IN_FLIGHT} = excluded.{IN_FLIGHT}")
                } else {
                    String::new()
                }
            ),
        }
    }

    /// The statement that adds the [`IN_FLIGHT`] column to a history table created without it.
    #[cfg_attr(
        not(any(feature = "rusqlite", feature = "postgres", feature = "mysql")),
        allow(dead_code)
    )]
    pub(crate) fn add_in_flight(self, table: &Table) -> String {
        let ty = if self == Flavor::Mysql {
            "TEXT NULL"
        } else {
            "TEXT"
        };
        format!(
            "ALTER TABLE {} ADD COLUMN {IN_FLIGHT} {ty}",
            self.table(table)
        )
    }

    /// `DELETE` of one history row, with `set` and `version` as placeholders or literals.
    pub(crate) fn delete(self, table: &Table, set: &str, version: &str) -> String {
        format!(
            "DELETE FROM {} WHERE set_name = {set} AND version = {version}",
            self.table(table)
        )
    }

    /// The server's UTC time in the history's `applied_at` format.
    fn now(self) -> &'static str {
        match self {
            Flavor::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Flavor::Postgres => {
                "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            }
            Flavor::Mysql => {
                "CONCAT(DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.'), \
                 LPAD(FLOOR(MICROSECOND(UTC_TIMESTAMP(3)) / 1000), 3, '0'), 'Z')"
            }
        }
    }

    /// The statement that begins a transaction holding the migration lock, if the flavor has
    /// one that a script can take.
    fn begin(self, table: &Table) -> String {
        match self {
            Flavor::Sqlite => "BEGIN IMMEDIATE;\n".to_owned(),
            Flavor::Postgres => format!(
                "BEGIN;\nSELECT pg_advisory_xact_lock({});\n",
                advisory_key(table)
            ),
            Flavor::Mysql => String::new(),
        }
    }
}

/// PostgreSQL's advisory lock key for a history table: the first 8 bytes of SHA-256 over
/// `strata:<table>`.
pub(crate) fn advisory_key(table: &Table) -> i64 {
    let digest = Sha256::digest(format!("strata:{table}").as_bytes());
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The SQL expression of MySQL's `GET_LOCK` name: per database and history table, within the
/// 64-character limit.
pub(crate) fn mysql_lock_name(table: &Table) -> String {
    format!(
        "CONCAT('strata:', LEFT(SHA2(CONCAT(IFNULL(DATABASE(), ''), '.', '{}'), 256), 48))",
        table.name()
    )
}

/// The statements of one step after the first `completed` (a partial row's, which took effect
/// before), with a comment saying so.
fn push_statements(
    out: &mut String,
    flavor: Flavor,
    step: &Step<'_>,
    text: &str,
    completed: u32,
) -> Result<()> {
    let statements = sql::split(text, flavor.syntax())
        .map_err(|e| e.into_error(crate::migrator::sql_origin(step), flavor.dialect().name()))?;
    let skip = usize::try_from(completed).unwrap_or(usize::MAX);
    if skip > 0 {
        if skip > statements.len() {
            return Err(Error::new(ErrorKind::PartialMismatch {
                migration: step.node.id(),
                completed,
                statements: statements.len(),
            }));
        }
        let _ = writeln!(
            out,
            "-- resumed: its first {} took effect before (partial history row); {} remain",
            if skip == 1 {
                "statement".to_owned()
            } else {
                format!("{skip} statements")
            },
            statements.len() - skip
        );
    }
    for statement in statements.iter().skip(skip) {
        push_statement(out, flavor, statement.text);
    }
    Ok(())
}

/// Builds the script of `steps` (planned by the caller from `history`: a partial row's
/// migration resumes after its completed statements).
pub(crate) fn render(
    flavor: Flavor,
    table: &Table,
    steps: &[Step<'_>],
    history: &[Record],
    title: &str,
    setup: &[String],
) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- strata offline script: {title}, {} dialect, history table {table}\n\
         -- {} step(s). Generated by strata {}; review it, then run it as a whole.",
        flavor.name(),
        steps.len(),
        env!("CARGO_PKG_VERSION")
    );
    if steps.is_empty() {
        out.push_str("-- nothing to do\n");
        return Ok(out);
    }
    if flavor == Flavor::Mysql {
        let _ = writeln!(
            out,
            "-- MySQL commits DDL implicitly: a failure stops the script part-way; the history\n\
             -- rows written so far say how far it got (no dirty rows: check the last migration).\n\
             SELECT GET_LOCK({}, 1000000000);",
            mysql_lock_name(table)
        );
    }
    if !setup.is_empty() {
        out.push_str("\n-- session setup (stays set on the connection)\n");
        for statement in setup {
            push_statement(&mut out, flavor, statement);
        }
    }
    let transactional = flavor.transactional_ddl();
    let mut in_tx = false;
    let mut created = false;
    for step in steps {
        let (text, no_transaction) = sql_of(step)?;
        let outside = no_transaction || !transactional;
        if outside && in_tx {
            out.push_str("COMMIT;\n");
            in_tx = false;
        }
        if !outside && !in_tx {
            out.push('\n');
            out.push_str(&flavor.begin(table));
            in_tx = true;
        }
        if !created {
            let _ = writeln!(out, "{};", flavor.create_history(table));
            created = true;
        }
        let verb = match step.direction {
            Direction::Up => "apply",
            Direction::Down => "revert",
        };
        let outside_note = if no_transaction {
            " (no transaction)"
        } else {
            ""
        };
        let _ = writeln!(out, "\n-- {verb} {}{outside_note}", step.node.id());
        push_statements(&mut out, flavor, step, &text, plan::resumed(history, step))?;
        let bookkeeping = match (step.direction, step.node) {
            (Direction::Up, Node::Known(m, set)) => {
                flavor.upsert(table, &applied_values(flavor, m, set.version()))
            }
            (Direction::Up, Node::Unknown(_)) => continue,
            (Direction::Down, reverted) => flavor.delete(
                table,
                &flavor.literal(reverted.set()),
                &reverted.version().to_string(),
            ),
        };
        let _ = writeln!(out, "{bookkeeping};");
    }
    if in_tx {
        out.push_str("COMMIT;\n");
    }
    if flavor == Flavor::Mysql {
        let _ = writeln!(out, "DO RELEASE_LOCK({});", mysql_lock_name(table));
    }
    Ok(out)
}

/// One statement, terminated so that the database's command-line client runs it whole.
fn push_statement(out: &mut String, flavor: Flavor, statement: &str) {
    if flavor == Flavor::Mysql && statement.contains(';') {
        // A compound body: the `mysql` client would split it at its inner semicolons. The
        // delimiter must not occur in the statement (`total$$` is a valid name).
        let delimiter = ["$$", "//", ";;", "$$$$", "@@strata@@"]
            .into_iter()
            .find(|d| !statement.contains(d))
            .unwrap_or("@@strata@@");
        let _ = writeln!(
            out,
            "DELIMITER {delimiter}\n{statement}{delimiter}\nDELIMITER ;"
        );
    } else {
        let _ = writeln!(out, "{statement};");
    }
}

/// The SQL a step runs and whether it is a no-transaction migration.
fn sql_of(step: &Step<'_>) -> Result<(String, bool)> {
    let body = match (step.node, step.direction) {
        (Node::Known(m, _), Direction::Up) => Some(&m.up),
        (Node::Known(m, _), Direction::Down) => m.down.as_ref(),
        (Node::Unknown(r), Direction::Down) => {
            let down = r.down_sql.as_deref().ok_or_else(|| irreversible(step))?;
            let no_transaction =
                crate::source::directives(&r.id(), down, false).is_ok_and(|d| d.no_transaction);
            return Ok((down.to_owned(), no_transaction));
        }
        (Node::Unknown(_), Direction::Up) => None,
    };
    match body {
        Some(Body::Sql {
            text,
            no_transaction,
        }) => Ok((text.to_string(), *no_transaction)),
        Some(Body::Function(_)) => Err(Error::new(ErrorKind::FunctionInScript {
            migration: step.node.id(),
        })),
        None => Err(irreversible(step)),
    }
}

fn irreversible(step: &Step<'_>) -> Error {
    Error::new(ErrorKind::Irreversible {
        migration: step.node.id(),
    })
}

/// The literal values of the `applied` history row of `m`, applied now by set version
/// `set_version`, in [`COLUMNS`] order.
fn applied_values(flavor: Flavor, m: &Migration, set_version: &semver::Version) -> [String; 11] {
    [
        flavor.literal(&m.set),
        m.version.to_string(),
        flavor.literal(&m.name),
        flavor.literal(&m.checksum.to_string()),
        crate::migration::NORMALIZATION.to_string(),
        m.down_sql()
            .map_or_else(|| "NULL".to_owned(), |d| flavor.literal(d)),
        flavor.literal(&set_version.to_string()),
        flavor.now().to_owned(),
        "0".to_owned(),
        flavor.literal(crate::adapter::RecordState::Applied.as_str()),
        "NULL".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Migration, Migrations, Set};

    fn migrations() -> Result<Migrations> {
        let mut set = Set::new("app", "1.2.0")?;
        set.add(
            Migration::sql(
                1,
                "users",
                "CREATE TABLE users (id INT PRIMARY KEY, note TEXT);\n",
            )?
            .with_down("DROP TABLE users;")?,
        )?;
        set.add(Migration::sql(
            2,
            "users_note",
            "-- strata:no-transaction\nCREATE INDEX users_note ON users (note);\n",
        )?)?;
        set.add(Migration::sql(
            3,
            "bump",
            "CREATE PROCEDURE bump() BEGIN UPDATE users SET note = 'it''s \\\\ done'; END;\n",
        )?)?;
        Migrations::new([set])
    }

    #[test]
    fn postgres_script_has_transactions_lock_and_history() -> Result<()> {
        let script = migrations()?.upgrade_script(Flavor::Postgres, "base", "2")?;
        let key = advisory_key(&Table::parse("strata_migrations")?);
        let expected_start = format!(
            "-- strata offline script: upgrade from `base` to `2`, postgres dialect, history table strata_migrations\n\
             -- 2 step(s). Generated by strata {}; review it, then run it as a whole.\n\
             \nBEGIN;\nSELECT pg_advisory_xact_lock({key});\nCREATE TABLE IF NOT EXISTS \"strata_migrations\" (",
            env!("CARGO_PKG_VERSION")
        );
        assert!(script.starts_with(&expected_start), "{script}");
        assert!(
            script.contains(
                "\n-- apply app@1_users\nCREATE TABLE users (id INT PRIMARY KEY, note TEXT);\nINSERT INTO \"strata_migrations\" (set_name, version, name, checksum, normalization, down_sql, set_version, applied_at, duration_ms, state, completed) VALUES ('app', 1, 'users', '"
            ),
            "{script}"
        );
        assert!(
            script.contains("'DROP TABLE users;', '1.2.0', to_char("),
            "{script}"
        );
        // The no-transaction migration runs after a COMMIT, outside any transaction.
        assert!(
            script.contains("COMMIT;\n\n-- apply app@2_users_note (no transaction)\nCREATE INDEX users_note ON users (note);\nINSERT INTO"),
            "{script}"
        );
        assert!(!script.trim_end().ends_with("COMMIT;"), "{script}");
        Ok(())
    }

    #[test]
    fn a_partial_migration_s_script_has_only_its_remaining_statements() -> Result<()> {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "three",
            "CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\nCREATE TABLE c (id INT);\n",
        )?)?;
        let migrations = Migrations::new([set])?;
        let mut history = migrations.history_at("heads")?;
        history[0].state = crate::RecordState::Partial {
            completed: 2,
            direction: Direction::Up,
        };
        let script = migrations.upgrade_script_for(Flavor::Mysql, &history, "heads")?;
        assert!(
            script.contains("\n-- apply app@1_three\n-- resumed: its first 2 statements took effect before (partial history row); 1 remain\nCREATE TABLE c (id INT);\nINSERT INTO `strata_migrations`"),
            "{script}"
        );
        assert!(!script.contains("CREATE TABLE a"), "{script}");
        history[0].state = crate::RecordState::Partial {
            completed: 4,
            direction: Direction::Up,
        };
        assert_eq!(
            migrations
                .upgrade_script_for(Flavor::Mysql, &history, "heads")
                .unwrap_err()
                .to_string(),
            "cannot resume migration `app@1_three`: its history row says 4 statements completed, but it has 3 statements now"
        );
        Ok(())
    }

    #[test]
    fn mysql_script_escapes_and_keeps_compound_statements_whole() -> Result<()> {
        let script = migrations()?.upgrade_script(Flavor::Mysql, "2", "heads")?;
        assert!(
            script.contains("DELIMITER $$\nCREATE PROCEDURE bump() BEGIN UPDATE users SET note = 'it''s \\\\ done'; END$$\nDELIMITER ;\n"),
            "{script}"
        );
        assert!(!script.contains("BEGIN;"), "no transactions: {script}");
        assert_eq!(Flavor::Mysql.literal("a'b\\c"), "'a''b\\\\c'");
        assert_eq!(Flavor::Postgres.literal("a'b\\c"), "'a''b\\c'");
        Ok(())
    }

    #[test]
    fn mysql_script_delimiters_do_not_occur_in_the_statement() -> Result<()> {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "total",
            "CREATE PROCEDURE p() BEGIN DECLARE total$$ INT DEFAULT 1; SELECT total$$; END;",
        )?)?;
        let script = Migrations::new([set])?.upgrade_script(Flavor::Mysql, "base", "heads")?;
        assert!(
            script.contains("DELIMITER //\nCREATE PROCEDURE p() BEGIN DECLARE total$$ INT DEFAULT 1; SELECT total$$; END//\nDELIMITER ;\n"),
            "{script}"
        );
        Ok(())
    }

    #[test]
    fn downgrade_script_deletes_rows_children_first() -> Result<()> {
        let mut set = Set::new("app", "1.0.0")?;
        for v in 1..=2 {
            set.add(
                Migration::sql(v, &format!("t{v}"), format!("CREATE TABLE t{v} (id INT);"))?
                    .with_down(format!("DROP TABLE t{v};"))?,
            )?;
        }
        let script = Migrations::new([set])?.downgrade_script(Flavor::Sqlite, "heads", "base")?;
        let t2 = script.find("DROP TABLE t2;").expect("t2 reverted");
        let t1 = script.find("DROP TABLE t1;").expect("t1 reverted");
        assert!(t2 < t1, "{script}");
        assert!(
            script.contains("DROP TABLE t2;\nDELETE FROM \"strata_migrations\" WHERE set_name = 'app' AND version = 2;"),
            "{script}"
        );
        assert!(script.contains("BEGIN IMMEDIATE;"), "{script}");
        Ok(())
    }
}
