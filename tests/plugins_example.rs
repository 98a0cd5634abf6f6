//! The plugins example (`examples/plugins`): a host application with its own migration set and
//! two plugin crates with theirs, billing depending on accounts.
//!
//! The example's crates are workspace members, which `cargo test` of this package does not
//! build as binaries. So the host is a library (`run`, `migrations`) with a thin `main.rs`, and
//! this package has a dev-dependency on it: the tests call it in-process, exactly the code the
//! binary runs, with no nested `cargo` invocation.

use std::error::Error;

use strata::{ErrorKind, Migrations, Migrator, Set};
use strata_example_plugins_host::{self as host, accounts, billing};

const USERS: &str = "accounts@20260110090000_create_users";
const DISPLAY_NAME: &str = "accounts@20260301090000_add_display_name";
const INVOICES: &str = "billing@20260115090000_create_invoices";
const CUSTOMERS: &str = "billing@20260305090000_create_customers_view";

/// The migrations of the `applied <migration> (<duration>)` lines of a report, in order.
fn applied(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|line| line.strip_prefix("applied "))
        .filter_map(|rest| rest.split_once(" ("))
        .map(|(migration, _)| migration)
        .collect()
}

/// The status lines that say `applied`.
fn applied_in_status(out: &str) -> usize {
    let (_, status) = out.split_once("\nstatus:\n").expect("a status section");
    status
        .lines()
        .filter(|line| line.split_whitespace().nth(1) == Some("applied"))
        .count()
}

