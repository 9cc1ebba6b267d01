-- wrk script of bench/run.sh: POSTs the JSON body in $BODY_FILE with the headers in
-- $HDR_1 .. $HDR_9 ("Name: value"), counts responses whose status is not 2xx, and prints
-- one machine-readable line at the end:
--
--   RESULT requests=N duration_s=S rps=R p50_us=A p90_us=B p99_us=C mean_us=M max_us=X
--          non2xx=K socket_errors=E
--
-- Bodies are not parsed here (that would cost the load generator CPU); run.sh checks one
-- response of every target with curl before measuring it.

wrk.method = "POST"
local f = assert(io.open(assert(os.getenv("BODY_FILE"), "BODY_FILE is not set"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for i = 1, 9 do
  local h = os.getenv("HDR_" .. i)
  if h and h ~= "" then
    local name, value = h:match("^([^:]+):%s*(.*)$")
    assert(name, "HDR_" .. i .. " is not `Name: value`")
    wrk.headers[name] = value
  end
end

-- Each wrk thread has its own Lua state: keep the threads to sum their counters in done().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (tonumber(t:get("non2xx")) or 0)
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d mean_us=%.0f max_us=%d " ..
    "non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    bad, e.connect + e.read + e.write + e.timeout))
end
