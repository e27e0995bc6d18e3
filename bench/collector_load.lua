-- wrk load for bench/collector.py: every request carries new event ids (run nonce, thread id,
-- counter) and a visitor of its own. A browser sends one batch at a time, so a visitor never
-- has two requests in flight; one visitor per request keeps that true under 32 connections and
-- is the costly case for the writer (each request creates a visitor and a session).
-- done() prints a JSON summary line.
-- acked/failed/tid are globals on purpose: wrk's thread:get/set only see globals.
local counter = 0
local created = 0
local threads = {}
local per = tonumber(os.getenv("LT_EVENTS") or "1")
local key = os.getenv("LT_KEY")
-- wrk seeds math.random identically in every run: a per-run nonce keeps event ids unique.
local run = os.getenv("LT_RUN")
acked = 0
failed = 0

function setup(thread)
  created = created + 1
  thread:set("tid", created)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain"
  wrk.headers["User-Agent"] = os.getenv("LT_UA")
end

function request()
  counter = counter + 1
  local base = os.time() * 1000
  local events = {}
  for i = 1, per do
    events[i] = string.format(
      '{"id":"%s-%d-%d-%d","type":"pageview","ts":%d,'
        .. '"url":"https://bench.example.com/p%d?utm_source=bench&utm_medium=cpc"}',
      run, tid, counter, i, base, i)
  end
  local body = string.format('{"k":"%s","vid":"v%s-%d-%d","events":[%s]}',
    key, run, tid, counter, table.concat(events, ","))
  return wrk.format(nil, "/collect", nil, body)
end

function response(status, headers, body)
  if status == 200 then acked = acked + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  local a, f = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("acked")
    f = f + t:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%d,"seconds":%f,"acked":%d,"failed":%d,"errors":%d,'
      .. '"p50_ms":%f,"p99_ms":%f}\n',
    summary.requests, summary.duration / 1e6, a, f,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
