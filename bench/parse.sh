#!/bin/sh
# Parse throughput of rnix's parser vs `nix-instantiate --parse` on a large generated file.
# Usage: bench/parse.sh [SIZE_MB]   (default 10)
# Prints MB/s for rnix (parse alone, parse + canonical printing) and for nix-instantiate,
# and the speed ratio. Needs cargo; the Nix comparison is skipped (with a message) when
# nix-instantiate is not installed.
set -eu
size_mb=${1:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnix-parse-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
file=$tmp/big.nix

python3 - "$file" "$size_mb" <<'PY'
import sys
path, mb = sys.argv[1], float(sys.argv[2])
target = int(mb * 1e6)
parts = ["let\n  f = x: y: x + y;\n  g = { a, b ? 2, ... }@args: a * b;\nin rec {\n"]
n = len(parts[0]); i = 0
while n < target:
    p = (f"  attr{i} = {{\n    name = \"item-${{toString {i}}}\";\n    value = f {i} (g {{ a = {i}; }});\n"
         f"    list = [ 1 2.5 \"str\" ./some/path/{i} ({i} - 1) ];\n"
         f"    nested.deep.attr = if {i} > 3 then true else false;\n"
         f"    text = ''\n      line one\n        indented ${{toString {i}}}\n    '';\n    inherit f;\n  }};\n")
    parts.append(p); n += len(p); i += 1
parts.append("}\n")
open(path, "w").write("".join(parts))
PY
bytes=$(wc -c < "$file")
echo "generated $file: $bytes bytes"

cd "$here"
out=$(cargo bench -q -p evaluator --bench parse -- "$file" 3)
echo "$out"
rnix_total=$(echo "$out" | awk '/parse\+print/ {print $2}')

if command -v nix-instantiate >/dev/null 2>&1; then
    start=$(date +%s.%N)
    nix-instantiate --parse "$file" > /dev/null
    end=$(date +%s.%N)
    nix_s=$(echo "$end - $start" | bc -l)
    echo "$bytes $nix_s $rnix_total" | awk '{ mb = $1 / 1e6;
        printf "nix-instantiate --parse: %8.3f s  %8.2f MB/s\n", $2, mb / $2;
        printf "ratio (nix time / rnix parse+print time): %.2fx\n", $2 / $3 }'
else
    echo "nix-instantiate not found: skipping the comparison"
fi
