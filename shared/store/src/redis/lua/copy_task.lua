-- Writes a task as given, for a copy's import: replaces the task with its uid, if any, and every
-- index membership the old task had.
-- KEYS: _index, enqueued_at, started_at, finished_at, every status set, then the task's status
--       set, type set and index set (the _index again when it has no index)
-- ARGV: uid, task key prefix, type set prefix, index set prefix, enqueued_at ms, started_at ms
--       or '', finished_at ms or '', fields (read_fields)
-- Returns 1.
local uid = ARGV[1]
local key = ARGV[2] .. uid
local old = redis.call('HMGET', key, 'kind', 'index_uid')
if redis.call('DEL', key) == 1 then
  for i = 1, #KEYS - 3 do redis.call('ZREM', KEYS[i], uid) end
  if old[1] then redis.call('ZREM', ARGV[3] .. old[1], uid) end
  if old[2] then redis.call('ZREM', ARGV[4] .. old[2], uid) end
end
local present = read_fields(8)
redis.call('HSET', key, unpack(present))
redis.call('ZADD', KEYS[1], uid, uid)
redis.call('ZADD', KEYS[2], ARGV[5], uid)
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[6], uid) end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[4], ARGV[7], uid) end
for i = #KEYS - 2, #KEYS do redis.call('ZADD', KEYS[i], uid, uid) end
return 1
