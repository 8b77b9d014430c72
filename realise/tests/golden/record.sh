#!/usr/bin/env bash
# Records golden values from real Nix (2.8, sandbox off) for the derivations in golden.nix:
#   drvs/<name>.drv   every .drv of the closure, as nix-instantiate wrote it
#   srcs/<name>       every non-derivation input source (flat files)
#   golden.json       per attribute: drv path, and per output: path, narHash, narSize, references
# Usage: realise/tests/golden/record.sh   (needs nix-instantiate, nix-build, nix-store)
set -euo pipefail
cd "$(dirname "$0")"
rm -rf drvs srcs
mkdir -p drvs srcs
attrs=$(nix-instantiate --eval --json -E 'builtins.attrNames (import ./golden.nix)' | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))')
declare -A drv
for a in $attrs; do
  drv[$a]=$(nix-instantiate golden.nix -A "$a" 2>/dev/null)
done
nix-build --option sandbox false --no-out-link golden.nix >/dev/null
for p in $(nix-store -qR "${drv[@]}"); do
  b=$(basename "$p")
  case "$p" in
    *.drv) cp "$p" "drvs/$b" ;;
    *) cp "$p" "srcs/$b" ;;
  esac
done
chmod -R u+w drvs srcs
nix-instantiate --eval --strict --json -E 'builtins.mapAttrs (n: d: { drv = d.drvPath; outputs = builtins.listToAttrs (map (o: { name = o.outputName; value = o.outPath; }) d.all); }) (import ./golden.nix)' > /tmp/rnix-golden-paths.json
python3 - <<'PY' > golden.json
import json, subprocess
def q(*a):
    return subprocess.run(["nix-store", "-q", *a], check=True, capture_output=True, text=True).stdout
paths = json.load(open("/tmp/rnix-golden-paths.json"))
out = {}
for attr, d in sorted(paths.items()):
    outs = {}
    for o, p in sorted(d["outputs"].items()):
        outs[o] = {
            "path": p,
            "narHash": q("--hash", p).strip(),
            "narSize": int(q("--size", p).strip()),
            "references": sorted(l for l in q("--references", p).split() if l),
        }
    out[attr] = {"drv": d["drv"], "outputs": outs}
print(json.dumps(out, indent=1, sort_keys=True))
PY
python3 -m json.tool golden.json >/dev/null
echo "recorded $(echo $attrs | wc -w) derivations"

# Evaluation-time fetchers: store paths Nix gives for tarball.tar.gz (content-addressed,
# so the URL does not matter).
u="file://$PWD/tarball.tar.gz"
ev() { nix-instantiate --eval --json -E "$1" 2>/dev/null; }
cat > fetchers.json <<JSON
{
  "fetchTarball": $(ev "builtins.fetchTarball \"$u\""),
  "fetchTarballNamed": $(ev "builtins.fetchTarball { url = \"$u\"; name = \"proj\"; }"),
  "fetchTarballNarHash": "$(nix-store -q --hash "$(ev "builtins.fetchTarball \"$u\"" | tr -d '"')")",
  "fetchurl": $(ev "builtins.fetchurl \"$u\""),
  "fetchurlNamed": $(ev "builtins.fetchurl { url = \"$u\"; name = \"t.tgz\"; }")
}
JSON
python3 -m json.tool fetchers.json >/dev/null
echo "recorded fetchers.json"
