//! strata's own build script (see below).
// strata's own build script: the examples embed their migrations, so a new example migration
// must trigger a rebuild, exactly as in an application's `build.rs`. The helper is included
// by path because a crate cannot depend on itself as a build-dependency; applications call
// `strata::build::watch_migrations("migrations")`.
#[path = "src/build.rs"]
#[allow(dead_code)]
mod strata_build;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Only where the examples exist (a checkout, or a package that ships them).
    if std::path::Path::new("examples/quickstart/migrations").is_dir() {
        strata_build::watch_migrations("examples/quickstart/migrations");
    }
}
