//! Schema snapshots and the reversibility check, on every database.

use strata::schema::{
    Column, Comparison, ConstraintKind, Reversibility, Schema, Snapshot, check_reversible,
    check_reversible_with,
};
use strata::{Adapter, Migration, Migrations, Migrator, Set};

use super::{TestDb, TestResult};

/// Two tables with every kind of column, index and constraint the databases share.
fn shop() -> Result<Migrations, strata::Error> {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(Migration::sql(
        1,
        "users",
        "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, \
         age INTEGER DEFAULT 0, CONSTRAINT users_age CHECK (age >= 0), \
         CONSTRAINT users_email UNIQUE (email));",
    )?)?;
    set.add(Migration::sql(
        2,
        "posts",
        "CREATE TABLE posts (id INTEGER NOT NULL PRIMARY KEY, user_id INTEGER NOT NULL, \
         title VARCHAR(200), CONSTRAINT posts_user FOREIGN KEY (user_id) REFERENCES users (id));\n\
         CREATE INDEX posts_title ON posts (title);",
    )?)?;
    set.add(Migration::sql(
        3,
        "titles",
        "CREATE VIEW titles AS SELECT p.id, p.title, u.email, 'users.id' AS via \
         FROM posts p JOIN users u ON u.id = p.user_id WHERE p.title <> '';",
    )?)?;
    Migrations::new([set])
}

/// Runs `sql` on `conn` outside strata.
fn run<C: Adapter>(conn: &mut C, sql: &str) -> TestResult {
    conn.execute(sql).map_err(|e| e.to_string().into())
}

/// What differs in `found` from `expected`, in words.
pub fn differences(expected: &Schema, found: &Schema) -> Vec<String> {
    expected
        .diff(found)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_owned()).collect()
}

/// After a known set: the tables, columns, types, nullability, defaults, indexes and
/// constraints each database reports.
pub fn snapshot_reports_tables_columns_indexes_and_constraints<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut conn = db.connect();
    let m = shop()?;
    conn.migrate(&m)?;
    let schema = conn.snapshot()?;
    let backend = conn.dialect().backend;
    assert_eq!(
        names(schema.tables(), |t| t.name()),
        ["posts", "strata_migrations", "users"]
    );
    let users = schema.table("users").ok_or("no table `users`")?;
    assert_eq!(names(users.columns(), |c| c.name()), ["id", "email", "age"]);
    let types: Vec<&str> = users.columns().iter().map(Column::data_type).collect();
    let expected: &[&str] = match backend {
        "sqlite" => &["INTEGER", "VARCHAR(100)", "INTEGER"],
        "postgres" => &["integer", "character varying(100)", "integer"],
        // MariaDB and MySQL 5.7 show the display width, MySQL 8 does not.
        _ if types[0] == "int" => &["int", "varchar(100)", "int"],
        _ => &["int(11)", "varchar(100)", "int(11)"],
    };
    assert_eq!(types, expected, "{backend}");
    let email = users.column("email").ok_or("no column `email`")?;
    assert!(!email.is_nullable());
    assert_eq!(email.default(), None);
    let age = users.column("age").ok_or("no column `age`")?;
    assert!(age.is_nullable());
    assert_eq!(age.default(), Some("0"));
    let title = schema
        .table("posts")
        .and_then(|t| t.column("title"))
        .ok_or("no column `posts.title`")?;
    // MariaDB reports the implicit default of a nullable column as the text `NULL`.
    assert!(matches!(title.default(), None | Some("NULL")), "{backend}");

    let key = users.primary_key().ok_or("no primary key")?;
    assert_eq!(key.columns(), ["id"]);
    let check = users
        .constraints()
        .iter()
        .find(|c| *c.kind() == ConstraintKind::Check)
        .ok_or("no check")?;
    assert_eq!(check.name(), Some("users_age"));
    let expected = match backend {
        "mysql" => "CHECK (`age` >= 0)",
        _ => "CHECK (age >= 0)",
    };
    assert_eq!(check.definition(), expected);
    let unique = users
        .constraints()
        .iter()
        .find(|c| *c.kind() == ConstraintKind::Unique)
        .ok_or("no unique constraint")?;
    assert_eq!(unique.columns(), ["email"]);
    // SQLite does not keep the names of primary key, unique and foreign key constraints.
    let named = backend != "sqlite";
    assert_eq!(unique.name(), named.then_some("users_email"));

    let posts = schema.table("posts").ok_or("no table `posts`")?;
    let foreign = posts
        .constraints()
        .iter()
        .find(|c| matches!(c.kind(), ConstraintKind::ForeignKey { .. }))
        .ok_or("no foreign key")?;
    assert_eq!(foreign.name(), named.then_some("posts_user"));
    assert_eq!(foreign.columns(), ["user_id"]);
    assert_eq!(
        *foreign.kind(),
        ConstraintKind::ForeignKey {
            table: "users".to_owned(),
            columns: vec!["id".to_owned()],
        }
    );
    let index = posts.index("posts_title").ok_or("no index `posts_title`")?;
    assert_eq!(
        (index.columns(), index.is_unique()),
        (&["title".to_owned()][..], false)
    );
    let expected = match backend {
        "sqlite" => "CREATE INDEX posts_title ON posts (title)",
        "postgres" => "CREATE INDEX posts_title ON public.posts USING btree (title)",
        _ => "INDEX posts_title USING BTREE (title)",
    };
    assert_eq!(index.definition(), expected);
    // The index of a unique constraint is the constraint, not listed twice.
    assert!(users.index("users_email").is_none());
    Ok(())
}

