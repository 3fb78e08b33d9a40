#!/usr/bin/env bash
# benchmarks/run.sh - throughput / latency / CPU benchmark for runtime-proxy.
#
# Compares five targets, all on 127.0.0.1, all serving the same upstream:
#   direct         wrk -> upstream nginx                          (the ceiling)
#   runtime-proxy  wrk -> runtime-proxy (access log ON, `--log-format text`) -> upstream
#   runtime-proxy-nolog
#                  wrk -> runtime-proxy (`--log-format none`; same binary, a second
#                         process; metrics are always on) -> upstream
#   nginx          wrk -> nginx reverse proxy (1 worker, HTTP/1.1 + upstream keepalive 1024,
#                         access_log ON to a file in the temp dir) -> upstream
#   haproxy        wrk -> haproxy (nbthread 1, mode http, http-reuse always,
#                         option httplog, logging to stdout which goes to /dev/null) -> upstream
#
# Each runtime-proxy process has its stdout on a pipe (a FIFO in the temp dir) read by
# `cat > /dev/null` pinned to the server CPU, as a container runtime would collect it.
# On a pipe the proxy writes its access log non-blocking through its event loop (and
# drops lines, counted in runtime_proxy_log_lines_dropped_total, if the reader falls
# behind); the reader's CPU time is sampled too. Comparing runtime-proxy with
# runtime-proxy-nolog (per round, then the median) gives the cost of the access log.
#
# CPU layout (the machine has 2 CPUs):
#   CPU 1: the load generator (wrk -t1) only.
#   CPU 0: every server: the upstream nginx (1 worker), all proxies and the log readers.
#   Each proxy is single threaded (runtime-proxy: one event loop; nginx: 1 worker;
#   haproxy: nbthread 1), so in every proxied run the proxy under test and the
#   upstream share CPU 0 while wrk has CPU 1 to itself. This is the same for the
#   three proxies, so they are compared on equal terms; only one target is loaded
#   at a time (the idle ones sleep in epoll). The "direct" run gives the upstream
#   CPU 0 alone, so it is the ceiling, not a like-for-like comparison.
#   Giving wrk its own CPU keeps the load generator from stealing the server CPU,
#   which would otherwise be the largest source of noise on 2 cores.
#
# Method: interleaved rounds. For each round, for each target, for each body size
# and connection count, run `wrk -t1 -cN -dDs --latency URL`, and record
# requests/s, p50 and p99 (from wrk's latency distribution, in microseconds),
# socket errors, non-2xx responses, and the connections the upstream accepted during
# the run (its stub_status `accepts`): what the proxy opened to it (direct: wrk's own). Around each runtime-proxy / nginx / haproxy
# run the CPU time (utime+stime from /proc/PID/stat) of the proxy process (the nginx
# worker, not its master) is sampled to give CPU seconds per 100k requests.
# Summary values are medians over rounds; ratios are computed per round first
# (proxy rps / direct rps, proxy rps / nginx rps, and runtime-proxy rps /
# runtime-proxy-nolog rps, same round, same config) and then the median is taken.
#
# Environment:
#   TARGETS="direct runtime-proxy runtime-proxy-nolog nginx haproxy"
#                   the targets, run in this order within each round (any subset)
#   ROUNDS=5        number of interleaved rounds
#   DURATION=5      seconds per wrk run
#   FULL=0          1: body sizes 10 B, 1 KiB, 64 KiB and connections 1, 16, 256, 1024;
#                   0: 10 B at 16 connections only
#   SIZES, CONNS    override the lists directly (e.g. SIZES="10b 1k" CONNS="16 256");
#                   SIZES may also name file1k, file64k (bodies from files), post1m (1 MiB POSTs) and rate10b (GET /10b at
#                   about 100 requests/s per connection: latency below saturation)
#   WARMUP=2        seconds of warm-up per target before round 1 (0 to skip)
#   BASE_PORT=28400 first port tried; 5 free ports from here on are used
#   SERVER_CPU=0 LOAD_CPU=1   the CPUs used (see above)
#   OUT=benchmarks/results/latest.md   where the markdown results go
#   REBUILD=1       run `swift build -c release` even if the binary exists (default: only if missing;
#                   an existing binary may be older than the work tree: the results record its mtime)
#   KEEP_TMP=1      keep the temp dir (configs, logs, raw results) after exit
#
# Output: a text table on stdout, the markdown table in $OUT, the raw per-run
# results (TSV) next to it as ${OUT%.md}.tsv.
#
# From lib.sh: the configs of the upstream nginx, the nginx proxy and haproxy; log, die,
# pick_port, and the temp dir with its cleanup traps (bench_init, register_pid).
set -euo pipefail
BENCH_NAME=bench   # log lines "[bench HH:MM:SS] ..."
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
FULL=${FULL:-0}
WARMUP=${WARMUP:-2}
BASE_PORT=${BASE_PORT:-28400}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
if [[ "$FULL" == 1 ]]; then
  SIZES=${SIZES:-"10b 1k 64k"}
  CONNS=${CONNS:-"1 16 256 1024"}
