//! Round trips of the no-op boot (`conn.migrate(&migrations)` with everything applied) and of
//! `status`, on PostgreSQL and MySQL/MariaDB, counted by a TCP proxy in front of each server.
//!
//! A round trip is a client "turn": the client sends after having received data from the server
//! since its previous send. Pipelined messages (PostgreSQL's Parse/Bind/Execute/Sync, MySQL's
//! `COM_STMT_CLOSE` followed by the next command) are one turn. The design goal checked here:
//! the no-op boot costs at most 3 round trips whatever the number of migrations (take the lock,
//! read the history, release the lock). Every count is printed with the first bytes the client
//! sent in each turn (the SQL text of a PostgreSQL `Query`/`Parse` message or of a MySQL
//! `COM_QUERY`/`COM_STMT_PREPARE`), so a count over budget names the statements that cost it.
//!
//! Servers: `STRATA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `STRATA_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`); each test makes its own
//! database and drops it. Skipped, with a note, when a server cannot be reached, except under
//! `CI=true`. Run with `--nocapture` to see the counts.

#![cfg(all(feature = "postgres", feature = "mysql"))]

mod conformance;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use mysql::prelude::Queryable;
use postgres::{Client, NoTls};
use strata::{Migration, Migrations, Migrator, Set, State};

/// The no-op boot's budget: lock, read, unlock.
const BOOT_BUDGET: usize = 3;
const SIZES: [u64; 2] = [10, 200];
/// How many characters of a statement a turn's log line keeps.
const SHOWN: usize = 160;

// ---------------------------------------------------------------------------------------------
// The proxy.

#[derive(Clone, Copy)]
enum Protocol {
    Postgres,
    Mysql,
}

/// What the proxy saw since the last reset.
#[derive(Default)]
struct Turns {
    count: usize,
    /// The server sent something since the client's last send: the next send starts a turn.
    server_spoke: bool,
    /// Per turn, what the client sent (each chunk it wrote, decoded).
    log: Vec<Vec<String>>,
}

/// A TCP proxy on 127.0.0.1 in front of one server, one thread per direction and connection.
struct Proxy {
    addr: SocketAddr,
    turns: Arc<Mutex<Turns>>,
}

fn lock(turns: &Mutex<Turns>) -> MutexGuard<'_, Turns> {
    turns.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Proxy {
    fn start(upstream: SocketAddr, protocol: Protocol) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let turns = Arc::new(Mutex::new(Turns::default()));
        let shared = Arc::clone(&turns);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                match TcpStream::connect(upstream) {
                    Ok(server) => pipe(client, server, &shared, protocol),
                    Err(e) => eprintln!("proxy: cannot reach {upstream}: {e}"),
                }
            }
        });
        Proxy { addr, turns }
    }

    /// Starts counting from zero: the client's next send is a turn.
    fn reset(&self) {
        let mut turns = lock(&self.turns);
        turns.count = 0;
        turns.server_spoke = true;
        turns.log.clear();
    }

    /// The turns since the last reset, with what the client sent in each.
    fn take(&self) -> (usize, Vec<Vec<String>>) {
        let mut turns = lock(&self.turns);
        (turns.count, std::mem::take(&mut turns.log))
    }
}

fn pipe(client: TcpStream, server: TcpStream, turns: &Arc<Mutex<Turns>>, protocol: Protocol) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_read), Ok(server_write)) = (client.try_clone(), server.try_clone()) else {
        eprintln!("proxy: cannot clone a socket");
        return;
    };
    let up = Arc::clone(turns);
    thread::spawn(move || {
        forward(client_read, server_write, |chunk| {
            // Counted before forwarding: the server cannot answer before it has the data.
            let mut turns = lock(&up);
            let seen = describe(protocol, chunk);
            if turns.server_spoke {
                turns.server_spoke = false;
                turns.count += 1;
                turns.log.push(vec![seen]);
            } else if let Some(turn) = turns.log.last_mut() {
                turn.push(seen);
            }
        });
    });
    let down = Arc::clone(turns);
    thread::spawn(move || {
        forward(server, client, |_| {
            // Set before forwarding: the client cannot send its reply before it has the data.
            lock(&down).server_spoke = true;
        });
    });
}

fn forward(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8])) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// `bytes` as text, up to a NUL, whitespace collapsed, at most [`SHOWN`] characters.
fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() > SHOWN {
        format!("{}...", line.chars().take(SHOWN).collect::<String>())
    } else {
        line
    }
}

