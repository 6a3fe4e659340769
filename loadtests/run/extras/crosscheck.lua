-- wrk's side of the cross-check (loadtests/run/extras/crosscheck.py): GET /users/{id} with ids drawn
-- the way Locust's get-user scenario draws them, uniformly from 1..the seeded user count
-- (loadtests/locust/scenarios.py), and the figures printed as one JSON line when done.
-- Arguments after `--`: the highest user id, the random seed.

local max_id = 1

function init(args)
  max_id = tonumber(args[1])
  math.randomseed(tonumber(args[2]))
end

function request()
  return wrk.format("GET", "/users/" .. math.random(1, max_id))
end

-- summary.duration and the latencies are microseconds. wrk counts responses with a status
-- above 399 in summary.requests and in the latency histogram, and separately as
-- errors.status; socket errors are requests that got no response at all.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'loadtests-wrk: {"duration_us": %d, "requests": %d, "errors": {"connect": %d, '
      .. '"read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": '
      .. '{"p50": %.1f, "mean": %.1f, "max": %d}}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency.mean, latency.max
  ))
end
