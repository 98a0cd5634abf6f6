//! Splitting on every database: what the splitter refuses runs nothing, and whitespace after
//! the last statement is never sent as a statement.

use strata::{Adapter, Migration, Migrations, Migrator, RecordState, Set};

use super::{TestDb, TestResult};

#[macro_export]
/// Stamps the splitting cases for one database type.
macro_rules! splitting_suite {
    ($db:ty) => {
        $crate::conformance_cases!(
            $db:
            unsplittable_sql_runs_nothing,
            whitespace_after_the_last_statement_is_not_a_statement,
        );
    };
}

/// Migration 1 is fine, migration 2 cannot be split: the run refuses before migration 1 runs
/// (on MySQL it would have committed), naming the file, line and statement.
pub fn unsplittable_sql_runs_nothing<D: TestDb>(db: &D) -> TestResult {
    let cases = [
        (
            "CREATE TABLE z (id INTEGER);\n/* oops\nDROP TABLE z;\nCREATE TABLE y (id INTEGER);",
            "2_bad:2: invalid SQL in statement 2 for {backend}: `/*` comment is never closed",
        ),
        (
            "CREATE TABLE z (id INTEGER);\0DROP TABLE z;",
            "2_bad:1: invalid SQL in statement 2 for {backend}: NUL byte (0x00) in the text",
        ),
        (
            "CREATE TABLE z (id INTEGER);\nINSERT INTO z VALUES ('never closed);\n",
            "2_bad:2: invalid SQL in statement 2 for {backend}: string opened with `'` is never closed",
        ),
        (
            "CREATE TABLE z (id INTEGER);\nINSERT INTO z VALUES ((1);\nCREATE TABLE y (id INTEGER);",
            "2_bad:2: invalid SQL in statement 2 for {backend}: `(` is never closed",
        ),
    ];
    for (bad, expected) in cases {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(Migration::sql(
            1,
            "first",
            "CREATE TABLE split_first (id INTEGER);",
        )?)?;
        set.add(Migration::sql(2, "bad", bad)?)?;
        let m = Migrations::new([set])?;
        let mut conn = db.connect();
        let backend = conn.dialect().backend;
        let err = conn.migrate(&m).unwrap_err();
        assert_eq!(err.to_string(), expected.replace("{backend}", backend));
        assert_eq!(D::count(&mut conn, "split_first"), None, "migration 1 ran");
        assert_eq!(D::count(&mut conn, "z"), None, "migration 2 ran");
        let rows = D::count(&mut conn, "strata_migrations").unwrap_or(0);
        assert_eq!(rows, 0, "a history row was written");
        // The offline script refuses it the same way.
        if let Some(flavor) = strata::Flavor::of(&conn.dialect()) {
            let script = m.upgrade_script(flavor, "base", "heads").unwrap_err();
            assert_eq!(script.to_string(), expected.replace("{backend}", backend));
        }
        // So does a function migration's `execute`, before running anything.
        let mut set = Set::new("app", "1.0.0")?;
        let text = bad.to_owned();
        set.add(Migration::function(1, "in_code", move |tx| {
            tx.execute(&text)
        })?)?;
        let err = conn.migrate(&Migrations::new([set])?).unwrap_err();
        let source = std::error::Error::source(&err).map(ToString::to_string);
        let line = expected.split(':').nth(1).unwrap_or_default();
        assert!(
            source.as_deref().is_some_and(
                |s| s.starts_with(&format!("invalid SQL at line {line} (statement 2)"))
            ),
            "{source:?}"
        );
        assert_eq!(D::count(&mut conn, "z"), None, "the function's SQL ran");
    }
    Ok(())
}

/// A vertical tab, form feed or other whitespace after the last `;` is no statement (MariaDB
/// answered `1065 Query was empty` to it after everything committed).
pub fn whitespace_after_the_last_statement_is_not_a_statement<D: TestDb>(db: &D) -> TestResult {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "vt",
        "CREATE TABLE vt_a (id INTEGER);\u{b}\n\u{c}\u{b}CREATE TABLE vt_b (id INTEGER);\u{b}\u{a0}\n\u{b}",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    assert_eq!(D::count(&mut conn, "vt_a"), Some(0));
    assert_eq!(D::count(&mut conn, "vt_b"), Some(0));
    let history = conn.history(&m)?;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, RecordState::Applied);
    Ok(())
}
