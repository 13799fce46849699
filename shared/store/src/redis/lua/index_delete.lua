-- Compare-and-set removal of an index record (table 15), leaving no tombstone.
-- KEYS: record hash, uid set
-- ARGV: uid, expected version
-- Returns 1 if the record was removed, 0 if there was none; CONFLICT, removing nothing, when the
-- stored version is not the expected one.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local version = redis.call('HGET', KEYS[1], 'version') or '0'
if version ~= ARGV[2] then
  return fail('CONFLICT', 'index `' .. ARGV[1] .. '` is at version ' .. version .. ', not ' .. ARGV[2])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