/// Two snapshots of one database are equal; a manual `ALTER TABLE` is drift, named.
pub fn snapshot_is_stable_and_shows_drift<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut conn = db.connect();
    let m = shop()?;
    conn.migrate(&m)?;
    let expected = conn.snapshot()?;
    assert_eq!(expected, conn.snapshot()?);
    assert!(expected.diff(&db.connect().snapshot()?).is_empty());
    run(&mut conn, "ALTER TABLE users ADD COLUMN nick VARCHAR(20)")?;
    run(&mut conn, "CREATE INDEX users_age_idx ON users (age)")?;
    let found = conn.snapshot()?;
    assert_eq!(
        differences(&expected, &found),
        [
            "table `users`: column `nick` is extra",
            "table `users`: index `users_age_idx` is extra",
        ]
    );
    assert!(found.to_string().contains("  column `nick` "), "{found}");
    // The history table stays in a snapshot unless taken out.
    assert!(expected.table("strata_migrations").is_some());
    let without: Schema = expected.without_table(&m.history_table().to_string());
    assert!(without.table("strata_migrations").is_none());
    Ok(())
}

/// Two databases of other names migrated alike have equal snapshots: nothing in a snapshot
/// names the database (MySQL's view definitions qualify tables with it).
pub fn snapshots_of_two_databases_migrated_alike_are_equal<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let Some(other) = D::create() else {
        return Ok(());
    };
    let m = shop()?;
    let mut conn = db.connect();
    conn.migrate(&m)?;
    let mut second = other.connect();
    second.migrate(&m)?;
    let expected = conn.snapshot()?;
    assert_eq!(
        differences(&expected, &second.snapshot()?),
        Vec::<String>::new()
    );
    let view = expected.view("titles").ok_or("no view `titles`")?;
    assert!(
        view.definition().contains("'users.id'"),
        "{}",
        view.definition()
    );
    Ok(())
}

fn reversible(version: u64, name: &str, up: &'static str, down: &'static str) -> Migration {
    Migration::sql(version, name, up)
        .and_then(|m| m.with_down(down))
        .expect("a valid migration")
}

fn users() -> Migration {
    reversible(
        1,
        "users",
        "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50));",
        "DROP TABLE users;",
    )
}

/// A good set passes, a function migration with a down function included; migrations without
/// a down migration are applied once and listed.
pub fn reversibility_check_passes_a_good_set<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut set = Set::new("app", "1.0.0")?;
    set.add(users())?;
    set.add(reversible(
        2,
        "add_email",
        "ALTER TABLE users ADD COLUMN email VARCHAR(100);",
        "ALTER TABLE users DROP COLUMN email;",
    ))?;
    set.add(reversible(
        3,
        "tags",
        "CREATE TABLE tags (id INTEGER NOT NULL PRIMARY KEY, label VARCHAR(50) NOT NULL, \
         CONSTRAINT tags_label UNIQUE (label));\nCREATE INDEX tags_id_label ON tags (id, label);",
        "DROP TABLE tags;",
    ))?;
    set.add(
        Migration::function(4, "seed", |tx| {
            tx.execute("INSERT INTO users (id, name) VALUES (1, 'admin')")
        })?
        .with_down_function(|tx| tx.execute("DELETE FROM users WHERE id = 1")),
    )?;
    set.add(Migration::sql(
        5,
        "guest",
        "INSERT INTO users (id, name) VALUES (2, 'guest');",
    )?)?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    let report = check_reversible(&mut conn, &m)?;
    assert_eq!(
        report.checked(),
        ["app@1_users", "app@2_add_email", "app@3_tags", "app@4_seed"]
    );
    assert_eq!(report.irreversible(), ["app@5_guest"]);
    assert!(conn.status(&m)?.is_up_to_date());
    assert_eq!(D::count(&mut conn, "users"), Some(2));
    // From where the database is: nothing left to check.
    assert_eq!(check_reversible(&mut conn, &m)?, Reversibility::default());
    Ok(())
}

