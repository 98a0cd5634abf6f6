//! `embed_migrations!` on real directories: what is embedded, ignored, and refused.

#![cfg(feature = "rusqlite")]

use strata::{Embedded, Migrations, Migrator, embed_migrations};

static VALID: &Embedded =
    embed_migrations!("tests/fixtures/valid", name = "fixtures", version = "3.1.4");
static ORPHAN: &Embedded = embed_migrations!("tests/fixtures/orphan_down");
static BAD_NAME: &Embedded = embed_migrations!("tests/fixtures/bad_name");

#[test]
fn embeds_pairs_directives_and_ignores_other_files() -> Result<(), strata::Error> {
    VALID.assert_valid();
    let set = VALID.to_set()?;
    assert_eq!(set.name(), "fixtures");
    assert_eq!(set.version().to_string(), "3.1.4");
    let m = set.migrations();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].to_string(), "fixtures@1_create_a");
    assert_eq!(m[0].down_sql(), Some("DROP TABLE a;\n"));
    assert!(m[1].is_no_transaction());
    // The CRLF file has the checksum of its LF form.
    assert_eq!(
        m[0].checksum(),
        strata::Checksum::of(
            "CREATE TABLE a (id INTEGER PRIMARY KEY);\nINSERT INTO a (id) VALUES (1);\n"
        )
    );
    assert_eq!(VALID.path(), "tests/fixtures/valid");
    Ok(())
}

#[test]
fn default_name_and_version_come_from_the_embedding_crate() -> Result<(), strata::Error> {
    let set = ORPHAN.to_set().map(|s| s.name().to_owned());
    // The orphan fixture is invalid; the valid one with no overrides shows the defaults.
    assert!(set.is_err());
    let set = embed_migrations!("examples/quickstart/migrations").to_set()?;
    assert_eq!(set.name(), env!("CARGO_PKG_NAME"));
    assert_eq!(set.version().to_string(), env!("CARGO_PKG_VERSION"));
    Ok(())
}

#[test]
fn invalid_directories_name_the_file() {
    assert_eq!(
        ORPHAN.to_set().unwrap_err().to_string(),
        "down migration `2_b.down.sql` has no matching `.up.sql` file"
    );
    assert_eq!(
        BAD_NAME.to_set().unwrap_err().to_string(),
        "invalid migration file name `1_Add-Users.sql`: the name must be lowercase letters, digits and `_`"
    );
}

#[test]
#[should_panic(
    expected = "invalid migrations in `tests/fixtures/orphan_down`: down migration `2_b.down.sql` has no matching `.up.sql` file"
)]
fn assert_valid_panics_with_the_error() {
    ORPHAN.assert_valid();
}

#[test]
fn embedded_no_transaction_migration_runs_outside_a_transaction()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut conn = rusqlite::Connection::open(dir.path().join("vacuum.db"))?;
    let m = Migrations::new([VALID.to_set()?])?;
    // VACUUM fails inside a transaction; as a no-transaction migration it runs.
    assert_eq!(
        conn.migrate(&m)?.applied(),
        ["fixtures@1_create_a", "fixtures@2_vacuum"]
    );
    Ok(())
}

#[test]
fn function_migrations_join_an_embedded_set() -> Result<(), Box<dyn std::error::Error>> {
    let mut set = VALID.to_set()?;
    set.add(strata::Migration::function(3, "seed", |tx| {
        tx.execute("INSERT INTO a (id) VALUES (2)")
    })?)?;
    let mut conn = rusqlite::Connection::open_in_memory()?;
    let m = Migrations::new([set])?;
    assert_eq!(conn.migrate(&m)?.applied().len(), 3);
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM a", [], |r| r.get(0))?;
    assert_eq!(n, 2);
    Ok(())
}

static MYSQL_ONLY: &Embedded = embed_migrations!("tests/fixtures/mysql_only", name = "notes");
static MYSQL_NAMED: &Embedded = embed_migrations!(
    "tests/fixtures/mysql_only",
    name = "notes",
    dialects = [Mysql]
);
static UNSPLITTABLE: &Embedded = embed_migrations!("tests/fixtures/unsplittable", name = "z");

/// Without `dialects = [...]`, loading refuses only what no compiled-in database can split: a
/// MySQL-only backslash escape loads (the boot path must not fail for a database the set never
/// runs on), while `assert_valid()` asks every compiled-in dialect and says how to name them.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn unnamed_dialects_are_lenient_at_load_and_strict_in_assert_valid() -> Result<(), strata::Error> {
    assert_eq!(MYSQL_ONLY.to_set()?.migrations().len(), 1);
    MYSQL_NAMED.assert_valid();
    let panic = std::panic::catch_unwind(|| MYSQL_ONLY.assert_valid()).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert_eq!(
        message,
        "invalid migrations in `tests/fixtures/mysql_only`: 1_notes.sql:2: invalid SQL in statement 2 for sqlite: string opened with `'` is never closed\n(files are checked with the rules of every database this build has an adapter for: sqlite, postgres, mysql; name the ones this set runs on with `embed_migrations!(\"tests/fixtures/mysql_only\", dialects = [...])`)"
    );
    assert_eq!(
        UNSPLITTABLE.to_set().unwrap_err().to_string(),
        "1_z.sql:2: invalid SQL in statement 2 for sqlite: `/*` comment is never closed"
    );
    Ok(())
}
