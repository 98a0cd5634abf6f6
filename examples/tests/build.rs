//! Rebuilds the crate when a file is added to (or changed in) its `migrations/` directory.
fn main() {
    strata::build::watch_migrations("migrations");
}
