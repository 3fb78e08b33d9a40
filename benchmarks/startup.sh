#!/usr/bin/env bash
# benchmarks/startup.sh - time from exec to the first successful proxied request, for the
# static (dist/runtime-proxy) and the dynamic (.build/release/runtime-proxy) binary.
#
# benchmarks/startup.py runs each binary RUNS times, interleaved (static, dynamic, static,
# ...), with --port 0 and no child runtime, in front of an upstream nginx (as in run.sh):
# t0 just before the exec; the "listening on" line; then GET /10b through it until the
# first 200. Reported: median, p90, min, max of the wall time to the listening line and
# to the first 200, and of the proxy's own time on CPU up to then and its time runnable
# but waiting for a CPU (/proc/PID/schedstat). On a busy machine the wall times include
# the waits; the on-CPU time is what start-up itself costs and noise changes it little.
# The page cache is warm (the binaries were just run); a cold start after a fresh image
# pull also reads the binary from disk, which is not measured here.
#
# Also: the instructions executed (callgrind) by the static binary from exec to exit with
# no request (start + SIGTERM) and with one proxied request, a noise-free count.
#
# Environment: RUNS=50, PROXY_CPU=0 (the proxy and upstream; the client runs on CPU 1),
#   CALLGRIND=1 (0 skips the instruction count), OUT=benchmarks/results/startup.md,
#   BUILD=1 (rebuild both binaries first), BASE_PORT=28700, KEEP_TMP=1.
set -euo pipefail
BENCH_NAME=startup
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-50}; PROXY_CPU=${PROXY_CPU:-0}; LOAD_CPU=${LOAD_CPU:-1}; CALLGRIND=${CALLGRIND:-1}
OUT=${OUT:-"$ROOT/benchmarks/results/startup.md"}
BASE_PORT=${BASE_PORT:-28700}; NEXT_PORT=$BASE_PORT

need_tools nginx:nginx-light curl:curl taskset:util-linux
[[ "$CALLGRIND" == 1 ]] && need_tools valgrind:valgrind objcopy:binutils
[[ "${BUILD:-0}" == 1 || ! -x "$STATIC_BIN" ]] && (cd "$ROOT" && scripts/build-static >&2)
[[ "${BUILD:-0}" == 1 || ! -x "$DYNAMIC_BIN" ]] && (cd "$ROOT" && swift build -c release >&2)
bench_init startup
cp "$STATIC_BIN" "$TMP/rp-static"; cp "$DYNAMIC_BIN" "$TMP/rp-dynamic"
STATIC_INFO=$(bin_info "$STATIC_BIN"); DYNAMIC_INFO=$(bin_info "$DYNAMIC_BIN"); TREE=$(tree_state)
start_upstream "$PROXY_CPU"
log "upstream :$UP_PORT; $RUNS runs per binary"

taskset -c "$LOAD_CPU" python3 "$ROOT/benchmarks/startup.py" --upstream-port "$UP_PORT" --runs "$RUNS" \
  --proxy-cpu "$PROXY_CPU" --binary "static=$TMP/rp-static" --binary "dynamic=$TMP/rp-dynamic" > "$TMP/runs.jsonl"
grep '^SUMMARY ' "$TMP/runs.jsonl" | sed 's/^SUMMARY //' > "$TMP/summary.jsonl"

# ---------------------------------------------------------------- instructions (callgrind)
CG_LINES=""
if [[ "$CALLGRIND" == 1 && -x "$STATIC_BIN_SYMBOLS" ]]; then
  objcopy --strip-debug "$STATIC_BIN_SYMBOLS" "$TMP/rp-cg"   # valgrind 3.19 cannot read its DWARF 5
  cg_run() { # requests(0|1) -> total Ir, exec to exit
    local n=$1 port out="$TMP/cg.$1" pid i
    pick_port port
    valgrind --tool=callgrind --callgrind-out-file="$out" --log-file="$TMP/cg.$n.log" "$TMP/rp-cg" --port "$port" \
      --listen-address 127.0.0.1 --upstream "127.0.0.1:$UP_PORT" --log-format text --drain-delay 0 > /dev/null 2> "$TMP/cg.$n.err" &
    pid=$!; register_pid "$pid"
    for (( i = 0; i < 1500; i++ )); do grep -q "listening on" "$TMP/cg.$n.err" 2>/dev/null && break; sleep 0.02; done
    grep -q "listening on" "$TMP/cg.$n.err" || die "callgrind run did not start"
    if (( n == 1 )); then [[ "$(curl -s --max-time 30 "http://127.0.0.1:$port/10b")" == 0123456789 ]] || die "request under callgrind"; fi
    kill -TERM "$pid"; wait "$pid" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
  }
  IR0=$(cg_run 0); IR1=$(cg_run 1)
  CG_LINES="Instructions executed by the static binary under callgrind, exec to exit (\`--drain-delay 0\`, SIGTERM): no request $IR0; one proxied request $IR1 (difference $((IR1 - IR0)): the first request, including the first upstream connection)."
fi

# ---------------------------------------------------------------- report
python3 - "$TMP/summary.jsonl" > "$TMP/table.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| binary | runs | exec → listening, ms (median / p90 / min / max) | exec → first 200, ms (median / p90 / min / max) | on CPU until then, ms (median / p90) | runnable, waiting for a CPU, ms (median / p90) | minor faults (median) | VmHWM KiB (median) |")
print("|---|---:|---|---|---|---|---:|---:|")
f = lambda d: f"{d['median']:.2f} / {d['p90']:.2f} / {d['min']:.2f} / {d['max']:.2f}"
g = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"
for r in rows:
    print(f"| {r['binary']} | {r['runs']} | {f(r['listen_ms'])} | **{f(r['first_200_ms'])}** | {g(r['on_cpu_ms'])} | {g(r['runnable_waiting_ms'])} | {r['minflt']['median']:.0f} | {r['vmhwm_kib']['median']:.0f} |")
EOF
mkdir -p "$(dirname "$OUT")"
{
  echo "# Start-up: exec to the first proxied 200"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(machine_line); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); work tree $TREE"
  echo "- static: dist/runtime-proxy ($STATIC_INFO); dynamic: .build/release/runtime-proxy ($DYNAMIC_INFO)"
  echo "- \`--port 0 --listen-address 127.0.0.1 --upstream 127.0.0.1:UP --log-format text\`, no child runtime, proxy and upstream nginx on CPU $PROXY_CPU, client (benchmarks/startup.py) on CPU $LOAD_CPU; $RUNS runs per binary, interleaved, after one unmeasured run each; warm page cache"
  echo
  cat "$TMP/table.md"
  echo
  [[ -n "$CG_LINES" ]] && echo "$CG_LINES"
} > "$OUT"
cp "$TMP/runs.jsonl" "${OUT%.md}-runs.jsonl"
cat "$OUT"
log "wrote $OUT"
