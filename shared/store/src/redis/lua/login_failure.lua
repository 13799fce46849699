-- Counts a failed admin login and sets the exponential backoff (BackoffPolicy::backoff_after).
-- KEYS: the source's backoff hash
-- ARGV: threshold, base ms, cap ms, ttl ms (the cap, at least 1)
-- Returns the hash afterwards.
local now = now_ms()
local count = redis.call('HINCRBY', KEYS[1], 'failed_count', 1)
local threshold = tonumber(ARGV[1])
if count >= threshold then
  local cap = tonumber(ARGV[3])
  local wait = cap
  local excess = count - threshold
  if excess < 63 then wait = math.min(tonumber(ARGV[2]) * 2 ^ excess, cap) end
  redis.call('HSET', KEYS[1], 'next_allowed_at', int(now + wait))
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('HGETALL', KEYS[1])
