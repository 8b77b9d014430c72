//! The `rnix-store` command line without the realiser's extra operations
//! (for developing the store crate alone: `cargo run -p store --example store-cli -- …`).
fn main() {
    store::cli::main_with(&[])
}
