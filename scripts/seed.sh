#!/usr/bin/env bash
# The main job on a fresh machine: build rnix, build the seed image from
# fixtures/simple-python-api with rnix-build, load it into Docker, run it and query it.
# Usage: scripts/seed.sh [WORKDIR]   (default: a new temporary directory)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/install-deps.sh curl
cargo build --release --bins
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
cp fixtures/simple-python-api/default.nix fixtures/simple-python-api/main.py "$work/"
cd "$work"
"$root/target/release/rnix-build"
echo "result -> $(readlink result)"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker load < result
  cid=$(docker run -d -p 127.0.0.1:5000:5000 --rm simple-python-api)
  trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
  for _ in $(seq 60); do
    if out=$(curl -fsS localhost:5000 2>/dev/null); then echo "$out"; exit 0; fi
    sleep 0.5
  done
  echo "the server did not answer" >&2
  docker logs "$cid" >&2
  exit 1
else
  echo "no Docker daemon here: load the image elsewhere with 'docker load < $work/result'"
fi