else
  SIZES=${SIZES:-"10b"}
  CONNS=${CONNS:-"16"}
fi
TARGETS=${TARGETS:-"direct runtime-proxy runtime-proxy-nolog nginx haproxy"}

BIN="$ROOT/.build/release/runtime-proxy"
OUT=${OUT:-"$ROOT/benchmarks/results/latest.md"}
RAW="${OUT%.md}.tsv"

for v in ROUNDS DURATION WARMUP BASE_PORT SERVER_CPU LOAD_CPU; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
(( ROUNDS >= 1 && DURATION >= 1 )) || die "ROUNDS and DURATION must be at least 1"
NTARGETS=0
for t in $TARGETS; do
  case $t in direct|runtime-proxy|runtime-proxy-nolog|nginx|haproxy) NTARGETS=$((NTARGETS + 1)) ;;
    *) die "unknown target '$t' (direct, runtime-proxy, runtime-proxy-nolog, nginx, haproxy)" ;; esac
done
(( NTARGETS >= 1 )) || die "TARGETS is empty"

# ---------------------------------------------------------------- tools
need_install=0
for tool in wrk nginx haproxy curl taskset; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || need_install=1
done
if (( need_install )); then
  log "installing missing tools (wrk nginx-light haproxy curl util-linux)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y wrk nginx-light haproxy curl util-linux
fi
export PATH="$PATH:/usr/sbin:/sbin"
NCPU=$(nproc)
(( SERVER_CPU < NCPU && LOAD_CPU < NCPU )) || die "SERVER_CPU/LOAD_CPU must be below nproc=$NCPU"

BUILD_NOTE=""
if [[ ! -x "$BIN" || "${REBUILD:-0}" == 1 ]]; then
  log "building release binary"
  build_start=$(date +%s)
  (cd "$ROOT" && swift build -c release)
  BUILD_NOTE="; \`swift build -c release\` run by this script took $(( $(date +%s) - build_start )) s"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"
# What is measured: recorded now, before the rounds, because the shared work tree and
# .build may change while the benchmark runs (the binary is copied, see below).
BIN_BUILT=$(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)
TREE_AT_START=$(tree_state)

CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- cleanup
# $TMP = /tmp/runtime-proxy-bench.XXXXXX; on exit every registered process is stopped
# (TERM, up to 5 s, KILL) and $TMP removed unless KEEP_TMP=1.
bench_init bench

# Run a private copy, so a rebuild by someone else during the rounds cannot change it.
cp "$BIN" "$TMP/runtime-proxy-bin"
BIN_SHA=$(sha256sum "$TMP/runtime-proxy-bin" | cut -c1-12)

# ---------------------------------------------------------------- ports
NEXT_PORT=$BASE_PORT   # lib.sh's pick_port: the next free port from here on
pick_port UP_PORT; pick_port RP_PORT; pick_port RN_PORT; pick_port NG_PORT; pick_port HA_PORT

# ---------------------------------------------------------------- content
mkdir -p "$TMP/up" "$TMP/ng"
upstream_files "$TMP/www"
# Workloads ("sizes"): the response body size of a GET, or two more:
#   post1m   POST of a 1 MiB body (the upstream reads it and answers 10 bytes)
#   rate10b  GET /10b at a fixed rate well below saturation: each connection
#            waits 10 ms after each response (about 100 requests/s per
#            connection), so p50/p99 show the latency a proxy adds, not queueing
#   file1k, file64k  the 1 KiB and 64 KiB bodies served from files (head, then
#            sendfile: two writes, as many runtimes answer; 1k and 64k come
#            from `return 200`, head and body in one write)
declare -A SIZE_BYTES=([10b]=10 [1k]=1024 [64k]=65536 [post1m]=10 [rate10b]=10 [file1k]=1024 [file64k]=65536)
declare -A SIZE_PATH=([10b]=10b [1k]=1k [64k]=64k [post1m]=post [rate10b]=10b [file1k]=file/1k [file64k]=file/64k)
for s in $SIZES; do [[ -n "${SIZE_BYTES[$s]:-}" ]] || die "unknown size '$s' (10b, 1k, 64k, post1m, rate10b, file1k, file64k)"; done

