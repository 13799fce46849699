-- Frees a lease held by `holder` with `token`.
-- KEYS: lease hash, set of scopes with a lease
-- ARGV: holder, token, scope
-- Returns 1 if freed, 0 otherwise.
local held = redis.call('HMGET', KEYS[1], 'holder', 'token', 'expires_at')
if held[1] == ARGV[1] and held[2] == ARGV[2] and tonumber(held[3]) > now_ms() then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  return 1
end
return 0
