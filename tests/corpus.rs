//! The corpus: migration sets in `tests/corpus/<database>/<set>/`, written in the styles of
//! real projects (diesel-style PL/pgSQL helpers, rules, `DO` blocks and extensions; MySQL
//! procedures and triggers between `DELIMITER` lines, a mysqldump file, `BEGIN NOT ATOMIC`;
//! SQLite table rebuilds under foreign keys). Three tests per set (docs/corpus.md):
//!
//! - `plain_client`: the database's own client (`psql -v ON_ERROR_STOP=1`, `sqlite3 -bail`,
//!   `mariadb`) applies the `.up.sql` files in version order, the seeded rows are checked, then
//!   it applies the `.down.sql` files in reverse and the schema must be an empty database's;
//! - `strata_matches_plain_client`: `Migrator` goes up, down to base and up again, checking the
//!   history and the seeded rows, and comparing each up with what the plain client made of the
//!   same files, and down to base with an empty database;
//! - `binary_matches_plain_client`: the same through the `strata` binary.
//!
//! Schemas are compared by their `strata::schema` snapshots (the history table left out) and
//! by what a snapshot does not read (functions, procedures, triggers, rules, types, extensions,
//! comments).
//!
//! Servers as in tests/postgres.rs and tests/mysql.rs; a missing server or client skips the
//! test with a note, except under `CI=true`, where it fails.

#![cfg(all(
    feature = "rusqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "cli"
))]

mod conformance;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use conformance::TestResult;
use strata::schema::{Schema, Snapshot};
use strata::{Adapter, Migration, Migrations, Migrator, RecordState, Set};

type Error = Box<dyn std::error::Error>;

/// A query on a corpus database and the rows it must return (one text column).
type Check = (&'static str, &'static [&'static str]);

/// A migration's `.up.sql` and `.down.sql` files.
type Files = (PathBuf, PathBuf);

/// A database kind the corpus runs on: fresh databases, its plain client, its catalog.
trait CorpusDb: Sized {
    /// The driver connection strata migrates.
    type Conn: Adapter + Snapshot;

    /// The folder under `tests/corpus/` holding this database's sets.
    const FOLDER: &'static str;

    /// The plain client's program.
    const CLIENT: &'static str;

    /// A fresh, uniquely named database; `None` when the server cannot be reached and the test
    /// may be skipped (never under `CI=true`).
    fn create() -> Option<Self>;

    /// A new connection to this database.
    fn connect(&self) -> Self::Conn;

    /// This database as the `strata` binary's `--url` takes it.
    fn url(&self) -> String;

    /// Runs `file` with the plain client against this database.
    fn run_client(&self, file: &Path) -> Result<(), Error>;

    /// The rows of `sql`, each a single text column.
    fn rows(conn: &mut Self::Conn, sql: &str) -> Result<Vec<String>, Error>;

    /// The objects a snapshot does not read, each as one sorted line.
    fn catalog(conn: &mut Self::Conn) -> Result<Vec<String>, Error>;
}

/// A failure shown as its message and the chain of its causes, one per line.
struct Failure(String);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// `result` with its error turned into a [`Failure`] that reads as strata's messages do.
fn explained(result: TestResult) -> TestResult {
    result.map_err(|e| {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            message = format!("{message}\n  caused by: {cause}");
            source = cause.source();
        }
        Box::new(Failure(message)) as Error
    })
}

/// Whether `CLIENT` runs; when it does not, a note on stderr, or a failure under `CI=true`.
fn client_available(client: &str) -> bool {
    let ran = Command::new(client)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ran.is_ok_and(|s| s.success()) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and the `{client}` client does not run: install it"
    );
    eprintln!("skipping: the `{client}` client does not run; install it to compare with it");
    false
}

/// The set in `tests/corpus/<folder>/<name>`.
fn corpus_dir(folder: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(folder)
        .join(name)
}

