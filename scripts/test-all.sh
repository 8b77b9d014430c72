#!/usr/bin/env bash
# Runs every test of the project (the README's test command; .ci/run calls it).
# Needs: a Rust toolchain, Docker, network access to the package mirrors configured on the
# machine; the Debian packages the tests use (Nix 2.8, skopeo, ...) are installed by
# scripts/install-deps.sh when run as root. Under CI (CI=1) missing tools are failures, not skips.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CARGO_TERM_COLOR=never
cargo build --release --bins
cargo test --release --workspace --no-fail-fast -- --test-threads=2
scripts/conformance.sh "${CARGO_TARGET_DIR:-target}/release/rnix-instantiate"
# nixpkgs' own lib suites (issue 14), with rnix-instantiate standing in for nix-instantiate.
bin="${CARGO_TARGET_DIR:-target}/release/rnix-instantiate"
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
../shared/nixpkgs-lib/run.sh "$bin"
