-- Replaces the mutable fields of a task unless it is terminal.
-- KEYS: task hash, started_at index, finished_at index, then one status set per status
-- ARGV: uid, position of the new status among the status sets (1-based), started_at ms or '',
--       finished_at ms or '', terminal status names separated by spaces, fields (read_fields),
--       then the expected status ('' for none) and the expected node_tasks JSON
-- Returns {1, new hash} when written, {0, stored hash} when the stored task is terminal
-- (the caller decides whether the update was identical); NOTFOUND if the task does not exist;
-- CONFLICT if an expected status is given and the status or node tasks differ from it.
local uid = ARGV[1]
local stored = redis.call('HGET', KEYS[1], 'status')
if not stored then return fail('NOTFOUND', 'task ' .. uid) end
for name in string.gmatch(ARGV[5], '%S+') do
  if name == stored then return {0, redis.call('HGETALL', KEYS[1])} end
end
local present, absent, next_arg = read_fields(6)
local expected_status = ARGV[next_arg]
if expected_status ~= '' and (stored ~= expected_status
    or redis.call('HGET', KEYS[1], 'node_tasks') ~= ARGV[next_arg + 1]) then
  return fail('CONFLICT', 'task ' .. uid .. ' changed since it was read')
end
write_fields(KEYS[1], present, absent)
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], uid) end
redis.call('ZADD', KEYS[3 + tonumber(ARGV[2])], uid, uid)
local function index_time(key, millis)
  if millis == '' then redis.call('ZREM', key, uid) else redis.call('ZADD', key, millis, uid) end
end
index_time(KEYS[2], ARGV[3])
index_time(KEYS[3], ARGV[4])
return {1, redis.call('HGETALL', KEYS[1])}