/// The `.up.sql` files of `dir` in version order, each with its `.down.sql`.
fn files(dir: &Path) -> Result<Vec<Files>, Error> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a file name")?;
        if let Some(stem) = name.strip_suffix(".up.sql") {
            let version: u64 = stem
                .split('_')
                .next()
                .ok_or("a version")?
                .parse()
                .map_err(|e| format!("{name}: {e}"))?;
            let down = dir.join(format!("{stem}.down.sql"));
            if !down.is_file() {
                return Err(format!("{name} has no down file").into());
            }
            files.push((version, path, down));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, up, down)| (up, down)).collect())
}

/// Runs `command` with `stdin` from `input` (when given); an error with its output when it
/// fails.
fn run_command(mut command: Command, input: Option<&Path>, what: &Path) -> Result<String, Error> {
    if let Some(input) = input {
        command.stdin(fs::File::open(input)?);
    }
    let out = command.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{} failed on {} ({}): {stderr}{}",
            command.get_program().to_string_lossy(),
            what.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
        .into());
    }
    Ok(stderr)
}

/// The snapshot and catalog of `conn`, the history table left out.
fn shape<D: CorpusDb>(conn: &mut D::Conn, history: &str) -> Result<(Schema, Vec<String>), Error> {
    let schema = conn.snapshot()?.without_table(history);
    Ok((schema, D::catalog(conn)?))
}

/// Asserts that `found` has the shape of `expected`, naming every difference.
fn assert_same_shape(what: &str, expected: &(Schema, Vec<String>), found: &(Schema, Vec<String>)) {
    let differences: Vec<String> = expected
        .0
        .diff(&found.0)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(differences, Vec::<String>::new(), "{what}");
    assert_eq!(expected.0, found.0, "{what}");
    assert_eq!(expected.1, found.1, "{what}: objects outside the snapshot");
}

/// Asserts that every check's query returns its rows on `conn`.
fn assert_rows<D: CorpusDb>(conn: &mut D::Conn, checks: &[Check], what: &str) -> TestResult {
    for (sql, expected) in checks {
        assert_eq!(D::rows(conn, sql)?, *expected, "{what}: {sql}");
    }
    Ok(())
}

/// Asserts that the history holds every migration of `m`, applied, in version order.
fn assert_history<C: Adapter>(conn: &mut C, m: &Migrations, set: &Set) -> TestResult {
    let history = conn.history(m)?;
    let found: Vec<(u64, &str, RecordState)> = history
        .iter()
        .map(|r| (r.version, r.name.as_str(), r.state))
        .collect();
    let expected: Vec<(u64, &str, RecordState)> = set
        .migrations()
        .iter()
        .map(|m| (m.version(), m.name(), RecordState::Applied))
        .collect();
    assert_eq!(found, expected);
    for (record, migration) in history.iter().zip(set.migrations()) {
        assert!(
            migration.checksum().matches_hex(&record.checksum),
            "{}",
            record.id()
        );
        assert_eq!(record.down_sql.as_deref(), migration.down_sql());
    }
    Ok(())
}

/// The set `name` of database `D` and its files; `None` when the plain client does not run
/// (and the test may be skipped).
fn load<D: CorpusDb>(name: &str) -> Result<Option<(Set, Vec<Files>)>, Error> {
    if !client_available(D::CLIENT) {
        return Ok(None);
    }
    let files = files(&corpus_dir(D::FOLDER, name))?;
    // Built with `Migration::sql` from the files rather than `Set::from_dir`, which validates
    // every file with the rules of each dialect compiled in: a MySQL-only set with backslash
    // escapes is not valid SQLite. The adapter's own dialect still splits each file before
    // anything runs, and the binary reads the directory itself.
    let mut set = Set::new(name, "1.0.0")?;
    for (up, down) in &files {
        let file = up
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a file name")?;
        let stem = file.strip_suffix(".up.sql").ok_or("an up file")?;
        let (version, migration) = stem.split_once('_').ok_or("`<version>_<name>`")?;
        set.add(
            Migration::sql(version.parse()?, migration, fs::read_to_string(up)?)?
                .with_down(fs::read_to_string(down)?)?,
        )?;
    }
    Ok(Some((set, files)))
}

