// sqlx::migrate! embeds the migration files at compile time; this makes Cargo rebuild when
// one is added or changed, not only when a Rust file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
