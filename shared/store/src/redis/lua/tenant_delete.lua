-- Deletes the mapping of a key hash, and its tenant's id → key hash string if it points here.
-- KEYS: mapping hash
-- ARGV: id → key hash string key prefix (`P:tenant_by_id:`), key hash (hex)
-- Returns 1 if the mapping existed, 0 otherwise.
local tenant = redis.call('HGET', KEYS[1], 'tenant_id')
if not tenant then return 0 end
redis.call('DEL', KEYS[1])
-- keys::escape of the tenant id: % : { } as %XX.
local escaped = string.gsub(tenant, '[%%:{}]', function(character)
  return string.format('%%%02X', string.byte(character))
end)
local by_id = ARGV[1] .. escaped
if redis.call('GET', by_id) == ARGV[2] then redis.call('DEL', by_id) end
return 1
