-- POST a cycle of JSON bodies with a bearer token; used by benchmarks/bench_http.py.
--   wrk -t1 -c64 -d10s --latency -s bodies.lua URL -- BODIES_FILE TOKEN [MEAN_DELAY_MS]
-- BODIES_FILE holds one JSON body per line. MEAN_DELAY_MS > 0 paces each connection: after each
-- answer it waits an exponentially distributed pause of that mean (Poisson-like arrivals), so the
-- offered rate is about connections / mean delay. done() prints one machine-readable line.

local requests = {}
local count = 0
local next_index = 0

function init(args)
   local path, token, mean = args[1], args[2], tonumber(args[3] or "0")
   if path == nil or token == nil then
      error("usage: -- BODIES_FILE TOKEN [MEAN_DELAY_MS]")
   end
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
   }
   for line in io.lines(path) do
      if #line > 0 then
         count = count + 1
         requests[count] = wrk.format("POST", nil, headers, line)
      end
   end
   if count == 0 then
      error("no bodies in " .. path)
   end
   if mean > 0 then
      math.randomseed(7)
      delay = function()
         return math.floor(-mean * math.log(1 - math.random()) + 0.5)
      end
   end
end

function request()
   next_index = next_index % count + 1
   return requests[next_index]
end

function done(summary, latency, requests_stats)
   local e = summary.errors
   io.write(string.format(
      "NOCONTACT_WRK {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p90_us\": %d, " ..
      "\"p99_us\": %d, \"p999_us\": %d, \"max_us\": %d, \"connect\": %d, \"read\": %d, " ..
      "\"write\": %d, \"status\": %d, \"timeout\": %d}\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
