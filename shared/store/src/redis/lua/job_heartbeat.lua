-- Extends a claim and optionally replaces the progress.
-- ARGV: [6] id, [7] worker, [8] claim token, [9] lease ms, [10] '1' to replace progress,
--       [11] progress (JSON)
local key, id = JOB, ARGV[6]
local refused = refuse_unless_claimed(key, id, ARGV[7], ARGV[8])
if refused then return refused end
local now = now_ms()
local expires = now + tonumber(ARGV[9])
redis.call('ZADD', CLAIMS, expires, id)
redis.call('HSET', key, 'claim_expires_at', int(expires), 'updated_at', int(now))
if ARGV[10] == '1' then redis.call('HSET', key, 'progress', ARGV[11]) end
return redis.call('HGETALL', key)
