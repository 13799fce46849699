-- Marks a claimed job completed, optionally with its final progress.
-- ARGV: [6] id, [7] worker, [8] '1' to replace progress, [9] progress (JSON)
local key, id = KEYS[10], ARGV[6]
local refused = refuse_unless_claimed(key, id, ARGV[7])
if refused then return refused end
move(key, id, COMPLETED, 0)
redis.call('HDEL', key, 'claimed_by', 'claim_expires_at')
redis.call('HSET', key, 'updated_at', int(now_ms()))
if ARGV[8] == '1' then redis.call('HSET', key, 'progress', ARGV[9]) end
return redis.call('HGETALL', key)