/// The plain client alone: every up file in version order, the seeded rows, then every down
/// file in reverse order back to the schema of an empty database. This side owes nothing to
/// strata's splitter or runner (only the snapshot is strata's).
fn plain_client<D: CorpusDb>(name: &str, checks: &[Check]) -> TestResult {
    if !client_available(D::CLIENT) {
        return Ok(());
    }
    let files = files(&corpus_dir(D::FOLDER, name))?;
    assert!(!files.is_empty(), "the set `{name}` has files");
    let history = strata::DEFAULT_TABLE;
    let (Some(empty), Some(db)) = (D::create(), D::create()) else {
        return Ok(());
    };
    let empty = shape::<D>(&mut empty.connect(), history)?;
    for (up, _) in &files {
        db.run_client(up)?;
    }
    let mut conn = db.connect();
    assert_rows::<D>(&mut conn, checks, D::CLIENT)?;
    assert_ne!(shape::<D>(&mut conn, history)?, empty);
    for (_, down) in files.iter().rev() {
        db.run_client(down)?;
    }
    assert_same_shape(
        "the plain client's downs against an empty database",
        &empty,
        &shape::<D>(&mut conn, history)?,
    );
    Ok(())
}

/// strata: up, down to base, up again, each compared with what the plain client made of the
/// same up files, and down to base with an empty database.
fn strata_matches_plain_client<D: CorpusDb>(name: &str, checks: &[Check]) -> TestResult {
    let Some((set, files)) = load::<D>(name)? else {
        return Ok(());
    };
    let m = Migrations::new([set.clone()])?;
    let history = m.history_table().to_string();
    let (Some(empty), Some(by_strata), Some(by_client)) = (D::create(), D::create(), D::create())
    else {
        return Ok(());
    };
    let empty = shape::<D>(&mut empty.connect(), &history)?;
    for (up, _) in &files {
        by_client.run_client(up)?;
    }
    let expected = shape::<D>(&mut by_client.connect(), &history)?;

    let mut conn = by_strata.connect();
    let report = conn.migrate(&m)?;
    assert_eq!(report.applied().len(), files.len());
    assert_history(&mut conn, &m, &set)?;
    assert_rows::<D>(&mut conn, checks, "strata, first up")?;
    assert_same_shape(
        "strata's first up against the plain client",
        &expected,
        &shape::<D>(&mut conn, &history)?,
    );

    let report = conn.downgrade(&m, "base")?;
    assert_eq!(report.reverted().len(), files.len());
    assert!(conn.history(&m)?.is_empty());
    assert_same_shape(
        "strata's down to base against an empty database",
        &empty,
        &shape::<D>(&mut conn, &history)?,
    );

    let report = conn.migrate(&m)?;
    assert_eq!(report.applied().len(), files.len());
    assert_history(&mut conn, &m, &set)?;
    assert_rows::<D>(&mut conn, checks, "strata, second up")?;
    assert_same_shape(
        "strata's second up against the plain client",
        &expected,
        &shape::<D>(&mut conn, &history)?,
    );
    assert!(conn.migrate(&m)?.is_empty());
    Ok(())
}

/// Runs the `strata` binary on `db` with the set in `dir`: `args` after the URL, directory and
/// set; an error with its output when it fails.
fn strata_binary<D: CorpusDb>(db: &D, dir: &Path, set: &str, args: &[&str]) -> Result<(), Error> {
    let mut strata = Command::new(env!("CARGO_BIN_EXE_strata"));
    strata
        .arg("--url")
        .arg(db.url())
        .arg("--dir")
        .arg(dir)
        .args(["--set", set, "--quiet", "--color", "never"])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STRATA_DATABASE_URL");
    run_command(strata, None, dir).map(drop)
}

