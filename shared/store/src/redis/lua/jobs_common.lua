-- Shared part of the job scripts (after prelude.lua).
-- KEYS: [1] queued (score run_after, member "<seq 20 digits>:<id>"), [2] claims (score
--       claim_expires_at), [3] depth (kind -> queued count), [4] all jobs (score seq),
--       [5] enqueue sequence, [6..9] state sets (score seq) in the order of ARGV[2..5],
--       [10] claim token sequence (the last token handed out), [11] the job hash for scripts
--       addressing one job
-- ARGV: [1] job key prefix, [2..5] the names of the states queued, in progress, completed,
--       failed; script arguments from ARGV[6]
local QUEUE, CLAIMS, DEPTH, ALL_JOBS, SEQUENCE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local CLAIM_SEQUENCE, JOB = KEYS[10], KEYS[11]
local QUEUED, IN_PROGRESS, COMPLETED, FAILED = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local STATE_SETS = {}
for i = 0, 3 do STATE_SETS[ARGV[2 + i]] = KEYS[6 + i] end

local function job_key(id)
  return ARGV[1] .. id
end

local function queue_member(seq, id)
  return string.format('%020d', tonumber(seq)) .. ':' .. id
end

-- Moves job `id` to `state`, keeping every index in step. `score` is run_after for queued,
-- claim_expires_at for in progress.
local function move(key, id, state, score)
  local job = redis.call('HMGET', key, 'state', 'seq', 'kind')
  local old, seq, kind = job[1], job[2], job[3]
  if old == QUEUED then
    redis.call('ZREM', QUEUE, queue_member(seq, id))
    if redis.call('HINCRBY', DEPTH, kind, -1) <= 0 then redis.call('HDEL', DEPTH, kind) end
  elseif old == IN_PROGRESS then
    redis.call('ZREM', CLAIMS, id)
  end
  if old and STATE_SETS[old] then redis.call('ZREM', STATE_SETS[old], id) end
  redis.call('ZADD', STATE_SETS[state], seq, id)
  if state == QUEUED then
    redis.call('ZADD', QUEUE, score, queue_member(seq, id))
    redis.call('HINCRBY', DEPTH, kind, 1)
  elseif state == IN_PROGRESS then
    redis.call('ZADD', CLAIMS, score, id)
  end
  redis.call('HSET', key, 'state', state)
end

-- An error reply unless the job exists and is in progress under the claim of `worker` with
-- `token` (decimal string). The messages are those of the SQLite backend (`claim_refused`).
local function refuse_unless_claimed(key, id, worker, token)
  local job = redis.call('HMGET', key, 'state', 'claimed_by', 'claim_token')
  if not job[1] then return fail('NOTFOUND', 'job `' .. id .. '`') end
  local wanted = 'claim ' .. token .. ' of `' .. worker .. '`'
  if job[1] ~= IN_PROGRESS then
    return fail('CONFLICT',
      'job `' .. id .. '` is ' .. job[1] .. ', not in progress under ' .. wanted)
  end
  if not job[3] then
    return fail('CONFLICT', 'job `' .. id .. '` is in progress under a claim of `'
      .. tostring(job[2] or '') .. '` without a token, not ' .. wanted)
  end
  if job[2] ~= worker or job[3] ~= token then
    return fail('CONFLICT', 'job `' .. id .. '` is in progress under claim ' .. job[3] .. ' of `'
      .. tostring(job[2]) .. '`, not ' .. wanted)
  end
  return nil
end
