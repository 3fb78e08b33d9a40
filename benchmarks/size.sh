#!/usr/bin/env bash
# benchmarks/size.sh - size of the static binary (dist/runtime-proxy, what images ship)
# and what it is made of. Deterministic; no load involved.
#
# Reports: bytes of dist/runtime-proxy and of the dynamic release binary (plus the Swift
# shared libraries it needs, which an image would have to ship), gzip -9 size (image layers
# are gzip-compressed), the largest ELF sections, and the code and data by origin: symbol
# sizes from the unstripped static link (.build-static/release/runtime-proxy), grouped by
# Swift module (from the mangled name) or C library (by symbol prefix).
# Environment: OUT=benchmarks/results/size.md, BUILD=1 rebuilds first.
set -euo pipefail
BENCH_NAME=size
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT=${OUT:-"$ROOT/benchmarks/results/size.md"}
need_tools nm:binutils gzip:gzip
[[ "${BUILD:-0}" == 1 || ! -x "$STATIC_BIN" ]] && (cd "$ROOT" && scripts/build-static >&2)
bench_init size

static_bytes=$(stat -c %s "$STATIC_BIN")
gz_bytes=$(gzip -9 -c "$STATIC_BIN" | wc -c)
dyn_line="(not built)"
if [[ -x "$DYNAMIC_BIN" ]]; then
  libs=$(ldd "$DYNAMIC_BIN" | awk '/=> \/opt\/swift|=> .*libswift|libFoundation|libdispatch|libBlocksRuntime/ { print $3 }' | sort -u)
  lib_bytes=0; for l in $libs; do lib_bytes=$(( lib_bytes + $(stat -L -c %s "$l") )); done
  dyn_line="$(stat -c %s "$DYNAMIC_BIN") bytes (not stripped), plus $lib_bytes bytes of Swift shared libraries it loads ($(echo "$libs" | wc -l) files)"
fi

{
  echo "# Binary size"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); work tree $(tree_state); $(swift --version 2>&1 | head -n1)"
  echo "- **dist/runtime-proxy (static, stripped): $static_bytes bytes ($(awk -v b="$static_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB); gzip -9: $gz_bytes bytes ($(awk -v b="$gz_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)**; $(bin_info "$STATIC_BIN")"
  echo "- .build/release/runtime-proxy (dynamic): $dyn_line"
  echo
  echo "Largest sections of dist/runtime-proxy (\`size -A\`):"
  echo
  echo "| section | bytes |"
  echo "|---|---:|"
  size -A "$STATIC_BIN" | awk 'NR > 2 && $2 ~ /^[0-9]+$/ && $1 != "Total" { print $2 "\t" $1 }' | sort -rn | head -10 \
    | awk -F'\t' '{ printf "| %s | %s |\n", $2, $1 }'
  echo
  if [[ -x "$STATIC_BIN_SYMBOLS" ]]; then
    echo "Code and data by origin (sum of symbol sizes, \`nm -S\` of the unstripped static link; metadata, unwind tables and strings not attributed to a symbol are left out):"
    echo
    nm -S "$STATIC_BIN_SYMBOLS" 2>/dev/null | python3 -c '
import re, sys
sums = {}
for line in sys.stdin:
    f = line.split()
    if len(f) < 4 or f[2] in "UuwvWV":
        continue
    try:
        size = int(f[1], 16)
    except ValueError:
        continue
    name = f[3]
    m = re.match(r"^\$s(s|[0-9]+)", name)
    if m:
        if m.group(1) == "s":
            origin = "Swift standard library"
        else:
            n = int(m.group(1)); origin = name[2 + len(m.group(1)):2 + len(m.group(1)) + n]
            if name.startswith("$sSo"): origin = "imported C types"
    elif name.startswith(("$s", "_$s")):
        origin = "Swift (other mangled: stdlib, generic specialisations)"
    elif name.startswith("swift") or name.startswith("_swift") or "swift" in name.lower():
        origin = "Swift runtime (C++)"
    elif name.startswith(("uv_", "uv__")):
        origin = "libuv"
    elif name.startswith("llhttp"):
        origin = "llhttp"
    elif name.startswith("_Z"):
        origin = "C++ (libstdc++, runtime)"
    else:
        origin = "C: libc, libm, other"
    sums[origin] = sums.get(origin, 0) + size
total = sum(sums.values())
print("| origin | bytes | share |")
print("|---|---:|---:|")
for k, v in sorted(sums.items(), key=lambda kv: -kv[1])[:16]:
    print(f"| {k} | {v} | {100 * v / total:.1f} % |")
print(f"| total attributed | {total} | 100 % |")
'
  fi
} > "$OUT"
cat "$OUT"
log "wrote $OUT"
