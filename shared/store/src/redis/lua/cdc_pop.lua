-- Removes and returns the oldest events of a sink's overflow buffer.
-- KEYS: overflow list, byte counter
-- ARGV: max events
local events = redis.call('LPOP', KEYS[1], ARGV[1])
if not events then return {} end
local removed = 0
for _, event in ipairs(events) do removed = removed + #event end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
else
  redis.call('DECRBY', KEYS[2], removed)
end
return events
