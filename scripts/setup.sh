#!/usr/bin/env bash
# Installs what building and testing runtime-proxy needs on Debian/Ubuntu, as root:
# Debian packages (libuv, build tools, the test peers), and llhttp as a static
# library with a pkg-config file. Safe to run again: it skips what is present.
#
#   scripts/setup.sh          everything: build, tests and benchmarks
#   scripts/setup.sh build    only what building (and the demo) needs
set -euo pipefail

want_packages=(pkg-config libuv1-dev curl ca-certificates python3)
if [ "${1:-all}" != build ]; then
  # test peers and benchmark tools
  want_packages+=(python3-websockets ruby ruby-sinatra ruby-webrick php-cli nodejs gunicorn python3-bottle python3-flask
                  nginx-light haproxy wrk prometheus
                  # libraries the runtimes' deps examples use
                  ruby-rainbow php-bcmath node-lodash python3-yaml
                  # checking the manifests in deploy/ (kubernetes-validate comes from PyPI into a venv)
                  jsonnet python3-venv)
fi

missing=()
for p in "${want_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from another source than Debian's package: accept any node binary.
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# llhttp: the distribution's libllhttp-dev where it exists (Debian trixie and
# later), otherwise a static library built from the C sources that Debian's
# node-llhttp package ships (bookworm). No llhttp source lives in this repo.
if pkg-config --exists libllhttp 2>/dev/null; then
  exit 0
fi
if apt-cache show libllhttp-dev >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libllhttp-dev >/dev/null
  pkg-config --exists libllhttp && exit 0
fi

prefix=/usr/local
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq node-llhttp >/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq node-llhttp; })
dpkg-deb -x "$work"/node-llhttp_*.deb "$work/x"
src="$work/x/usr/share/llhttp"
inc="$work/x/usr/share/include/llhttp"
version=$(sed -n 's/#define LLHTTP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$inc/llhttp.h" | paste -sd.)
for f in llhttp api http; do
  cc -O2 -fPIC -I"$inc" -c "$src/$f.c" -o "$work/$f.o"
done
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
ar rcs "$prefix/lib/libllhttp.a" "$work"/llhttp.o "$work"/api.o "$work"/http.o
install -m 0644 "$inc/llhttp.h" "$prefix/include/llhttp.h"
cat > "$prefix/lib/pkgconfig/libllhttp.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libllhttp
Description: llhttp (static, built from Debian's node-llhttp sources)
Version: $version
Libs: -L\${libdir} -lllhttp
Cflags: -I\${includedir}
PC
echo "setup: built llhttp $version into $prefix"