/// The same through the `strata` binary: `up`, `down base`, `up`, each compared as in
/// [`strata_matches_plain_client`].
fn binary_matches_plain_client<D: CorpusDb>(name: &str, checks: &[Check]) -> TestResult {
    let Some((set, files)) = load::<D>(name)? else {
        return Ok(());
    };
    let dir = corpus_dir(D::FOLDER, name);
    let m = Migrations::new([set.clone()])?;
    let history = m.history_table().to_string();
    let (Some(empty), Some(by_binary), Some(by_client)) = (D::create(), D::create(), D::create())
    else {
        return Ok(());
    };
    let empty = shape::<D>(&mut empty.connect(), &history)?;
    for (up, _) in &files {
        by_client.run_client(up)?;
    }
    let expected = shape::<D>(&mut by_client.connect(), &history)?;

    for round in ["first", "second"] {
        strata_binary(&by_binary, &dir, name, &["up"])?;
        let mut conn = by_binary.connect();
        assert_history(&mut conn, &m, &set)?;
        assert_rows::<D>(&mut conn, checks, &format!("the binary, {round} up"))?;
        assert_same_shape(
            &format!("the binary's {round} up against the plain client"),
            &expected,
            &shape::<D>(&mut conn, &history)?,
        );
        if round == "first" {
            strata_binary(&by_binary, &dir, name, &["down", "base"])?;
            assert!(conn.history(&m)?.is_empty());
            assert_same_shape(
                "the binary's down to base against an empty database",
                &empty,
                &shape::<D>(&mut conn, &history)?,
            );
        }
    }
    Ok(())
}

/// Stamps, per corpus set of one database, a module `<set>` with its three tests:
/// `plain_client`, `strata_matches_plain_client` and `binary_matches_plain_client`.
macro_rules! corpus_sets {
    ($db:ty: $($set:ident => $checks:expr),* $(,)?) => {
        $(
            mod $set {
                use super::*;

                const CHECKS: &[$crate::Check] = $checks;

                #[test]
                fn plain_client() -> $crate::conformance::TestResult {
                    $crate::explained($crate::plain_client::<$db>(stringify!($set), CHECKS))
                }

                #[test]
                fn binary_matches_plain_client() -> $crate::conformance::TestResult {
                    $crate::explained($crate::binary_matches_plain_client::<$db>(
                        stringify!($set),
                        CHECKS,
                    ))
                }

                #[test]
                fn strata_matches_plain_client() -> $crate::conformance::TestResult {
                    $crate::explained($crate::strata_matches_plain_client::<$db>(
                        stringify!($set),
                        CHECKS,
                    ))
                }
            }
        )*
    };
}

mod postgres {
    use super::{CorpusDb, Error};
    use ::postgres::{Client, NoTls, SimpleQueryMessage};
    use std::path::Path;
    use std::process::Command;

    const URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
    const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// A uniquely named database, dropped (with its connections) when the value drops.
    pub struct Pg {
        admin: Client,
        url: String,
        name: String,
    }

    impl CorpusDb for Pg {
        type Conn = Client;
        const FOLDER: &'static str = "postgres";
        const CLIENT: &'static str = "psql";

        fn create() -> Option<Pg> {
            let (url, mut admin) = crate::conformance::reachable(URL_VAR, DEFAULT_URL, |url| {
                Client::connect(url, NoTls)
            })?;
            let name = crate::conformance::unique_name();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create the test database");
            let (base, _) = url.rsplit_once('/').expect("a URL with a database");
            let url = format!("{base}/{name}");
            Some(Pg { admin, url, name })
        }

        fn connect(&self) -> Client {
            Client::connect(&self.url, NoTls).expect("connect to the test database")
        }

        fn url(&self) -> String {
            self.url.clone()
        }

