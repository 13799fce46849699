-- Returns in-progress jobs whose claim expired to the queue, or fails them when out of
-- attempts. Progress is kept.
-- ARGV: [6] batch, [7] error recorded on the jobs
-- Returns the ids handled.
local batch = tonumber(ARGV[6])
if batch <= 0 then return {} end
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', CLAIMS, '-inf', now, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'attempts', 'max_attempts')
  if not job[1] then
    redis.call('ZREM', CLAIMS, id)
  else
    redis.call('HDEL', key, 'claimed_by', 'claim_expires_at', 'claim_token')
    redis.call('HSET', key, 'last_error', ARGV[7], 'updated_at', int(now))
    if tonumber(job[1]) >= tonumber(job[2]) then
      move(key, id, FAILED, 0)
    else
      redis.call('HSET', key, 'run_after', int(now))
      move(key, id, QUEUED, now)
    end
  end
end
return ids
