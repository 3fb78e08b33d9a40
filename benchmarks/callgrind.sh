#!/usr/bin/env bash
# benchmarks/callgrind.sh - instructions per proxied request, runtime-proxy vs nginx,
# counted by valgrind's callgrind: a count of executed user-space instructions (Ir),
# which does not depend on the machine's load, unlike requests/s or CPU seconds.
#
# Setup (all on 127.0.0.1):
#   upstream   nginx, 1 worker, access_log off, GET /10b -> 200 "0123456789" (as in run.sh)
#   runtime-proxy  under `valgrind --tool=callgrind`, access log ON (--log-format text,
#              the default; stdout is a pipe read by `cat`, as in run.sh and in a
#              container), metrics on (always), --drain-delay 0 so SIGTERM ends it at once
#   nginx      under `valgrind --tool=callgrind`: `master_process off; daemon off;`
#              (one process, so valgrind sees the worker), access_log ON to a file
#              (run.sh's log_format), proxy_http_version 1.1, upstream keepalive 1024,
#              proxy_set_header Connection ""
# Client: benchmarks/fixed_requests.py, exactly N keep-alive requests (no pipelining)
# over K connections, after a warm-up of W requests over the same number of connections.
#
# Method: each target is run twice, in a fresh process each time: W + N requests and
# W + 2N requests. Ir(2N run) - Ir(N run) is the cost of N requests in steady state:
# start-up, warm-up, the first connections, shutdown and callgrind's own start cancel
# out. Instructions per request = that difference / N. Readiness is checked with `ss`
# (no request is sent), so both runs see exactly the same requests. The access-log
# line count of each run is checked (W + N, W + 2N).
# The per-function profile is the same difference, function by function
# (callgrind_annotate of each run, subtracted, / N): self and inclusive cost per request.
#
# runtime-proxy is measured with the static binary: .build-static/release/runtime-proxy,
# i.e. dist/runtime-proxy before `strip` (checked: same .text section bytes), so that
# callgrind has symbol names; the instructions executed are the same.
#
# Also (STRACE=1, the default): syscalls per request by the same difference, from
# `strace -f -c` runs (callgrind counts user space only; a syscall's kernel work is not
# in Ir). Syscall counts depend a little on timing (how many events one epoll_wait
# returns), so they are less exact than Ir.
#
# Environment:
#   N=20000 K=16 W=1000   requests measured, connections, warm-up requests
#   STRACE=1              also count syscalls per request (0: skip)
#   TARGETS="runtime-proxy nginx"  (also: runtime-proxy-nolog, the same binary with
#                         --log-format none, to count the access log's instructions)
#   OUT=benchmarks/results/callgrind.md   report (markdown); raw callgrind files are kept
#                         in benchmarks/results/callgrind/ (KEEP_RAW=0 to skip)
#   BUILD=1               run scripts/build-static first (default: only if missing)
#   BASE_PORT=28500 KEEP_TMP=1
# Takes about 5-10 minutes with the defaults (valgrind runs the proxy ~50x slower).
set -euo pipefail
BENCH_NAME=callgrind
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-20000}; K=${K:-16}; W=${W:-1000}
STRACE=${STRACE:-1}
TARGETS=${TARGETS:-"runtime-proxy nginx"}
OUT=${OUT:-"$ROOT/benchmarks/results/callgrind.md"}
RAWDIR="$ROOT/benchmarks/results/callgrind"
for v in N K W; do [[ "${!v}" =~ ^[0-9]+$ ]] && (( ${!v} >= 1 )) || die "$v must be a positive integer"; done
N2=$((2 * N))

need_tools valgrind:valgrind nginx:nginx-light curl:curl strace:strace objcopy:binutils
command -v callgrind_annotate >/dev/null || die "callgrind_annotate missing (package valgrind)"
if [[ "${BUILD:-0}" == 1 || ! -x "$STATIC_BIN" || ! -x "$STATIC_BIN_SYMBOLS" ]]; then
  log "building the static binary (scripts/build-static)"
  (cd "$ROOT" && scripts/build-static) >&2
fi
bench_init callgrind

