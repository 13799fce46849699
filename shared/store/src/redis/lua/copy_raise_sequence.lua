-- Raises a counter to at least a value; never lowers it.
-- KEYS: the counter
-- ARGV: the value (decimal, no leading zeros)
-- Returns the counter afterwards.
local current = redis.call('GET', KEYS[1])
if current and compare_decimal(current, ARGV[1]) >= 0 then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
