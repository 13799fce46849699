-- Deletes up to `batch` terminal tasks enqueued before a cutoff, oldest enqueued first, walking
-- the `enqueued_at` index from its start: a batch costs the tasks it deletes plus the old
-- non-terminal tasks it steps over, however many tasks are kept.
-- KEYS: _index, enqueued_at, started_at, finished_at, fence key (or any key when unfenced),
--       then the terminal status sets
-- ARGV: cutoff ms (exclusive), batch, task key prefix, type set prefix, index set prefix,
--       fence token ('' when unfenced), mode:
--       'delete'  refuse if the fence key holds a newer token, then delete;
--       'raise'   the same, and raise the fence key to the token (a cluster partition's
--                 high-water mark of the tokens it accepted);
--       'peek'    delete nothing, return the candidates.
-- Returns {'ok', deleted}; {'fenced', newest token} (nothing deleted) when a newer token exists;
-- in 'peek' mode {'peek', uid, enqueued ms, uid, enqueued ms, ...}.
local mode = ARGV[7]
if ARGV[6] ~= '' and mode ~= 'peek' then
  local current = redis.call('GET', KEYS[5])
  if current and compare_decimal(current, ARGV[6]) > 0 then return {'fenced', current} end
  if mode == 'raise' then redis.call('SET', KEYS[5], ARGV[6]) end
end
local batch = tonumber(ARGV[2])
local page = 256
local taken, skipped = 0, 0
local peeked = {'peek'}

local function is_terminal(uid)
  for i = 6, #KEYS do
    if redis.call('ZSCORE', KEYS[i], uid) then return true end
  end
  return false
end

local function delete(uid)
  local key = ARGV[3] .. uid
  local row = redis.call('HMGET', key, 'kind', 'index_uid')
  redis.call('DEL', key)
  for i = 1, #KEYS do
    if i ~= 5 then redis.call('ZREM', KEYS[i], uid) end
  end
  if row[1] then redis.call('ZREM', ARGV[4] .. row[1], uid) end
  if row[2] then redis.call('ZREM', ARGV[5] .. row[2], uid) end
end

while taken < batch do
  local entries = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', skipped,
    page, 'WITHSCORES')
  if #entries == 0 then break end
  for i = 1, #entries, 2 do
    if taken >= batch then break end
    local uid = entries[i]
    if not is_terminal(uid) then
      -- Deleted rows leave the index; kept ones stay, so the next page starts after them.
      skipped = skipped + 1
    elseif mode == 'peek' then
      peeked[#peeked + 1] = uid
      peeked[#peeked + 1] = entries[i + 1]
      taken = taken + 1
      skipped = skipped + 1
    else
      delete(uid)
      taken = taken + 1
    end
  end
end
if mode == 'peek' then return peeked end
return {'ok', taken}