# upstream: the "function runtime" stand-in.
{ nginx_main "$TMP/up" 16384 8192; upstream_nginx_http "$TMP/up" "$UP_PORT" "$TMP/www"; } > "$TMP/up/nginx.conf"

# nginx as a reverse proxy, configured the way one would for keep-alive upstreams.
{ nginx_main "$TMP/ng" 16384 8192; proxy_nginx_http "$TMP/ng" "$NG_PORT" "$UP_PORT" /nginx-healthz; } > "$TMP/ng/nginx.conf"

# haproxy: logs every request (option httplog) to stdout, which is /dev/null.
haproxy_cfg "$HA_PORT" "$UP_PORT" > "$TMP/haproxy.cfg"

# ---------------------------------------------------------------- start
# All started through `taskset`, which execs the program, so $! is its PID.
STARTED_PID=""
start_bg() { # name, then the command; stdout/stderr go to $TMP/name.{out,err}; sets STARTED_PID
  local name=$1; shift
  local outfile="$TMP/$name.out"
  [[ "$name" == haproxy ]] && outfile=/dev/null  # its access log
  [[ "$name" == runtime-proxy* ]] && outfile="$TMP/$name.stdout.fifo"  # see start_log_reader
  taskset -c "$SERVER_CPU" "$@" >"$outfile" 2>"$TMP/$name.err" &
  STARTED_PID=$!
  register_pid "$STARTED_PID"
}
# The runtime-proxy processes' stdout: a FIFO read by `cat > /dev/null` on the server CPU.
# The reader is started first; its open of the FIFO completes when the proxy's shell opens
# the write end. Sets STARTED_PID to the reader's PID.
start_log_reader() { # proxy name
  local fifo="$TMP/$1.stdout.fifo"
  mkfifo "$fifo"
  taskset -c "$SERVER_CPU" cat <"$fifo" >/dev/null 2>"$TMP/$1.reader.err" &
  STARTED_PID=$!
  register_pid "$STARTED_PID"
}

wait_ready() { # name pid url [stderr-pattern]: curl until 200 (and the pattern is on stderr), at most ~10 s
  local name=$1 pid=$2 url=$3 pattern=${4:-} code
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2 || true; die "$name exited during start-up"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
    if [[ "$code" == 200 ]] && { [[ -z "$pattern" ]] || grep -q -- "$pattern" "$TMP/$name.err"; }; then
      log "$name ready ($url)"; return 0
    fi
    sleep 0.1
  done
  cat "$TMP/$name.err" >&2 || true
  die "$name not ready after 10 s ($url)"
}

log "temp dir $TMP; ports upstream=$UP_PORT runtime-proxy=$RP_PORT runtime-proxy-nolog=$RN_PORT nginx=$NG_PORT haproxy=$HA_PORT"
nginx -t -q -c "$TMP/up/nginx.conf" -p "$TMP/up" 2>"$TMP/up-test.err" || { cat "$TMP/up-test.err"; die "upstream nginx config"; }
nginx -t -q -c "$TMP/ng/nginx.conf" -p "$TMP/ng" 2>"$TMP/ng-test.err" || { cat "$TMP/ng-test.err"; die "nginx proxy config"; }
haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy config"

start_bg upstream nginx -c "$TMP/up/nginx.conf" -p "$TMP/up"; UP_PID=$STARTED_PID
wait_ready upstream "$UP_PID" "http://127.0.0.1:$UP_PORT/healthz"
start_log_reader runtime-proxy; RP_READER=$STARTED_PID
start_bg runtime-proxy "$TMP/runtime-proxy-bin" --port "$RP_PORT" --listen-address 127.0.0.1 \
  --upstream "127.0.0.1:$UP_PORT" --log-format text; RP_PID=$STARTED_PID
