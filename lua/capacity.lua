-- Change an event's capacity; never below the confirmed seats. A raise promotes the waitlist.
-- KEYS: slots, waitlist, meta, holders
-- ARGV: new total slots, the caller's epoch
-- Returns {'OK', promoted entries...}, {'REFUSED', confirmed seats}, {'REBUILD'} or {'FENCED'}.
local k = event_keys()
local state = check(k, tonumber(ARGV[2]))
if state ~= 'OK' then return {state} end
local total = tonumber(redis.call('HGET', k.meta, 'total'))
local available = tonumber(redis.call('GET', k.slots))
local confirmed = total - available
local new_total = tonumber(ARGV[1])
if new_total < confirmed then return {'REFUSED', confirmed} end
redis.call('SET', k.slots, new_total - confirmed)
redis.call('HSET', k.meta, 'total', new_total)
local result = promote(k)
table.insert(result, 1, 'OK')
return result