        fn run_client(&self, file: &Path) -> Result<(), Error> {
            let mut psql = Command::new("psql");
            psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url, "-f"])
                .arg(file);
            super::run_command(psql, None, file).map(drop)
        }

        fn rows(conn: &mut Client, sql: &str) -> Result<Vec<String>, Error> {
            Ok(conn
                .simple_query(sql)?
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_owned()),
                    _ => None,
                })
                .collect())
        }

        fn catalog(conn: &mut Client) -> Result<Vec<String>, Error> {
            // User objects only: 16384 is the first OID not taken by the system, and objects
            // an extension created belong to it.
            let user = |oid: &str| {
                format!(
                    "{oid} >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend e \
                     WHERE e.objid = {oid} AND e.deptype = 'e')"
                )
            };
            let sql = format!(
                "SELECT 'function ' || p.oid::regprocedure::text || ': ' || pg_get_functiondef(p.oid) \
                 FROM pg_proc p WHERE {functions} \
                 UNION ALL SELECT 'trigger ' || t.tgname || ': ' || pg_get_triggerdef(t.oid) \
                 FROM pg_trigger t WHERE NOT t.tgisinternal \
                 UNION ALL SELECT 'rule ' || r.rulename || ': ' || pg_get_ruledef(r.oid) \
                 FROM pg_rewrite r WHERE r.rulename <> '_RETURN' AND {rules} \
                 UNION ALL SELECT 'type ' || t.typname || ': ' || t.typtype::text || ' ' || \
                 coalesce((SELECT string_agg(l.enumlabel, ',' ORDER BY l.enumsortorder) \
                 FROM pg_enum l WHERE l.enumtypid = t.oid), format_type(t.typbasetype, t.typtypmod)) || \
                 coalesce(' ' || (SELECT string_agg(pg_get_constraintdef(c.oid), ' ') \
                 FROM pg_constraint c WHERE c.contypid = t.oid), '') \
                 FROM pg_type t WHERE t.typtype IN ('e', 'd') AND {types} \
                 UNION ALL SELECT 'extension ' || x.extname FROM pg_extension x \
                 UNION ALL SELECT 'comment on ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) \
                 || ': ' || d.description FROM pg_description d \
                 WHERE d.classoid <> 'pg_extension'::regclass AND {comments}",
                functions = user("p.oid"),
                rules = user("r.oid"),
                types = user("t.oid"),
                comments = user("d.objoid"),
            );
            let mut lines = Pg::rows(conn, &sql)?;
            lines.sort();
            Ok(lines)
        }
    }

    impl Drop for Pg {
        fn drop(&mut self) {
            let dropped = self.admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
            if let Err(e) = dropped {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
        }
    }

    corpus_sets!(Pg:
        blog => &[
            (
                "SELECT display_name || ':' || role FROM users ORDER BY display_name",
                &["Ada 'the Countess' Lovelace:admin", "Grace:author"],
            ),
            (
                "SELECT title || ':' || array_to_string(tags, ',') || ':' || body FROM posts \
                 WHERE search @@ to_tsquery('simple', 'migrations')",
                &["Hello, migrations:meta,news:First line;\nsecond line"],
            ),
            (
                "SELECT u.display_name || ':' || a.posts || ':' || a.comments \
                 FROM author_activity a JOIN users u ON u.id = a.author_id ORDER BY 1",
                &["Ada 'the Countess' Lovelace:1:1", "Grace:0:0"],
            ),
            ("SELECT title || ':' || author FROM published_posts", &["Hello, migrations:Ada 'the Countess' Lovelace"]),
        ],
        shop => &[
            (
                "SELECT subject || ':' || message FROM audit_log ORDER BY id",
                &["order:created for ada", "customer:ada:placed an order"],
            ),
            (
                "SELECT sku || ':' || stock FROM products ORDER BY sku",
                &["MUG-0001:38", "PEN-0007:0", "TEE-0042:10"],
            ),
            (
                "SELECT name || ':' || sold FROM product_sales ORDER BY sku",
                &["Mug, \"large\":2", "Pen; refillable:0", "T-shirt \\ logo:2"],
            ),
            ("SELECT customer || ':' || total FROM open_orders", &["ada:57.00"]),
        ],
    );
}