wait_ready runtime-proxy "$RP_PID" "http://127.0.0.1:$RP_PORT/healthz" "listening on 127.0.0.1:$RP_PORT"
start_log_reader runtime-proxy-nolog; RN_READER=$STARTED_PID
start_bg runtime-proxy-nolog "$TMP/runtime-proxy-bin" --port "$RN_PORT" --listen-address 127.0.0.1 \
  --upstream "127.0.0.1:$UP_PORT" --log-format none; RN_PID=$STARTED_PID
wait_ready runtime-proxy-nolog "$RN_PID" "http://127.0.0.1:$RN_PORT/healthz" "listening on 127.0.0.1:$RN_PORT"
start_bg nginx nginx -c "$TMP/ng/nginx.conf" -p "$TMP/ng"; NG_PID=$STARTED_PID
wait_ready nginx "$NG_PID" "http://127.0.0.1:$NG_PORT/nginx-healthz"
start_bg haproxy haproxy -db -f "$TMP/haproxy.cfg"; HA_PID=$STARTED_PID
wait_ready haproxy "$HA_PID" "http://127.0.0.1:$HA_PORT/10b"

# The nginx proxy's worker (the process that does the work; the master only waits).
NG_WORKER=""
for _ in $(seq 1 50); do
  NG_WORKER=$(pgrep -P "$NG_PID" | head -n1 || true)
  [[ -n "$NG_WORKER" ]] && break
  sleep 0.1
done
[[ -n "$NG_WORKER" ]] || die "no nginx worker under $NG_PID"
# Workers inherit the master's affinity; make sure.
taskset -pc "$SERVER_CPU" "$NG_WORKER" >/dev/null
for p in $(pgrep -P "$UP_PID"); do taskset -pc "$SERVER_CPU" "$p" >/dev/null; done

url_of() { # target size
  local port
  case $1 in
    direct) port=$UP_PORT ;; runtime-proxy) port=$RP_PORT ;; runtime-proxy-nolog) port=$RN_PORT ;;
    nginx) port=$NG_PORT ;; haproxy) port=$HA_PORT ;;
  esac
  echo "http://127.0.0.1:$port/${SIZE_PATH[$2]}"
}
wrk_script_of() { # size -> the wrk Lua script for it: every one prints p99.9 at the end
  local script="$TMP/wrk-$1.lua"
  if [[ ! -f "$script" ]]; then
    {
      case $1 in
        post1m) printf 'wrk.method = "POST"\nwrk.body = string.rep("p", 1048576)\nwrk.headers["Content-Type"] = "application/octet-stream"\n' ;;
        rate10b) printf 'function delay()\n  return 10\nend\n' ;;
      esac
      # wrk --latency prints up to p99; p99.9 comes from the same histogram (microseconds).
      printf 'function done(summary, latency, requests)\n  io.write(string.format("P999 %%d\\n", latency:percentile(99.9)))\nend\n'
    } > "$script"
  fi
  echo "$script"
}
cpu_pid_of() {
  case $1 in
    runtime-proxy) echo "$RP_PID" ;; runtime-proxy-nolog) echo "$RN_PID" ;;
    nginx) echo "$NG_WORKER" ;; haproxy) echo "$HA_PID" ;; *) echo "" ;;
  esac
}
reader_pid_of() {
  case $1 in runtime-proxy) echo "$RP_READER" ;; runtime-proxy-nolog) echo "$RN_READER" ;; *) echo "" ;; esac
}

# Check each target returns the expected body before measuring.
for t in $TARGETS; do
  for s in $SIZES; do
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 5 "$(url_of "$t" "$s")" || true)
    [[ "$got" == "200 ${SIZE_BYTES[$s]}" ]] || die "$t /$s answered '$got', expected '200 ${SIZE_BYTES[$s]}'"
  done
done
log "runtime-proxy threads: $(ls /proc/$RP_PID/task | wc -l); affinity: $(taskset -pc "$RP_PID" | sed 's/.*: //'); stdout: $(readlink /proc/$RP_PID/fd/1)"
log "runtime-proxy-nolog threads: $(ls /proc/$RN_PID/task | wc -l); affinity: $(taskset -pc "$RN_PID" | sed 's/.*: //'); stdout: $(readlink /proc/$RN_PID/fd/1)"

cpu_ticks() { # pid -> utime+stime in clock ticks (fields 14 and 15; comm may hold spaces)
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  # after "comm) ", field 3 of the original is first: utime is the 12th, stime the 13th here
  awk '{ print $12 + $13 }' <<<"$stat"
}
vm_hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