# The binary run under callgrind: the unstripped static link, if its code is dist's.
# Valgrind 3.19 cannot read the DWARF 5 debug info of the Swift toolchain ("unhandled dwarf2
# abbrev form code 0x25 ... I can't recover"), so the debug info is removed and the symbol
# table kept: function names, no file:line.
cp "$STATIC_BIN" "$TMP/rp-stripped"; objcopy --strip-debug "$STATIC_BIN_SYMBOLS" "$TMP/rp-bin"
objcopy -O binary --only-section=.text "$TMP/rp-stripped" "$TMP/text.a"
objcopy -O binary --only-section=.text "$TMP/rp-bin" "$TMP/text.b"
if cmp -s "$TMP/text.a" "$TMP/text.b"; then
  BIN_NOTE="static, with its symbol table (debug info removed; .text identical to dist/runtime-proxy: $(bin_info "$STATIC_BIN"))"
else
  log "WARNING: .build-static binary's .text differs from dist/runtime-proxy; measuring dist (no symbols)"
  cp "$TMP/rp-stripped" "$TMP/rp-bin"
  BIN_NOTE="dist/runtime-proxy, stripped ($(bin_info "$STATIC_BIN")); the profile has no names"
fi
TREE=$(tree_state)

start_upstream
log "upstream nginx on :$UP_PORT (pid $UP_PID); temp $TMP"

# nginx as the reverse proxy, single process for valgrind. Port filled in per run.
nginx_proxy_conf() { # port prefix
  nginx_main "$2" 16384 8192 off
  proxy_nginx_http "$2" "$1" "$UP_PORT"
}

CLIENT="$ROOT/benchmarks/fixed_requests.py"
client() { # port requests
  timeout -k 5 1800 python3 "$CLIENT" --port "$1" --requests "$2" --connections "$K" --timeout 1700 \
    || die "client failed (port $1, $2 requests)"
}

