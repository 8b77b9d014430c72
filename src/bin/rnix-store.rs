//! `rnix-store`: see `store::cli`. Operations implemented outside the store crate
//! (`--realise`, `--read-log`) are added to `EXTRA` by their owners.

const EXTRA: &[store::cli::ExtraOp] = &[];

fn main() {
    store::cli::main_with(EXTRA)
}