/// A down migration that forgets a column, an index or a table fails the check, naming the
/// migration and the difference; a table named `strata_locks` too, since strata keeps one only
/// on a Galera cluster (see the MySQL tests).
pub fn reversibility_check_names_what_a_down_forgets<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let cases = [
        (
            reversible(
                2,
                "add_email",
                "ALTER TABLE users ADD COLUMN email VARCHAR(100);",
                "DELETE FROM users WHERE 1 = 0;",
            ),
            "migration `app@2_add_email` is not reversible: after its down migration the schema differs from before it: table `users`: column `email` is extra",
        ),
        (
            reversible(
                2,
                "index_name",
                "CREATE INDEX users_name ON users (name);",
                "DELETE FROM users WHERE 1 = 0;",
            ),
            "migration `app@2_index_name` is not reversible: after its down migration the schema differs from before it: table `users`: index `users_name` is extra",
        ),
        (
            reversible(
                2,
                "locks",
                "CREATE TABLE strata_locks (id INTEGER NOT NULL PRIMARY KEY);",
                "DELETE FROM users WHERE 1 = 0;",
            ),
            "migration `app@2_locks` is not reversible: after its down migration the schema differs from before it: table `strata_locks` is extra",
        ),
    ];
    for (forgetful, expected) in cases {
        let mut set = Set::new("app", "1.0.0")?;
        set.add(users())?;
        set.add(forgetful)?;
        let m = Migrations::new([set])?;
        let mut conn = db.connect();
        let err = check_reversible(&mut conn, &m).unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert_eq!(err.migration(), expected.split('`').nth(1));
        // Start the next case from an empty database.
        run(&mut conn, "DROP TABLE users")?;
        run(&mut conn, "DROP TABLE strata_migrations")?;
    }
    Ok(())
}

/// An up migration that creates an index only on its first run (it counts its runs in a
/// table), and a down migration that leaves the count behind: the schema after the down
/// migration matches, but applied again the migration creates less; the check names what is
/// missing.
pub fn reversibility_check_names_what_a_reapplication_misses<D: TestDb + 'static>(
    db: &D,
) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut set = Set::new("app", "1.0.0")?;
    set.add(reversible(
        1,
        "users",
        "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50));\n\
         CREATE TABLE runs (version INTEGER NOT NULL);",
        "DROP TABLE runs;\nDROP TABLE users;",
    ))?;
    let mut conn = db.connect();
    let index_once = if conn.dialect().transactional_ddl {
        Migration::function(2, "index_once", |tx| {
            tx.execute("INSERT INTO runs (version) VALUES (2)")?;
            let conn = tx
                .downcast_mut::<D::Conn>()
                .ok_or("not the test connection")?;
            if D::count(conn, "runs") == Some(1) {
                tx.execute("CREATE INDEX users_name ON users (name)")?;
            }
            Ok(())
        })?
        .with_down_function(|tx| tx.execute("DROP INDEX users_name"))
    } else {
        // DDL in a function migration ends MySQL's transaction: a prepared statement instead.
        reversible(
            2,
            "index_once",
            "INSERT INTO runs (version) VALUES (2);\n\
             SET @ddl = IF((SELECT COUNT(*) FROM runs) = 1, \
             'CREATE INDEX users_name ON users (name)', 'DO 0');\n\
             PREPARE ddl FROM @ddl;\nEXECUTE ddl;\nDEALLOCATE PREPARE ddl;",
            "DROP INDEX users_name ON users;",
        )
    };
    set.add(index_once)?;
    let m = Migrations::new([set])?;
    let err = check_reversible(&mut conn, &m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_index_once` is not reversible: applied again after its down migration, \
         the schema differs from after its first run: table `users`: index `users_name` is missing"
    );
    assert_eq!(err.migration(), Some("app@2_index_once"));
    assert!(std::error::Error::source(&err).is_none());
    Ok(())
}

/// A down migration that leaves data behind: the schema matches, but applying the migration
/// again fails; the check says so, with the migration's failure as the source.
pub fn reversibility_check_fails_when_reapplying_fails<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut set = Set::new("app", "1.0.0")?;
    set.add(users())?;
    set.add(reversible(
        2,
        "add_theme",
        "INSERT INTO users (id, name) VALUES (1, 'theme');\n\
         CREATE TABLE themes (id INTEGER NOT NULL PRIMARY KEY);",
        "DROP TABLE themes;",
    ))?;
    let m = Migrations::new([set])?;
    let mut conn = db.connect();
    let err = check_reversible(&mut conn, &m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_add_theme` is not reversible: applying it again after its down migration failed"
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    let expected = "failed to apply migration `app@2_add_theme` (statement 1 of 2, line 1)";
    assert!(
        source.as_deref().is_some_and(|s| s.starts_with(expected)),
        "{source:?}"
    );
    Ok(())
}

