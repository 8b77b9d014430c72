#!/usr/bin/env bash
# Runs every test of the project. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
cargo test --release --workspace
