-- Schema step 2 (job claim tokens), on the `{jobs}` slot before the version is recorded (after
-- jobs_common.lua, invoked without a job): gives every in-progress job that has no claim token
-- the next token of the claim sequence, in enqueue order, as the SQLite step does. Idempotent: a
-- job keeps a token it has, so racing migrators hand out one token per job between them.
-- Returns the number of tokens handed out.
local given = 0
for _, id in ipairs(redis.call('ZRANGE', STATE_SETS[IN_PROGRESS], 0, -1)) do
  local key = job_key(id)
  local job = redis.call('HMGET', key, 'state', 'claim_token')
  if job[1] == IN_PROGRESS and not job[2] then
    redis.call('HSET', key, 'claim_token', int(redis.call('INCR', CLAIM_SEQUENCE)))
    given = given + 1
  end
end
return given
