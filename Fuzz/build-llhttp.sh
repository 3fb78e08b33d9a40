#!/usr/bin/env bash
# Builds llhttp (from the C sources Debian's node-llhttp package ships, as
# scripts/setup.sh does) with sanitizer instrumentation, into PREFIX, with a
# libllhttp.pc there. Put PREFIX/lib/pkgconfig first in PKG_CONFIG_PATH and
# SwiftPM links this llhttp instead of the plain one, so the sanitizer also
# checks llhttp's own reads and writes, and libFuzzer sees its branches.
#
#   Fuzz/build-llhttp.sh PREFIX CFLAG...
#   Fuzz/build-llhttp.sh Fuzz/.build-fuzz/llhttp -fsanitize=fuzzer-no-link,address
#   Fuzz/build-llhttp.sh .build-asan/llhttp -fsanitize=address
#
# Does nothing if PREFIX already holds a library built with the same flags.
set -euo pipefail
prefix=$1; shift
flags="$*"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
if [ -f "$prefix/lib/libllhttp.a" ] && [ "$(cat "$prefix/flags" 2>/dev/null)" = "$flags" ]; then
  exit 0
fi

clang=clang
if command -v swift >/dev/null 2>&1; then
  # The toolchain's clang: it ships the sanitizer and fuzzer runtimes Swift links.
  toolchain_clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"
  [ -x "$toolchain_clang" ] && clang=$toolchain_clang
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The package is kept in a cache: the fuzz, ASan and TSan builds share one download.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/runtime-proxy/node-llhttp"
if ! ls "$cache"/node-llhttp_*.deb >/dev/null 2>&1; then
  mkdir -p "$cache"
  (cd "$cache" && { apt-get download -qq node-llhttp >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq node-llhttp >/dev/null; }; })
fi
dpkg-deb -x "$(ls "$cache"/node-llhttp_*.deb | tail -n 1)" "$work/x"
src="$work/x/usr/share/llhttp"
inc="$work/x/usr/share/include/llhttp"
version=$(sed -n 's/#define LLHTTP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$inc/llhttp.h" | paste -sd.)
for f in llhttp api http; do
  "$clang" -g -O1 -fno-omit-frame-pointer -fPIC $flags -I"$inc" -c "$src/$f.c" -o "$work/$f.o"
done
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
rm -f "$prefix/lib/libllhttp.a"
ar rcs "$prefix/lib/libllhttp.a" "$work"/llhttp.o "$work"/api.o "$work"/http.o
install -m 0644 "$inc/llhttp.h" "$prefix/include/llhttp.h"
cat > "$prefix/lib/pkgconfig/libllhttp.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libllhttp
Description: llhttp $version built with $flags
Version: $version
Libs: -L\${libdir} -lllhttp
Cflags: -I\${includedir}
PC
echo "$flags" > "$prefix/flags"
echo "built llhttp $version with $flags into $prefix"