to_us() { # "123.45us" / "1.2ms" / "2.00s" / "1.00m" -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
    else if (u == "m") m = 60000000; else if (u == "h") m = 3600000000; else m = -1
    if (m < 0) print "NaN"; else printf "%.1f\n", n * m }'
}

check_alive() {
  local name pid
  for name in upstream runtime-proxy runtime-proxy-nolog runtime-proxy.reader runtime-proxy-nolog.reader nginx haproxy; do
    case $name in upstream) pid=$UP_PID ;; runtime-proxy) pid=$RP_PID ;; runtime-proxy-nolog) pid=$RN_PID ;;
      runtime-proxy.reader) pid=$RP_READER ;; runtime-proxy-nolog.reader) pid=$RN_READER ;;
      nginx) pid=$NG_PID ;; haproxy) pid=$HA_PID ;; esac
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2 || true; die "$name (pid $pid) died"; }
  done
}

upstream_accepts() { # connections the upstream nginx accepted so far, this query's own included
  curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/nginx_status" | awk 'NR == 3 { print $1 }'
}

run_wrk() { # target size conns duration -> wrk output in $TMP/wrk.out
  local url; url=$(url_of "$1" "$2")
  local script; script=$(wrk_script_of "$2")
  timeout --foreground -k 5 $(( $4 + 30 )) taskset -c "$LOAD_CPU" wrk -t1 -c"$3" -d"$4"s --latency -s "$script" "$url" > "$TMP/wrk.out" 2>&1 \
    || { cat "$TMP/wrk.out" >&2; die "wrk failed for $url"; }
}

# ---------------------------------------------------------------- warm-up
if (( WARMUP > 0 )); then
  log "warm-up: ${WARMUP}s per target"
  for t in $TARGETS; do
    for s in $SIZES; do run_wrk "$t" "$s" 16 "$WARMUP"; done
  done
  check_alive
fi

# ---------------------------------------------------------------- rounds
mkdir -p "$(dirname "$OUT")"
printf 'round\ttarget\tsize\tconns\trps\tp50_us\tp99_us\trequests\tsocket_errors\tnon2xx\tcpu_ticks\treader_cpu_ticks\tp999_us\tupstream_conns\n' > "$TMP/raw.tsv"
nconf=0; for _ in $SIZES; do for _ in $CONNS; do nconf=$((nconf + 1)); done; done
log "rounds=$ROUNDS duration=${DURATION}s sizes=[$SIZES] conns=[$CONNS]: about $(( ROUNDS * nconf * NTARGETS * (DURATION + 1) )) s"
START_TS=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  for s in $SIZES; do
    for c in $CONNS; do
      for t in $TARGETS; do
        cpid=$(cpu_pid_of "$t")
        rpid=$(reader_pid_of "$t")
        before=0; [[ -n "$cpid" ]] && before=$(cpu_ticks "$cpid")
        rbefore=0; [[ -n "$rpid" ]] && rbefore=$(cpu_ticks "$rpid")
        accepts_before=$(upstream_accepts)
        run_wrk "$t" "$s" "$c" "$DURATION"
        after=0; [[ -n "$cpid" ]] && after=$(cpu_ticks "$cpid")
        rafter=0; [[ -n "$rpid" ]] && rafter=$(cpu_ticks "$rpid")
        # Less the second query's own connection.
        opened=$(( $(upstream_accepts) - accepts_before - 1 ))
        check_alive
        out="$TMP/wrk.out"
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
        reqs=$(awk '/ requests in / { print $1 }' "$out")
        p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
        p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
        p999=$(awk '$1 == "P999" { print $2 }' "$out")
        serr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
        non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
        [[ -n "$rps" && -n "$reqs" ]] || { cat "$out" >&2; die "could not parse wrk output"; }
        [[ -n "$cpid" ]] && ticks=$((after - before)) || ticks=""
        [[ -n "$rpid" ]] && rticks=$((rafter - rbefore)) || rticks=""
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$s" "$c" "$rps" "$p50" "$p99" \
          "$reqs" "${serr:-0}" "${non2xx:-0}" "$ticks" "$rticks" "${p999:-0}" "$opened" >> "$TMP/raw.tsv"
        if [[ -n "${serr:-}" || -n "${non2xx:-}" ]]; then
          log "round $r $t $s c=$c: socket errors=${serr:-0} non-2xx=${non2xx:-0}"
          cp "$out" "$TMP/wrk-errors-$r-$t-$s-$c.out"
        fi
        printf '[bench] round %d/%d %-19s %-4s c=%-3s %10s rps  p50 %8s us  p99 %8s us\n' \
          "$r" "$ROUNDS" "$t" "$s" "$c" "$rps" "$p50" "$p99" >&2
      done
    done
  done