# run_one target requests tool -> runs the target under the tool ("callgrind" or "strace"),
# warm-up W + the requests, then stops it. Output file: $TMP/<tool>.<target>.<requests>.
# Sets LOG_LINES to the target's access-log line count.
run_one() {
  local target=$1 n=$2 tool=$3 port pid out="$TMP/$3.$1.$2" dir="$TMP/$1.$2.$3" wrap=()
  mkdir -p "$dir"
  pick_port port
  case $tool in
    callgrind) wrap=(valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no --collect-jumps=no
                     --separate-threads=no --log-file="$dir/valgrind.log") ;;
    strace) wrap=(strace -f -c -o "$out") ;;
  esac
  case $target in
    runtime-proxy|runtime-proxy-nolog)
      local fmt=text; [[ $target == runtime-proxy-nolog ]] && fmt=none
      mkfifo "$dir/stdout.fifo"
      cat < "$dir/stdout.fifo" > "$dir/access.log" & register_pid $!
      "${wrap[@]}" "$TMP/rp-bin" --port "$port" --listen-address 127.0.0.1 --upstream "127.0.0.1:$UP_PORT" \
        --log-format "$fmt" --drain-delay 0 > "$dir/stdout.fifo" 2> "$dir/stderr" &
      pid=$! ;;
    nginx)
      nginx_proxy_conf "$port" "$dir" > "$dir/nginx.conf"
      "${wrap[@]}" nginx -c "$dir/nginx.conf" -p "$dir" 2> "$dir/stderr" &
      pid=$! ;;
  esac
  register_pid "$pid"
  if [[ $tool == strace ]]; then  # signal the traced program, not strace
    local tpid="" j; for (( j = 0; j < 100; j++ )); do tpid=$(pgrep -P "$pid" | head -n1 || true); [[ -n "$tpid" ]] && break; sleep 0.05; done
    [[ -n "$tpid" ]] || die "no process under strace"
  else local tpid=$pid; fi
  wait_listen "$port" "$pid" 120 || { cat "$dir/stderr" "$dir/valgrind.log" 2>/dev/null >&2; die "$target did not start under $tool"; }
  log "$target under $tool on :$port: warm-up $W, then $n requests over $K connections"
  client "$port" "$W" > "$dir/warmup.json"
  client "$port" "$n" > "$dir/run.json"
  log "  $(cat "$dir/run.json")"
  # Stop: runtime-proxy exits 0 on SIGTERM (no runtime, --drain-delay 0); nginx on SIGQUIT.
  local sig=TERM; [[ $target == nginx ]] && sig=QUIT
  kill -"$sig" "$tpid"
  local i; for (( i = 0; i < 600; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "$target did not exit within 60 s of SIG$sig"
  wait "$pid" || log "  $target exited with status $?"
  sleep 0.2
  LOG_LINES=$(wc -l < "$dir/access.log")
  local want=$((W + n)); [[ $target == runtime-proxy-nolog ]] && want=0
  (( LOG_LINES == want )) || die "$target access log has $LOG_LINES lines, expected $want"
  [[ -s "$out" ]] || die "no $tool output for $target"
}

totals_ir() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# Per function: Ir per request as (run 2N - run N) / N, self and inclusive.
profile_diff() { # file-N file-2N inclusive(yes|no) -> TSV "ir_per_request<TAB>function" sorted, all rows
  local a=$1 b=$2 inc=$3
  python3 - "$a" "$b" "$inc" "$N" <<'EOF'
import re, subprocess, sys
a, b, inc, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
line_re = re.compile(r'^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$')
def load(path):
    out = subprocess.run(['callgrind_annotate', '--inclusive=' + inc, '--threshold=100', path],
                         capture_output=True, text=True, check=True).stdout
    costs, started = {}, False
    for line in out.splitlines():
        if 'file:function' in line:
            started = True; continue
        if not started or line.startswith('--'):
            continue
        m = line_re.match(line)
        if not m:
            continue
        name = m.group(2).strip()
        if name.startswith('* ') or name.startswith('> ') or name.startswith('< '):
            continue
        costs[name] = costs.get(name, 0) + int(m.group(1).replace(',', ''))
    return costs
ca, cb = load(a), load(b)
rows = [((cb.get(k, 0) - ca.get(k, 0)) / n, k) for k in set(ca) | set(cb)]
rows.sort(key=lambda r: -r[0])
for v, k in rows:
    print(f"{v:.1f}\t{k}")
EOF
}

pretty_fn() { # strip "[object]" and demangle Swift names, shorten
  sed -E 's/ \[[^]]*\]$//; s/\t\?\?\?:/\t/' | swift demangle --simplified --compact 2>/dev/null \
    | awk -F'\t' '{ f = $2; if (length(f) > 150) f = substr(f, 1, 147) "..."; gsub(/\|/, "\\|", f); printf "%s\t%s\n", $1, f }'
}

declare -A IR IR2 PERREQ SYS SYS2
for t in $TARGETS; do
  run_one "$t" "$N" callgrind; run_one "$t" "$N2" callgrind
  IR[$t]=$(totals_ir "$TMP/callgrind.$t.$N"); IR2[$t]=$(totals_ir "$TMP/callgrind.$t.$N2")
  PERREQ[$t]=$(( (IR2[$t] - IR[$t]) / N ))
  log "$t: Ir(W+N) ${IR[$t]}, Ir(W+2N) ${IR2[$t]} -> ${PERREQ[$t]} instructions per request"
  profile_diff "$TMP/callgrind.$t.$N" "$TMP/callgrind.$t.$N2" no  | pretty_fn > "$TMP/self.$t.tsv"
  profile_diff "$TMP/callgrind.$t.$N" "$TMP/callgrind.$t.$N2" yes | pretty_fn > "$TMP/incl.$t.tsv"
  if [[ "$STRACE" == 1 ]]; then
    run_one "$t" "$N" strace; run_one "$t" "$N2" strace
    # strace -c table: % time, seconds, usecs/call, calls, errors, syscall
    python3 - "$TMP/strace.$t.$N" "$TMP/strace.$t.$N2" "$N" > "$TMP/sys.$t.tsv" <<'EOF'
import sys
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ('total',):
            d[f[-1]] = int(f[3])
    return d
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / n, k) for k in set(a) | set(b))
rows.reverse()
print(f"{sum(r[0] for r in rows):.2f}\ttotal")
for v, k in rows:
    if abs(v) >= 0.005:
        print(f"{v:.2f}\t{k}")
EOF
  fi
done

# ---------------------------------------------------------------- report
top() { head -n "${2:-15}" "$1" | awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }'; }
ratio=""
[[ -n "${PERREQ[runtime-proxy]:-}" && -n "${PERREQ[nginx]:-}" ]] && \
  ratio=$(awk -v a="${PERREQ[runtime-proxy]}" -v b="${PERREQ[nginx]}" 'BEGIN { printf "%.2f", a / b }')
