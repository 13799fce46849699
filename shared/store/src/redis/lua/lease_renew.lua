-- Extends a lease still held by `holder` with `token`.
-- KEYS: lease hash
-- ARGV: holder, token, ttl ms, scope
-- Returns the new expires_at (ms); CONFLICT if it expired, was released or is held by someone
-- else.
local now = now_ms()
local held = redis.call('HMGET', KEYS[1], 'holder', 'token', 'expires_at')
if not held[1] or tonumber(held[3]) <= now or held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then
  return fail('CONFLICT', 'lease `' .. ARGV[4] .. '` is not held by `' .. ARGV[1]
    .. '` with token ' .. ARGV[2])
end
local expires_at = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'expires_at', int(expires_at))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return expires_at
