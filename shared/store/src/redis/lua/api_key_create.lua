-- Creates an API key (table 16) unless a key with its uid exists.
-- KEYS: key hash, uid set (sorted set, score = created_at)
-- ARGV: uid, created_at (ms), then the key's fields (read_fields)
-- Returns 1; CONFLICT, writing nothing, when the uid exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return fail('CONFLICT', 'api key `' .. ARGV[1] .. '` already exists')
end
local present = read_fields(3)
write_fields(KEYS[1], present, {})
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
