-- Compare-and-set flip of an alias, appending the replaced state to its bounded history.
-- KEYS: alias hash, history list
-- ARGV: name, expected version, new kind, new target (JSON), history retention, now ms
-- Returns {alias hash, history entries}.
local name = ARGV[1]
local stored = redis.call('HMGET', KEYS[1], 'version', 'kind', 'target')
if not stored[1] then return fail('NOTFOUND', 'alias `' .. name .. '`') end
if stored[1] ~= ARGV[2] then
  return fail('CONFLICT', 'alias `' .. name .. '` is at version ' .. stored[1] .. ', not ' .. ARGV[2])
end
if stored[2] ~= ARGV[3] then
  return fail('INVALID', 'alias `' .. name .. '` is ' .. stored[2] .. ' and cannot become ' .. ARGV[3])
end
local entry = '{"target":' .. stored[3] .. ',"version":' .. stored[1] .. ',"replaced_at":' .. ARGV[6] .. '}'
redis.call('RPUSH', KEYS[2], entry)
if ARGV[5] == '0' then
  redis.call('DEL', KEYS[2])
else
  redis.call('LTRIM', KEYS[2], '-' .. ARGV[5], -1)
end
redis.call('HSET', KEYS[1], 'version', int(tonumber(stored[1]) + 1), 'target', ARGV[4])
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
