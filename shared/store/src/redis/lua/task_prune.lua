-- Deletes up to `batch` terminal tasks enqueued before a cutoff, lowest uid first.
-- KEYS: _index, enqueued_at, started_at, finished_at, 3 scratch keys, then the terminal status
--       sets
-- ARGV: cutoff ms (exclusive), batch, task key prefix, type set prefix, index set prefix
-- Returns how many tasks were deleted.
local batch = tonumber(ARGV[2])
local before, candidates, part = KEYS[5], KEYS[6], KEYS[7]
redis.call('DEL', before, candidates, part)
if batch <= 0 then return 0 end
redis.call('ZRANGESTORE', before, KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE')
-- Each intersection costs at most the size of `before`, small once pruning keeps up.
for i = 8, #KEYS do
  redis.call('ZINTERSTORE', part, 2, before, KEYS[i], 'WEIGHTS', 0, 1)
  redis.call('ZUNIONSTORE', candidates, 2, candidates, part)
end
local uids = redis.call('ZRANGE', candidates, 0, batch - 1)
redis.call('DEL', before, candidates, part)
for _, uid in ipairs(uids) do
  local key = ARGV[3] .. uid
  local row = redis.call('HMGET', key, 'kind', 'index_uid')
  redis.call('DEL', key)
  for i = 1, 4 do redis.call('ZREM', KEYS[i], uid) end
  for i = 8, #KEYS do redis.call('ZREM', KEYS[i], uid) end
  if row[1] then redis.call('ZREM', ARGV[4] .. row[1], uid) end
  if row[2] then redis.call('ZREM', ARGV[5] .. row[2], uid) end
end
return #uids
