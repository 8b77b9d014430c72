#!/usr/bin/env bash
# Parallel builds: 8 independent one-second derivations with -j 1, then with -j 2.
# Expect the second to take about half as long. Not a test: prints the timings.
# Usage: bench/parallel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p realise --example parallel
