# scripts/soak.d/analyze.py - the checks and the report of one scripts/soak phase.
# scripts/soak (run_phase) runs it once a phase, after the proxy has exited:
#   python3 scripts/soak.d/analyze.py DIR
# DIR holds what the phase wrote (facts, wrk.*.tsv, metrics.txt, log.counts,
# abuse.json, segments.tsv, samples.csv). It prints the checks on stdout, writes
# DIR/report.md (scripts/soak puts it into SOAK_OUT) and exits 1 if a check failed.
"""Reads one phase's directory and prints its checks; writes DIR/report.md.
Exit status 1 if a check failed.  analyze.py DIR"""
import csv, glob, json, os, re, sys

d = sys.argv[1]
facts = dict(line.rstrip("\n").split("=", 1) for line in open(f"{d}/facts"))
phase, target = facts["phase"], int(facts["target"])
num = lambda k: int(facts[k])

# wrk: sums over every run
sent, status, wrk, tail = {}, {}, {}, {}
for path in sorted(glob.glob(f"{d}/wrk.*.tsv")):
    for line in open(path):
        kind, key, value = line.split("\t")
        table = {"sent": sent, "status": status, "wrk": wrk, "tail": tail}[kind]
        table[key] = table.get(key, 0) + int(value)
sent_total = sum(sent.values())
tail_sent = tail.get("sent", 0)
conns_total = num("conns_total")
expect_status = {  # wrk request kind -> the answer it must get (None: cut mid-response)
    "get10b": 200, "get1k": 200, "get64k": 200, "close10b": 200, "post1k": 200,
    "post64k": 200, "early64k": 200, "chunked": 200, "status500": 500, "status404": 404,
    "close444": 502, "hang": 408, "stall": None, "slow": None}
want = {}
for kind, n in sent.items():
    key = "cut" if expect_status[kind] is None else str(expect_status[kind])
    want[key] = want.get(key, 0) + n
got = {str(k): v for k, v in status.items()}
got["cut"] = wrk.get("read", 0)
# The tail requests (GET /10b after the quota) are the only ones wrk may abandon.
abandoned = sent_total + tail_sent - wrk.get("completed", 0) - wrk.get("read", 0)
tail_answered = tail_sent - abandoned

# /metrics at the end
metrics = {}
for line in open(f"{d}/metrics.txt"):
    if line.startswith("#") or not line.strip():
        continue
    name_labels, value = line.rsplit(" ", 1)
    name = name_labels.split("{", 1)[0]
    if name.endswith("_bucket"):
        continue
    metrics.setdefault(name, 0)
    metrics[name] += float(value)
m = lambda name: int(metrics.get(name, 0))

# the access log, counted as read from the pipe
log_status, log_errors = {}, {}
for line in open(f"{d}/log.counts"):
    kind, key, value = line.rstrip("\n").split("\t")
    (log_status if kind == "status" else log_errors)[key] = int(value)
log_total = sum(log_status.values())
L = lambda s: log_status.get(s, 0)
abuse = json.load(open(f"{d}/abuse.json"))
ab_log = abuse["expected_log"]
A = lambda s: ab_log.get(s, 0)
extra = num("extra_proxied")   # the script's own requests through the proxy (a sanity GET)

checks = []
def check(name, ok, detail):
    checks.append((name, bool(ok), detail))

check("alive", facts["alive"] == "1" and facts["exit_status"] == "0",
      f"never died under load: {'yes' if facts['alive'] == '1' else 'NO'}; exit status after SIGTERM {facts['exit_status']}")
check("requests", sent_total >= target and facts["timed_out"] == "0",
      f"{sent_total:,} requests of the mix sent by wrk (target {target:,}), and {tail_sent:,} tail requests"
      + (" - STOPPED BY THE TIME CAP" if facts["timed_out"] == "1" else "")
      + (" - the proxy died" if facts["alive"] != "1" else ""))
transport = {k: wrk.get(k, 0) for k in ("connect", "write", "timeout")}
check("wrk transport errors", not any(transport.values()),
      ", ".join(f"{k} {v}" for k, v in transport.items()))
unexpected_statuses = {k: v for k, v in got.items() if k not in want and v}
exact = all(got.get(k, 0) == want[k] for k in want if k != "200")
check("answers by kind",
      not unexpected_statuses and exact and got.get("200", 0) == want.get("200", 0) + tail_answered
      and 0 <= abandoned <= tail_sent,
      "; ".join(f"{k}: {got.get(k, 0):,} of {want[k] + (tail_answered if k == '200' else 0):,}" for k in sorted(want))
      + f" (200 includes {tail_answered:,} tail answers; {abandoned} tail requests abandoned in flight)"
      + (f"; UNEXPECTED {unexpected_statuses}" if unexpected_statuses else ""))
