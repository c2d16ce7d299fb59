-- Change an event's capacity; never below the confirmed seats. A raise promotes the waitlist.
-- KEYS: slots, waitlist, meta, holders
-- ARGV: new total slots
-- Returns {'OK', promoted entries...}, {'REFUSED', confirmed seats} or {'REBUILD'}.
if redis.call('EXISTS', KEYS[3]) == 0 then return {'REBUILD'} end
local total = tonumber(redis.call('HGET', KEYS[3], 'total'))
local available = tonumber(redis.call('GET', KEYS[1]))
local confirmed = total - available
local new_total = tonumber(ARGV[1])
if new_total < confirmed then return {'REFUSED', confirmed} end
redis.call('SET', KEYS[1], new_total - confirmed)
redis.call('HSET', KEYS[3], 'total', new_total)
local result = promote(KEYS[1], KEYS[2])
table.insert(result, 1, 'OK')
return result
