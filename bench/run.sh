#!/usr/bin/env bash
# rnix benchmarks (issue 8): the one entry point. Prints a table and rewrites
# docs/BENCHMARKS.md with every figure, each the median of $RUNS runs, each comparison a
# ratio taken in the same run.
#
#   bench/run.sh
#
# Environment:
#   RUNS=5            runs per figure (median); at least 5 for the published file
#   COLD_RUNS=5       cold seed builds (each with its own empty store and a full download)
#   SECTIONS="eval corpus nixpkgslib parse nar seed image parallel debian"   a subset for development; with
#                     a subset the file goes to $W/BENCHMARKS.md unless BENCH_OUT is set
#   BENCH_OUT=FILE    where to write the Markdown (default docs/BENCHMARKS.md)
#   PROFILE=0         no perf profiles of the figures where rnix is behind
#   PARSE_MB=16 NAR_MB=300   sizes of the generated parse input and NAR tree
#   KEEP=1            keep the work directory (stores, logs, profiles)
#   NO_BUILD=1        use the release binaries already built in CARGO_TARGET_DIR
#   CARGO_TARGET_DIR  where the release binaries are built (default ./target)
# Needs: cargo, hyperfine, /usr/bin/time, python3, curl, Nix 2.8 (nix-instantiate,
# nix-store, nix-build), Docker (image section), perf (profiles).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
source "$here/lib.sh"

RUNS=${RUNS:-5}
COLD_RUNS=${COLD_RUNS:-5}
ALL="eval corpus nixpkgslib parse nar seed image parallel debian"
SECTIONS=${SECTIONS:-$ALL}
PROFILE=${PROFILE:-1}
PARSE_MB=${PARSE_MB:-16}
NAR_MB=${NAR_MB:-300}
NIXPKGS_LAYER_MB=266.7 # the seed image's layer as nixpkgs builds it (docs/ and issue 7)
conformance=${RNIX_CONFORMANCE:-$(dirname "$repo")/shared/conformance}
fixture="$repo/fixtures/simple-python-api"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

for t in cargo hyperfine python3 curl nix-instantiate nix-store nix-build; do
  command -v "$t" >/dev/null || die "$t is required (hyperfine: apt-get install hyperfine)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is required (apt-get install time)"
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"

W=$(mktemp -d "${TMPDIR:-/var/tmp}/rnix-bench.XXXXXX")
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
if [ "$SECTIONS" = "$ALL" ]; then out=${BENCH_OUT:-$repo/docs/BENCHMARKS.md}; else out=${BENCH_OUT:-$W/BENCHMARKS.md}; KEEP=1; fi
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "${NO_BUILD:-0}" = 1 ]; then
  log "using the release binaries already in $CARGO_TARGET_DIR (NO_BUILD=1)"
else
  log "building release binaries ($CARGO_TARGET_DIR)"
  cargo build --release --bins -q