done
ELAPSED=$(( $(date +%s) - START_TS ))
RP_HWM=$(vm_hwm_kib "$RP_PID"); RN_HWM=$(vm_hwm_kib "$RN_PID"); NG_HWM=$(vm_hwm_kib "$NG_WORKER"); HA_HWM=$(vm_hwm_kib "$HA_PID")
RP_ERR_LINES=$(grep -cv 'listening on' "$TMP/runtime-proxy.err" || true)
RN_ERR_LINES=$(grep -cv 'listening on' "$TMP/runtime-proxy-nolog.err" || true)
NG_LOG_LINES=$(wc -l < "$TMP/ng/access.log")
# From each runtime-proxy's own metrics: calls served and access-log lines dropped
# (a dropped line would make the logging run cheaper than it should be).
metric_sum() { # port metric-name -> sum over the metric's samples, or '?'
  { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } \
    | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF; n++ } END { if (n) printf "%.0f\n", s; else print "?" }'
}
RP_CALLS=$(metric_sum "$RP_PORT" function_calls_total); RP_DROPPED=$(metric_sum "$RP_PORT" runtime_proxy_log_lines_dropped_total)
RN_CALLS=$(metric_sum "$RN_PORT" function_calls_total); RN_DROPPED=$(metric_sum "$RN_PORT" runtime_proxy_log_lines_dropped_total)
RP_READER_CPU=$(awk -v t="$(cpu_ticks "$RP_READER")" -v c="$CLK_TCK" 'BEGIN { printf "%.2f", t / c }')
RP_STDOUT=$(readlink "/proc/$RP_PID/fd/1" || echo '?')
cp "$TMP/raw.tsv" "$RAW"