calls, timeouts, failures = m("function_calls_total"), m("function_timeouts_total"), m("function_failures_total")
expected_calls = sent_total + tail_sent + abuse["proxied"] + extra
check("calls in /metrics", expected_calls - abandoned <= calls <= expected_calls,
      f"function_calls_total {calls:,}; sent {expected_calls:,} (wrk {sent_total:,} + tail {tail_sent:,} + abusive "
      f"{abuse['proxied']:,} + {extra}), of which at most {abandoned} abandoned")
timed = sent.get("hang", 0) + sent.get("stall", 0) + sent.get("slow", 0)
check("timeouts in /metrics", timeouts == timed,
      f"function_timeouts_total {timeouts}; requests with a 0.25 s timeout {timed}")
# The runtime's 5xx count as failures too (--failure-statuses, default 5xx).
check("failures in /metrics", failures == timeouts + L("502") + L("500"),
      f"function_failures_total {failures:,} = timeouts {timeouts} + 502s {L('502'):,} + the runtime's 500s {L('500'):,}")
refused_by_proxy = A("400") + A("431") + A("408")
dropped = m("runtime_proxy_log_lines_dropped_total")
log_ok = {
    "lines": log_total == calls + refused_by_proxy,
    "400": L("400") == A("400"), "431": L("431") == A("431"),
    "408": L("408") == want.get("408", 0) + A("408"),
    "502": L("502") == want.get("502", 0) + A("502"),
    "404": L("404") == want.get("404", 0), "500": L("500") == want.get("500", 0),
    "499": A("499") <= L("499") <= A("499") + abandoned,
    "dropped": dropped == 0,
}
check("access log", all(log_ok.values()),
      f"{log_total:,} lines = calls {calls:,} + refused by the proxy {refused_by_proxy:,}; dropped {dropped}; "
      + ", ".join(f"{k}: {v:,}" for k, v in sorted(log_status.items()))
      + ("" if all(log_ok.values()) else f"; WRONG: {[k for k, v in log_ok.items() if not v]}"))
check("abusive client", abuse["counts"].get("unexpected", 0) == 0,
      f"{abuse['actions']:,} actions, unexpected answers {abuse['counts'].get('unexpected', 0)}"
      + (f" e.g. {abuse['samples'][:3]}" if abuse["samples"] else "")
      + (f" (skipped: {facts['abuse_skip']})" if facts.get("abuse_skip") else ""))
idle_ok = m("runtime_proxy_requests_in_flight") == 0 and m("runtime_proxy_upstream_idle_connections") == 0 \
    and m("runtime_proxy_client_connections") == 1
check("fds", facts["fds_end"] == facts["fds_start"] and idle_ok,
      f"{facts['fds_start']} after start, {facts['fds_end']} after the load ({facts['settle_seconds']} s after it ended); "
      f"in flight {m('runtime_proxy_requests_in_flight')}, idle upstream {m('runtime_proxy_upstream_idle_connections')}, "
      f"client connections {m('runtime_proxy_client_connections')} (the scrape)"
      + ("" if facts["fds_end"] == facts["fds_start"] else
         f"; then {facts['fds_late']} fds {facts['late_seconds']} s after the load "
         + ("(released by the client idle timeout: held too long, not leaked for good)"
            if facts["fds_late"] == facts["fds_start"] else "(NEVER released: leaked)")))

segments = [line.split("\t") for line in open(f"{d}/segments.tsv")]
if not segments:   # the proxy died (or the time cap hit) before the first segment ended
    segments = [["0", "0", "0", facts["rss_end"] or "0", "0", facts["fds_end"] or "0", "-"]]
# segment, requests so far, seconds, VmRSS KiB, VmHWM KiB, fds, ASan live heap bytes ("-": not measured)
rss_first, rss_last = int(segments[0][3]), int(segments[-1][3])
half = len(segments) // 2
peak_first = max((int(x[3]) for x in segments[:half]), default=0)
peak_second = max((int(x[3]) for x in segments[half:]), default=0)
growth = peak_second - peak_first
tol = num("rss_tolerance_kib")
if phase == "release":
    check("rss flat", half >= 1 and growth <= tol,
          f"VmRSS after segment 1 ({int(segments[0][1]):,} requests) {rss_first:,} KiB, after segment "
          f"{segments[-1][0]} ({int(segments[-1][1]):,}) {rss_last:,} KiB; highest after a segment of the first "
          f"half {peak_first:,} KiB, of the second half {peak_second:,} KiB: {growth:+,} KiB (tolerance {tol:,})")
