-- Marks a claimed job completed, optionally with its final progress.
-- ARGV: [6] id, [7] worker, [8] claim token, [9] '1' to replace progress, [10] progress (JSON)
local key, id = JOB, ARGV[6]
local refused = refuse_unless_claimed(key, id, ARGV[7], ARGV[8])
if refused then return refused end
move(key, id, COMPLETED, 0)
redis.call('HDEL', key, 'claimed_by', 'claim_expires_at', 'claim_token')
redis.call('HSET', key, 'updated_at', int(now_ms()))
if ARGV[9] == '1' then redis.call('HSET', key, 'progress', ARGV[10]) end
return redis.call('HGETALL', key)
