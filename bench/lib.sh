# Helpers of bench/run.sh (sourced, bash). Needs: W (work dir), RUNS.

log() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)" >&2; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# py EXPR: prints a Python expression's value (arithmetic and formatting).
py() { python3 -c "import statistics, math; print($1)"; }

# median NUMBERS...: the median, as printed by Python.
median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# f2 X / f1 X / f0 X: fixed decimals.
f3() { py "'%.3f' % ($1)"; }
f2() { py "'%.2f' % ($1)"; }
f1() { py "'%.1f' % ($1)"; }
f0() { py "'%.0f' % ($1)"; }

# ratio A B: A / B with two decimals (or n/a).
ratio() { python3 -c 'import sys; a, b = float(eval(sys.argv[1])), float(eval(sys.argv[2])); print("%.2f" % (a / b) if b > 0 else "n/a")' "$1" "$2"; }

# hf NAME HYPERFINE-ARGS... COMMANDS...: hyperfine with $RUNS runs and one warm-up;
# the JSON goes to $W/hf-NAME.json. Fails (with hyperfine's output) if a command fails.
hf() {
  local name=$1; shift
  if ! hyperfine --runs "$RUNS" --warmup 1 --style none --export-json "$W/hf-$name.json" "$@" \
      >"$W/hf-$name.log" 2>&1; then
    cat "$W/hf-$name.log" >&2
    return 1
  fi
}

# hfmed NAME INDEX: median seconds of the INDEX-th command (0-based) of hf NAME.
hfmed() {
  python3 -c 'import json, sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' \
    "$W/hf-$1.json" "$2"
}

# timed OUTVAR_PREFIX CMD...: runs CMD under /usr/bin/time; sets ${PREFIX}_wall (s),
# ${PREFIX}_rss (peak RSS, MB), ${PREFIX}_cpu (user+sys s). Output of CMD goes to
# $W/last.log. Returns CMD's status.
timed() {
  local p=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M %U %S' -o "$W/time.out" "$@" >"$W/last.log" 2>&1 || rc=$?
  local t
  t=$(tail -n 1 "$W/time.out")
  read -r _w _r _u _s <<<"$t"
  printf -v "${p}_wall" '%s' "$_w"
  printf -v "${p}_rss" '%s' "$(py "'%.1f' % ($_r / 1024)")"
  printf -v "${p}_cpu" '%s' "$(py "'%.2f' % ($_u + $_s)")"
  return $rc
}

# rss_median CMD...: median peak RSS (MB) of $RUNS runs of CMD.
rss_median() {
  local xs=() i
  for i in $(seq "$RUNS"); do
    timed _rm "$@" || { warn "failed: $* ($(tail -n 3 "$W/last.log"))"; return 1; }
    xs+=("$_rm_rss")
  done
  f1 "$(median "${xs[@]}")"
}

# Markdown tables: md SECTION LINE appends a line to the section's file.
md() { printf '%s\n' "$2" >>"$W/md-$1"; }
# summary FIGURE RNIX PEER RATIO: one line of the printed table.
summary() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$W/summary.tsv"; }

# profile NAME CMD...: perf profile of CMD (children included); prints the top self-time
# symbols as "NN% `symbol` (command), ..." (hash suffixes of Rust symbols removed). Saves the full
# report in $W/profile-NAME.txt.
profile() {
  local name=$1; shift
  command -v perf >/dev/null || { echo "(perf not installed: no profile)"; return 0; }
  if ! perf record -F 1999 -g -o "$W/perf-$name.data" -- "$@" >/dev/null 2>"$W/perf-$name.err"; then
    echo "(profiling failed: $(tail -n 1 "$W/perf-$name.err"))"
    return 0
  fi
  perf report -i "$W/perf-$name.data" --no-children --stdio --sort comm,dso,symbol \
    --percent-limit 1 2>/dev/null >"$W/profile-$name.txt" || true
  perf report -i "$W/perf-$name.data" --no-children --stdio --sort comm,symbol -g none \
    --percent-limit 2 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n "${PROFILE_TOP:-5}" |
    sed -E 's/::h[0-9a-f]{16}//g; s/[ -]+$//' |
    awk '{ p = $1; c = $2; $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, "");
           if (length($0) > 70) $0 = substr($0, 1, 67) "...";
           printf "%s%s `%s` (%s)", (NR > 1 ? ", " : ""), p, $0, c }'
  printf '; by command: '
  perf report -i "$W/perf-$name.data" --no-children --stdio --sort comm -g none \
    --percent-limit 3 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n 6 |
    awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 } END { print "" }'
  rm -f "$W/perf-$name.data" "$W/perf-$name.data.old"
}

# machine: one Markdown paragraph describing the machine and the tools.
machine() {
  local cpu cores ram
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
  cores=$(nproc)
  ram=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  printf '%s, %s cores available (nproc), %s RAM, Linux %s; %s; %s; %s.' \
    "${cpu:-unknown CPU}" "$cores" "$ram" "$(uname -r)" \
    "$(nix-instantiate --version 2>/dev/null || echo 'no Nix')" \
    "$(hyperfine --version)" \
    "$(docker version --format 'Docker Engine {{.Server.Version}}' 2>/dev/null || echo 'no Docker daemon')"
}
