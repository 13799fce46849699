-- Compare-and-set rotation of an index's search-UI scoped key.
-- KEYS: the scoped-key hash
-- ARGV: index uid, expected generation (0 = never rotated), new primary uid, now ms
-- Returns the hash after the rotation.
local stored = redis.call('HMGET', KEYS[1], 'generation', 'primary_uid')
local generation = stored[1] or '0'
if generation ~= ARGV[2] then
  return fail('CONFLICT', 'scoped key of index `' .. ARGV[1] .. '` is at generation ' .. generation
    .. ', not ' .. ARGV[2])
end
redis.call('HSET', KEYS[1], 'index_uid', ARGV[1], 'primary_uid', ARGV[3], 'rotated_at', ARGV[4],
  'generation', int(tonumber(generation) + 1))
if stored[2] then
  redis.call('HSET', KEYS[1], 'previous_uid', stored[2])
else
  redis.call('HDEL', KEYS[1], 'previous_uid')
end
return redis.call('HGETALL', KEYS[1])
