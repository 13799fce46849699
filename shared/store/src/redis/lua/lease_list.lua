-- Reads every lease held now, consistently, and forgets scopes whose lease expired.
-- KEYS: set of scopes with a lease (an expired lease's hash is gone, but its scope stays in the
--       set until it is released after a new acquisition or read here)
-- ARGV: lease hash key prefix (`P:{lease}:held:`)
-- Returns `scope, lease hash` pairs, flat.
local now = now_ms()
local leases = {}
for _, scope in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local held = redis.call('HMGET', ARGV[1] .. scope, 'holder', 'expires_at')
  if not held[1] then
    redis.call('SREM', KEYS[1], scope)
  elseif tonumber(held[2]) > now then
    leases[#leases + 1] = scope
    leases[#leases + 1] = redis.call('HGETALL', ARGV[1] .. scope)
  end
end
return leases
