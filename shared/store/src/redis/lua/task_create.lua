-- Creates a task with a fresh uid.
-- KEYS: seq, _index, status set, type set, enqueued_at index, [index set]
-- ARGV: task key prefix, enqueued_at ms, fields (read_fields)
-- Returns the uid.
local uid = int(redis.call('INCR', KEYS[1]))
local present = read_fields(3)
redis.call('HSET', ARGV[1] .. uid, 'uid', uid, unpack(present))
redis.call('ZADD', KEYS[2], uid, uid)
redis.call('ZADD', KEYS[3], uid, uid)
redis.call('ZADD', KEYS[4], uid, uid)
redis.call('ZADD', KEYS[5], ARGV[2], uid)
if KEYS[6] then redis.call('ZADD', KEYS[6], uid, uid) end
return uid
