//! `rnix-store-lite`: the `rnix-store` command line without the operations other crates add
//! (`--realise`, `--read-log`); the store crate's process tests run it.
fn main() {
    store::cli::main_with(&[])
}