#[test]
fn host_migrates_every_set_in_dependency_order_then_applies_nothing() -> Result<(), Box<dyn Error>>
{
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("plugins.db");

    let first = host::run(&db)?;
    let header = format!(
        "{}: sets app 0.1.0, billing 0.3.0 (requires accounts ^1.2), accounts 1.2.0",
        db.display()
    );
    assert_eq!(first.lines().next(), Some(header.as_str()), "{first}");
    // Billing is registered before accounts, yet each billing migration runs after the
    // accounts migration it depends on.
    assert_eq!(
        applied(&first),
        [
            "app@20260101090000_create_settings",
            "app@20260102090000_seed_site_name",
            USERS,
            INVOICES,
            DISPLAY_NAME,
            CUSTOMERS,
        ],
        "{first}"
    );
    assert!(first.contains("\n6 steps in "), "{first}");
    assert_eq!(applied_in_status(&first), 6, "{first}");

    let second = host::run(&db)?;
    assert_eq!(second.lines().next(), Some(header.as_str()), "{second}");
    assert!(applied(&second).is_empty(), "{second}");
    assert!(second.contains("\nnothing to do ("), "{second}");
    assert_eq!(applied_in_status(&second), 6, "{second}");

    // The schema works across the sets: billing's view reads accounts' table.
    let conn = rusqlite::Connection::open(&db)?;
    conn.execute_batch(
        "INSERT INTO accounts_users (id, email, display_name) VALUES (1, 'ada@example.com', 'Ada');
         INSERT INTO billing_invoices (user_id, amount_cents) VALUES (1, 1200), (1, 300);",
    )?;
    let (name, total): (String, i64) = conn.query_row(
        "SELECT display_name, total_cents FROM billing_customers WHERE user_id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    assert_eq!((name.as_str(), total), ("Ada", 1500));
    Ok(())
}

#[test]
fn billing_without_accounts_is_refused_at_registration() -> Result<(), Box<dyn Error>> {
    let err = Migrations::new([host::MIGRATIONS.to_set()?, billing::migrations()?]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "set `billing 0.3.0` requires `accounts ^1.2` but no set `accounts` is registered"
    );
    assert!(matches!(err.kind(), ErrorKind::UnmetRequirement { .. }));
    Ok(())
}

#[test]
fn billing_with_an_older_accounts_is_refused_at_registration() -> Result<(), Box<dyn Error>> {
    // The accounts plugin as it was at 1.1.0, before display names.
    let current = accounts::migrations()?;
    let mut old = Set::new("accounts", "1.1.0")?;
    for m in current.migrations() {
        if m.version() < 20_260_301_090_000 {
            old.add(m.clone())?;
        }
    }

    let err = Migrations::new([billing::migrations()?, old.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "set `billing 0.3.0` requires `accounts ^1.2` but `accounts 1.1.0` is registered"
    );
    assert!(matches!(err.kind(), ErrorKind::UnmetRequirement { .. }));

    // Without the requirement, the `depends-on` directive still catches it, less readably.
    let err = Migrations::new([billing::MIGRATIONS.to_set()?, old]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "migration `{CUSTOMERS}` depends on `accounts@20260301090000`, which is not registered"
        )
    );
    Ok(())
}

#[test]
fn dependencies_hold_in_both_directions_and_targets_name_a_set() -> Result<(), Box<dyn Error>> {
    let m = host::migrations()?;
    let mut conn = rusqlite::Connection::open_in_memory()?;

    // Upgrading to a billing migration applies the accounts migration it depends on first.
    let report = conn.upgrade(&m, "billing@20260115090000")?;
    assert_eq!(report.applied(), [USERS, INVOICES]);
    let report = conn.upgrade(&m, "billing@head")?;
    assert_eq!(report.applied(), [DISPLAY_NAME, CUSTOMERS]);

    // Reverting an accounts migration first reverts the billing migration that depends on it.
    let report = conn.downgrade(&m, "accounts@-1")?;
    assert_eq!(report.reverted(), [CUSTOMERS, DISPLAY_NAME]);
    let report = conn.downgrade(&m, "accounts@base")?;
    assert_eq!(report.reverted(), [INVOICES, USERS]);

    // Per-set targets move one set (and what it needs), leaving the others alone.
    assert_eq!(conn.migrate(&m)?.applied().len(), 6);
    assert_eq!(conn.downgrade(&m, "billing@-1")?.reverted(), [CUSTOMERS]);
    assert_eq!(conn.downgrade(&m, "billing@base")?.reverted(), [INVOICES]);
    let status = conn.status(&m)?;
    assert_eq!(status.set("accounts").count(), 2);
    assert!(
        status
            .set("accounts")
            .all(|e| e.state == strata::State::Applied)
    );

    // One history table holds the rows of every set.
    assert_eq!(conn.migrate(&m)?.applied(), [INVOICES, CUSTOMERS]);
    let sets: Vec<String> = conn.history(&m)?.into_iter().map(|r| r.set).collect();
    assert_eq!(sets.len(), 6);
    for set in ["app", "accounts", "billing"] {
        assert_eq!(sets.iter().filter(|s| *s == set).count(), 2, "{sets:?}");
    }

    // A relative target without a set is refused when several sets could move.
    let err = conn.downgrade(&m, "-1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "target `-1` is ambiguous between sets `app`, `billing`, `accounts`: name one, as in `app@-1`"
    );
    Ok(())
}

#[test]
fn a_removed_plugin_blocks_runs_until_its_migrations_are_reverted() -> Result<(), Box<dyn Error>> {
    let mut conn = rusqlite::Connection::open_in_memory()?;
    conn.migrate(&host::migrations()?)?;

    // The next release of the host no longer ships billing: its rows are unknown.
    let without_billing = Migrations::new([host::MIGRATIONS.to_set()?, accounts::migrations()?])?;
    let err = conn.migrate(&without_billing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the database has 2 applied migrations this binary does not know: \
             `{INVOICES}` (applied by set version 0.3.0), `{CUSTOMERS}` (applied by set version 0.3.0)"
        )
    );

    // Tolerating unknown rows, the host can revert them from the down SQL stored in the history.
    let tolerant = without_billing.clone().allow_unknown(true);
    let report = conn.downgrade(&tolerant, "billing@base")?;
    assert_eq!(report.reverted(), [CUSTOMERS, INVOICES]);
    assert!(conn.migrate(&without_billing)?.is_empty());
    Ok(())
}