/// The messages in one chunk the client sent, as a line: message types, and the SQL text of
/// those that carry it. A chunk that does not start at a message boundary decodes as garbage
/// after its first message; that only happens to messages larger than the proxy's buffer.
fn describe(protocol: Protocol, chunk: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rest = chunk;
    match protocol {
        Protocol::Postgres => {
            // Frontend messages: a type byte, a big-endian length that counts itself, the body.
            while rest.len() >= 5 {
                let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                let end = (1 + len).clamp(5, rest.len());
                let body = &rest[5..end];
                parts.push(match rest[0] {
                    b'Q' => format!("Query {:?}", text(body)),
                    b'P' => {
                        let name_end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
                        let query = body.get(name_end + 1..).unwrap_or_default();
                        format!("Parse {:?}", text(query))
                    }
                    b'B' => "Bind".to_owned(),
                    b'D' => "Describe".to_owned(),
                    b'E' => "Execute".to_owned(),
                    b'S' => "Sync".to_owned(),
                    b'H' => "Flush".to_owned(),
                    b'C' => "Close".to_owned(),
                    b'X' => "Terminate".to_owned(),
                    other => format!("message {:?}", char::from(other)),
                });
                rest = &rest[end..];
            }
        }
        Protocol::Mysql => {
            // Packets: a 3-byte little-endian length, a sequence number, the payload; a
            // command's payload starts with the command byte.
            while rest.len() >= 5 {
                let len =
                    usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
                let end = (4 + len).clamp(5, rest.len());
                let payload = &rest[5..end];
                parts.push(match rest[4] {
                    0x03 => format!("COM_QUERY {:?}", text(payload)),
                    0x16 => format!("COM_STMT_PREPARE {:?}", text(payload)),
                    0x17 => {
                        let id = payload
                            .get(..4)
                            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                        format!("COM_STMT_EXECUTE (statement {id})")
                    }
                    0x19 => "COM_STMT_CLOSE".to_owned(),
                    0x1a => "COM_STMT_RESET".to_owned(),
                    0x01 => "COM_QUIT".to_owned(),
                    0x02 => format!("COM_INIT_DB {:?}", text(payload)),
                    0x0e => "COM_PING".to_owned(),
                    0x1f => "COM_RESET_CONNECTION".to_owned(),
                    other => format!("command 0x{other:02x}"),
                });
                rest = &rest[end..];
            }
        }
    }
    if !rest.is_empty() {
        parts.push(format!("{} more bytes", rest.len()));
    }
    parts.join(" + ")
}

// ---------------------------------------------------------------------------------------------
// Servers and counts.

/// A server URL's parts around its host: `scheme://user@`, `host:port`, and `?query` (the
/// database path is dropped: it is replaced by the test's own database).
fn split_url(url: &str) -> (&str, &str, &str) {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let host_start = url[authority_start..authority_end]
        .rfind('@')
        .map_or(authority_start, |i| authority_start + i + 1);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    (&url[..host_start], &url[host_start..authority_end], query)
}

/// The server's address (`host:port` of `url`, `default_port` when it has none), and the URL of
/// `database` on the server directly and through a proxy at `proxy`.
struct Urls {
    upstream: SocketAddr,
    prefix: String,
    host: String,
    query: String,
}

impl Urls {
    fn new(url: &str, default_port: u16) -> Urls {
        let (prefix, host, query) = split_url(url);
        let with_port = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:{default_port}")
        };
        let upstream = with_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve {with_port}"));
        Urls {
            upstream,
            prefix: prefix.to_owned(),
            host: host.to_owned(),
            query: query.to_owned(),
        }
    }

    fn direct(&self, database: &str) -> String {
        format!("{}{}/{database}{}", self.prefix, self.host, self.query)
    }

    /// Through the proxy, with `param` (`name=value`) added to the query when given.
    fn proxied(&self, proxy: &Proxy, database: &str, param: Option<&str>) -> String {
        let query = match (param, self.query.as_str()) {
            (None, query) => query.to_owned(),
            (Some(param), "") => format!("?{param}"),
            (Some(param), query) => format!("{query}&{param}"),
        };
        format!("{}{}/{database}{query}", self.prefix, proxy.addr)
    }
}

/// `n` migrations; migration `i` creates `t_i` and inserts a row into it.
fn migrations(n: u64) -> Migrations {
    let mut set = Set::new("app", "1.0.0").unwrap();
    for i in 1..=n {
        let sql = format!(
            "CREATE TABLE t_{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t_{i} VALUES (1);\n"
        );
        set.add(Migration::sql(i, &format!("create_t_{i}"), sql).unwrap())
            .unwrap();
    }
    Migrations::new([set]).unwrap()
}

/// One counted call: what, how many turns, what the client sent in each.
struct Count {
    call: String,
    turns: usize,
    log: Vec<Vec<String>>,
}

impl Count {
    fn print(&self) -> String {
        let mut out = format!("{}: {} round trips\n", self.call, self.turns);
        for (i, turn) in self.log.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, turn.join(" | "));
        }
        out
    }
}

