-- Writes the lease state of a scope as given, for a copy's import: raises its fencing token to
-- at least the given one (tokens never go back) and replaces the held lease, or frees it.
-- KEYS: lease hash, token counter, set of scopes with a lease
-- ARGV: scope, token, holder ('' = not held), expires_at ms
-- Returns 1 if the lease is held afterwards, else 0.
local current = redis.call('GET', KEYS[2])
if not current or compare_decimal(current, ARGV[2]) < 0 then redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('DEL', KEYS[1])
if ARGV[3] == '' or tonumber(ARGV[4]) <= now_ms() then
  redis.call('SREM', KEYS[3], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'holder', ARGV[3], 'token', ARGV[2], 'expires_at', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
