//! `rnix-build`: nix-build without Nix.
use clap::Parser;

fn main() {
    let args = rnix::cli::BuildArgs::parse();
    std::process::exit(rnix::build_cmd::run(args));
}
