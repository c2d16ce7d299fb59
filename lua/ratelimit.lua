-- GCRA rate limit (a token bucket kept as one timestamp): KEYS[1] the bucket's key.
-- ARGV[1] interval: milliseconds per request at the sustained rate; ARGV[2] burst: requests that
-- may arrive at once; ARGV[3] cost: 1 to take a request, 0 to ask only whether one would pass.
-- Returns {allowed (1/0), milliseconds until a request would pass}. Time is Redis's own clock, so
-- every API process shares one view of it.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * math.max(cost, 1)
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
if cost > 0 then
  redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
end
return {1, 0}
