#!/usr/bin/env bash
# NAR serialisation + sha256 throughput of rnix vs `nix-store --dump | sha256sum`, as a ratio.
#
#   bench/nar.sh [TREE]        (default: a generated ~256 MiB tree of small and large files)
#
# Measures, on the same tree with a warm page cache, best of $RUNS runs each:
#   nix:        nix-store --dump TREE | sha256sum
#   rnix-pipe:  rnix-store-lite --dump TREE | sha256sum
#   rnix:       rnix-store-lite --hash-path TREE          (NAR + sha256 in one process)
# and prints MB/s and the ratios rnix/nix. Writes the table to bench/nar-results.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
RUNS="${RUNS:-3}"
command -v nix-store >/dev/null || { echo "bench/nar.sh: nix-store is required for the comparison" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --release -q -p store --bin rnix-store-lite --manifest-path "$repo/Cargo.toml"
bin="$CARGO_TARGET_DIR/release/rnix-store-lite"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tree="${1:-}"
if [ -z "$tree" ]; then
  tree="$tmp/tree"
  python3 - "$tree" <<'PY'
import os, sys, random
root = sys.argv[1]
rnd = random.Random(1)
big = os.urandom(1 << 20)
for d in range(64):
    sub = os.path.join(root, f"d{d:02}", "nested")
    os.makedirs(sub)
    for f in range(200):  # 12800 small files, ~1-16 KiB
        with open(os.path.join(sub, f"f{f:03}"), "wb") as fh:
            fh.write(big[: rnd.randint(1024, 16384)])
    for f in range(3):    # 192 files of 1 MiB
        with open(os.path.join(root, f"d{d:02}", f"big{f}"), "wb") as fh:
            fh.write(big)
    os.symlink("nested/f000", os.path.join(root, f"d{d:02}", "link"))
PY
fi
size=$(nix-store --dump "$tree" | wc -c)
# warm the cache and check both agree
want=$(nix-store --dump "$tree" | sha256sum | cut -d' ' -f1)
got=$("$bin" --hash-path "$tree")
[ "$want" = "$got" ] || { echo "hash mismatch: nix $want, rnix $got" >&2; exit 1; }

# Interleave the commands round by round (the machine may be shared) and keep each one's best.
cmds=("nix-store --dump '$tree' | sha256sum" "'$bin' --dump '$tree' | sha256sum" "'$bin' --hash-path '$tree'")
bests=("" "" "")
for _ in $(seq "$RUNS"); do
  for i in 0 1 2; do
    s=$(date +%s.%N); bash -c "${cmds[$i]}" >/dev/null; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "${bests[$i]}" ] || [ "$(echo "$t < ${bests[$i]}" | bc -l)" = 1 ]; then bests[$i]=$t; fi
  done
done
t_nix=${bests[0]}; t_pipe=${bests[1]}; t_rnix=${bests[2]}
mbps() { echo "scale=1; $size / 1048576 / $1" | bc -l; }
ratio() { echo "scale=2; $t_nix / $1" | bc -l; }
out="$here/nar-results.md"
{
  echo "# NAR + sha256 throughput ($(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg), NAR size $((size / 1048576)) MiB, best of $RUNS interleaved runs)"
  echo
  echo "| command | seconds | MB/s | ratio vs nix |"
  echo "|---|---|---|---|"
  echo "| \`nix-store --dump \| sha256sum\` | $t_nix | $(mbps "$t_nix") | 1.00 |"
  echo "| \`rnix-store-lite --dump \| sha256sum\` | $t_pipe | $(mbps "$t_pipe") | $(ratio "$t_pipe") |"
  echo "| \`rnix-store-lite --hash-path\` (in-process) | $t_rnix | $(mbps "$t_rnix") | $(ratio "$t_rnix") |"
} | tee "$out"