else:
    reports = facts["asan_reports"]
    check("lsan", reports == "0" and facts["exit_status"] == "0",
          f"AddressSanitizer/LeakSanitizer reports: {reports} (logs {facts['asan_logs']})")
    live = [x[6].strip() for x in segments]
    ltol = num("live_heap_tolerance_kib")
    if all(v.isdigit() for v in live) and live:
        lfirst, llast = int(live[0]), int(live[-1])
        check("live heap flat", llast - lfirst <= ltol * 1024,
              f"ASan's live heap after segment 1 {lfirst:,} bytes, after segment {segments[-1][0]} {llast:,} bytes "
              f"({llast - lfirst:+,}; tolerance {ltol:,} KiB); range {min(map(int, live)):,}-{max(map(int, live)):,}; "
              f"{facts['live_heap_start']} at start")
    else:
        check("live heap flat", False, f"not measured (gdb could not call __sanitizer_print_memory_profile): {live}")

failed = [c for c in checks if not c[1]]
duration = float(facts["load_seconds"])
samples = list(csv.reader(open(f"{d}/samples.csv")))[1:]
max_rss = max(int(r[2]) for r in samples if r[2].isdigit()) if samples else 0
max_fds = max(int(r[4]) for r in samples if r[4].isdigit()) if samples else 0

out = []
out.append(f"### Phase `{phase}`: {'PASS' if not failed else 'FAIL'}\n")
out.append(f"Binary {facts['binary_info']}. {sent_total:,} wrk requests + {abuse['actions']:,} abusive actions "
           f"in {duration:.0f} s of wall time, pauses between wrk runs included ({calls / max(duration, 1):,.0f} proxied requests/s); "
           f"VmRSS {facts['rss_start']} KiB at start, max {max_rss:,} KiB (samples every {facts['sample_seconds']} s), "
           f"{facts['rss_end']} KiB at the end; descriptors max {max_fds}.\n")
out.append("| check | result | detail |\n| --- | --- | --- |")
for name, ok, detail in checks:
    out.append(f"| {name} | {'pass' if ok else '**FAIL**'} | {detail.replace('|', '/')} |")
out.append("\n| wrk request kind | sent |\n| --- | --- |")
for kind in expect_status:
    out.append(f"| {kind} | {sent.get(kind, 0):,} |")
out.append("\n| abusive action | count |\n| --- | --- |")
for kind, n in sorted(abuse["counts"].items()):
    out.append(f"| {kind} | {n:,} |")
out.append("\n| access-log error reason | lines |\n| --- | --- |")
for reason, n in sorted(log_errors.items(), key=lambda x: -x[1]):
    out.append(f"| {reason} | {n:,} |")
out.append("\n| /metrics (end) | value |\n| --- | --- |")
for name in ("function_calls_total", "function_failures_total", "function_timeouts_total",
             "runtime_proxy_upstream_retries_total", "runtime_proxy_upstream_connections_opened_total",
             "runtime_proxy_upstream_connect_errors_total", "runtime_proxy_request_body_bytes_total",
             "runtime_proxy_response_body_bytes_total", "runtime_proxy_log_lines_dropped_total",
             "process_cpu_seconds_total"):
    if name in metrics:
        v = metrics[name]
        out.append(f"| {name} | {v:,.2f} |" if not v.is_integer() else f"| {name} | {int(v):,} |")
out.append("\n| segment | requests so far | seconds | VmRSS KiB | VmHWM KiB | fds | ASan live heap bytes |\n| --- | --- | --- | --- | --- | --- | --- |")
for s in segments:
    lh = s[6].strip()
    lh = f"{int(lh):,}" if lh.isdigit() else lh
    out.append(f"| {s[0]} | {int(s[1]):,} | {s[2]} | {int(s[3]):,} | {int(s[4]):,} | {s[5]} | {lh} |")
out.append("")
open(f"{d}/report.md", "w").write("\n".join(out) + "\n")
width = max(len(c[0]) for c in checks)
for name, ok, detail in checks:
    print(f"  {'pass' if ok else 'FAIL'}  {name:<{width}}  {detail}")
sys.exit(1 if failed else 0)
