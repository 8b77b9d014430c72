//! `rnix-build`: nix-build without Nix.
use clap::Parser;

fn main() {
    rnix_util::tune_malloc();
    let argv = match rnix_util::utf8_args() {
        Ok(a) => a,
        Err(e) => {
            rnix_util::errln!("{e}");
            std::process::exit(1);
        }
    };
    let args = match rnix::cli::BuildArgs::try_parse_from(
        std::iter::once("rnix-build".to_string()).chain(argv),
    ) {
        Ok(a) => a,
        Err(e) => std::process::exit(rnix::cli::report_usage_error(e)),
    };
    std::process::exit(rnix::build_cmd::run(args));
}
