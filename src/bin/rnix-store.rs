//! `rnix-store`: see `store::cli`. Operations implemented outside the store crate
//! (`--realise`, `--read-log`) are added to `EXTRA` by their owners.

const EXTRA: &[store::cli::ExtraOp] = &[
    ("--realise", rnix::build_cmd::op_realise),
    ("--read-log", realise::cli::op_read_log),
    ("--stream-image", rnix::builders::op_stream_image),
];

fn main() {
    rnix_util::tune_malloc();
    store::cli::main_with(EXTRA)
}