# ---------------------------------------------------------------- summary
# One awk program (mawk compatible): medians over rounds; ratios per round, then median.
summarize() { # $1 = text|md
  awk -F'\t' -v mode="$1" -v clk="$CLK_TCK" -v targets="$TARGETS" -v sizes="$SIZES" -v conns="$CONNS" -v budget=0.90 '
  function sortn(a, n,   i, j, v) { for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v } }
  function median(key,   a, i, parts, m, n) {
    m = split(vals[key], parts, " "); n = 0
    for (i = 1; i <= m; i++) if (parts[i] != "") a[++n] = parts[i] + 0
    if (n == 0) return ""
    sortn(a, n)
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function add(key, v) { vals[key] = vals[key] " " v; cnt[key]++ }
  function fmt(v, f) { return (v == "") ? "-" : sprintf(f, v) }
  NR == 1 { next }
  { r = $1; t = $2; s = $3; c = $4
    rps[r, t, s, c] = $5
    add("rps" SUBSEP t SUBSEP s SUBSEP c, $5)
    add("p50" SUBSEP t SUBSEP s SUBSEP c, $6)
    add("p99" SUBSEP t SUBSEP s SUBSEP c, $7)
    add("p999" SUBSEP t SUBSEP s SUBSEP c, $13)
    err[t, s, c] += $9 + $10
    if ($11 != "" && $8 > 0) add("cpu" SUBSEP t SUBSEP s SUBSEP c, $11 / clk / $8 * 100000)
    if ($12 != "" && $8 > 0) add("rcpu" SUBSEP t SUBSEP s SUBSEP c, $12 / clk / $8 * 100000)
    if ($14 != "") add("up" SUBSEP t SUBSEP s SUBSEP c, $14)
    if (r > maxr) maxr = r }
  END {
    nt = split(targets, T, " "); ns = split(sizes, S, " "); nc = split(conns, C, " ")
    for (r = 1; r <= maxr; r++) for (i = 1; i <= nt; i++) for (j = 1; j <= ns; j++) for (k = 1; k <= nc; k++) {
      t = T[i]; s = S[j]; c = C[k]
      if (rps[r, "direct", s, c] > 0 && ((r, t, s, c) in rps)) add("vd" SUBSEP t SUBSEP s SUBSEP c, rps[r, t, s, c] / rps[r, "direct", s, c])
      if (rps[r, "nginx", s, c] > 0 && ((r, t, s, c) in rps)) add("vn" SUBSEP t SUBSEP s SUBSEP c, rps[r, t, s, c] / rps[r, "nginx", s, c])
      if (t == "runtime-proxy" && rps[r, "runtime-proxy-nolog", s, c] > 0 && ((r, t, s, c) in rps)) {
        v = rps[r, t, s, c] / rps[r, "runtime-proxy-nolog", s, c]
        add("vl" SUBSEP t SUBSEP s SUBSEP c, v); lr[r, s, c] = v
      }
    }
    if (mode == "md") {
      print "| target | body | conns | rps (median) | rps min-max | p50 us | p99 us | p99.9 us | vs direct | vs nginx | vs nolog | CPU s / 100k req | log reader CPU s / 100k req | upstream conns opened / run | errors |"
      print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    } else {
      printf "%-19s %-4s %5s %10s %13s %9s %9s %9s %9s %8s %8s %10s %10s %9s %6s\n", "target", "body", "conns", "rps(med)", "rps min-max", "p50 us", "p99 us", "p99.9 us", "vs direct", "vs nginx", "vs nolog", "CPU s/100k", "reader CPU", "up conns", "errors"
    }
    for (j = 1; j <= ns; j++) for (k = 1; k <= nc; k++) for (i = 1; i <= nt; i++) {
      t = T[i]; s = S[j]; c = C[k]; key = t SUBSEP s SUBSEP c
      m = split(vals["rps" SUBSEP key], parts, " "); lo = ""; hi = ""
      for (q = 1; q <= m; q++) if (parts[q] != "") { v = parts[q] + 0; if (lo == "" || v < lo) lo = v; if (hi == "" || v > hi) hi = v }
      cpu = fmt(median("cpu" SUBSEP key), "%.2f"); rcpu = fmt(median("rcpu" SUBSEP key), "%.2f")
      vd = (t == "direct") ? "-" : fmt(median("vd" SUBSEP key), "%.3f")
      vn = (t == "nginx" || t == "direct") ? "-" : fmt(median("vn" SUBSEP key), "%.3f")
      vl = fmt(median("vl" SUBSEP key), "%.3f"); up = fmt(median("up" SUBSEP key), "%.0f")
      mm = sprintf("%.0f-%.0f", lo, hi)
      if (mode == "md")
        printf "| %s | %s | %s | %.0f | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %d |\n", t, s, c, median("rps" SUBSEP key), mm, median("p50" SUBSEP key), median("p99" SUBSEP key), median("p999" SUBSEP key), vd, vn, vl, cpu, rcpu, up, err[t, s, c]
      else
        printf "%-19s %-4s %5s %10.0f %13s %9.0f %9.0f %9.0f %9s %8s %8s %10s %10s %9s %6d\n", t, s, c, median("rps" SUBSEP key), mm, median("p50" SUBSEP key), median("p99" SUBSEP key), median("p999" SUBSEP key), vd, vn, vl, cpu, rcpu, up, err[t, s, c]
    }
    # Access-log cost: runtime-proxy rps / runtime-proxy-nolog rps, per round, then the median.
    have = 0; for (j = 1; j <= ns; j++) for (k = 1; k <= nc; k++) if (cnt["vl" SUBSEP "runtime-proxy" SUBSEP S[j] SUBSEP C[k]] > 0) have = 1
    if (!have) exit
    print ""
    if (mode == "md") {
      print "Access log on vs off: runtime-proxy rps / runtime-proxy-nolog rps, per round (same round, same configuration), then the median. \"within 10 %\" means median >= " budget "."
      print ""
      print "| body | conns | per round | median | min-max | within 10 % |"
      print "|---|---:|---|---:|---|---|"
    } else {
      print "access log on / off (runtime-proxy rps / runtime-proxy-nolog rps), per round, then the median:"
      printf "%-4s %5s  %-40s %7s %13s  %s\n", "body", "conns", "per round", "median", "min-max", "within 10 %"
    }
    for (j = 1; j <= ns; j++) for (k = 1; k <= nc; k++) {
      s = S[j]; c = C[k]; key = "runtime-proxy" SUBSEP s SUBSEP c
      if (cnt["vl" SUBSEP key] == 0) continue
      list = ""; lo = ""; hi = ""
      for (r = 1; r <= maxr; r++) if ((r, s, c) in lr) {
        v = lr[r, s, c]; list = list (list == "" ? "" : " ") sprintf("%.2f", v)
        if (lo == "" || v < lo) lo = v; if (hi == "" || v > hi) hi = v
      }
      m = median("vl" SUBSEP key); ok = (m >= budget) ? "yes" : "no"
      if (mode == "md") printf "| %s | %s | %s | %.3f | %.2f-%.2f | %s |\n", s, c, list, m, lo, hi, ok
      else printf "%-4s %5s  %-40s %7.3f %13s  %s\n", s, c, list, m, sprintf("%.2f-%.2f", lo, hi), ok
    }
  }' "$TMP/raw.tsv"
}

