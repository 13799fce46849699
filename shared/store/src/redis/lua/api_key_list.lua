-- A page of API keys (table 16), newest first: the uid set in reverse rank order is by
-- created_at descending, then by uid descending (Redis orders equal scores by member bytes).
-- KEYS: uid set (the key hashes are in its slot)
-- ARGV: key hash prefix (the uid is appended), first rank, last rank (both from the newest)
-- Returns the number of keys, then the key hashes of the page in order (a uid without a hash
-- is skipped), all read in one snapshot.
local reply = {redis.call('ZCARD', KEYS[1])}
local uids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'REV')
for _, uid in ipairs(uids) do
  local hash = redis.call('HGETALL', ARGV[1] .. uid)
  if #hash > 0 then reply[#reply + 1] = hash end
end
return reply
