#!/usr/bin/env bash
# Installs what rnix's tests need from the machine's Debian packages, when it is missing.
# Run as root on a fresh Debian machine, it does the whole set-up; as another user it lists
# what to install and fails. scripts/test-all.sh calls it first.
# Usage: scripts/install-deps.sh [COMMAND...]   (default: every command below)
set -euo pipefail
# command -> Debian package
declare -A need=(
  [nix-instantiate]=nix-bin   # the oracle: Nix 2.8
  [skopeo]=skopeo             # reads images like a registry client
  [umoci]=umoci               # unpacks OCI layouts
  [busybox]=busybox-static    # a static shell for sandbox tests
  [/usr/bin/time]=time        # peak RSS in benchmarks and tests
  [git]=git                   # builtins.fetchGit
  [curl]=curl                 # e2e tests query servers
  [inotifywait]=inotify-tools # nixpkgs' fileset suite checks that files are not read
)
missing=()
wanted=("$@")
((${#wanted[@]})) || wanted=("${!need[@]}")
for cmd in "${wanted[@]}"; do
  [[ -n "${need[$cmd]:-}" ]] || { echo "install-deps: unknown command $cmd" >&2; exit 2; }
  if [[ "$cmd" == /* ]]; then [[ -x "$cmd" ]] && continue
  else command -v "$cmd" >/dev/null 2>&1 && continue; fi
  missing+=("${need[$cmd]}")
done
if ((${#missing[@]} == 0)); then exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "error: missing packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
