#!/usr/bin/env bash
# benchmarks/ab.sh - interleaved A/B of runtime-proxy binaries (and nginx) on one path and
# connection count: for telling whether a change helps, when run.sh's five targets are more
# than the question needs. docs/benchmarks.md and docs/benchmarks-history.md cite the runs made with it.
#
# Each binary runs as in run.sh: access log on, stdout a FIFO read by `cat` on the server CPU,
# upstream nginx (lib.sh) on that CPU too, wrk -t1 on the load CPU. Rounds interleave the
# targets (A B C A B C ...). Per run: p50, p99, requests/s, CPU seconds per 100k requests
# (utime+stime from /proc) and voluntary context switches per request; then, against REF, the
# per-round p50 difference and CPU ratio, and their medians.
#
#   BINS="new=.build/release/runtime-proxy old=/tmp/old-runtime-proxy" benchmarks/ab.sh
#
# Environment:
#   BINS="name=path ..."   the binaries (default: head=.build/release/runtime-proxy)
#   ARGS_<name>="..."      extra flags for one of them (e.g. ARGS_nobatch="--log-flush-interval 0")
#   NGINX=1                also nginx as a reverse proxy (lib.sh's config), named "nginx"
#   REF=nginx              the target the others are compared with (default: nginx, else the first)
#   URLPATH=/64k C=1 ROUNDS=6 D=3   path (/10b, /1k, /64k, /file/1k, /file/64k), connections, rounds, seconds per run
#   SERVER_CPU=0 LOAD_CPU=1 BASE_PORT=28700 KEEP_TMP=1
set -euo pipefail
BENCH_NAME=ab
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINS=${BINS:-"head=$ROOT/.build/release/runtime-proxy"}
NGINX=${NGINX:-1}; URLPATH=${URLPATH:-/64k}; C=${C:-1}; ROUNDS=${ROUNDS:-6}; D=${D:-3}
SERVER_CPU=${SERVER_CPU:-0}; LOAD_CPU=${LOAD_CPU:-1}; NEXT_PORT=${BASE_PORT:-28700}
need_tools wrk:wrk nginx:nginx-light
bench_init ab
start_upstream "$SERVER_CPU"

declare -A PORT PID
names=()
for spec in $BINS; do
  name=${spec%%=*}; bin=${spec#*=}
  [[ -x "$bin" ]] || die "$bin: not an executable (build it first)"
  pick_port "PORT[$name]"
  mkfifo "$TMP/$name.fifo"
  taskset -c "$SERVER_CPU" cat "$TMP/$name.fifo" > /dev/null & register_pid $!
  extra_var="ARGS_$name"
  # shellcheck disable=SC2086  # the extra flags are words
  taskset -c "$SERVER_CPU" "$bin" --port "${PORT[$name]}" --listen-address 127.0.0.1 \
    --upstream "127.0.0.1:$UP_PORT" --drain-delay 0 ${!extra_var:-} > "$TMP/$name.fifo" 2> "$TMP/$name.stderr" &
  PID[$name]=$!; register_pid "${PID[$name]}"
  wait_listen "${PORT[$name]}" "${PID[$name]}" 10 || die "$name did not start: $(cat "$TMP/$name.stderr")"
  names+=("$name")
done
if [[ "$NGINX" == 1 ]]; then
  pick_port "PORT[nginx]"
  mkdir -p "$TMP/ng"
  { nginx_main "$TMP/ng" 16384 8192; proxy_nginx_http "$TMP/ng" "${PORT[nginx]}" "$UP_PORT"; } > "$TMP/ng/nginx.conf"
  taskset -c "$SERVER_CPU" nginx -c "$TMP/ng/nginx.conf" -p "$TMP/ng" 2> "$TMP/ng/stderr" &
  register_pid $!
  wait_listen "${PORT[nginx]}" $! 10 || die "nginx proxy did not start"
  PID[nginx]=$(pgrep -P "$(cat "$TMP/ng/nginx.pid")" | head -1)  # the worker
  names+=(nginx)
fi
REF=${REF:-$([[ "$NGINX" == 1 ]] && echo nginx || echo "${names[0]}")}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { awk '/^voluntary_ctxt_switches/{print $2}' "/proc/$1/status"; }
for name in "${names[@]}"; do taskset -c "$LOAD_CPU" wrk -t1 -c"$C" -d1s "http://127.0.0.1:${PORT[$name]}$URLPATH" > /dev/null; done
log "path $URLPATH, $C connection(s), $ROUNDS rounds of ${D}s; targets: ${names[*]}; compared with $REF"
printf 'round\ttarget\tp50_us\tp99_us\trps\tcpu_s_per_100k\tvoluntary_switches_per_req\n' > "$TMP/ab.tsv"
for (( round = 1; round <= ROUNDS; round++ )); do
  for name in "${names[@]}"; do
    pid=${PID[$name]}; t0=$(cpu_ticks "$pid"); s0=$(switches "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$C" -d"${D}s" --latency "http://127.0.0.1:${PORT[$name]}$URLPATH")
    t1=$(cpu_ticks "$pid"); s1=$(switches "$pid")
    echo "$out" | awk -v r="$round" -v n="$name" -v dt=$((t1 - t0)) -v ds=$((s1 - s0)) '
      function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1000000 }
      / 50%/ { p50 = us($2) } / 99%/ { p99 = us($2) } /requests in/ { n_req = $1 } /Requests\/sec/ { rps = $2 }
      END { printf "%d\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\n", r, n, p50, p99, rps, dt / 100 * 100000 / n_req, ds / n_req }' >> "$TMP/ab.tsv"
    tail -1 "$TMP/ab.tsv"
  done
done
python3 - "$TMP/ab.tsv" "$REF" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ref = sys.argv[2]
by = {(r["round"], r["target"]): r for r in rows}
for name in dict.fromkeys(r["target"] for r in rows):
    mine = [r for r in rows if r["target"] == name]
    line = f"{name:12} p50 median {statistics.median(float(r['p50_us']) for r in mine):7.0f} us, CPU {statistics.median(float(r['cpu_s_per_100k']) for r in mine):6.2f} s/100k, switches {statistics.median(float(r['voluntary_switches_per_req']) for r in mine):.2f}/req"
    if name != ref:
        pairs = [(r, by[(r["round"], ref)]) for r in mine if (r["round"], ref) in by]
        d = [float(a["p50_us"]) - float(b["p50_us"]) for a, b in pairs]
        c = [float(a["cpu_s_per_100k"]) / float(b["cpu_s_per_100k"]) for a, b in pairs]
        line += f"; vs {ref}: p50 {statistics.median(d):+.0f} us ({sum(x < 0 for x in d)}/{len(d)} rounds lower), CPU ratio {statistics.median(c):.3f}"
    print(line)
EOF
