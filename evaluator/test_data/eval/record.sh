#!/bin/sh
# Record the expected outputs of the differential corpus with real Nix (nix-instantiate 2.8).
# Each line of exprs.txt (not starting with '#') becomes cases/NNNN.nix; the outputs of
# `nix-instantiate --eval --strict` go to NNNN.exp (stdout, on success) or NNNN.err (on
# failure), and of `--eval --strict --json` to NNNN.json.exp when that succeeds.
set -eu
cd "$(dirname "$0")"
command -v nix-instantiate >/dev/null || { echo "record.sh: nix-instantiate not found" >&2; exit 1; }
rm -rf cases
mkdir cases
export NIX_PATH=
n=0
grep -v '^#' exprs.txt | while IFS= read -r e; do
    [ -n "$e" ] || continue
    n=$((n + 1))
    f=$(printf 'cases/%04d' "$n")
    printf '%s\n' "$e" > "$f.nix"
    if nix-instantiate --eval --strict "$f.nix" > "$f.out" 2> "$f.stderr"; then
        mv "$f.out" "$f.exp"
    else
        grep -E '^error' "$f.stderr" | tail -n 1 > "$f.err" || true
        [ -s "$f.err" ] || echo "error" > "$f.err"
        rm -f "$f.out"
    fi
    rm -f "$f.stderr"
    if nix-instantiate --eval --strict --json "$f.nix" > "$f.jout" 2>/dev/null; then
        mv "$f.jout" "$f.json.exp"
    else
        rm -f "$f.jout"
    fi
done
echo "recorded $(ls cases/*.nix | wc -l) cases"
