-- Advances the schema version by one step if no other process did.
-- KEYS: the schema version key
-- ARGV: version before the step, version after it
-- Returns {1, new version} if this call applied the step, else {0, stored version}.
local stored = redis.call('GET', KEYS[1]) or '0'
if stored ~= ARGV[1] then return {0, stored} end
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
