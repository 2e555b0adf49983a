-- wrk script for bench/run.py: posts pre-signed deliveries from a file (one per line:
-- signature, tab, body), each thread its own slice, so no body is sent twice unless the
-- file runs out (bench/run.py compares the count of requests with the file's).
--
-- With BENCH_RATE set (requests/s over all threads), each thread sends on a fixed
-- schedule (its share of the rate, slot after slot from its first request) instead of as
-- fast as answers come: a connection free at a slot's time sends then. Open loop as long as
-- a connection is free at every slot; a slot that found none is sent late and counted
-- ("late": more than 1 ms after its time), since wrk's latency starts at the send and a late
-- send hides the wait before it (coordinated omission). Run it with enough connections that
-- "late" stays near zero.
local bodies = {}
local index, step = 0, 1
local next_id = 0
local threads = {}

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
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

local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
  ]]
  local now_ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, now_ts)  -- CLOCK_MONOTONIC
    return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
  end
  local interval = 1000 / (rate / (tonumber(os.getenv("BENCH_THREADS")) or 1))
  local slot = nil
  late = 0

  function delay()
    local now = now_ms()
    if slot == nil then
      slot = now
    else
      slot = slot + interval
    end
    if now - slot > 1 then
      late = late + 1
    end
    return math.max(0, math.floor(slot - now + 0.5))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local late_sends = 0
  for _, thread in ipairs(threads) do
    late_sends = late_sends + (tonumber(thread:get("late")) or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "late": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, late_sends))
  local dump = os.getenv("BENCH_LATENCY_DUMP")
  if dump then  -- the whole histogram (microseconds, count), so bench/run.py can pool bursts
    local file = io.open(dump, "w")
    for i = 1, #latency do
      local value, count = latency(i)
      file:write(value, " ", count, "\n")
    end
    file:close()
  end
end
