-- Compare-and-set write of an index record (table 15).
-- KEYS: record hash, uid set (sorted set, every score 0)
-- ARGV: uid, expected version ('0': no record), then the record's fields (read_fields), its new
--       version included
-- Returns the record hash as stored (created_at kept from the stored record, if any); CONFLICT,
-- writing nothing, when the stored version (0 when absent) is not the expected one.
local stored = redis.call('HMGET', KEYS[1], 'version', 'created_at')
local version = stored[1] or '0'
if version ~= ARGV[2] then
  return fail('CONFLICT', 'index `' .. ARGV[1] .. '` is at version ' .. version .. ', not ' .. ARGV[2])
end
local present = read_fields(3)
redis.call('DEL', KEYS[1])
write_fields(KEYS[1], present, {})
if stored[2] then redis.call('HSET', KEYS[1], 'created_at', stored[2]) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return redis.call('HGETALL', KEYS[1])
