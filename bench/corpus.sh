#!/bin/sh
# Helper of bench/run.sh: evaluates every test of a conformance list with EVALUATOR, the
# way ../shared/conformance/run-with.sh calls it for eval-okay tests (same flags, same
# environment), discarding the output. Only the evaluation is timed by the caller, not
# the comparison of outputs.
#   bench/corpus.sh EVALUATOR [LIST]   (default list: visible-eval-okay.txt)
# Exit status: 0, even if a test fails (failures are counted by run-with.sh, not here).
set -f
conf=${RNIX_CONFORMANCE:-$(cd "$(dirname "$0")/../.." && pwd)/shared/conformance}
ev=$1
list=${2:-$conf/visible-eval-okay.txt}
cd "$conf" || exit 2
export TEST_VAR=foo NIX_REMOTE=dummy:// NIX_STORE_DIR=/nix/store IMPURE_VAR1=foo IMPURE_VAR2=bar
export NIX_PATH=lang/dir3:lang/dir4 HOME=/fake-home
while IFS= read -r t || [ -n "$t" ]; do
    case $t in ''|'#'*) continue ;; esac
    f=lang/$t.nix
    if [ -e "lang/$t.exp.xml" ]; then
        "$ev" --eval --xml --no-location --strict "$f" >/dev/null 2>&1
    elif [ ! -e "lang/$t.exp-disabled" ]; then
        flags=""
        if [ -e "lang/$t.flags" ]; then IFS= read -r flags < "lang/$t.flags" || true; fi
        # shellcheck disable=SC2086 # flags are word-split on purpose, as run-with.sh does
        "$ev" $flags --eval --strict "$f" >/dev/null 2>&1
    fi
done < "$list"
exit 0