fi
bin="$CARGO_TARGET_DIR/release"
RI="$bin/rnix-instantiate"; RB="$bin/rnix-build"; RS="$bin/rnix-store"
if want image; then
  [ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q --manifest-path "$here/imagewrite/Cargo.toml"
  IW="$bin/rnix-bench-imagewrite"
fi
: >"$W/summary.tsv"
profiles=() # lines for "Where the time goes"

# ---------------------------------------------------------------------------- evaluation
if want eval; then
  log "evaluation: bench/eval/*.nix, rnix-instantiate vs nix-instantiate --eval --strict"
  md eval "| program | rnix (s) | Nix 2.8 (s) | speed-up (Nix time / rnix time) | rnix peak RSS (MB) | Nix peak RSS (MB) | same output |"
  md eval "|---|---|---|---|---|---|---|"
  for f in "$here"/eval/*.nix; do
    [ -e "$f" ] || die "no programs in bench/eval/"
    n=$(basename "$f" .nix)
    case $n in
      fib) what="recursive fib 25" ;;
      foldl) what="foldl' over 100 000 elements" ;;
      sort) what="genList + sort of 50 000 ints" ;;
      attrs) what="10 000-attribute sets: listToAttrs and //" ;;
      strings) what="concatStringsSep + replaceStrings, 100 000 words" ;;
      *) what=$n ;;
    esac
    ro=$("$RI" --eval --strict "$f" 2>&1) || ro="FAILED: $ro"
    no=$(nix-instantiate --eval --strict "$f" 2>&1) || no="FAILED: $no"
    if [ "$ro" = "$no" ]; then same=yes; else same="**no**: rnix \`${ro:0:60}\`, Nix \`${no:0:60}\`"; fi
    if hf "eval-$n" -N "$RI --eval --strict $f" "nix-instantiate --eval --strict $f"; then
      r=$(hfmed "eval-$n" 0); p=$(hfmed "eval-$n" 1); s=$(ratio "$p" "$r")
      rr=$(rss_median "$RI" --eval --strict "$f"); pr=$(rss_median nix-instantiate --eval --strict "$f")
      md eval "| \`$n.nix\`: $what | $(f3 "$r") | $(f3 "$p") | **$s** | $rr | $pr | $same |"
      summary "eval $n.nix (s)" "$(f3 "$r")" "$(f3 "$p") (Nix)" "$s"
      if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
        profiles+=("Evaluation of \`$n.nix\` ($s× Nix's speed), rnix-instantiate self time: $(profile "eval-$n" "$RI" --eval --strict "$f")")
      fi
    else
      md eval "| \`$n.nix\`: $what | failed | | | | | $same |"
      summary "eval $n.nix" failed "" ""
    fi
  done
fi

# ---------------------------------------------------------------------------- nixpkgslib
# nixpkgs' own lib suites (issue 14): each suite run whole by ../shared/nixpkgs-lib/run.sh,
# once with rnix-instantiate and once with Nix 2.8's nix-instantiate standing in.
if want nixpkgslib; then
  log "nixpkgs' lib suites: misc, modules, fileset"
  runner="$(dirname "$repo")/shared/nixpkgs-lib/run.sh"
  [ -x "$runner" ] || die "no nixpkgs-lib runner at $runner"
  nixbin=$(command -v nix-instantiate)
  md nixpkgslib "| suite | rnix (s) | Nix 2.8 (s) | speed-up | rnix peak RSS (MB) | Nix peak RSS (MB) | RSS ratio |"
  md nixpkgslib "|---|---|---|---|---|---|---|"
  for suite in misc modules fileset; do
    if hf "lib-$suite" -N "$runner $RI $suite" "$runner $nixbin $suite"; then
      r=$(hfmed "lib-$suite" 0); p=$(hfmed "lib-$suite" 1); s=$(ratio "$p" "$r")
      rr=$(rss_median "$runner" "$RI" "$suite") || rr=failed
      pr=$(rss_median "$runner" "$nixbin" "$suite") || pr=failed
      md nixpkgslib "| $suite | $(f3 "$r") | $(f3 "$p") | **$s** | $rr | $pr | $(ratio "$rr" "$pr") |"
      summary "nixpkgs lib $suite (s)" "$(f3 "$r")" "$(f3 "$p") (Nix)" "$s"
    else
      md nixpkgslib "| $suite | failed | | | | | |"; summary "nixpkgs lib $suite" failed "" ""
    fi
  done
  # The fileset suite's large-directory trace (10,001 files), alone.
  big="$W/fileset-trace"; rm -rf "$big"; mkdir -p "$big/d"
  (cd "$big/d" && touch 0 $(printf '%s ' {0..9}{0..9}{0..9}{0..9}))
  libdir="$(dirname "$repo")/shared/nixpkgs-lib/lib"
  printf 'with import %s; with fileset; trace (unions (mapAttrsToList (n: _: ./d + "/${n}") (removeAttrs (builtins.readDir ./d) [ "0" ]))) null\n' "$libdir" >"$big/t.nix"
  if hf fileset-trace -N "$RI --eval $big/t.nix" "nix-instantiate --eval $big/t.nix"; then
    r=$(hfmed fileset-trace 0); p=$(hfmed fileset-trace 1); s=$(ratio "$p" "$r")
    md nixpkgslib "| \`lib.fileset.trace\` of a 10,001-file directory | $(f3 "$r") | $(f3 "$p") | **$s** | | | |"
    summary "fileset trace, 10,001 files (s)" "$(f3 "$r")" "$(f3 "$p") (Nix)" "$s"
  fi
fi

# ---------------------------------------------------------------------------- corpus
if want corpus; then
  log "evaluation: the visible eval-okay conformance corpus"
  list="$conformance/visible-eval-okay.txt"
  [ -r "$list" ] || die "no conformance list at $list (set RNIX_CONFORMANCE)"
  ntests=$(grep -cvE '^(#|$)' "$list")
  passes=$("$conformance/run-with.sh" "$RI" "$list" 2>/dev/null | tail -n 1) || true
  if hf corpus -N "$here/corpus.sh $RI" "$here/corpus.sh nix-instantiate"; then
    r=$(hfmed corpus 0); p=$(hfmed corpus 1); s=$(ratio "$p" "$r")
    md corpus "| corpus | rnix (s) | Nix 2.8 (s) | speed-up | rnix conformance |"
    md corpus "|---|---|---|---|---|"
    md corpus "| $ntests eval-okay tests of \`visible-eval-okay.txt\`, one process each | $(f3 "$r") | $(f3 "$p") | **$s** | $passes |"
    summary "eval corpus, $ntests tests (s)" "$(f3 "$r")" "$(f3 "$p") (Nix)" "$s"
    if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
      profiles+=("Conformance corpus ($s× Nix's speed), self time over all $ntests processes: $(profile corpus "$here/corpus.sh" "$RI")")
    fi
  else
    md corpus "corpus run failed"; summary "eval corpus" failed "" ""
  fi
fi

# ---------------------------------------------------------------------------- parse
if want parse; then
  log "parsing: generated ${PARSE_MB} MiB file, rnix-instantiate --parse vs nix-instantiate --parse"
  big="$W/large.nix"
  python3 "$here/gen_large_nix.py" "$big" "$PARSE_MB"
  bytes=$(stat -c %s "$big")
  "$RI" --parse "$big" >"$W/parse.rnix" 2>&1 || warn "rnix --parse failed: $(tail -n 2 "$W/parse.rnix")"
  nix-instantiate --parse "$big" >"$W/parse.nix" 2>&1 || die "nix-instantiate --parse failed"
  if cmp -s "$W/parse.rnix" "$W/parse.nix"; then same="yes (byte-identical)"
  elif python3 - "$W/parse.rnix" "$W/parse.nix" <<'PY'
import re, sys
# Nix 2.8 prints a function's formals in the order of its symbols' addresses; compare sorted.
f = lambda s: re.sub(r"\{ ([^{}]*?) \} @ args:", lambda m: "{ " + ", ".join(sorted(m.group(1).split(", "))) + " } @ args:", s)
a, b = (open(p).read() for p in sys.argv[1:])
sys.exit(0 if f(a) == f(b) else 1)
PY
  then same="yes, but for the order of formals (Nix 2.8 prints them in symbol-address order)"
  else same="**no** (outputs differ)"; fi
  rm -f "$W/parse.rnix" "$W/parse.nix"
  if hf parse -N "$RI --parse $big" "nix-instantiate --parse $big"; then
    r=$(hfmed parse 0); p=$(hfmed parse 1)
    rt=$(f1 "$bytes / 1e6 / $r"); pt=$(f1 "$bytes / 1e6 / $p"); s=$(ratio "$p" "$r")
    rr=$(rss_median "$RI" --parse "$big"); pr=$(rss_median nix-instantiate --parse "$big")
    md parse "| input | rnix | Nix 2.8 | ratio (rnix MB/s / Nix MB/s) | same output |"
    md parse "|---|---|---|---|---|"
    md parse "| generated package-set-like file, $(f1 "$bytes / 1e6") MB (\`bench/gen_large_nix.py\`), parse + print | $rt MB/s ($(f3 "$r") s, $rr MB RSS) | $pt MB/s ($(f3 "$p") s, $pr MB RSS) | **$s** | $same |"
    summary "parse (MB/s)" "$rt" "$pt (Nix)" "$s"
    if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
      profiles+=("Parsing ($s× Nix's throughput), rnix-instantiate --parse self time: $(profile parse "$RI" --parse "$big")")
    fi
  else
    md parse "parse run failed"; summary "parse" failed "" ""
  fi
  rm -f "$big"
fi

# ---------------------------------------------------------------------------- NAR
if want nar; then
  log "NAR + sha256: generated ${NAR_MB} MiB tree"
  tree="$W/tree"
  python3 - "$tree" "$NAR_MB" <<'PY'
import os, sys, random
root, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
big = os.urandom(1 << 20)
dirs = max(1, mb * 64 // 300)
for d in range(dirs):  # per directory: 200 small files (1-16 KiB), 3 files of 1 MiB, a symlink
    sub = os.path.join(root, f"d{d:03}", "nested")
    os.makedirs(sub)
    for f in range(200):
        with open(os.path.join(sub, f"f{f:03}"), "wb") as fh:
            fh.write(big[: rnd.randint(1024, 16384)])
    for f in range(3):
        with open(os.path.join(root, f"d{d:03}", f"big{f}"), "wb") as fh:
            fh.write(big)
    os.symlink("nested/f000", os.path.join(root, f"d{d:03}", "link"))
PY
  size=$(nix-store --dump "$tree" | wc -c)
  want_d=$(nix-store --dump "$tree" | sha256sum | cut -d' ' -f1)
  got_d=$("$RS" --dump "$tree" | sha256sum | cut -d' ' -f1)
  got_h=$("$RS" --hash-path "$tree" 2>&1) || true
  if [ "$want_d" = "$got_d" ] && [ "$want_d" = "$got_h" ]; then same=yes
  else same="**no** (Nix $want_d, rnix --dump $got_d, rnix --hash-path $got_h)"; fi
  if hf nar -S bash "nix-store --dump $tree | sha256sum" "$RS --dump $tree | sha256sum" "$RS --hash-path $tree"; then
    p=$(hfmed nar 0); r1=$(hfmed nar 1); r2=$(hfmed nar 2)
    mbs() { f1 "$size / 1e6 / $1"; }
    md nar "NAR of $(f1 "$size / 1e6") MB ($(find "$tree" -type f | wc -l) files; \`bench/run.sh\` generates it), page cache warm; hashes equal to Nix's: $same."
    md nar ""
    md nar "| command | MB/s | s | ratio (vs Nix's MB/s) |"
    md nar "|---|---|---|---|"
    md nar "| \`nix-store --dump \| sha256sum\` (peer) | $(mbs "$p") | $(f3 "$p") | 1.00 |"
    md nar "| \`rnix-store --dump \| sha256sum\` | $(mbs "$r1") | $(f3 "$r1") | **$(ratio "$p" "$r1")** |"
    md nar "| \`rnix-store --hash-path\` (NAR + sha256 in one process) | $(mbs "$r2") | $(f3 "$r2") | **$(ratio "$p" "$r2")** |"
    summary "NAR+sha256 (MB/s)" "$(mbs "$r2")" "$(mbs "$p") (Nix)" "$(ratio "$p" "$r2")"
    s=$(ratio "$p" "$r1")
    if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
      profiles+=("NAR dump through a pipe ($s× Nix's throughput), self time of rnix-store --dump | sha256sum: $(profile nar bash -c "'$RS' --dump '$tree' | sha256sum")")
    fi
  else
    md nar "NAR run failed"; summary "NAR" failed "" ""
  fi
  rm -rf "$tree"
fi

# ---------------------------------------------------------------------------- seed build
seed_ok=0
if want seed || want image; then
  log "seed build: $COLD_RUNS cold builds, each with an empty store"
  walls=(); rsss=(); cpus=(); bytes_list=()
  for i in $(seq "$COLD_RUNS"); do
    app="$W/app$i"; mkdir -p "$app"
    cp "$fixture/default.nix" "$fixture/main.py" "$app/"
    st="$W/store$i"
    if timed cold env -C "$app" RNIX_STORE="$st" "$RB"; then
      b=$(cat "$st"/nix/var/rnix/log/* 2>/dev/null | sed -n 's/^downloaded \([0-9]*\) bytes$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
      walls+=("$cold_wall"); rsss+=("$cold_rss"); cpus+=("$cold_cpu"); bytes_list+=("$b")
      echo "cold run $i: ${cold_wall} s, ${cold_rss} MB peak RSS, ${cold_cpu} s CPU, $b bytes downloaded" >&2
      [ "$i" = 1 ] || rm -rf "$st" "$app"
    else
      warn "cold build $i failed: $(tail -n 5 "$W/last.log")"
    fi
  done
  if [ "${#walls[@]}" -gt 0 ] && [ -e "$W/app1/result" ]; then
    seed_ok=1
    st="$W/store1"; app="$W/app1"
    image=$(readlink -f "$app/result")
    drv=$(env -C "$app" RNIX_STORE="$st" "$RI" default.nix 2>/dev/null | tail -n 1)
    cw=$(median "${walls[@]}"); crss=$(median "${rsss[@]}"); ccpu=$(median "${cpus[@]}"); cb=$(median "${bytes_list[@]}")
    # Download floor: the same files, plain sequential curl from the same mirrors.
    fl=$(python3 "$here/floor.py" "$st/nix/var/rnix/log" "$RUNS") || fl=""
    if [ -n "$fl" ]; then
      thr=$(python3 -c 'import json, statistics, sys; d = json.loads(sys.argv[1]); print(statistics.median(r["bytes"] / r["seconds"] for r in d["runs"]) / 1e6)' "$fl")
      nfiles=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["files"])' "$fl")
      floor=$(f2 "$cb / 1e6 / $thr")
    else
      thr=""; nfiles="?"; floor=""
    fi
    md seed "| build | wall (s) | peak RSS (MB) | CPU user+sys (s) | reference | ratio |"
    md seed "|---|---|---|---|---|---|"
    if [ -n "$floor" ]; then
      md seed "| cold (empty store), median of ${#walls[@]}: $(f1 "$cb / 1e6") MB downloaded in $nfiles files | $(f1 "$cw") | $crss | $(f1 "$ccpu") | download floor $floor s ($(f1 "$thr") MB/s: plain sequential \`curl\` of the same files from the same mirrors, median of $RUNS) | **$(ratio "$cw" "$floor")× the floor** |"
      summary "seed cold build (s)" "$(f1 "$cw")" "$floor (download floor)" "$(ratio "$cw" "$floor")x floor"
    else
      md seed "| cold (empty store), median of ${#walls[@]}: $(f1 "$cb / 1e6") MB downloaded | $(f1 "$cw") | $crss | $(f1 "$ccpu") | download floor not measured (floor.py failed) | |"
      summary "seed cold build (s)" "$(f1 "$cw")" "" ""
    fi
    # Warm no-op rebuild.
    ws=(); wr=()
    for i in $(seq "$RUNS"); do
      timed warm env -C "$app" RNIX_STORE="$st" "$RB" || warn "warm rebuild failed: $(tail -n 3 "$W/last.log")"
      ws+=("$warm_wall"); wr+=("$warm_rss")
    done
    ww=$(median "${ws[@]}"); wrss=$(median "${wr[@]}")
    md seed "| warm no-op rebuild (all valid), median of $RUNS | $(f2 "$ww") | $wrss | | | |"
    summary "seed warm no-op rebuild (s)" "$(f2 "$ww")" "" ""
  else
    md seed "The cold seed build failed: $(tail -n 5 "$W/last.log" | tr '\n' ' ')"
    summary "seed cold build" failed "" ""
  fi
fi

# ---------------------------------------------------------------------------- image
if want image && [ "$seed_ok" = 1 ]; then
  log "image: sizes, layers, writer throughput, docker load"
  comp=$(stat -c %s "$image")
  unc=$(gzip -dc "$image" | wc -c)
  layers=$(tar -xzOf "$image" manifest.json | python3 -c 'import json, sys; print(sum(len(m["Layers"]) for m in json.load(sys.stdin)))')
  layer_bytes=$(tar -tzvf "$image" | awk '$6 ~ /layer\.tar$/ { s += $3 } END { print s + 0 }')
  md image "| figure | rnix | nixpkgs | ratio (rnix / nixpkgs) |"
  md image "|---|---|---|---|"
  md image "| uncompressed image tarball | $(f1 "$unc / 1e6") MB (layer.tar $(f1 "$layer_bytes / 1e6") MB) | $NIXPKGS_LAYER_MB MB layer | **$(ratio "$layer_bytes / 1e6" "$NIXPKGS_LAYER_MB")** |"
  md image "| compressed (\`result\`, gzip) | $(f1 "$comp / 1e6") MB | | |"
  md image "| layers | $layers | 1 (buildImage) | |"
  summary "image layer (MB, uncompressed)" "$(f1 "$layer_bytes / 1e6")" "$NIXPKGS_LAYER_MB (nixpkgs)" "$(ratio "$layer_bytes / 1e6" "$NIXPKGS_LAYER_MB")"
  summary "image compressed (MB)" "$(f1 "$comp / 1e6")" "" ""
  # Writer throughput against tar | gzip of the same store paths.
  if [ -n "$drv" ] && "$IW" "$st" "$drv" --paths >"$W/paths.txt"; then
    sed "s|^$st/||" "$W/paths.txt" >"$W/paths.rel"
    if hf imagewrite -S bash \
        "$IW '$st' '$drv' '$W/w.tar.gz' gz" \
        "tar -C '$st' --owner=0 --group=0 --numeric-owner -cf - -T '$W/paths.rel' | gzip > '$W/t.tar.gz'" \
        "$IW '$st' '$drv' '$W/w.tar' none" \
        "tar -C '$st' --owner=0 --group=0 --numeric-owner -cf '$W/t.tar' -T '$W/paths.rel'"; then
      wg=$(hfmed imagewrite 0); tg=$(hfmed imagewrite 1); wn=$(hfmed imagewrite 2); tn=$(hfmed imagewrite 3)
      wbytes=$(stat -c %s "$W/w.tar"); tbytes=$(stat -c %s "$W/t.tar")
      wgt=$(f1 "$wbytes / 1e6 / $wg"); tgt=$(f1 "$tbytes / 1e6 / $tg"); wnt=$(f1 "$wbytes / 1e6 / $wn"); tnt=$(f1 "$tbytes / 1e6 / $tn")
      md image "| writing the image, gzip (dockertools, no runAsRoot) vs \`tar -c \| gzip\` of the same $(wc -l <"$W/paths.txt") store paths | $wgt MB/s ($(f2 "$wg") s, $(f1 "$(stat -c %s "$W/w.tar.gz") / 1e6") MB) | $tgt MB/s ($(f2 "$tg") s, $(f1 "$(stat -c %s "$W/t.tar.gz") / 1e6") MB) | **$(ratio "$wgt" "$tgt")** (throughput) |"
      md image "| writing the image, uncompressed vs \`tar -c\` | $wnt MB/s ($(f2 "$wn") s) | $tnt MB/s ($(f2 "$tn") s) | **$(ratio "$wnt" "$tnt")** (throughput) |"
      summary "image writing, gzip (MB/s)" "$wgt" "$tgt (tar|gzip)" "$(ratio "$wgt" "$tgt")"
      summary "image writing, uncompressed (MB/s)" "$wnt" "$tnt (tar)" "$(ratio "$wnt" "$tnt")"
      s=$(ratio "$wgt" "$tgt")
      if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
        profiles+=("Image writing with gzip ($s× the throughput of tar | gzip), self time: $(profile imagewrite "$IW" "$st" "$drv" "$W/w.tar.gz" gz)")
      fi
      s=$(ratio "$wnt" "$tnt")
      if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $s < 1 else 1)"; then
        profiles+=("Image writing uncompressed ($s× the throughput of tar), self time: $(profile imagewrite-none "$IW" "$st" "$drv" "$W/w.tar" none)")
      fi
      rm -f "$W"/w.tar* "$W"/t.tar*
    else
      md image "| image writing | failed | | |"
    fi
  else
    md image "| image writing | not measured (no image derivation from rnix-instantiate) | | |"
  fi
  # docker load (the image is removed before each load so that its layer is really written).
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ref=$(tar -xzOf "$image" manifest.json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["RepoTags"][0])')
    dl=(); ok=1
    for i in $(seq "$RUNS"); do
      docker rmi -f "$ref" >/dev/null 2>&1 || true
      s0=$(date +%s.%N)
      docker load -i "$image" >/dev/null || { ok=0; break; }
      dl+=("$(py "$(date +%s.%N) - $s0")")
    done
    if [ "$ok" = 1 ]; then
      dsize=$(docker image inspect --format '{{.Size}}' "$ref")
      md image "| \`docker load\` time, median of $RUNS (image removed before each) | $(f2 "$(median "${dl[@]}")") s | | |"
      md image "| size reported by \`docker image inspect\` | $(f1 "$dsize / 1e6") MB | | |"
      summary "docker load (s)" "$(f2 "$(median "${dl[@]}")")" "" ""
      # The image works: run it and ask it.
      cid=$(docker run -d -p 127.0.0.1::5000 "$ref")
      port=$(docker port "$cid" 5000/tcp | head -n 1 | sed 's/.*://')
      answer="no answer"
      for _ in $(seq 60); do
        if a=$(curl -fsS "localhost:$port" 2>/dev/null); then answer=$a; break; fi
        sleep 0.5
      done
      docker rm -f "$cid" >/dev/null 2>&1 || true
      md image ""
      md image "\`docker run -p 5000:5000 $ref\` answered \`$answer\`."
    else
      md image "| \`docker load\` | failed | | |"
    fi
  else
    md image "| \`docker load\` | not measured: no Docker daemon | | |"
  fi
fi

# Rebuild after editing main.py (after the image figures: it changes the source).
if want seed && [ "$seed_ok" = 1 ]; then
  log "seed build: rebuild after editing main.py"
  es=(); er=(); ec=()
  for i in $(seq "$RUNS"); do
    echo "# bench edit $i $(date +%s%N)" >>"$app/main.py"
    timed edit env -C "$app" RNIX_STORE="$st" "$RB" || warn "rebuild after edit failed: $(tail -n 3 "$W/last.log")"
    es+=("$edit_wall"); er+=("$edit_rss"); ec+=("$edit_cpu")
  done
  ew=$(median "${es[@]}")
  md seed "| rebuild after editing \`main.py\` (app, image root, image), median of $RUNS | $(f2 "$ew") | $(median "${er[@]}") | $(f2 "$(median "${ec[@]}")") | | |"
  summary "seed rebuild after editing main.py (s)" "$(f2 "$ew")" "" ""
  if [ "$PROFILE" = 1 ]; then
    echo "# bench edit profile $(date +%s%N)" >>"$app/main.py"
    profiles+=("Rebuild after editing main.py ($(f2 "$ew") s), self time of rnix-build and its children: $(profile edit env -C "$app" RNIX_STORE="$st" "$RB")")
    if [ -n "${floor:-}" ] && python3 -c "import sys; sys.exit(0 if $cw > 2 * $floor else 1)"; then
      # One more cold build, under perf (not counted in the figures above).
      rm -rf "$W/store-prof" "$W/app-prof"; mkdir -p "$W/app-prof"
      cp "$fixture/default.nix" "$fixture/main.py" "$W/app-prof/"
      profiles+=("Cold build ($(ratio "$cw" "$floor")× the download floor; CPU user+sys $(f1 "$ccpu") s of $(f1 "$cw") s wall), self time of an extra cold build under perf: $(profile cold env -C "$W/app-prof" RNIX_STORE="$W/store-prof" "$RB")")
      rm -rf "$W/store-prof" "$W/app-prof"
    fi
  fi
fi

# ---------------------------------------------------------------------------- parallel
if want parallel; then
  log "parallel: 8 independent one-second builds, -j 1 vs -j 2"
  j1=(); j2=(); n1=(); n2=()
  for i in $(seq "$RUNS"); do
    if "$here/parallel.sh" >"$W/par.out" 2>&1; then
      j1+=("$(sed -n 's/^-j 1: .* in \([0-9.]*\) s$/\1/p' "$W/par.out")")
      j2+=("$(sed -n 's/^-j 2: .* in \([0-9.]*\) s$/\1/p' "$W/par.out")")
    else
      warn "bench/parallel.sh failed: $(tail -n 3 "$W/par.out")"
    fi
    # The same with Nix 2.8 (sandbox off, as the realiser's example uses host /bin).
    nonce="$(date +%s%N)-$i"
    cat >"$W/par.nix" <<EOF
map (i: derivation { name = "sleep-\${toString i}"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "/bin/sleep 1; echo $nonce > \$out" ]; j = JOBS; }) [ 1 2 3 4 5 6 7 8 ]
EOF
    for j in 1 2; do
      sed "s/JOBS/$j/" "$W/par.nix" >"$W/par$j.nix"
      s0=$(date +%s.%N)
      if nix-build --no-out-link --quiet --option sandbox false -j "$j" "$W/par$j.nix" >/dev/null 2>"$W/nixpar.err"; then
        t=$(py "$(date +%s.%N) - $s0")
        if [ "$j" = 1 ]; then n1+=("$t"); else n2+=("$t"); fi
      else
        warn "nix-build -j $j failed: $(tail -n 3 "$W/nixpar.err")"
      fi
    done
  done
  md parallel "| | -j 1 (s) | -j 2 (s) | speed-up of -j 2 |"
  md parallel "|---|---|---|---|"
  if [ "${#j1[@]}" -gt 0 ]; then
    a=$(median "${j1[@]}"); b=$(median "${j2[@]}")
    md parallel "| rnix (\`bench/parallel.sh\`: realiser, namespaces sandbox) | $(f2 "$a") | $(f2 "$b") | **$(ratio "$a" "$b")** |"
    summary "8 x 1 s builds, -j1 / -j2 (s)" "$(f2 "$a") / $(f2 "$b")" "" "$(ratio "$a" "$b")x"
  else
    md parallel "| rnix | failed | | |"
  fi
  if [ "${#n1[@]}" -gt 0 ] && [ "${#n2[@]}" -gt 0 ]; then
    a=$(median "${n1[@]}"); b=$(median "${n2[@]}")
    md parallel "| Nix 2.8 (\`nix-build --option sandbox false\`, includes its evaluation) | $(f2 "$a") | $(f2 "$b") | $(ratio "$a" "$b") |"
    summary "  Nix 2.8, -j1 / -j2 (s)" "$(f2 "$a") / $(f2 "$b")" "" "$(ratio "$a" "$b")x"
  fi
fi

# ---------------------------------------------------------------------------- debian
# The package set over the index of all of Debian bookworm (issue 12). Evaluation of the seed
# and of 50 packages (bench/pkgs50.nix) by rnix-instantiate and by Nix 2.8's nix-instantiate
# reading a writable copy of the same package set (the rnix-pkgs store path, debian-index/
# included); the seed's warm no-op rebuild; the size of the binaries against $DEB_BASE, the
# commit before the index, built once in a git worktree into $DEB_BASE_TARGET (kept for later
# runs: about 5 min of CPU the first time). DEB_RUNS runs per figure (default RUNS, at least 10).
if want debian; then
  log "package set (issue 12): evaluation against Nix 2.8, seed no-op rebuild, binary size"
  DEB_BASE=${DEB_BASE:-08eb886}
  DEB_BASE_TARGET=${DEB_BASE_TARGET:-${TMPDIR:-/tmp}/rnix-bench-target-$DEB_BASE}
  DEB_RUNS=${DEB_RUNS:-$((RUNS < 10 ? 10 : RUNS))}
  NOOP_BUDGET=0.050 # the seed's no-op rebuild budget (s)
  base_rev=$(git -C "$repo" rev-parse "$DEB_BASE^{commit}")
  BI="$DEB_BASE_TARGET/release/rnix-instantiate"; BB="$DEB_BASE_TARGET/release/rnix-build"
  if [ "$(cat "$DEB_BASE_TARGET/rnix-bench-commit" 2>/dev/null)" != "$base_rev" ] || [ ! -x "$BB" ] || [ ! -x "$BI" ]; then
    log "building $DEB_BASE in a git worktree ($DEB_BASE_TARGET, nice)"
    git -C "$repo" worktree add -q --detach "$W/base-src" "$base_rev"
    if (cd "$W/base-src" && CARGO_TARGET_DIR="$DEB_BASE_TARGET" nice cargo build --release --bins -q); then
      echo "$base_rev" >"$DEB_BASE_TARGET/rnix-bench-commit"
    else
      warn "building $DEB_BASE failed: no before/after figures"
    fi
    git -C "$repo" worktree remove --force "$W/base-src" || true
  fi
  have_base=0; [ "$(cat "$DEB_BASE_TARGET/rnix-bench-commit" 2>/dev/null)" = "$base_rev" ] && have_base=1
  base_short=$(git -C "$repo" rev-parse --short "$base_rev")
  # drv_closure ROOT DRV: the number of derivations DRV depends on (itself included) and the
  # names among them of the C toolchain; ROOT is prefixed to store paths (an rnix store).
  drv_closure() {
    python3 - "$1" "$2" <<'PY'
import re, sys
root, top = sys.argv[1], sys.argv[2]
seen, todo = set(), [top]
while todo:
    d = todo.pop()
    if d not in seen:
        seen.add(d)
        todo += re.findall(r'/nix/store/[0-9a-z]{32}-[^"/]+\.drv', open(root + d, errors="replace").read())
names = sorted({re.sub(r'^/nix/store/[0-9a-z]{32}-|\.drv$', '', d) for d in seen})
print(len(seen), ", ".join(n for n in names if re.search(r'gcc|cc-wrapper|binutils|libc6-dev', n) and not n.endswith(".deb")) or "none")
PY
  }
  ds="$W/debian-store"; dapp="$W/debian-app"; mkdir -p "$dapp"
  cp "$fixture/default.nix" "$fixture/main.py" "$dapp/"
  md debian "Taken with \`DEB_RUNS=$DEB_RUNS\` (hyperfine, one warm-up run); the peer is Nix 2.8's \`nix-instantiate\` evaluating a writable copy of the \`rnix-pkgs\` store path (the package set's Nix files and \`debian-index/\`, the index in 4,096 JSON shards), so both evaluators read the same files; rnix also evaluates that copy (\`-I nixpkgs=COPY\`, \`--arg nixpkgs COPY\`), and, as users run it, its embedded set (\`<nixpkgs>\` and the seed's nixpkgs tarball URL). Both store every \`.drv\` (rnix under \`RNIX_STORE\`, Nix in \`/nix/store\`). The 50 packages: \`bench/pkgs50.nix\`, \`map (p: p.drvPath) [ hello nginx redis postgresql ... ]\` with \`--eval --strict\`."
  md debian ""
  # First use of a store: rnix writes the package set into it.
  first=""; pk_store=""
  if timed first env RNIX_STORE="$ds" "$RI" "$dapp/default.nix"; then
    first=$first_wall
    pk_store=$(ls -d "$ds"/nix/store/*-rnix-pkgs 2>/dev/null | head -n 1)
  else
    warn "rnix-instantiate of the seed failed: $(tail -n 5 "$W/last.log")"
  fi
  if [ -n "$pk_store" ]; then
    pk="$W/rnix-pkgs"; cp -r "$pk_store" "$pk"; chmod -R u+w "$pk"
    pk_files=$(find "$pk" -type f | wc -l); pk_mb=$(f1 "$(du -sb "$pk" | cut -f1) / 1e6")
    # Same outputs?
    s_e=$(RNIX_STORE="$ds" "$RI" "$dapp/default.nix" 2>/dev/null | tail -n 1)
    s_c=$(RNIX_STORE="$ds" "$RI" "$dapp/default.nix" --arg nixpkgs "$pk" 2>/dev/null | tail -n 1)
    s_n=$(nix-instantiate "$dapp/default.nix" --arg nixpkgs "$pk" 2>/dev/null | tail -n 1) || s_n=""
    if [ -n "$s_n" ] && [ "$s_e" = "$s_n" ] && [ "$s_c" = "$s_n" ]; then s_same="yes (same .drv path)"; else s_same="**no**: rnix \`$s_e\`, \`$s_c\`, Nix \`$s_n\`"; fi
    p_e=$(RNIX_STORE="$ds" "$RI" --eval --strict "$here/pkgs50.nix" 2>/dev/null | sha256sum)
    p_c=$(RNIX_STORE="$ds" "$RI" --eval --strict -I nixpkgs="$pk" "$here/pkgs50.nix" 2>/dev/null | sha256sum)
    p_n=$(nix-instantiate --eval --strict -I nixpkgs="$pk" "$here/pkgs50.nix" 2>/dev/null | sha256sum)
    if [ "$p_e" = "$p_n" ] && [ "$p_c" = "$p_n" ]; then p_same="yes (same 50 .drv paths)"; else p_same="**no**"; fi
    md debian "| expression | rnix, embedded set (s) | rnix, the copy (s) | Nix 2.8, the copy (s) | speed-up (Nix / rnix on the copy) | speed-up (Nix / rnix embedded) | peak RSS rnix / Nix (MB) | same output |"
    md debian "|---|---|---|---|---|---|---|---|"
    base_seed=()
    if [ "$have_base" = 1 ]; then
      # the seed's evaluation before the index (embedded set), in its own store (the first run writes the set)
      if RNIX_STORE="$W/debian-store-base" "$BI" "$dapp/default.nix" >/dev/null 2>&1; then
        base_seed=("env RNIX_STORE=$W/debian-store-base $BI $dapp/default.nix")
      else
        warn "rnix-instantiate at $base_short failed on the seed"
      fi
    fi
    sb=""
    if RUNS=$DEB_RUNS RNIX_STORE="$ds" hf deb-seed -N "$RI $dapp/default.nix" "$RI $dapp/default.nix --arg nixpkgs $pk" \
        "nix-instantiate $dapp/default.nix --arg nixpkgs $pk" "${base_seed[@]}"; then
      se=$(hfmed deb-seed 0); sc=$(hfmed deb-seed 1); sn=$(hfmed deb-seed 2)
      [ "${#base_seed[@]}" = 0 ] || sb=$(hfmed deb-seed 3)
      rr=$(RUNS=$DEB_RUNS RNIX_STORE="$ds" rss_median "$RI" "$dapp/default.nix" --arg nixpkgs "$pk")
      pr=$(RUNS=$DEB_RUNS rss_median nix-instantiate "$dapp/default.nix" --arg nixpkgs "$pk")
      md debian "| the seed (\`fixtures/simple-python-api\`), \`nix-instantiate default.nix\` | $(f3 "$se") | $(f3 "$sc") | $(f3 "$sn") | **$(ratio "$sn" "$sc")** | **$(ratio "$sn" "$se")** | $rr / $pr | $s_same |"
      summary "pkgs: seed instantiate (s)" "$(f3 "$sc") ($(f3 "$se") embedded)" "$(f3 "$sn") (Nix)" "$(ratio "$sn" "$sc")"
    else
      md debian "| the seed | failed | | | | | | $s_same |"; summary "pkgs: seed instantiate" failed "" ""
    fi
    if RUNS=$DEB_RUNS RNIX_STORE="$ds" hf deb-pkgs50 -N "$RI --eval --strict $here/pkgs50.nix" \
        "$RI --eval --strict -I nixpkgs=$pk $here/pkgs50.nix" "nix-instantiate --eval --strict -I nixpkgs=$pk $here/pkgs50.nix"; then
      pe=$(hfmed deb-pkgs50 0); pc=$(hfmed deb-pkgs50 1); pn=$(hfmed deb-pkgs50 2)
      rr=$(RUNS=$DEB_RUNS RNIX_STORE="$ds" rss_median "$RI" --eval --strict -I nixpkgs="$pk" "$here/pkgs50.nix")
      pr=$(RUNS=$DEB_RUNS rss_median nix-instantiate --eval --strict -I nixpkgs="$pk" "$here/pkgs50.nix")
      md debian "| 50 packages (\`bench/pkgs50.nix\`), \`--eval --strict\` | $(f3 "$pe") | $(f3 "$pc") | $(f3 "$pn") | **$(ratio "$pn" "$pc")** | **$(ratio "$pn" "$pe")** | $rr / $pr | $p_same |"
      summary "pkgs: 50 packages eval (s)" "$(f3 "$pc") ($(f3 "$pe") embedded)" "$(f3 "$pn") (Nix)" "$(ratio "$pn" "$pc")"
      if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $(ratio "$pn" "$pc") < 1 else 1)"; then
        profiles+=("Evaluating 50 packages on the copy of rnix-pkgs ($(ratio "$pn" "$pc")× Nix's speed), rnix-instantiate self time: $(RNIX_STORE="$ds" profile deb-pkgs50 "$RI" --eval --strict -I nixpkgs="$pk" "$here/pkgs50.nix")")
      fi
    else
      md debian "| 50 packages | failed | | | | | | $p_same |"; summary "pkgs: 50 packages eval" failed "" ""
    fi
    md debian ""
    [ -z "$sb" ] || md debian "The seed's evaluation at \`$base_short\` (before the index; embedded set, run through \`env\` for its own store): $(f3 "$sb") s; now / before: **$(ratio "${se:-0}" "$sb")**."
    md debian ""
    md debian "The copy: $pk_files files, $pk_mb MB. The first evaluation in an empty store, which writes that store path (4,096 index shards decompressed from the binary, plus the Nix files), took $first s (one run; later runs reuse it: the path is remembered by the fingerprint of the embedded set)."
    # Build inputs of the seed: the derivations of its closure, now and before the index.
    cl_now=$(drv_closure "$ds" "$s_e")
    md debian ""
    if [ "$have_base" = 1 ] && b_drv=$(RNIX_STORE="$W/debian-store-base" "$BI" "$dapp/default.nix" 2>/dev/null | tail -n 1) && [ -n "$b_drv" ]; then
      cl_base=$(drv_closure "$W/debian-store-base" "$b_drv")
      md debian "The seed's derivation closure: ${cl_now%% *} derivations now (C toolchain among them: ${cl_now#* }), ${cl_base%% *} at \`$base_short\` (${cl_base#* })."
    else
      md debian "The seed's derivation closure: ${cl_now%% *} derivations (C toolchain among them: ${cl_now#* })."
    fi
  fi
  # The seed's warm no-op rebuild: a full build first (downloads), then rnix-build again.
  md debian ""
  md debian "| seed build, \`rnix-build\` in the fixture's directory | now (s) | at \`$base_short\`, before the index (s) | ratio (now / before) | budget (issue 12) | now / budget |"
  md debian "|---|---|---|---|---|---|"
  cold_now=""; cold_base=""; base_app=""
  if timed dcold env -C "$dapp" RNIX_STORE="$ds" "$RB"; then cold_now=$dcold_wall
  else warn "seed build failed: $(tail -n 5 "$W/last.log")"; fi
  if [ "$have_base" = 1 ]; then
    base_app="$W/debian-app-base"; mkdir -p "$base_app"; cp "$fixture/default.nix" "$fixture/main.py" "$base_app/"
    if timed dcoldb env -C "$base_app" RNIX_STORE="$W/debian-store-base" "$BB"; then cold_base=$dcoldb_wall
    else warn "seed build at $base_short failed: $(tail -n 5 "$W/last.log")"; base_app=""; fi
  fi
  if [ -n "$cold_now" ]; then
    cmds=("env -C $dapp RNIX_STORE=$ds $RB")
    [ -z "$base_app" ] || cmds+=("env -C $base_app RNIX_STORE=$W/debian-store-base $BB")
    if RUNS=$DEB_RUNS hf deb-noop -N "${cmds[@]}"; then
      nn=$(hfmed deb-noop 0); nb=""; [ -z "$base_app" ] || nb=$(hfmed deb-noop 1)
      spread=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.3f-%.3f s" % (r["min"], r["max"]))' "$W/hf-deb-noop.json")
      md debian "| warm no-op rebuild (everything valid), median of $DEB_RUNS (now: $spread) | $(f3 "$nn") | ${nb:+$(f3 "$nb")} | ${nb:+**$(ratio "$nn" "$nb")**} | $NOOP_BUDGET | **$(ratio "$nn" "$NOOP_BUDGET")** |"
      cpu() { python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.3f" % (r["user"] + r["system"]))' "$W/hf-deb-noop.json" "$1"; }
      cn=$(cpu 0); cb=""; [ -z "$base_app" ] || cb=$(cpu 1)
      md debian "| its CPU time, user + sys (hyperfine's mean) | $cn | $cb | ${cb:+$(ratio "$cn" "$cb")} | | |"
      summary "pkgs: seed no-op rebuild (s)" "$(f3 "$nn")" "$NOOP_BUDGET (budget)${nb:+, $(f3 "$nb") at $base_short}" "$(ratio "$nn" "$NOOP_BUDGET")x budget"
      if [ "$PROFILE" = 1 ] && python3 -c "import sys; sys.exit(0 if $nn > $NOOP_BUDGET else 1)"; then
        profiles+=("The seed's no-op rebuild ($(f3 "$nn") s, budget $NOOP_BUDGET s), self time of rnix-build: $(profile deb-noop env -C "$dapp" RNIX_STORE="$ds" "$RB")")
      fi
    else
      md debian "| warm no-op rebuild | failed | | | | |"
    fi
    md debian "| cold build (empty store, downloads included), one run | $(f1 "$cold_now") | ${cold_base:+$(f1 "$cold_base")} | ${cold_base:+$(ratio "$cold_now" "$cold_base")} | | |"
  else
    md debian "| seed build | failed | | | | |"
  fi
  # Binary sizes.
  md debian ""
  md debian "| binary (release, not stripped; stripped in brackets) | at \`$base_short\` (MB) | now (MB) | growth (MB) | embedded index (MB) | index's share of now |"
  md debian "|---|---|---|---|---|---|"
  idx_bytes=$(stat -c %s "$repo/snapshot/debian-bookworm.json.zst")
  mb() { py "'%.1f' % (round(($1) / 1e6, 1) + 0.0)"; }
  strip_size() { strip -o "$W/stripped" "$1" && stat -c %s "$W/stripped" && rm -f "$W/stripped"; }
  for b in rnix-build rnix-instantiate rnix-store; do
    now=$(stat -c %s "$bin/$b"); nows=$(strip_size "$bin/$b")
    verb=$(python3 -c 'import sys; print("yes" if open(sys.argv[2], "rb").read().count(open(sys.argv[1], "rb").read()) == 1 else "no")' \
      "$repo/snapshot/debian-bookworm.json.zst" "$bin/$b")
    if [ "$have_base" = 1 ]; then
      was=$(stat -c %s "$DEB_BASE_TARGET/release/$b"); wass=$(strip_size "$DEB_BASE_TARGET/release/$b")
      md debian "| \`$b\` | $(mb "$was") ($(mb "$wass")) | $(mb "$now") ($(mb "$nows")) | $(mb "$now - $was") ($(mb "$nows - $wass")) | $([ "$verb" = yes ] && mb "$idx_bytes" || echo "not embedded") | $([ "$verb" = yes ] && f0 "100 * $idx_bytes / $now" | sed 's/$/ %/' || echo) |"
      [ "$b" != rnix-build ] || summary "pkgs: rnix-build size (MB)" "$(f1 "$now / 1e6")" "$(f1 "$was / 1e6") (at $base_short)" "$(ratio "$now" "$was")"
    else
      md debian "| \`$b\` | | $(mb "$now") ($(mb "$nows")) | | $([ "$verb" = yes ] && mb "$idx_bytes" || echo "not embedded") | $([ "$verb" = yes ] && f0 "100 * $idx_bytes / $now" | sed 's/$/ %/' || echo) |"
    fi
  done
  pk_now=$(git -C "$repo" ls-tree -r -l HEAD pkgs | awk '{ s += $4 } END { print s + 0 }')
  pk_was=$(git -C "$repo" ls-tree -r -l "$base_rev" pkgs | awk '{ s += $4 } END { print s + 0 }')
  md debian ""
  md debian "The embedded index is \`snapshot/debian-bookworm.json.zst\` ($(f2 "$idx_bytes / 1e6") MB, zstd), included verbatim (\`include_bytes!\`) in each binary marked so above; the package set's Nix files (\`pkgs/\`, \`include_dir!\`) are $(f2 "$pk_now / 1e6") MB at HEAD against $(f2 "$pk_was / 1e6") MB at \`$base_short\`."
fi

# ---------------------------------------------------------------------------- output
finished=$(date -u '+%Y-%m-%d %H:%M UTC')
section() { # section TITLE FILE-SUFFIX INTRO
  [ -e "$W/md-$2" ] || return 0
  printf '\n## %s\n\n' "$1"
  [ -z "$3" ] || printf '%s\n\n' "$3"
  cat "$W/md-$2"
}
{
  echo "# rnix benchmarks"
  echo
  echo "Generated by \`bench/run.sh\` (do not edit by hand: rerun it). Run from $started to $finished"
  echo "at commit \`$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)\`."
  echo
  echo "Machine: $(machine) Load average at the start: $load_start."
  echo
  echo "Each figure is the median of $RUNS runs (hyperfine with one warm-up run and a warm page cache,"
  echo "or a loop of \`/usr/bin/time\` runs); the cold seed build is the median of $COLD_RUNS runs, each"
  echo "downloading everything again into its own empty store. Every ratio compares figures measured in"
  echo "the same run of the script."
  echo "Speed-up = peer's time / rnix's time (above 1: rnix is faster); MB = 10^6 bytes."
  echo "Release build of rnix (\`cargo build --release\`)."
  section "Evaluation: rnix-instantiate vs nix-instantiate --eval --strict" eval \
    "The five programs of issue 3 (\`bench/eval/*.nix\`), each a separate process (start-up included)."
  section "Evaluation: conformance corpus" corpus \
    "Every test of \`../shared/conformance/visible-eval-okay.txt\`, run as \`run-with.sh\` runs it (flags, environment), output discarded (\`bench/corpus.sh\`)."
  section "nixpkgs' lib suites (../shared/nixpkgs-lib)" nixpkgslib \
    "Each suite run whole by \`run.sh\` (hundreds of evaluator processes for modules and fileset), with rnix-instantiate and with Nix 2.8's nix-instantiate; peak RSS is the largest process of the run."
  section "Parsing" parse ""
  section "NAR serialisation + sha256" nar ""
  section "The seed build (fixtures/simple-python-api)" seed \
    "\`rnix-build\` in a copy of the fixture, \`RNIX_STORE\` an empty directory for each cold build; peak RSS from \`/usr/bin/time\` (the largest process of the tree)."
  section "The seed image" image ""
  section "Parallel builds: 8 independent one-second builds" parallel ""
  section "Package set (issue 12)" debian \
    "The embedded package set over the index of all of Debian bookworm (\`snapshot/debian-bookworm.json.zst\`, \`pkgs/debian-names.nix\`), with a C compiler in stdenv."
  if [ "${#profiles[@]}" -gt 0 ]; then
    printf '\n## Where the time goes (perf profiles of this run)\n\n'
    echo "Top symbols by self time (\`perf record -g\`, children included) for each figure where rnix is"
    echo "behind its peer or far from its floor:"
    echo
    for p in "${profiles[@]}"; do echo "- $p"; done
  fi
  if [ -e "$here/notes.md" ]; then
    printf '\n## Notes\n\n'
    cat "$here/notes.md"
  fi
  printf '\n## Reproduce\n\n'
  echo '```'
  echo 'apt-get install -y hyperfine time linux-perf   # plus Nix 2.8 and Docker'
  echo 'bench/run.sh                                   # RUNS=5 COLD_RUNS=5 by default'
  echo '```'
} >"$out"

printf '\n%-42s %-22s %-28s %s\n' figure rnix "peer / floor" ratio
awk -F'\t' '{ printf "%-42s %-22s %-28s %s\n", $1, $2, $3, $4 }' "$W/summary.tsv"
echo
echo "wrote $out"
