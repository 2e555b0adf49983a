-- wrk script for bench/run.py: posts pre-signed deliveries from a file (one per line:
-- signature, tab, body), each thread its own slice, so no body is sent twice unless the
-- file runs out (bench/run.py compares the count of requests with the file's).
local bodies = {}
local index, step = 0, 1
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    local tab = line:find("\t", 1, true)
    bodies[#bodies + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
  end
  index = (tonumber(os.getenv("BENCH_OFFSET")) or 0) + id
  step = tonumber(os.getenv("BENCH_THREADS")) or 1
end

function request()
  local item = bodies[index % #bodies + 1]
  index = index + step
  return wrk.format("POST", "/webhook",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = item[1]}, item[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
