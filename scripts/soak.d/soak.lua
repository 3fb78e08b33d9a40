-- scripts/soak.d/soak.lua - wrk's request mix for scripts/soak.
-- scripts/soak (run_wrk) runs it once per segment and connection count, with one
-- wrk thread (the counts below rely on it):
--   SOAK_QUOTA_FILE=DIR/quota.SEG.CONNS SOAK_WRK_OUT=DIR/wrk.SEG.CONNS.tsv \
--     wrk -t1 -cCONNS -dSECONDSs --timeout 10s -s scripts/soak.d/soak.lua URL -- QUOTA SEED
-- and sends wrk SIGINT 1 s after the quota file appears; it adds up the "sent" lines
-- of the .tsv, and scripts/soak.d/analyze.py reads all of them.
--
-- wrk -s soak.lua URL -- QUOTA SEED: one request per call, picked at random with
-- these weights (per 10,000). After QUOTA requests it creates $SOAK_QUOTA_FILE and
-- delay() holds every connection's next request back (10 s) until the script ends
-- wrk (SIGINT) 1 s later: by then every request of the mix has been answered (the
-- slowest take 0.25 s), so wrk abandons none. A connection already past delay()
-- when the quota is reached sends a "tail" request (GET /10b), counted apart: only
-- those may be left unanswered.
-- done() writes counts to $SOAK_WRK_OUT. HEAD is not here: wrk would wait for the
-- body its Content-Length announces (the abusive client sends HEAD instead).
local kinds = {
  -- name, weight, method, path, extra headers, body
  {"get10b",    5090, "GET",  "/10b"},
  {"get1k",     2000, "GET",  "/1k"},
  {"get64k",     500, "GET",  "/64k"},
  {"close10b",   100, "GET",  "/10b", {Connection = "close"}},
  {"post1k",     700, "POST", "/post", nil, string.rep("p", 1024)},
  {"post64k",    100, "POST", "/post", nil, string.rep("q", 65536)},
  {"early64k",   100, "POST", "/early", nil, string.rep("r", 65536)},
  {"chunked",    200, "POST", "/post", {["Transfer-Encoding"] = "chunked"}, "chunked"},
  {"status500",  400, "GET",  "/500"},
  {"status404",  300, "GET",  "/missing"},
  {"close444",   100, "GET",  "/444"},
  {"hang",         5, "GET",  "/hang",  {["X-Request-Timeout"] = "0.25"}},
  {"stall",      2.5, "GET",  "/stall", {["X-Request-Timeout"] = "0.25"}},
  {"slow",       2.5, "GET",  "/slow",  {["X-Request-Timeout"] = "0.25"}},
}
local raw, cumulative, names, total = {}, {}, {}, 0
local function build(k)
  local method, path, headers, body = k[3], k[4], k[5] or {}, k[6]
  local lines = {method .. " " .. path .. " HTTP/1.1", "Host: soak", "User-Agent: soak-wrk"}
  for name, value in pairs(headers) do lines[#lines + 1] = name .. ": " .. value end
  if body == "chunked" then
    body = "3e8;ext=1\r\n" .. string.rep("c", 1000) .. "\r\n3e8\r\n" .. string.rep("d", 1000)
        .. "\r\n830\r\n" .. string.rep("e", 2096) .. "\r\n0\r\nX-Trailer: t\r\n\r\n"
  elseif body then
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end
for i, k in ipairs(kinds) do
  total = total + k[2]
  cumulative[i], raw[i], names[i] = total, build(k), k[1]
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

local quota, tail = 0, false
local tail_request = "GET /10b HTTP/1.1\r\nHost: soak\r\nUser-Agent: soak-wrk-tail\r\n\r\n"
sent, statuses, sent_total, sent_tail = {}, {}, 0, 0   -- globals: done() reads them with thread:get
function init(args)
  quota = tonumber(args[1]) or 0
  math.randomseed(tonumber(args[2]) or os.time())
  for i = 1, #kinds do sent[i] = 0 end
end
local verified = false
function request()
  -- wrk calls request() once before the run, to count the requests in the string
  -- (for pipelining), and never sends that one: not counted. (Run with -t1: wrk
  -- makes that call on the first thread's Lua state only.)
  if not verified then
    verified = true
    return tail_request
  end
  if tail then
    sent_tail = sent_tail + 1
    return tail_request
  end
  local r, i = math.random() * total, 1
  while cumulative[i] < r do i = i + 1 end
  sent[i] = sent[i] + 1
  sent_total = sent_total + 1
  if quota > 0 and sent_total >= quota then
    tail = true
    local f = io.open(os.getenv("SOAK_QUOTA_FILE") or "/dev/null", "w")
    if f then f:close() end
  end
  return raw[i]
end
function delay()
  if tail then return 10000 end
  return 0
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local out = io.open(os.getenv("SOAK_WRK_OUT") or "/dev/stdout", "w")
  local agg_sent, agg_status, agg_tail = {}, {}, 0
  for _, t in ipairs(threads) do
    agg_tail = agg_tail + t:get("sent_tail")
    local s = t:get("sent")
    for i = 1, #kinds do agg_sent[i] = (agg_sent[i] or 0) + (s[i] or 0) end
    for code, n in pairs(t:get("statuses")) do agg_status[code] = (agg_status[code] or 0) + n end
  end
  for i = 1, #kinds do out:write(string.format("sent\t%s\t%d\n", names[i], agg_sent[i])) end
  for code, n in pairs(agg_status) do out:write(string.format("status\t%d\t%d\n", code, n)) end
  out:write(string.format("tail\tsent\t%d\n", agg_tail))
  local e = summary.errors
  out:write(string.format("wrk\tcompleted\t%d\nwrk\tconnect\t%d\nwrk\tread\t%d\nwrk\twrite\t%d\n"
    .. "wrk\ttimeout\t%d\nwrk\tduration_us\t%d\n",
    summary.requests, e.connect, e.read, e.write, e.timeout, summary.duration))
  out:close()
end
