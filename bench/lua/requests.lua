-- wrk script for every endpoint of the benchmark (and the mix): each request is a random line of a
-- request file written by bench/run.py beforehand, one request per line, tab-separated:
--
--     METHOD <TAB> PATH <TAB> TOKEN (or "-" for none) <TAB> BODY (or "-")
--
-- The tokens were fetched by the driver through POST /api/v1/auth/token (real logins). A POST gets
-- an Idempotency-Key unique to this run, thread and request, so every payment is a new one.
--
--     wrk -t2 -c16 -d20s -s bench/lua/requests.lua http://127.0.0.1:8765 -- <request file> <run nonce>
--
-- done() prints one line "WRK_JSON {...}" with the latency distribution (microseconds), which the
-- driver parses (bench/report.py: parse_wrk).

local threads = {}
local counter = 0
local lines = nil
local nonce = "run"
-- thread_id: a global set on each thread by setup()

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    table.insert(fields, field)
  end
  return fields
end

function init(args)
  local path = args[1]
  nonce = args[2] or "run"
  lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      local f = split(line)
      local headers = { ["Accept"] = "application/json" }
      if f[3] ~= nil and f[3] ~= "-" then
        headers["Authorization"] = "Bearer " .. f[3]
      end
      local body = nil
      if f[4] ~= nil and f[4] ~= "-" then
        body = f[4]
        headers["Content-Type"] = "application/json"
      end
      table.insert(lines, { method = f[1], path = f[2], headers = headers, body = body })
    end
  end
  if #lines == 0 then
    error("no requests in " .. path)
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  local r = lines[math.random(#lines)]
  if r.method == "POST" then
    counter = counter + 1
    r.headers["Idempotency-Key"] = nonce .. "-" .. tostring(thread_id) .. "-" .. tostring(counter)
  end
  return wrk.format(r.method, r.path, r.headers, r.body)
end

function done(summary, latency, requests)
  local p = {}
  for _, q in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
    p[#p + 1] = string.format('"p%s": %d', tostring(q):gsub("%.", "_"), latency:percentile(q))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "latency_us": {%s, "mean": %.1f, "stdev": %.1f, '
      .. '"min": %d, "max": %d}, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, table.concat(p, ", "), latency.mean, latency.stdev,
    latency.min, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
