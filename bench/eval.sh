#!/bin/sh
# Benchmark: rnix's evaluator against `nix-instantiate --eval --strict` on bench/eval/*.nix.
# Prints wall time of each and the ratio rnix/nix (lower is better for rnix).
# RNIX_INSTANTIATE overrides the rnix binary (default: a release build of rnix-instantiate).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [ -z "${RNIX_INSTANTIATE:-}" ]; then
    (cd "$root" && cargo build -q --release --bin rnix-instantiate)
    RNIX_INSTANTIATE="${CARGO_TARGET_DIR:-$root/target}/release/rnix-instantiate"
fi
command -v nix-instantiate >/dev/null || { echo "eval.sh: nix-instantiate not found" >&2; exit 1; }

now() { date +%s.%N; }
time_cmd() { # prints seconds
    s=$(now); "$@" > /tmp/rnix-bench-out.$$ 2>&1 || { cat /tmp/rnix-bench-out.$$ >&2; echo "FAILED: $*" >&2; }
    e=$(now); echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }'
}

printf '%-10s %10s %10s %8s  %s\n' program rnix nix ratio result
for f in "$here"/eval/*.nix; do
    name=$(basename "$f" .nix)
    r=$(time_cmd "$RNIX_INSTANTIATE" --eval --strict "$f")
    rout=$(cat /tmp/rnix-bench-out.$$)
    n=$(time_cmd nix-instantiate --eval --strict "$f")
    nout=$(cat /tmp/rnix-bench-out.$$)
    same=same; [ "$rout" = "$nout" ] || same="DIFFERENT ($rout vs $nout)"
    ratio=$(echo "$r $n" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }')
    printf '%-10s %9ss %9ss %8s  %s\n' "$name" "$r" "$n" "$ratio" "$same"
done
rm -f /tmp/rnix-bench-out.$$
