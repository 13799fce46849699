-- Records a failed attempt: queued again after a backoff, or failed once out of attempts.
-- ARGV: [6] id, [7] worker, [8] claim token, [9] error, [10] retry_after ms
local key, id = JOB, ARGV[6]
local refused = refuse_unless_claimed(key, id, ARGV[7], ARGV[8])
if refused then return refused end
local now = now_ms()
local job = redis.call('HMGET', key, 'attempts', 'max_attempts')
redis.call('HDEL', key, 'claimed_by', 'claim_expires_at', 'claim_token')
redis.call('HSET', key, 'last_error', ARGV[9], 'updated_at', int(now))
if tonumber(job[1]) >= tonumber(job[2]) then
  move(key, id, FAILED, 0)
else
  local run_after = now + tonumber(ARGV[10])
  redis.call('HSET', key, 'run_after', int(run_after))
  move(key, id, QUEUED, run_after)
end
return redis.call('HGETALL', key)
