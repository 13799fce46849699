-- Deletes an API key (table 16): its hash and its uid.
-- KEYS: key hash, uid set
-- ARGV: uid
-- Returns 1 if the key existed, 0 otherwise.
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return deleted
