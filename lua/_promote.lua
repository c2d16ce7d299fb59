-- Shared by cancel.lua and capacity.lua (prepended when they are loaded).
-- Promote the head of the waitlist while its seats fit; a head that does not fit blocks the rest.
-- Waitlist entries are "<booking id>:<user id>:<seats>". Returns the promoted entries in order.
local function promote(slots_key, waitlist_key)
  local promoted = {}
  local available = tonumber(redis.call('GET', slots_key))
  while true do
    local head = redis.call('LINDEX', waitlist_key, 0)
    if not head then break end
    local seats = tonumber(string.match(head, ':(%d+)$'))
    if seats > available then break end
    redis.call('LPOP', waitlist_key)
    available = available - seats
    promoted[#promoted + 1] = head
  end
  redis.call('SET', slots_key, available)
  return promoted
end
