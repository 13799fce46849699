-- Extends a claim and optionally replaces the progress.
-- ARGV: [6] id, [7] worker, [8] lease ms, [9] '1' to replace progress, [10] progress (JSON)
local key, id = KEYS[10], ARGV[6]
local refused = refuse_unless_claimed(key, id, ARGV[7])
if refused then return refused end
local now = now_ms()
local expires = now + tonumber(ARGV[8])
redis.call('ZADD', CLAIMS, expires, id)
redis.call('HSET', key, 'claim_expires_at', int(expires), 'updated_at', int(now))
if ARGV[9] == '1' then redis.call('HSET', key, 'progress', ARGV[10]) end
return redis.call('HGETALL', key)
