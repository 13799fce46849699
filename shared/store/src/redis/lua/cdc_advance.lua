-- Compare-and-set of a CDC cursor.
-- KEYS: the sink's cursors hash (index uid -> "<seq> <updated_at>")
-- ARGV: index uid, expected seq ('' = no cursor yet), new seq, now ms, sink name
-- Returns the value stored afterwards.
local what = 'cdc cursor of sink `' .. ARGV[5] .. '` on index `' .. ARGV[1] .. '`'
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local current = stored and (string.match(stored, '^(%d+) ') or '?')
if ARGV[2] == '' then
  if stored then return fail('CONFLICT', what .. ' already exists at ' .. current) end
else
  if not stored then return fail('CONFLICT', what .. ' does not exist yet') end
  if current ~= ARGV[2] then
    return fail('CONFLICT', what .. ' is at ' .. current .. ', not ' .. ARGV[2])
  end
  if compare_decimal(ARGV[3], current) < 0 then
    return fail('CONFLICT', what .. ' cannot go back from ' .. current .. ' to ' .. ARGV[3])
  end
end
local value = ARGV[3] .. ' ' .. ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], value)
return value
