#!/usr/bin/env bash
# Tests pkgs/stdenv/setup.sh with the host's bash and coreutils: builds the
# stdenv's `setup` with pkgs/stdenv/builder.sh, then runs
# pkgs/stdenv/default-builder.sh by hand in a clean environment, as a
# stdenv.mkDerivation build would run.
# Usage: tests/pkgs/setup-sh.sh   (exit status 0 = all cases passed)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
stdenvSrc="$repo/pkgs/stdenv"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

hostBash="$(command -v bash)"
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The stdenv path: initialPath "/usr" gives PATH=/usr/bin (the host's tools).
env -i initialPath=/usr shell="$hostBash" setup="$stdenvSrc/setup.sh" out="$work/stdenv" \
    "$hostBash" -e "$stdenvSrc/builder.sh"
[ -f "$work/stdenv/setup" ] || { echo "FAIL: stdenv builder made no setup" >&2; exit 1; }
grep -q '^initialPath="/usr"$' "$work/stdenv/setup" || fail "setup does not record initialPath"

# runBuild NAME VAR=VALUE...: runs the generic builder for a derivation called
# NAME with the given environment; $out is $work/NAME-out.
runBuild() {
    local name="$1"
    shift
    local top="$work/$name-build"
    mkdir -p "$top"
    (cd "$top" && env -i \
        stdenv="$work/stdenv" out="$work/$name-out" outputs=out \
        NIX_BUILD_TOP="$top" TMPDIR="$top" HOME=/homeless-shelter NIX_STORE=/nix/store \
        name="$name" "$@" \
        "$hostBash" -e "$stdenvSrc/default-builder.sh") >"$work/$name.log" 2>&1
}

# 1. The seed's app: src is a directory, buildPhase = "", custom installPhase.
src1="$work/src1/api-code"
mkdir -p "$src1/sub"
echo 'print("hi")' >"$src1/main.py"
echo 'x' >"$src1/sub/data.txt"
chmod -R a-w "$src1"
if runBuild seed src="$src1" buildPhase="" \
    installPhase='mkdir -p $out/app && cp -rT $src $out/app'; then
    [ -f "$work/seed-out/app/main.py" ] || fail "seed: app/main.py missing"
    [ -f "$work/seed-out/app/sub/data.txt" ] || fail "seed: app/sub/data.txt missing"
    grep -q 'no Makefile' "$work/seed.log" || fail "seed: default buildPhase did not report the missing Makefile"
    grep -q 'Running phase: unpackPhase' "$work/seed.log" || fail "seed: unpackPhase did not run"
    grep -q 'source root is api-code' "$work/seed.log" || fail "seed: source root not found"
else
    fail "seed build failed: $(cat "$work/seed.log")"
fi

# 2. A tarball with a patch, hooks, substituteInPlace, patchShebangs and
#    propagatedBuildInputs.
mkdir -p "$work/tar/hello-1.0"
printf '#!/bin/sh\necho @greeting@ from hello\n' >"$work/tar/hello-1.0/hello.sh"
printf 'version 1\n' >"$work/tar/hello-1.0/VERSION"
(cd "$work/tar" && tar czf "$work/hello-1.0.tar.gz" hello-1.0)
cp -r "$work/tar/hello-1.0" "$work/tar/hello-1.0.orig"
printf 'version 2\n' >"$work/tar/hello-1.0/VERSION"
(cd "$work/tar" && diff -ru hello-1.0.orig hello-1.0 >"$work/version.patch" || true)
(cd "$work/tar" && diff -ru hello-1.0.orig hello-1.0 | sed 's|hello-1.0.orig/|a/|; s|hello-1.0/|b/|' >"$work/version-p1.patch" || true)
if runBuild tarball src="$work/hello-1.0.tar.gz" patches="$work/version-p1.patch" \
    greeting=Hello \
    preBuild='echo PRE-BUILD-HOOK' \
    postInstall='echo POST-INSTALL-HOOK; touch $out/post-install' \
    propagatedBuildInputs="/nix/store/00000000000000000000000000000000-dep" \
    installPhase='runHook preInstall; mkdir -p $out/bin $out/share; substituteAll hello.sh $out/bin/hello; chmod +x $out/bin/hello; cp VERSION $out/share/; substituteInPlace $out/share/VERSION --replace-fail "version" "release"; runHook postInstall'; then
    grep -q 'PRE-BUILD-HOOK' "$work/tarball.log" || fail "tarball: preBuild hook did not run"
    [ -f "$work/tarball-out/post-install" ] || fail "tarball: postInstall hook did not run"
    [ "$(cat "$work/tarball-out/share/VERSION")" = "release 2" ] || fail "tarball: patch or substituteInPlace not applied: $(cat "$work/tarball-out/share/VERSION")"
    [ "$(head -n1 "$work/tarball-out/bin/hello")" = "#!$(PATH=/usr/bin type -P sh)" ] || fail "tarball: shebang not patched: $(head -n1 "$work/tarball-out/bin/hello")"
    [ "$("$work/tarball-out/bin/hello")" = "Hello from hello" ] || fail "tarball: substituteAll did not replace @greeting@"
    [ "$(cat "$work/tarball-out/nix-support/propagated-build-inputs")" = "/nix/store/00000000000000000000000000000000-dep " ] || fail "tarball: propagated-build-inputs not written"
else
    fail "tarball build failed: $(cat "$work/tarball.log")"
fi

# 3. buildCommand (runCommand), a bin directory on PATH from buildInputs.
mkdir -p "$work/tool/bin"
printf '#!/bin/sh\necho tool-ran\n' >"$work/tool/bin/mytool"
chmod +x "$work/tool/bin/mytool"
if runBuild cmd buildInputs="$work/tool" buildCommand='mkdir -p $out; mytool > $out/result'; then
    [ "$(cat "$work/cmd-out/result")" = tool-ran ] || fail "buildCommand: buildInputs bin not on PATH"
else
    fail "buildCommand build failed: $(cat "$work/cmd.log")"
fi

# 4. dontUnpack, explicit phases, default installPhase needs make: a Makefile build.
mkdir -p "$work/mk"
printf 'all:\n\techo built > built.txt\ninstall:\n\tmkdir -p $(out)\n\tcp built.txt $(out)/\n' >"$work/mk/Makefile"
if runBuild make src="$work/mk" makeFlags="out=$work/make-out"; then
    [ "$(cat "$work/make-out/built.txt" 2>/dev/null)" = built ] || fail "make: default buildPhase/installPhase did not run make"
else
    fail "make build failed: $(cat "$work/make.log")"
fi
if runBuild nounpack dontUnpack=1 phases="unpackPhase installPhase" installPhase='mkdir -p $out; pwd > $out/dir'; then
    grep -q 'Running phase: unpackPhase' "$work/nounpack.log" && fail "dontUnpack: unpackPhase ran"
    [ -f "$work/nounpack-out/dir" ] || fail "phases: installPhase did not run"
else
    fail "nounpack build failed: $(cat "$work/nounpack.log")"
fi

# 5. A failing phase fails the build; a missing $src is reported.
if runBuild failing dontUnpack=1 buildPhase='false; echo not-reached' installPhase='mkdir -p $out'; then
    fail "a failing buildPhase did not fail the build"
fi
grep -q not-reached "$work/failing.log" && fail "a failing command did not stop the phase"
if runBuild nosrc installPhase='mkdir -p $out'; then
    fail "a build without src succeeded"
fi
grep -q 'variable $src or $srcs should point to the source' "$work/nosrc.log" || fail "missing src: no clear message"

# 6. The makeWrapper setup hook (pkgs/build-support/make-wrapper.sh), found
#    through nix-support/setup-hook of a nativeBuildInputs entry.
mkdir -p "$work/mkwrap/nix-support"
sed "s|@shell@|$hostBash|g" "$repo/pkgs/build-support/make-wrapper.sh" >"$work/mkwrap/nix-support/setup-hook"
mkdir -p "$work/prog/bin"
printf '#!/bin/sh\necho "A=$A P=$P args=$*"\n' >"$work/prog/bin/show"
chmod +x "$work/prog/bin/show"
if runBuild wrap dontUnpack=1 nativeBuildInputs="$work/mkwrap" \
    installPhase='mkdir -p $out/bin; cp '"$work/prog/bin/show"' $out/bin/show; cp $out/bin/show $out/bin/show2
      makeWrapper $out/bin/show $out/bin/wrapped --set A "x y" --prefix P : /pre --add-flags "-f"
      wrapProgram $out/bin/show2 --set-default A dflt --suffix P : /suf --append-flags "-z"'; then
    [ "$(env -i P=orig "$work/wrap-out/bin/wrapped" 1 2)" = "A=x y P=/pre:orig args=-f 1 2" ] || fail "makeWrapper: wrong wrapper: $(env -i P=orig "$work/wrap-out/bin/wrapped" 1 2)"
    [ "$(env -i "$work/wrap-out/bin/show2" 3)" = "A=dflt P=/suf args=3 -z" ] || fail "wrapProgram: wrong wrapper: $(env -i "$work/wrap-out/bin/show2" 3)"
    [ -x "$work/wrap-out/bin/.show2-wrapped" ] || fail "wrapProgram: original not kept as .show2-wrapped"
else
    fail "makeWrapper build failed: $(cat "$work/wrap.log")"
fi

# 7. A stdenv with only bash and coreutils (tools missing from the lock):
#    the seed's app still builds; patchShebangs says why it is skipped.
mkdir -p "$work/min/bin"
for tool in bash mkdir cp cat chmod basename dirname rm mv ln ls touch stat env; do
    ln -s "$(command -v "$tool")" "$work/min/bin/$tool"
done
env -i initialPath="$work/min" shell="$hostBash" setup="$stdenvSrc/setup.sh" out="$work/minstdenv" \
    "$hostBash" -e "$stdenvSrc/builder.sh"
if (cd "$work" && mkdir -p min-build && cd min-build && env -i stdenv="$work/minstdenv" out="$work/min-out" outputs=out \
    NIX_BUILD_TOP="$work/min-build" src="$src1" buildPhase="" \
    installPhase='mkdir -p $out/app && cp -rT $src $out/app' \
    "$hostBash" -e "$stdenvSrc/default-builder.sh") >"$work/min.log" 2>&1; then
    [ -f "$work/min-out/app/main.py" ] || fail "minimal stdenv: app/main.py missing"
    grep -q 'patchShebangs skipped' "$work/min.log" || fail "minimal stdenv: no message about skipped patchShebangs"
else
    fail "minimal stdenv build failed: $(cat "$work/min.log")"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures setup.sh check(s) failed" >&2
    exit 1
fi
echo "setup.sh: all checks passed"
