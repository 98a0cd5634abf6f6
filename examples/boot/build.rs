//! Rebuilds the application when a file is added to (or changed in) `migrations/`: without it,
//! `include_dir!` would not see a new migration until something else changed.
fn main() {
    strata::build::watch_migrations("migrations");
}