mod mysql {
    use super::{CorpusDb, Error};
    use ::mysql::prelude::Queryable;
    use ::mysql::{Conn, Opts};
    use std::path::Path;
    use std::process::Command;

    const URL_VAR: &str = "STRATA_TEST_MYSQL_URL";
    const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

    /// A uniquely named database, dropped when the value drops.
    pub struct My {
        admin: Conn,
        url: String,
        name: String,
    }

    impl CorpusDb for My {
        type Conn = Conn;
        const FOLDER: &'static str = "mysql";
        const CLIENT: &'static str = "mariadb";

        fn create() -> Option<My> {
            let (url, mut admin) =
                crate::conformance::reachable(URL_VAR, DEFAULT_URL, |url| Conn::new(url))?;
            let name = crate::conformance::unique_name();
            admin
                .query_drop(format!("CREATE DATABASE `{name}`"))
                .expect("create the test database");
            let (base, _) = url.rsplit_once('/').expect("a URL with a database");
            let url = format!("{base}/{name}");
            Some(My { admin, url, name })
        }

        fn connect(&self) -> Conn {
            Conn::new(self.url.as_str()).expect("connect to the test database")
        }

        fn url(&self) -> String {
            self.url.clone()
        }

        fn run_client(&self, file: &Path) -> Result<(), Error> {
            let opts = Opts::from_url(&self.url)?;
            let mut client = Command::new("mariadb");
            // --comments: keep comments inside procedure bodies, as strata sends them (the
            // client strips them by default).
            client
                .arg("--protocol=TCP")
                .arg("--comments")
                .arg(format!("--host={}", opts.get_ip_or_hostname()))
                .arg(format!("--port={}", opts.get_tcp_port()))
                .arg(format!("--user={}", opts.get_user().unwrap_or("root")))
                .arg(&self.name);
            // The password goes through the environment, never the command line.
            client.env("MYSQL_PWD", opts.get_pass().unwrap_or(""));
            super::run_command(client, Some(file), file).map(drop)
        }

        fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<String>, Error> {
            Ok(conn
                .query::<Option<String>, _>(sql)?
                .into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".to_owned()))
                .collect())
        }

        fn catalog(conn: &mut Conn) -> Result<Vec<String>, Error> {
            let mut lines = My::rows(
                conn,
                "SELECT CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME, ' ', DATA_TYPE, ' ', \
                 IS_DETERMINISTIC, ': ', ROUTINE_DEFINITION) FROM information_schema.ROUTINES \
                 WHERE ROUTINE_SCHEMA = DATABASE() \
                 UNION ALL SELECT CONCAT('parameter ', SPECIFIC_NAME, ' ', COALESCE(PARAMETER_NAME, '-'), \
                 ' ', COALESCE(PARAMETER_MODE, '-'), ' ', DTD_IDENTIFIER) \
                 FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = DATABASE() \
                 UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', \
                 EVENT_MANIPULATION, ' ', EVENT_OBJECT_TABLE, ': ', ACTION_STATEMENT) \
                 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
            )?;
            lines.sort();
            Ok(lines)
        }
    }

    impl Drop for My {
        fn drop(&mut self) {
            if let Err(e) = self
                .admin
                .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
        }
    }

