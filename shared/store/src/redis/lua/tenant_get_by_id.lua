-- Reads a tenant's mapping through its id → key hash string.
-- KEYS: the tenant's id → key hash string
-- ARGV: mapping hash key prefix (`P:tenant_map:`), tenant id
-- Returns the mapping hash, or nil.
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
local key = ARGV[1] .. hash
if redis.call('HGET', key, 'tenant_id') ~= ARGV[2] then return false end
return redis.call('HGETALL', key)
