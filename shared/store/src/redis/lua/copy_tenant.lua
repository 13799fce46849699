-- Writes a tenant mapping as given, for a copy's import: replaces the mapping of its key hash
-- (unmapping the tenant that held it) and makes it its tenant's one key (unmapping the tenant's
-- previous key), like put but without refusing.
-- KEYS: mapping hash of the key hash, the tenant's id → key hash string
-- ARGV: mapping hash key prefix (`P:tenant_map:`), id → key hash string key prefix
--       (`P:tenant_by_id:`), key hash (hex), tenant id, then the row's fields (read_fields)
-- Returns 1.
local owner = redis.call('HGET', KEYS[1], 'tenant_id')
if owner and owner ~= ARGV[4] then
  -- keys::escape of the tenant id: % : { } as %XX.
  local escaped = string.gsub(owner, '[%%:{}]', function(character)
    return string.format('%%%02X', string.byte(character))
  end)
  local by_id = ARGV[2] .. escaped
  if redis.call('GET', by_id) == ARGV[3] then redis.call('DEL', by_id) end
end
local old_hash = redis.call('GET', KEYS[2])
if old_hash and old_hash ~= ARGV[3] then
  local old_key = ARGV[1] .. old_hash
  if redis.call('HGET', old_key, 'tenant_id') == ARGV[4] then redis.call('DEL', old_key) end
end
local present = read_fields(5)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(present))
redis.call('SET', KEYS[2], ARGV[3])
return 1
