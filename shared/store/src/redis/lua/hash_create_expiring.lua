-- Creates an expiring hash unless the key exists.
-- KEYS: the hash
-- ARGV: expires_at ms (PEXPIREAT), fields (read_fields)
-- Returns the stored hash if the key existed (nothing written), else an empty array.
local stored = redis.call('HGETALL', KEYS[1])
if #stored > 0 then return stored end
local present = read_fields(2)
redis.call('HSET', KEYS[1], unpack(present))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return {}
