//! The examples are built by `cargo test`; run them as a user would.

#![cfg(feature = "rusqlite")]

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let mut path = std::env::current_exe().expect("test executable path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join(name)
}

#[test]
fn quickstart_migrates_then_applies_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let run = || -> Result<String, Box<dyn std::error::Error>> {
        let out = Command::new(example("quickstart"))
            .current_dir(dir.path())
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    let first = run()?;
    assert!(
        first.starts_with("quickstart.db: applied 2 migrations"),
        "{first}"
    );
    assert!(
        first.contains("applied quickstart@20261122010000_create_users"),
        "{first}"
    );
    assert!(dir.path().join("quickstart.db").exists());
    let second = run()?;
    assert!(
        second.starts_with("quickstart.db: up to date, nothing applied"),
        "{second}"
    );
    assert!(!second.contains("applied quickstart@"), "{second}");
    assert_eq!(second.matches("  applied").count(), 2, "{second}");
    Ok(())
}
