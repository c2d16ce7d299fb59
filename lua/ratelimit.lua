-- GCRA rate limits (a token bucket kept as one timestamp), for one bucket or several checked at once.
-- KEYS[i]: the i-th bucket's key; ARGV[3i-2..3i]: its interval (milliseconds per request at the
-- sustained rate), burst (requests that may arrive at once) and cost (1 to take a request, 0 to ask
-- only whether one would pass). Buckets are checked in order, so a key given twice is taken twice.
-- Returns {allowed (1/0), milliseconds until a request would pass} per bucket, flattened. Time is
-- Redis's own clock, so every API process shares one view of it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval * math.max(cost, 1)
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
  else
    if cost > 0 then
      redis.call('SET', key, new_tat, 'PX', new_tat - now)
    end
    out[#out + 1] = 1
    out[#out + 1] = 0
  end
end
return out
