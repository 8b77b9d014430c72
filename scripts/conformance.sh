#!/usr/bin/env bash
# Runs the upstream Nix language tests (../shared/conformance) against rnix-instantiate and
# enforces the project's thresholds: every parse, eval-okay and eval-fail test, and >= 95%
# of eval-fail with MSG=1 (final error message equal to current upstream Nix's).
# Usage: scripts/conformance.sh [path/to/rnix-instantiate]   (default: target/release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/release/rnix-instantiate}"
conf="$root/../shared/conformance"
if [ ! -x "$conf/run-with.sh" ]; then
  echo "conformance: $conf/run-with.sh not found (../shared must be beside the repository)" >&2
  exit 1
fi
# Upstream's git tree holds four symlinks that the shared copy holds as plain files with the
# link target as content (git's form of a symlink where links are not checked out). Run on a
# copy with those links restored, as upstream's test data has them.
work=$(mktemp -d -t rnix-conformance.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$conf/." "$work/"
chmod -R u+w "$work"
while read -r link target; do
  if [ -f "$work/lang/$link" ] && [ "$(cat "$work/lang/$link")" = "$target" ]; then
    rm "$work/lang/$link"
    ln -s "$target" "$work/lang/$link"
  fi
done <<'LINKS'
readDir/ldir foo
readDir/linked foo/git-hates-directories
symlink-resolution/broken nonexistent
symlink-resolution/foo/overlays ../overlays
LINKS
conf=$work
fail=0
run() { # run LABEL LIST MIN_PERCENT [ENV...]
  local label=$1 list=$2 min=$3; shift 3
  local line
  line=$(env "$@" "$conf/run-with.sh" "$bin" "$conf/$list" 2>/dev/null | tail -n 1) || true
  local p f
  p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
  f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
  if [ -z "$p" ]; then echo "conformance $label: runner output not understood: $line" >&2; fail=1; return; fi
  local pct=$(( 100 * p / (p + f) ))
  printf 'conformance %-16s %4d passed %4d failed  %3d%%  (need %d%%)\n' "$label" "$p" "$f" "$pct" "$min"
  if [ $(( 100 * p )) -lt $(( min * (p + f) )) ]; then fail=1; fi
}
run parse        visible-parse.txt     100
run eval-okay    visible-eval-okay.txt 100
run eval-fail    visible-eval-fail.txt 100
run eval-fail-msg visible-eval-fail.txt 95 MSG=1
exit $fail
