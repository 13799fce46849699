-- Extends a lease still held by `holder` with `token`.
-- KEYS: lease hash
-- ARGV: holder, token, ttl ms, scope
-- Returns the lease hash; CONFLICT if it expired, was released or is held by someone else.
local now = now_ms()
local held = redis.call('HMGET', KEYS[1], 'holder', 'token', 'expires_at')
if not held[1] or tonumber(held[3]) <= now or held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then
  return fail('CONFLICT', 'lease `' .. ARGV[4] .. '` is not held by `' .. ARGV[1]
    .. '` with token ' .. ARGV[2])
end
redis.call('HSET', KEYS[1], 'expires_at', int(now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
