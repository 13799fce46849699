-- Puts a failed job back in the queue with its attempts reset.
-- ARGV: [6] id
local key, id = JOB, ARGV[6]
local state = redis.call('HGET', key, 'state')
if not state then return fail('NOTFOUND', 'job `' .. id .. '`') end
if state ~= FAILED then
  return fail('CONFLICT', 'job `' .. id .. '` is ' .. state .. ', not ' .. FAILED)
end
local now = now_ms()
redis.call('HSET', key, 'attempts', 0, 'run_after', int(now), 'updated_at', int(now))
move(key, id, QUEUED, now)
return redis.call('HGETALL', key)
