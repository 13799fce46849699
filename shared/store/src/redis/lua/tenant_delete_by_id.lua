-- Deletes a tenant's mapping and its id → key hash string.
-- KEYS: the tenant's id → key hash string
-- ARGV: mapping hash key prefix (`P:tenant_map:`), tenant id
-- Returns 1 if a mapping was deleted, 0 otherwise.
local hash = redis.call('GET', KEYS[1])
if not hash then return 0 end
redis.call('DEL', KEYS[1])
local key = ARGV[1] .. hash
if redis.call('HGET', key, 'tenant_id') ~= ARGV[2] then return 0 end
redis.call('DEL', key)
return 1
