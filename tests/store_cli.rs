//! The root `rnix-store` binary: crash safety, concurrent adders and output formats
//! (the same checks the store crate runs against `rnix-store-lite`).

#[path = "../store/tests/common/process.rs"]
mod process;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rnix-store"))
}

#[test]
fn rnix_store_sigkill_during_add_never_leaves_partial_paths() {
    process::kill_adds_at_random(bin());
}

#[test]
fn rnix_store_two_processes_adding_the_same_path() {
    process::concurrent_adders(bin());
}

#[test]
fn rnix_store_formats_and_errors() {
    process::cli_formats(bin());
}