/// A table whose down migration re-adds a dropped column (last: PostgreSQL and SQLite cannot
/// reorder columns), and a view whose down migration recreates it with other text but the same
/// columns; `view_down` is that recreating query.
fn deliberate(p: &str, view_down: &str) -> Result<Migrations, strata::Error> {
    let mut set = Set::new("app", "1.0.0")?;
    set.add(
        Migration::sql(
            1,
            "t",
            format!("CREATE TABLE {p}_t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"),
        )?
        .with_down(format!("DROP TABLE {p}_t;"))?,
    )?;
    set.add(
        Migration::sql(2, "drop_a", format!("ALTER TABLE {p}_t DROP COLUMN a;"))?
            .with_down(format!("ALTER TABLE {p}_t ADD COLUMN a INTEGER;"))?,
    )?;
    set.add(
        Migration::sql(
            3,
            "v",
            format!("CREATE VIEW {p}_v AS SELECT id, b FROM {p}_t;"),
        )?
        .with_down(format!("DROP VIEW {p}_v;"))?,
    )?;
    set.add(
        Migration::sql(
            4,
            "narrow_v",
            format!(
                "DROP VIEW {p}_v;\nCREATE VIEW {p}_v AS SELECT id, b FROM {p}_t WHERE b IS NOT NULL;"
            ),
        )?
        .with_down(format!("DROP VIEW {p}_v;\nCREATE VIEW {p}_v AS {view_down};"))?,
    )?;
    Migrations::new([set])?.table(&format!("{p}_history"))
}

/// The opt-in comparisons of the reversibility check: column order and view text are compared
/// by default, and left out when asked; view columns still count.
pub fn reversibility_check_options_leave_out_what_a_project_accepts<D: TestDb>(db: &D) -> TestResult
where
    D::Conn: Snapshot,
{
    let mut conn = db.connect();
    let same_columns = |p: &str| format!("SELECT id, b FROM {p}_t WHERE 1 = 1");
    // The default: the re-added column's place is a difference.
    let err = check_reversible(&mut conn, &deliberate("ro1", &same_columns("ro1"))?).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@2_drop_a` is not reversible: after its down migration the schema differs from before it: table `ro1_t`: column order `id`, `a`, `b` became `id`, `b`, `a`"
    );
    // Column order left out: the view's text is the next difference.
    let order = Comparison::default().ignore_column_order(true);
    let err = check_reversible_with(&mut conn, &deliberate("ro2", &same_columns("ro2"))?, order)
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "migration `app@4_narrow_v` is not reversible: after its down migration the schema differs from before it: view `ro2_v`: definition `"
        ),
        "{err}"
    );
    // Both left out: the set passes.
    let both = order.views_by_name_and_columns(true);
    let report = check_reversible_with(&mut conn, &deliberate("ro3", &same_columns("ro3"))?, both)?;
    assert_eq!(
        report.checked(),
        ["app@1_t", "app@2_drop_a", "app@3_v", "app@4_narrow_v"]
    );
    // A view recreated with other columns still fails, naming them.
    let err = check_reversible_with(&mut conn, &deliberate("ro4", "SELECT id FROM ro4_t")?, both)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration `app@4_narrow_v` is not reversible: after its down migration the schema differs from before it: view `ro4_v`: columns `id`, `b` became `id`"
    );
    // The snapshots report the view's columns in order.
    let schema = conn.snapshot()?;
    let view = schema.view("ro3_v").ok_or("view ro3_v")?;
    assert_eq!(view.columns(), ["id", "b"]);
    Ok(())
}