    corpus_sets!(My:
        forum => &[
            (
                "SELECT CONCAT(handle, ':', karma, ':', email_domain) FROM members ORDER BY handle",
                &["admin:0:forum.example", "o_brien:1:mail.example"],
            ),
            (
                "SELECT CONCAT(slug, ':', banner, ':', pinned) FROM topics",
                &["welcome-aboard:Rules: be kind; no spam\\ads:1"],
            ),
            (
                "SELECT CONCAT(body_length, ':', body) FROM replies",
                &["45:Glad to be here.\nSaid O'Brien; with a \"quote\""],
            ),
            ("SELECT CONCAT(title, ':', author, ':', replies) FROM topic_summary", &["Welcome Aboard:admin:1"]),
        ],
        billing => &[
            (
                "SELECT CONCAT(name, ':', balance, ':', invoices) FROM account_statement ORDER BY name",
                &["Acme \"Widgets\" Ltd:120.00:2", "Zeta\\Omega:3.00:1"],
            ),
            (
                "SELECT CONCAT(number, ':', COALESCE(due_on, '-')) FROM invoices ORDER BY number",
                &["INV-0001:2024-03-01", "INV-0002:2024-03-30", "INV-0003:-"],
            ),
            (
                "SELECT CONCAT(COUNT(*), ':', SUM(amount_cents)) FROM ledger_entries",
                &["3:12300"],
            ),
        ],
    );
}

mod sqlite {
    use super::{CorpusDb, Error};
    use rusqlite::Connection;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A database file in a temp dir of its own.
    pub struct Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl CorpusDb for Sqlite {
        type Conn = Connection;
        const FOLDER: &'static str = "sqlite";
        const CLIENT: &'static str = "sqlite3";

        fn create() -> Option<Sqlite> {
            let dir = tempfile::tempdir().expect("a temp dir");
            let path = dir.path().join("corpus.db");
            Some(Sqlite { _dir: dir, path })
        }

        fn connect(&self) -> Connection {
            Connection::open(&self.path).expect("open the test database")
        }

        fn url(&self) -> String {
            format!("sqlite:{}", self.path.display())
        }

        fn run_client(&self, file: &Path) -> Result<(), Error> {
            let mut sqlite3 = Command::new("sqlite3");
            sqlite3.arg("-bail").arg(&self.path);
            let stderr = super::run_command(sqlite3, Some(file), file)?;
            // sqlite3 reports some errors without failing when it is not interactive.
            if stderr.trim().is_empty() {
                Ok(())
            } else {
                Err(format!("sqlite3 on {}: {stderr}", file.display()).into())
            }
        }

        fn rows(conn: &mut Connection, sql: &str) -> Result<Vec<String>, Error> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, Option<String>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?.unwrap_or_else(|| "NULL".to_owned()));
            }
            Ok(out)
        }

        fn catalog(conn: &mut Connection) -> Result<Vec<String>, Error> {
            let mut lines = Sqlite::rows(
                conn,
                "SELECT 'trigger ' || name || ' on ' || tbl_name || ': ' || sql \
                 FROM sqlite_master WHERE type = 'trigger'",
            )?;
            lines.sort();
            Ok(lines)
        }
    }

    corpus_sets!(Sqlite:
        notes => &[
            (
                "SELECT notebook || ':' || notes || ':' || pinned FROM notebook_overview ORDER BY notebook",
                &["Ideas; later:1:0", "Inbox:2:1"],
            ),
            ("SELECT name || ':' || uses FROM tags ORDER BY name", &["home:1", "Work:1"]),
            (
                "SELECT n.body || ':' || t.tag FROM note_tags AS t JOIN notes AS n ON n.id = t.note_id ORDER BY n.body",
                &["Buy milk:home", "Write the corpus:Work"],
            ),
        ],
        library => &[
            (
                "SELECT title || ':' || isbn || ':' || copies FROM books ORDER BY id",
                &["The Dispossessed:978-0061054884:2", "Invisible Cities:unknown:1"],
            ),
            (
                "SELECT borrower || ':' || due_on FROM loans ORDER BY due_on",
                &["sam:2030-01-15", "kim:2030-02-01"],
            ),
            ("SELECT name FROM authors ORDER BY name", &["Italo Calvino", "Ursula K. Le Guin"]),
        ],
    );
}
