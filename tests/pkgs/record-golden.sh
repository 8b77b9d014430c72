#!/usr/bin/env bash
# Records, with real Nix, the .drv files that the package set gives for the
# seed expression (with the fixture lock), so that rnix's evaluator can be
# compared with Nix byte for byte without Nix installed.
# Re-run after any change to pkgs/*.nix or tests/pkgs/lock-fixture.json:
#   tests/pkgs/record-golden.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r "$repo/pkgs" "$work/pkgs"
cp "$here/lock-fixture.json" "$work/pkgs/lock.json"
cp -r "$repo/fixtures/simple-python-api" "$work/simple-python-api"
rm -f "$work/simple-python-api/result"
cd "$work/simple-python-api"

plain="$(nix-instantiate default.nix --arg nixpkgs ../pkgs 2>/dev/null)"
dev="$(nix-instantiate default.nix --arg nixpkgs ../pkgs --arg isDev true 2>/dev/null)"
callpkg="$(nix-instantiate -I nixpkgs=../pkgs -E 'with (import <nixpkgs> {}); callPackage ./default.nix { isDev = true; nixpkgs = <nixpkgs>; }' 2>/dev/null)"
pyenv="$(nix-instantiate -I nixpkgs=../pkgs -E 'with import <nixpkgs> {}; python311.withPackages (ps: [ ps.fastapi ps.uvicorn ])' 2>/dev/null)"

out="$here/golden"
rm -rf "$out"
mkdir -p "$out/drvs"
jq -n --arg plain "$plain" --arg dev "$dev" --arg callpkg "$callpkg" --arg pyenv "$pyenv" \
    '{ "seed": $plain, "seed-isDev": $dev, "seed-callPackage-isDev": $callpkg, "python311-withPackages-fastapi-uvicorn": $pyenv }' \
    >"$out/seed.json"
# Every .drv (and source) of both seed variants, named by store path base name.
for p in $(nix-store -qR "$plain" "$dev" "$pyenv"); do
    case "$p" in
        *.drv) cp "$p" "$out/drvs/$(basename "$p")" ;;
    esac
done
chmod -R u+w "$out"
echo "recorded $(ls "$out/drvs" | wc -l) derivations into $out"
