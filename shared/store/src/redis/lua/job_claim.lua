-- Claims the first queued job whose run_after has passed (FIFO among equal run_after), under the
-- next claim token.
-- ARGV: [6] worker, [7] lease ms
-- Returns the job hash, or nil when nothing is claimable.
local now = now_ms()
while true do
  local first = redis.call('ZRANGEBYSCORE', QUEUE, '-inf', now, 'LIMIT', 0, 1)[1]
  if not first then return false end
  local id = string.sub(first, 22)
  local key = job_key(id)
  if redis.call('EXISTS', key) == 1 then
    local expires = now + tonumber(ARGV[7])
    move(key, id, IN_PROGRESS, expires)
    redis.call('HINCRBY', key, 'attempts', 1)
    local token = redis.call('INCR', CLAIM_SEQUENCE)
    redis.call('HSET', key, 'claimed_by', ARGV[6], 'claim_expires_at', int(expires),
      'claim_token', int(token), 'updated_at', int(now))
    return redis.call('HGETALL', key)
  end
  -- A queue entry without its job cannot be claimed; drop it.
  redis.call('ZREM', QUEUE, first)
end
