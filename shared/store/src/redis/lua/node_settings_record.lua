-- Records a settings version unless a higher one is stored (versions never go back).
-- KEYS: the index's hash (node id -> "<version> <updated_at>")
-- ARGV: node id, version, updated_at ms
-- Returns the value stored afterwards.
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local version = string.match(stored, '^(%d+) ')
  if version and compare_decimal(version, ARGV[2]) > 0 then return stored end
end
local value = ARGV[2] .. ' ' .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], value)
return value
