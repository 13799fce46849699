-- Marks an admin session revoked (keeping its expiry) and publishes its id.
-- KEYS: the session hash
-- ARGV: revocation channel, session id
-- Returns 1 if revoked, 0 if the session does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