echo
echo "runtime-proxy benchmark: rounds=$ROUNDS duration=${DURATION}s, wrk -t1 on CPU $LOAD_CPU, servers on CPU $SERVER_CPU, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
summarize text
echo
echo "peak RSS (VmHWM): runtime-proxy ${RP_HWM} KiB, runtime-proxy-nolog ${RN_HWM} KiB, nginx proxy worker ${NG_HWM} KiB, haproxy ${HA_HWM} KiB"
echo "runtime-proxy: stdout $RP_STDOUT, calls served $RP_CALLS, access-log lines dropped $RP_DROPPED, log reader CPU ${RP_READER_CPU}s in total; runtime-proxy-nolog: calls served $RN_CALLS, lines dropped $RN_DROPPED"
echo "stderr lines other than the start-up line: runtime-proxy $RP_ERR_LINES, runtime-proxy-nolog $RN_ERR_LINES; nginx proxy access-log lines: $NG_LOG_LINES; measuring time ${ELAPSED}s"
if (( RP_ERR_LINES > 0 )); then echo "runtime-proxy stderr:"; grep -v 'listening on' "$TMP/runtime-proxy.err" | head -20; fi
if (( RN_ERR_LINES > 0 )); then echo "runtime-proxy-nolog stderr:"; grep -v 'listening on' "$TMP/runtime-proxy-nolog.err" | head -20; fi

{
  echo "# runtime-proxy benchmark results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(nproc) CPUs, $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), kernel $(uname -r)"
  echo "- runtime-proxy binary built $BIN_BUILT (sha256 $BIN_SHA, run from a copy)$BUILD_NOTE; work tree at start $TREE_AT_START, at end $(tree_state); $(nginx -v 2>&1 | sed 's/.*: //'), haproxy $(haproxy -v | awk 'NR == 1 { print $3 }'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
  echo "- TARGETS=\"$TARGETS\" ROUNDS=$ROUNDS DURATION=${DURATION}s SIZES=\"$SIZES\" CONNS=\"$CONNS\" WARMUP=${WARMUP}s; \`wrk -t1 -cN -dDs --latency\` on CPU $LOAD_CPU, upstream, proxies and log readers on CPU $SERVER_CPU"
  echo "- runtime-proxy: \`--log-format text\`; runtime-proxy-nolog: \`--log-format none\`; both with stdout on a pipe (FIFO) read by \`cat > /dev/null\` on CPU $SERVER_CPU; nginx: access_log to a file; haproxy: log to stdout = /dev/null"
  echo "- medians over rounds; \"vs direct\" / \"vs nginx\" / \"vs nolog\" are per-round ratios of requests/s, then the median; CPU is utime+stime of the proxy process (nginx: its worker) per 100k requests, \"log reader CPU\" that of the \`cat\` reading runtime-proxy's stdout; errors = wrk socket errors + non-2xx summed over rounds"
  echo
  summarize md
  echo
  echo "Peak RSS (VmHWM): runtime-proxy ${RP_HWM} KiB, runtime-proxy-nolog ${RN_HWM} KiB, nginx proxy worker ${NG_HWM} KiB, haproxy ${HA_HWM} KiB."
  echo "runtime-proxy: calls served $RP_CALLS, access-log lines dropped $RP_DROPPED (from its /metrics), log reader CPU ${RP_READER_CPU} s in total; runtime-proxy-nolog: calls served $RN_CALLS, lines dropped $RN_DROPPED."
  echo "Stderr lines other than the start-up line: runtime-proxy $RP_ERR_LINES, runtime-proxy-nolog $RN_ERR_LINES. Raw per-run data: \`$(basename "$RAW")\`."
} > "$OUT"
log "wrote $OUT and $RAW"
