-- Stores a new queued job, claimable now.
-- ARGV: [6] id, fields from [7] (read_fields)
local now = int(now_ms())
local key, id = JOB, ARGV[6]
local seq = int(redis.call('INCR', SEQUENCE))
local present = read_fields(7)
redis.call('HSET', key, unpack(present))
redis.call('HSET', key, 'seq', seq, 'attempts', 0, 'run_after', now, 'created_at', now,
  'updated_at', now)
redis.call('ZADD', ALL_JOBS, seq, id)
move(key, id, QUEUED, now)
return redis.call('HGETALL', key)
