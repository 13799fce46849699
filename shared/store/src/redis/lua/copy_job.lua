-- Writes a job as given, for a copy's import (after jobs_common.lua): replaces the job with its
-- id, if any, with every index in step, and raises the enqueue sequence to at least its seq and
-- the claim token sequence to at least its claim token.
-- ARGV: [6] id, [7] seq, [8] state, [9] kind, [10] run_after ms, [11] claim_expires_at ms or
--       '', [12] claim token or '', fields from [13] (read_fields)
-- Returns 1.
local key, id, seq, state = JOB, ARGV[6], ARGV[7], ARGV[8]
local old = redis.call('HMGET', key, 'state', 'seq', 'kind')
if old[1] then
  if old[1] == QUEUED then
    redis.call('ZREM', QUEUE, queue_member(old[2], id))
    if redis.call('HINCRBY', DEPTH, old[3], -1) <= 0 then redis.call('HDEL', DEPTH, old[3]) end
  end
  redis.call('ZREM', CLAIMS, id)
  for _, set in pairs(STATE_SETS) do redis.call('ZREM', set, id) end
  redis.call('DEL', key)
end
local present = read_fields(13)
redis.call('HSET', key, unpack(present))
redis.call('ZADD', ALL_JOBS, seq, id)
redis.call('ZADD', STATE_SETS[state], seq, id)
if state == QUEUED then
  redis.call('ZADD', QUEUE, ARGV[10], queue_member(seq, id))
  redis.call('HINCRBY', DEPTH, ARGV[9], 1)
elseif state == IN_PROGRESS then
  local expires = ARGV[11]
  if expires == '' then expires = 0 end
  redis.call('ZADD', CLAIMS, expires, id)
end
local current = redis.call('GET', SEQUENCE)
if not current or compare_decimal(current, seq) < 0 then redis.call('SET', SEQUENCE, seq) end
local token = ARGV[12]
if token ~= '' then
  local last = redis.call('GET', CLAIM_SEQUENCE)
  if not last or compare_decimal(last, token) < 0 then redis.call('SET', CLAIM_SEQUENCE, token) end
end
return 1
