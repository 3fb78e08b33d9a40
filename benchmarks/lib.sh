# benchmarks/lib.sh - helpers shared by run.sh, callgrind.sh, memory.sh, massif.sh,
# startup.sh and size.sh. Source it after `set -euo pipefail`; it defines functions and
# a few variables only (no traps until bench_init):
#   ROOT, STATIC_BIN, STATIC_BIN_SYMBOLS, DYNAMIC_BIN, BENCH_NAME, TMP (after bench_init),
#   log, die, need_tools, bench_init, register_pid, stop_pid, port_free, pick_port,
#   wait_listen, the configs (nginx_main, nginx_temp_paths, upstream_nginx_http,
#   proxy_nginx_http, haproxy_cfg), upstream_files, start_upstream,
#   vm_kib, bin_info, tree_state, machine_line.
export PATH="$PATH:/usr/sbin:/sbin"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Overridable, e.g. to measure a build made elsewhere (another commit's tree).
STATIC_BIN=${STATIC_BIN:-"$ROOT/dist/runtime-proxy"}                          # what images ship (stripped)
STATIC_BIN_SYMBOLS=${STATIC_BIN_SYMBOLS:-"$ROOT/.build-static/release/runtime-proxy"}  # the same link before strip
DYNAMIC_BIN=${DYNAMIC_BIN:-"$ROOT/.build/release/runtime-proxy"}                 # swift build -c release
BENCH_NAME=${BENCH_NAME:-bench}

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_tools() { # tool:debian-package ... -> apt-get install the packages of missing tools
  local pkgs=() spec tool pkg
  for spec in "$@"; do
    tool=${spec%%:*}; pkg=${spec#*:}
    command -v "$tool" >/dev/null 2>&1 || pkgs+=("$pkg")
  done
  if (( ${#pkgs[@]} )); then
    log "installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
}

# ---------------------------------------------------------------- processes and temp dir
BENCH_PIDS=()
register_pid() { BENCH_PIDS+=("$1"); }
stop_pid() { # pid [signal] [seconds]: signal, wait up to seconds, then SIGKILL
  local pid=$1 sig=${2:-TERM} secs=${3:-10} i
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for (( i = 0; i < secs * 10; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid" TERM 5; done
  if [[ -n "${TMP:-}" && -d "$TMP" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
bench_init() { # name: temp dir + traps
  TMP=$(mktemp -d "/tmp/runtime-proxy-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM
}

# ---------------------------------------------------------------- ports
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
NEXT_PORT=${BASE_PORT:-28500}
pick_port() { # varname: a free TCP port
  local tries=0
  while ! port_free "$NEXT_PORT"; do
    NEXT_PORT=$((NEXT_PORT + 1)); tries=$((tries + 1))
    (( tries < 300 )) || die "no free port (300 tried, up to $NEXT_PORT)"
  done
  printf -v "$1" '%s' "$NEXT_PORT"; NEXT_PORT=$((NEXT_PORT + 1))
}
wait_listen() { # port pid seconds: until something listens on the port (no request is sent)
  local port=$1 pid=$2 secs=${3:-30} i
  for (( i = 0; i < secs * 50; i++ )); do
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

# ---------------------------------------------------------------- nginx
nginx_temp_paths() { # prefix
  cat <<EOF
  client_body_temp_path $1/client_body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
EOF
}
# The configs, each written once (run.sh, memory.sh, callgrind.sh and start_upstream
# print them). nginx runs with 1 worker and its temp paths under the prefix dir.
nginx_main() { # prefix worker_rlimit_nofile worker_connections [master_process on|off]
  cat <<EOF
user root;
worker_processes 1;
daemon off;
master_process ${4:-on};
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile $2;
events { worker_connections $3; multi_accept on; }
EOF
}
upstream_files() { # dir: the upstream's static bodies, dir/1k and dir/64k
  mkdir -p "$1"
  head -c 1024 /dev/zero | tr '\0' 'a' > "$1/1k"
  head -c 65536 /dev/zero | tr '\0' 'b' > "$1/64k"
}
# The upstream ("the function runtime"): access_log off, /healthz, and bodies of
# 10 bytes (/10b), 1 KiB (/1k) and 64 KiB (/64k) from `return 200` (as issue 6
# names it: head and body leave in one writev; 64 KiB is 64 copies of a 1 KiB
# variable, a config token being at most 4 KiB). /file/1k and /file/64k serve
# the same bodies from files (upstream_files): head first, then sendfile, the
# way many runtimes write a response (docs/benchmarks.md, "Bodies from files").
upstream_nginx_http() { # prefix port www-dir
  local kib_a kib_b times64
  kib_a=$(head -c 1024 /dev/zero | tr '\0' 'a')
  kib_b=$(head -c 1024 /dev/zero | tr '\0' 'b')
  times64=$(for _ in $(seq 64); do printf '$kib'; done)
  cat <<EOF
http {
  access_log off;
$(nginx_temp_paths "$1")
  default_type application/octet-stream;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$2 backlog=4096;
    location = /10b { return 200 "0123456789"; }
    location = /1k  { return 200 "$kib_a"; }
    location = /64k { set \$kib "$kib_b"; return 200 "$times64"; }
    location = /file/1k  { alias $3/1k; }
    location = /file/64k { alias $3/64k; }
    location = /post { client_max_body_size 2m; return 200 "0123456789"; }
    location = /healthz { return 200 "ok"; }
    # Connections accepted so far (run.sh: upstream connections each proxy opened).
    location = /nginx_status { stub_status; }
  }
}
EOF
}
# nginx as a reverse proxy, configured the way one would for keep-alive upstreams at
# the concurrencies measured (up to 1,024 connections): access_log ON to
# prefix/access.log, HTTP/1.1 to the upstream, upstream keepalive 1024 (with 64,
# nginx itself opens a connection per request past 64 in flight).
# With a health path (run.sh), that location answers 200 "ok" itself, not logged.
proxy_nginx_http() { # prefix listen-port upstream-port [health path]
  local health=""
  [[ -n "${4:-}" ]] && health="
    location = $4 { access_log off; return 200 \"ok\"; }"
  cat <<EOF
http {
  log_format main '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_time';
  access_log $1/access.log main;
$(nginx_temp_paths "$1")
  default_type application/octet-stream;
  client_max_body_size 2m;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  upstream runtime {
    server 127.0.0.1:$3;
    keepalive 1024;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$2 backlog=4096;$health
    location / {
      proxy_pass http://runtime;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}
# haproxy: nbthread 1, mode http, http-reuse always, logs every request (option httplog)
# to stdout (the callers send it to /dev/null).
haproxy_cfg() { # listen-port upstream-port
  cat <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 info
defaults
  mode http
  log global
  option httplog
  http-reuse always
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s
frontend bench
  bind 127.0.0.1:$1
  default_backend runtime
backend runtime
  server up 127.0.0.1:$2
EOF
}
# Starts the upstream nginx (1 worker, the config above, as in run.sh). Sets UP_PORT and UP_PID.
start_upstream() { # [cpu list for taskset]
  local cpus=${1:-}
  pick_port UP_PORT
  mkdir -p "$TMP/up"
  upstream_files "$TMP/www"
  { nginx_main "$TMP/up" 20000 16384; upstream_nginx_http "$TMP/up" "$UP_PORT" "$TMP/www"; } > "$TMP/up/nginx.conf"
  nginx -t -q -c "$TMP/up/nginx.conf" -p "$TMP/up" || die "upstream nginx config"
  if [[ -n "$cpus" ]]; then taskset -c "$cpus" nginx -c "$TMP/up/nginx.conf" -p "$TMP/up" 2>"$TMP/up/stderr" &
  else nginx -c "$TMP/up/nginx.conf" -p "$TMP/up" 2>"$TMP/up/stderr" & fi
  UP_PID=$!; register_pid "$UP_PID"
  wait_listen "$UP_PORT" "$UP_PID" 10 || die "upstream nginx did not start"
  [[ "$(curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/10b")" == 0123456789 ]] || die "upstream /10b"
}

# ---------------------------------------------------------------- /proc
vm_kib() { # pid field (VmRSS, VmHWM, RssAnon, RssFile, ...) -> KiB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo '?'
}
bin_info() { # path -> "size bytes, sha256 prefix, mtime"
  printf '%s bytes, sha256 %s, built %s' "$(stat -c %s "$1")" "$(sha256sum "$1" | cut -c1-12)" \
    "$(date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ)"
}
tree_state() { git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'; }
machine_line() {
  printf '%s CPUs (%s), %s GiB RAM, kernel %s' "$(nproc)" \
    "$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')" \
    "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
}
