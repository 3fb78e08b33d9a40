#!/usr/bin/env bash
# benchmarks/massif.sh - where runtime-proxy's heap goes per idle keep-alive connection.
#
# Runs the dynamic release binary (.build/release/runtime-proxy; symbol table kept, debug
# info removed: valgrind 3.19 cannot read its DWARF 5) under `valgrind --tool=massif`. Not
# the static one: in a static executable valgrind cannot replace malloc, so massif sees no
# heap at all. The Swift sources and so the allocations are the same in both builds.
# The proxy opens CONNS keep-alive connections with one
# answered GET /10b each (benchmarks/idle_conns.py), holds them, closes them, and stops the
# proxy. The heap snapshot with the most bytes (all connections open) is printed by
# ms_print; the allocation sites are demangled. Heap bytes / CONNS is the heap cost of one
# idle connection; it does not depend on the machine's load.
# (RSS per connection, from memory.sh, is higher: malloc headers and rounding, libuv and
# kernel-side socket memory are not all in massif's heap count.)
#
# Environment: CONNS=2000, OUT=benchmarks/results/massif.md, BASE_PORT=28800, KEEP_TMP=1
set -euo pipefail
BENCH_NAME=massif
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CONNS=${CONNS:-2000}
OUT=${OUT:-"$ROOT/benchmarks/results/massif.md"}
BASE_PORT=${BASE_PORT:-28800}; NEXT_PORT=$BASE_PORT
need_tools valgrind:valgrind objcopy:binutils nginx:nginx-light curl:curl
[[ -x "$DYNAMIC_BIN" ]] || (cd "$ROOT" && swift build -c release >&2)
bench_init massif
ulimit -Sn "$(ulimit -Hn)"
objcopy --strip-debug "$DYNAMIC_BIN" "$TMP/rp-bin"
start_upstream
pick_port PORT
valgrind --tool=massif --massif-out-file="$TMP/massif.out" --threshold=1.0 --depth=4 --max-snapshots=200 \
  --log-file="$TMP/valgrind.log" "$TMP/rp-bin" --port "$PORT" --listen-address 127.0.0.1 \
  --upstream "127.0.0.1:$UP_PORT" --log-format text --drain-delay 0 > /dev/null 2> "$TMP/stderr" &
PID=$!; register_pid "$PID"
for (( i = 0; i < 1500; i++ )); do grep -q "listening on" "$TMP/stderr" 2>/dev/null && break; sleep 0.02; done
grep -q "listening on" "$TMP/stderr" || die "proxy did not start under massif"
python3 "$ROOT/benchmarks/idle_conns.py" --port "$PORT" --connections "$CONNS" --parallel 50 --hold 120 \
  --ready-file "$TMP/ready" --release-file "$TMP/release" > "$TMP/client.out" 2>&1 &
CPID=$!; register_pid "$CPID"
for (( i = 0; i < 3000; i++ )); do [[ -f "$TMP/ready" ]] && break; kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
[[ -f "$TMP/ready" ]] || { cat "$TMP/client.out" >&2; die "client did not get ready"; }
log "$(cat "$TMP/ready")"
sleep 2
RSS=$(vm_kib "$PID" VmRSS)
touch "$TMP/release"; wait "$CPID" || true
sleep 1
kill -TERM "$PID"; wait "$PID" || true
ms_print "$TMP/massif.out" > "$TMP/ms.txt"
PEAK=$(awk '/^ *[0-9]+ +[0-9,]+ +[0-9,]+ +[0-9,]+ +[0-9,]+ +[0-9,]+$/ { gsub(/,/, "", $3); if ($3 + 0 > m) m = $3 + 0 } END { print m }' "$TMP/ms.txt")
# The detailed snapshot with the largest total: its allocation tree.
python3 - "$TMP/ms.txt" "$CONNS" > "$TMP/tree.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
conns = int(sys.argv[2])
# Detailed snapshots: a header row, then a tree starting with "->" lines or "n..." lines.
blocks = re.split(r"\n(?=-{70,}\n\s+n\s+time)", text)
best, best_total = None, -1
rows = re.findall(r"^\s*(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$", text, re.M)
for part in text.split("\n\n"):
    m = re.search(r"^(\d+\.\d+)% \(([\d,]+)B\) \(heap allocation functions\)", part, re.M)
    if m:
        total = int(m.group(2).replace(",", ""))
        if total > best_total:
            best, best_total = part, total
print(f"largest detailed snapshot: {best_total} useful heap bytes = {best_total / conns:.0f} bytes per connection")
print(best)
EOF
{
  echo "# Heap per idle keep-alive connection (massif)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); work tree $(tree_state); $(valgrind --version); dynamic binary ($(bin_info "$DYNAMIC_BIN"))"
  echo "- $CONNS keep-alive connections, one GET /10b answered on each, then idle; \`--log-format text\`; VmRSS under valgrind with all open: $RSS KiB (valgrind's own memory included)"
  echo "- peak heap (useful bytes, ms_print): $PEAK bytes = $(( PEAK / CONNS )) bytes per connection"
  echo
  echo '```'
  swift demangle --simplified < "$TMP/tree.txt" | sed -E 's/ \(in \/[^)]*\)$//' | cut -c1-220 | awk "NR <= 200"
  echo '```'
} > "$OUT"
cat "$OUT"
log "wrote $OUT"
