//! Crash safety, concurrent processes and CLI formats, against `rnix-store-lite`.

mod common {
    pub mod process;
}
use common::process;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rnix-store-lite"))
}

#[test]
fn sigkill_during_add_never_leaves_partial_paths() {
    process::kill_adds_at_random(bin());
}

#[test]
fn two_processes_adding_the_same_path() {
    process::concurrent_adders(bin());
}

#[test]
fn cli_formats_and_errors() {
    process::cli_formats(bin());
}
