-- Deletes one task, whatever its status, from its hash and every index.
-- KEYS: _index, enqueued_at, started_at, finished_at, then every status set
-- ARGV: uid, task key prefix, type set prefix, index set prefix
-- Returns 1 if the task existed, else 0.
local uid = ARGV[1]
local key = ARGV[2] .. uid
local row = redis.call('HMGET', key, 'kind', 'index_uid')
if redis.call('DEL', key) == 0 then return 0 end
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], uid) end
if row[1] then redis.call('ZREM', ARGV[3] .. row[1], uid) end
if row[2] then redis.call('ZREM', ARGV[4] .. row[2], uid) end
return 1
