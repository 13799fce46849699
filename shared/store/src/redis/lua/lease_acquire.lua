-- Takes a free or expired lease with a new fencing token, or extends one `holder` holds.
-- KEYS: lease hash, token counter, set of scopes with a lease
-- ARGV: holder, ttl ms, scope
-- Returns the lease hash, or nil if someone else holds it.
local now = now_ms()
local held = redis.call('HMGET', KEYS[1], 'holder', 'token', 'expires_at')
local token
if held[1] and tonumber(held[3]) > now then
  if held[1] ~= ARGV[1] then return false end
  token = held[2]
else
  token = int(redis.call('INCR', KEYS[2]))
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token,
  'expires_at', int(now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return redis.call('HGETALL', KEYS[1])
