-- Creates an alias unless the name exists.
-- KEYS: alias hash, history list, name index set
-- ARGV: name, fields (read_fields)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return fail('CONFLICT', 'alias `' .. ARGV[1] .. '` already exists')
end
local present = read_fields(2)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(present))
redis.call('SADD', KEYS[3], ARGV[1])
return 1
