-- The one wrk script of bench/run.sh: a fixed request described by the environment, and
-- a machine-readable summary line at the end (wrk's own --latency table rounds to two
-- digits and has no 99.9th percentile).
--
--   BENCH_METHOD     request method (default GET)
--   BENCH_BODY_FILE  file whose bytes are the request body (read once per wrk thread)
--   BENCH_BODY       the request body as a string (when there is no BENCH_BODY_FILE)
--   BENCH_HEADERS    extra header fields, one "Name: value" per line
--
-- The request is set once through wrk.method/body/headers and no request() or
-- response() function is defined, so wrk builds it once and sends it without calling
-- into Lua per request: the script costs the load generator nothing while it runs.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
    local f = assert(io.open(body_file, "rb"))
    wrk.body = f:read("*a")
    f:close()
else
    local body = os.getenv("BENCH_BODY")
    if body and body ~= "" then wrk.body = body end
end

for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then wrk.headers[name] = value end
end

-- One line, key=value, latencies in microseconds; bench/bench.py parses it.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
        "p50=%d p90=%d p99=%d p999=%d max=%d mean=%.1f\n",
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max, latency.mean))
end
