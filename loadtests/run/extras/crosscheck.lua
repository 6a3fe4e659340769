-- wrk's side of the cross-check (loadtests/run/extras/crosscheck.py): the scenario's
-- requests, drawn the way Locust's scenarios draw them (loadtests/locust/scenarios.py),
-- each response timed here and counted only inside the measured window, as Locust's are.
--
-- wrk runs one connection per thread (-t N -c N), so in each thread request() and
-- response() alternate for one connection: the time between them is that request's
-- latency, taken with gettimeofday (wrk's own histogram is not used: wrk adds samples to it
-- for coordinated omission, which Locust's figures do not have). Latencies go into the
-- suite's own bucket scheme (loadtests/recording/histogram.py), so they merge exactly.
--
-- Arguments after `--`: window start and end (epoch microseconds), the mix as
-- "code:weight,..." (codes below), users, orders, customers, products, a random seed,
-- and "close" to send Connection: close on every request (else keep-alive).
-- Prints one JSON line, prefixed "loadtests-wrk: ", when done.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } loadtests_timeval;
  int gettimeofday(loadtests_timeval *tv, void *tz);
]]
local tv = ffi.new("loadtests_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads, counter = {}, 0

function setup(thread)
  thread:set("number", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Per thread (each thread has its own Lua state) -----------------------------------------

local window_start, window_end, ranges, mix, total_weight, close = 0, 0, {}, {}, 0, false
local sent, expected = 0, 200
ok_buckets, ok_count, ok_total, ok_min, ok_max = {}, 0, 0, math.huge, 0
failed, statuses, timing = 0, {}, {timed = 0, app = 0, pool = 0, db = 0, orm = 0}

local function bucket_of(value)
  if value < 2048 then return value end
  local shift, v = 0, value
  while v >= 2048 do v = math.floor(v / 2); shift = shift + 1 end
  return 2048 + (shift - 1) * 1024 + (math.floor(value / 2 ^ shift) - 1024)
end

local function random_hex(n)
  local s = {}
  for i = 1, n do s[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(s)
end

local json = {["content-type"] = "application/json"}
local statuses_list = {"pending", "processed", "shipped"}

local requests = {
  get_user = function() return "GET", "/users/" .. math.random(1, ranges.users), 200 end,
  rename_user = function()
    local name = "user " .. random_hex(12)
    return "PATCH", "/users/" .. math.random(1, ranges.users), 200,
      '{"name":"' .. name .. '"}'
  end,
  list_users = function()
    local after = math.random(0, math.max(0, ranges.users - 20))
    return "GET", "/users?limit=20&after_id=" .. after, 200
  end,
  get_order = function() return "GET", "/orders/" .. math.random(1, ranges.orders), 200 end,
  list_orders = function()
    return "GET", "/orders?status=" .. statuses_list[math.random(1, 3)] .. "&limit=10", 200
  end,
  order_summary = function()
    return "GET", "/orders/" .. math.random(1, ranges.orders) .. "/summary", 200
  end,
  create_order = function()
    local picked, items = {}, {}
    for _ = 1, math.random(1, math.min(3, ranges.products)) do
      local product = math.random(1, ranges.products)
      if not picked[product] then
        picked[product] = true
        items[#items + 1] = '{"product_id":' .. product .. ',"quantity":' .. math.random(1, 3) .. '}'
      end
    end
    return "POST", "/orders", 201,
      '{"customer_id":' .. math.random(1, ranges.customers) .. ',"items":[' .. table.concat(items, ",") .. ']}'
  end,
}

function init(args)
  window_start, window_end = tonumber(args[1]), tonumber(args[2])
  for code, weight in string.gmatch(args[3], "([%w_]+):(%d+)") do
    mix[#mix + 1] = {requests[code], tonumber(weight)}
    total_weight = total_weight + tonumber(weight)
  end
  ranges = {users = tonumber(args[4]), orders = tonumber(args[5]),
            customers = tonumber(args[6]), products = tonumber(args[7])}
  math.randomseed(tonumber(args[8]) + number * 7919)  -- a different sequence per thread
  close = args[9] == "close"
end

function request()
  local pick, chosen = math.random(1, total_weight), mix[1][1]
  for _, entry in ipairs(mix) do
    if pick <= entry[2] then chosen = entry[1]; break end
    pick = pick - entry[2]
  end
  local method, path, status, body = chosen()
  expected = status
  local headers = body and {["content-type"] = "application/json"} or {}
  if close then headers["Connection"] = "close" end
  sent = now_us()
  return wrk.format(method, path, headers, body)
end

local function component(value, name)
  local dur = string.match(value, name .. ";dur=([%d%.]+)")
  return dur and tonumber(dur) * 1000 or 0
end

function response(status, headers, body)
  local now = now_us()
  if sent < window_start or now < window_start or now >= window_end then return end
  if status == expected then
    local us = now - sent
    local b = bucket_of(us)
    ok_buckets[b] = (ok_buckets[b] or 0) + 1
    ok_count, ok_total = ok_count + 1, ok_total + us
    if us < ok_min then ok_min = us end
    if us > ok_max then ok_max = us end
    local header = headers["Server-Timing"] or headers["server-timing"]
    if header then
      timing.timed = timing.timed + 1
      for _, name in ipairs({"app", "pool", "db", "orm"}) do
        timing[name] = timing[name] + component(header, name)
      end
    end
  else
    failed = failed + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

-- Back in the main state: every thread's counts together ----------------------------------

function done(summary, latency, requests)
  local buckets, count, total, min, max, failures, by_status = {}, 0, 0, math.huge, 0, 0, {}
  local sums = {timed = 0, app = 0, pool = 0, db = 0, orm = 0}
  for _, thread in ipairs(threads) do
    for bucket, n in pairs(thread:get("ok_buckets")) do buckets[bucket] = (buckets[bucket] or 0) + n end
    count, total = count + thread:get("ok_count"), total + thread:get("ok_total")
    if thread:get("ok_count") > 0 then
      min = math.min(min, thread:get("ok_min"))
      max = math.max(max, thread:get("ok_max"))
    end
    failures = failures + thread:get("failed")
    for status, n in pairs(thread:get("statuses")) do by_status[status] = (by_status[status] or 0) + n end
    for name, value in pairs(thread:get("timing")) do sums[name] = sums[name] + value end
  end
  local parts = {}
  for bucket, n in pairs(buckets) do parts[#parts + 1] = string.format('"%d": %d', bucket, n) end
  local failed_parts = {}
  for status, n in pairs(by_status) do failed_parts[#failed_parts + 1] = string.format('"%d": %d', status, n) end
  local e = summary.errors
  io.write(string.format(
    'loadtests-wrk: {"duration_us": %d, "requests": %d, "socket_errors": %d, '
      .. '"ok": {"count": %d, "total": %d, "min": %d, "max": %d, "buckets": {%s}}, '
      .. '"failed": %d, "statuses": {%s}, "timing": {"timed": %d, "app": %d, "pool": %d, '
      .. '"db": %d, "orm": %d}}\n',
    summary.duration, summary.requests, e.connect + e.read + e.write + e.timeout,
    count, total, count > 0 and min or 0, max, table.concat(parts, ", "),
    failures, table.concat(failed_parts, ", "),
    sums.timed, sums.app, sums.pool, sums.db, sums.orm
  ))
end
