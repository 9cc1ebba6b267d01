//! Rebuilds the store when a migration file is added or changed: `sqlx::migrate!` embeds the
//! folders at compile time, and on stable Rust a proc macro cannot tell cargo which files it
//! read, so without this a new migration would be missing from the binary until some source
//! file of the crate changed too.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
