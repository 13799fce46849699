-- Counts a hit in a fixed window that starts at the first hit.
-- KEYS: the counter
-- ARGV: window ms
-- Returns {count, resets_at ms}.
local count = redis.call('INCR', KEYS[1])
local remaining = redis.call('PTTL', KEYS[1])
if count == 1 or remaining < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  remaining = tonumber(ARGV[1])
end
return {count, int(now_ms() + remaining)}
