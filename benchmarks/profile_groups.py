#!/usr/bin/env python3
"""Group runtime-proxy's per-request self cost (callgrind) by area.

Input: the TSV that benchmarks/callgrind.sh writes (self.runtime-proxy.tsv:
"Ir per request<TAB>demangled function", one line per function). Output: a
markdown table of areas, their instructions per request and share, with the
largest functions of each area. The areas are a reading aid; the rules (first
match wins) are below.

Usage: profile_groups.py self.runtime-proxy.tsv [top-functions-per-area=3]
"""
import re
import sys

AREAS = [
    ("Swift reference counting (retain/release, weak refs, uniqueness checks)",
     r"swift_retain|swift_release|RefCounts|swift_isUniquelyReferenced|swift_weak|swift_bridgeObject(Retain|Release)"
     r"|swift_unknownObject|formWeakReference|swift_deallocObject|swift_allocObject|swift_slowAlloc|swift_slowDealloc"
     r"|outlined (copy|destroy|init with copy|retain|release)|initializeWithCopy|destroy for |assignWithCopy|ValueWitnesses"),
    ("llhttp (the parser state machine)", r"^llhttp"),
    ("parser glue (HTTPParser, llhttp callbacks, copying the head)", r"HTTPParser|parserSettings|MessageHead\.reset|MessageHead\.init"),
    ("header logic (lookups, hop-by-hop, Connection tokens)", r"HeaderName|MessageHead|FieldRole|Sequence<>\.elementsEqual"),
    ("head serialisation (HeadWriter)", r"HeadWriter"),
    ("byte-array building and copies (Array.append, String.utf8 copies, memcpy)",
     r"Array\.|ArraySlice|ContiguousArray|_copyCollectionToContiguousArray|UnsafeMutablePointer\.(initialize|moveInitialize)"
     r"|_StringGuts|memcpy|memmove|memset|String\.|Substring"),
    ("access log", r"AccessLog|LogOutput"),
    ("metrics", r"Histogram|ProxyMetrics|recordExchange|Counter|Gauge"),
    ("request id", r"RequestID"),
    ("Swift runtime: lazy globals, metadata", r"swift_once|__swift_instantiate|swift_getGenericMetadata|metadata accessor|swift_getAssociated|swift_conformsTo|swift_dynamicCast"),
    ("libuv (event loop, streams, timers)", r"^uv_|^uv__|EventLoop|Stream\.|Timer|ByteQueue|TCPListener"),
    ("libc: syscall wrappers, time, malloc", r"^(read|write|writev|readv|epoll_wait|epoll_ctl|clock_gettime|__clock_gettime|malloc|free|_int_malloc|_int_free|realloc|calloc|cfree|malloc_usable_size|__libc_|__GI_|__write|__read|syscall|__vdso|accept4|close|tcache)"),
    ("connection logic (ClientConnection, upstream pool)", r"ClientConnection|UpstreamConnection|UpstreamPool|ProxyServer|Exchange|AdmissionQueue|ClientTimeouts|HealthMonitor"),
]


def main():
    path = sys.argv[1]
    per_area = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = []
    for line in open(path):
        value, _, name = line.rstrip("\n").partition("\t")
        try:
            rows.append((float(value), name))
        except ValueError:
            continue
    total = sum(v for v, _ in rows)
    compiled = [(label, re.compile(rx)) for label, rx in AREAS]
    sums, tops = {}, {}
    for value, name in rows:
        area = next((label for label, rx in compiled if rx.search(name)), "other")
        sums[area] = sums.get(area, 0.0) + value
        tops.setdefault(area, []).append((value, name))
    print("| area | Ir / request | share | largest functions (Ir / request) |")
    print("|---|---:|---:|---|")
    for area, value in sorted(sums.items(), key=lambda kv: -kv[1]):
        if abs(value) < 0.5:
            continue
        largest = sorted(tops[area], key=lambda r: -r[0])[:per_area]
        names = "; ".join(f"{n[:70]} ({v:.0f})" for v, n in largest).replace("|", "\\|")
        print(f"| {area} | {value:.0f} | {100 * value / total:.1f} % | {names} |")
    print(f"| **total** | **{total:.0f}** | 100 % | |")


if __name__ == "__main__":
    main()
