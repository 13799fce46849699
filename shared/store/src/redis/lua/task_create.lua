-- Creates a task.
-- KEYS: _index, status set, type set, enqueued_at index, index set (the _index again when the
--       task has no index), [uid sequence: only when ARGV[1] is '']
-- ARGV: uid ('' = allocate the next one with INCR of KEYS[6]), task key prefix, enqueued_at ms,
--       fields (read_fields)
-- Returns the uid.
local uid = ARGV[1]
if uid == '' then uid = int(redis.call('INCR', KEYS[6])) end
local present = read_fields(4)
redis.call('HSET', ARGV[2] .. uid, 'uid', uid, unpack(present))
redis.call('ZADD', KEYS[1], uid, uid)
redis.call('ZADD', KEYS[2], uid, uid)
redis.call('ZADD', KEYS[3], uid, uid)
redis.call('ZADD', KEYS[4], ARGV[3], uid)
redis.call('ZADD', KEYS[5], uid, uid)
return uid