/// Counts the no-op boot and `status` for each of [`SIZES`]: `apply` brings the database to
/// `n` migrations (directly, uncounted), `proxied` connects through the proxy.
fn count_calls<C: Migrator>(
    backend: &str,
    proxy: &Proxy,
    mut apply: impl FnMut(&Migrations),
    mut proxied: impl FnMut() -> C,
) -> Vec<Count> {
    let mut counts = Vec::new();
    for n in SIZES {
        let m = migrations(n);
        apply(&m);
        let mut conn = proxied();
        proxy.reset();
        let report = conn.migrate(&m).expect("the no-op boot");
        let (turns, log) = proxy.take();
        assert!(report.is_empty(), "the boot was not a no-op:\n{report}");
        counts.push(Count {
            call: format!("{backend} migrate (no-op boot), N = {n}"),
            turns,
            log,
        });
        proxy.reset();
        let status = conn.status(&m).expect("status");
        let (turns, log) = proxy.take();
        assert_eq!(
            status.filter(|s| *s == State::Applied).count(),
            usize::try_from(n).unwrap()
        );
        counts.push(Count {
            call: format!("{backend} status, N = {n}"),
            turns,
            log,
        });
    }
    for count in &counts {
        eprintln!("{}", count.print());
    }
    counts
}

/// Every call went through the proxy, and every no-op boot within [`BOOT_BUDGET`].
fn assert_boot_budget(counts: &[Count]) {
    for count in counts {
        assert!(
            count.turns > 0,
            "{}: the proxy saw nothing: the driver went around it",
            count.call
        );
    }
    let over: Vec<String> = counts
        .iter()
        .filter(|c| c.call.contains("no-op boot") && c.turns > BOOT_BUDGET)
        .map(Count::print)
        .collect();
    assert!(
        over.is_empty(),
        "the no-op boot costs more than {BOOT_BUDGET} round trips:\n{}",
        over.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The tests.

const PG_URL_VAR: &str = "STRATA_TEST_POSTGRES_URL";
const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY_URL_VAR: &str = "STRATA_TEST_MYSQL_URL";
const MY_DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A uniquely named PostgreSQL database, dropped (with its connections) when the value drops.
struct PgDb {
    admin: Client,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = self.admin.batch_execute(&sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A uniquely named MySQL database, dropped when the value drops.
struct MyDb {
    admin: mysql::Conn,
    name: String,
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        if let Err(e) = self.admin.query_drop(sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

#[test]
fn postgres_noop_boot_is_at_most_3_round_trips() {
    let Some((url, mut admin)) = conformance::reachable(PG_URL_VAR, PG_DEFAULT_URL, |url| {
        Client::connect(url, NoTls)
    }) else {
        return;
    };
    let name = conformance::unique_name();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the test database");
    let db = PgDb { admin, name };
    let urls = Urls::new(&url, 5432);
    let proxy = Proxy::start(urls.upstream, Protocol::Postgres);
    let mut direct = Client::connect(&urls.direct(&db.name), NoTls).expect("connect");
    let counts = count_calls(
        "PostgreSQL",
        &proxy,
        |m| {
            direct.migrate(m).expect("migrate");
        },
        || {
            Client::connect(&urls.proxied(&proxy, &db.name, None), NoTls)
                .expect("connect via proxy")
        },
    );
    drop(direct);
    drop(db);
    assert_boot_budget(&counts);
}

#[test]
fn mysql_noop_boot_is_at_most_3_round_trips() {
    let Some((url, mut admin)) =
        conformance::reachable(MY_URL_VAR, MY_DEFAULT_URL, |url| mysql::Conn::new(url))
    else {
        return;
    };
    let name = conformance::unique_name();
    admin
        .query_drop(format!("CREATE DATABASE `{name}`"))
        .expect("create the test database");
    let db = MyDb { admin, name };
    let urls = Urls::new(&url, 3306);
    let proxy = Proxy::start(urls.upstream, Protocol::Mysql);
    let mut direct = mysql::Conn::new(urls.direct(&db.name).as_str()).expect("connect");
    let counts = count_calls(
        "MySQL",
        &proxy,
        |m| {
            direct.migrate(m).expect("migrate");
        },
        // The driver would otherwise switch to the server's Unix socket on 127.0.0.1, around
        // the proxy.
        || {
            let url = urls.proxied(&proxy, &db.name, Some("prefer_socket=false"));
            mysql::Conn::new(url.as_str()).expect("connect via proxy")
        },
    );
    drop(direct);
    drop(db);
    assert_boot_budget(&counts);
}

#[test]
fn urls_split_around_the_host() {
    assert_eq!(
        split_url("postgres://postgres@127.0.0.1:5432/test"),
        ("postgres://postgres@", "127.0.0.1:5432", "")
    );
    assert_eq!(
        split_url("mysql://root:p@ss@db.local/test?ssl-mode=disabled"),
        ("mysql://root:p@ss@", "db.local", "?ssl-mode=disabled")
    );
    assert_eq!(
        split_url("postgres://localhost"),
        ("postgres://", "localhost", "")
    );
}
