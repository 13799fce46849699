-- Reads a page of jobs from an index set, consistently (JobQuery::page in Rust does the same).
-- KEYS: [1] the index sorted set (all jobs or one state, score = enqueue seq), [2] the hash of
--       the job to start from (absent: start at the oldest)
-- ARGV: [1] job key prefix, [2] jobs to examine, [3] limit, [4] job type to keep ('' = any),
--       [5] the id of the job to start from (for the error)
-- Returns {next id or '', {job hash, ...}}: the first `limit` examined jobs of the type, and
-- the first job not examined.
local first = '-inf'
if KEYS[2] then
  first = redis.call('HGET', KEYS[2], 'seq')
  if not first then return fail('NOTFOUND', 'job `' .. ARGV[5] .. '`') end
end
local examined, limit, kind = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], first, '+inf', 'LIMIT', 0, examined + 1)
local jobs, next = {}, ''
for position, id in ipairs(ids) do
  if #jobs == limit or position > examined then
    next = id
    break
  end
  local key = ARGV[1] .. id
  if kind == '' or redis.call('HGET', key, 'kind') == kind then
    jobs[#jobs + 1] = redis.call('HGETALL', key)
  end
end
return {next, jobs}
