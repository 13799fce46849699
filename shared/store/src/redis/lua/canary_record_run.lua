-- Appends a canary run (replacing one with the same ran_at) and keeps the newest runs only.
-- KEYS: the canary's runs sorted set (score = ran_at)
-- ARGV: ran_at ms, run (JSON), last rank to drop (-(keep + 1))
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, ARGV[3])
return 1
