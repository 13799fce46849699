-- Deletes up to `batch` terminal tasks enqueued before a cutoff, oldest enqueued first, walking
-- the `enqueued_at` index from its start: a batch costs the tasks it deletes plus the old
-- non-terminal tasks it steps over, however many tasks are kept.
-- KEYS: _index, enqueued_at, started_at, finished_at, fence token key (or any key when unfenced),
--       then the terminal status sets
-- ARGV: cutoff ms (exclusive), batch, task key prefix, type set prefix, index set prefix,
--       fence token ('' when unfenced)
-- Returns {'ok', deleted}, or {'fenced', newest token} (nothing deleted) when a token newer than
-- the fence's was issued.
if ARGV[6] ~= '' then
  local current = redis.call('GET', KEYS[5])
  if current and compare_decimal(current, ARGV[6]) > 0 then return {'fenced', current} end
end
local batch = tonumber(ARGV[2])
local page = 256
local deleted, skipped = 0, 0

local function is_terminal(uid)
  for i = 6, #KEYS do
    if redis.call('ZSCORE', KEYS[i], uid) then return true end
  end
  return false
end

while deleted < batch do
  local uids = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', skipped, page)
  if #uids == 0 then break end
  for _, uid in ipairs(uids) do
    if deleted >= batch then break end
    if is_terminal(uid) then
      local key = ARGV[3] .. uid
      local row = redis.call('HMGET', key, 'kind', 'index_uid')
      redis.call('DEL', key)
      for i = 1, #KEYS do
        if i ~= 5 then redis.call('ZREM', KEYS[i], uid) end
      end
      if row[1] then redis.call('ZREM', ARGV[4] .. row[1], uid) end
      if row[2] then redis.call('ZREM', ARGV[5] .. row[2], uid) end
      deleted = deleted + 1
    else
      -- Deleted rows leave the index; skipped ones stay, so the next page starts after them.
      skipped = skipped + 1
    end
  end
end
return {'ok', deleted}
