-- wrk script: one user flooding as fast as the connections allow (driven by loadtests/flood_bench.py).
--
--   wrk -t T -c C -d <seconds> -s loadtests/flood.lua <url> -- <event path> <org path> <token> <junk token>
--
-- Each connection sends, in turn: a booking of the event (POST <event path>/bookings {"seats":1}) and a
-- write (PATCH <org path> {"name":...}) with the user's token, and a read (GET /v1/me) with a junk token
-- (the user's own with its signature broken: a full RS256 check, then 401, until the address's bucket is
-- empty). Prints one JSON line: counts by status, 429s by limit (the problem's `limit` member) and how
-- many 429s carried Retry-After.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local event_path, org_path, token, junk = args[1], args[2], args[3], args[4]
  local function headers(bearer)
    return { ["Authorization"] = "Bearer " .. bearer, ["Content-Type"] = "application/json" }
  end
  requests = {
    wrk.format("POST", event_path .. "/bookings", headers(token), '{"seats":1}'),
    wrk.format("PATCH", org_path, headers(token), '{"name":"flooded"}'),
    wrk.format("GET", "/v1/me", headers(junk)),
  }
  n = 0
  statuses, scopes, retry_after = {}, {}, 0
end

function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 429 then
    if headers["Retry-After"] or headers["retry-after"] then retry_after = retry_after + 1 end
    local scope = body:match('"limit":%s*"(%w+)"') or "?"
    scopes[scope] = (scopes[scope] or 0) + 1
  end
end

local function members(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local statuses_all, scopes_all, ra = {}, {}, 0
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do statuses_all[k] = (statuses_all[k] or 0) + v end
    for k, v in pairs(thread:get("scopes")) do scopes_all[k] = (scopes_all[k] or 0) + v end
    ra = ra + thread:get("retry_after")
  end
  local e = summary.errors
  io.write(string.format(
    'FLOOD_RESULT {"requests": %d, "duration_us": %d, "statuses": %s, "limits": %s, "retry_after": %d,'
    .. ' "p50_us": %d, "p99_us": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, members(statuses_all), members(scopes_all), ra,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout))
end
