-- Replaces an existing API key (table 16) by the given one, every field (created_at included).
-- KEYS: key hash, uid set (sorted set, score = created_at)
-- ARGV: uid, created_at (ms), then the key's fields (read_fields)
-- Returns 1; NOTFOUND, writing nothing, when there is no key with the uid.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return fail('NOTFOUND', 'api key `' .. ARGV[1] .. '`')
end
local present = read_fields(3)
redis.call('DEL', KEYS[1])
write_fields(KEYS[1], present, {})
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
