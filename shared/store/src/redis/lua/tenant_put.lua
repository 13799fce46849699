-- Makes a key hash the one key of a tenant, unmapping the tenant's previous key.
-- KEYS: mapping hash of the new key hash, the tenant's id → key hash string
-- ARGV: mapping hash key prefix (`P:tenant_map:`), new key hash (hex), tenant id, then the new
--       row's fields (read_fields)
-- Returns the tenant's previous mapping hash, or nil for a new tenant; CONFLICT if the key hash
-- belongs to another tenant.
local owner = redis.call('HGET', KEYS[1], 'tenant_id')
if owner and owner ~= ARGV[3] then
  return fail('CONFLICT', 'the API key is mapped to tenant `' .. owner .. '`')
end
local previous = false
local old_hash = redis.call('GET', KEYS[2])
if old_hash then
  local old_key = ARGV[1] .. old_hash
  if redis.call('HGET', old_key, 'tenant_id') == ARGV[3] then
    previous = redis.call('HGETALL', old_key)
    if old_hash ~= ARGV[2] then redis.call('DEL', old_key) end
  end
end
if not previous and owner then previous = redis.call('HGETALL', KEYS[1]) end
local present, absent = read_fields(4)
redis.call('DEL', KEYS[1])
write_fields(KEYS[1], present, {})
redis.call('SET', KEYS[2], ARGV[2])
return previous
