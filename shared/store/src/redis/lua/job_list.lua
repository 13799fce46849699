-- Reads a page of jobs from an index set, consistently.
-- KEYS: the index sorted set (all jobs or one state, score = enqueue seq)
-- ARGV: job key prefix, first rank, last rank
-- Returns one job hash per id.
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
local jobs = {}
for i, id in ipairs(ids) do jobs[i] = redis.call('HGETALL', ARGV[1] .. id) end
return jobs
