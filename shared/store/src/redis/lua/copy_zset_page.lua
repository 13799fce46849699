-- Reads one page of a table indexed by a sorted set, for a copy's export: the members after a
-- score, in score order, each with its row hash.
-- KEYS: the sorted set (the row hashes are in its slot)
-- ARGV: row hash key prefix (the member is appended), exclusive lower score bound ('' = from the
--       start), most members
-- Returns {member, score, hash, ...} flat; the hash is empty when the row is missing.
local min = '-inf'
if ARGV[2] ~= '' then min = '(' .. ARGV[2] end
local members = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[3]))
local page = {}
for i = 1, #members, 2 do
  page[#page + 1] = members[i]
  page[#page + 1] = members[i + 1]
  page[#page + 1] = redis.call('HGETALL', ARGV[1] .. members[i])
end
return page