mkdir -p "$(dirname "$OUT")"
{
  echo "# Instructions per proxied request (callgrind)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(machine_line); $(valgrind --version); $(nginx -v 2>&1 | sed 's/.*: //')"
  echo "- runtime-proxy binary: $BIN_NOTE; work tree $TREE"
  echo "- N=$N K=$K W=$W: each target run twice in a fresh process (W + N and W + 2N requests of GET /10b, keep-alive, over K connections); per request = (Ir(W+2N) - Ir(W+N)) / N"
  echo "- runtime-proxy: \`--log-format text --drain-delay 0\`, stdout a pipe read by cat, metrics on; nginx: master_process off, 1 process, access_log to a file, proxy_http_version 1.1, upstream keepalive 1024"
  echo
  echo "| target | Ir (W+N) | Ir (W+2N) | instructions / request |"
  echo "|---|---:|---:|---:|"
  for t in $TARGETS; do printf '| %s | %s | %s | **%s** |\n' "$t" "${IR[$t]}" "${IR2[$t]}" "${PERREQ[$t]}"; done
  echo
  [[ -n "$ratio" ]] && echo "runtime-proxy / nginx: **$ratio**" && echo
  if [[ -n "${PERREQ[runtime-proxy]:-}" && -n "${PERREQ[runtime-proxy-nolog]:-}" ]]; then
    echo "Access log (text, to a pipe): $(( PERREQ[runtime-proxy] - PERREQ[runtime-proxy-nolog] )) instructions per request ($(awk -v a="${PERREQ[runtime-proxy]}" -v b="${PERREQ[runtime-proxy-nolog]}" 'BEGIN { printf "%.1f", 100 * (a - b) / a }') % of runtime-proxy's)."
    echo
  fi
  if [[ -f "$TMP/self.runtime-proxy.tsv" ]]; then
    echo "## runtime-proxy: self cost by area (benchmarks/profile_groups.py)"
    echo
    python3 "$ROOT/benchmarks/profile_groups.py" "$TMP/self.runtime-proxy.tsv"
    echo
  fi
  for t in $TARGETS; do
    echo "## $t: top 15 functions by self cost (instructions per request)"
    echo; echo "| Ir / req | function |"; echo "|---:|---|"; top "$TMP/self.$t.tsv"; echo
    # The trunk (main, the command, uv_run, the poll loop...) holds nearly everything;
    # it is named in one line and the table starts below it.
    awk -F'\t' -v tot="${PERREQ[$t]}" '$1 >= 0.9 * tot' "$TMP/incl.$t.tsv" > "$TMP/trunk.$t.tsv"
    awk -F'\t' -v tot="${PERREQ[$t]}" '$1 < 0.9 * tot' "$TMP/incl.$t.tsv" > "$TMP/branch.$t.tsv"
    echo "## $t: top 15 functions by inclusive cost (instructions per request)"
    echo
    echo "Above 90 % of the total (the call trunk, left out of the table): $(cut -f2 "$TMP/trunk.$t.tsv" | grep -v "^(below main)'" | paste -sd, | sed 's/,/, /g')."
    echo; echo "| Ir / req | function |"; echo "|---:|---|"; top "$TMP/branch.$t.tsv"; echo
  done
  if [[ "$STRACE" == 1 ]]; then
    echo "## Syscalls per request (strace -f -c, same difference method)"
    echo
    for t in $TARGETS; do
      echo "### $t"; echo; echo "| calls / req | syscall |"; echo "|---:|---|"
      awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }' "$TMP/sys.$t.tsv"; echo
    done
  fi
} > "$OUT"
if [[ "${KEEP_RAW:-1}" == 1 ]]; then
  mkdir -p "$RAWDIR"
  for t in $TARGETS; do
    cp "$TMP/callgrind.$t.$N" "$TMP/callgrind.$t.$N2" "$RAWDIR/"
    cp "$TMP/self.$t.tsv" "$RAWDIR/self.$t.tsv"; cp "$TMP/trunk.$t.tsv" "$RAWDIR/trunk.$t.tsv"; cp "$TMP/incl.$t.tsv" "$RAWDIR/incl.$t.tsv"
    [[ "$STRACE" == 1 ]] && cp "$TMP/sys.$t.tsv" "$RAWDIR/syscalls.$t.tsv"
  done
  gzip -f "$RAWDIR"/callgrind.*[0-9]
fi
cat "$OUT"
log "wrote $OUT"
