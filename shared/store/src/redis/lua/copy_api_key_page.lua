-- Reads one page of API keys (table 16) for a copy's export: newest first, as api_key_list.lua
-- lists them (score descending, then member bytes descending), after the key a cursor names
-- (which need not exist any more), so no key present for the whole export is skipped.
-- KEYS: uid set (the key hashes are in its slot)
-- ARGV: key hash prefix (the uid is appended), the cursor's score as Redis printed it ('' = from
--       the newest), the cursor's uid, most keys
-- Returns {uid, score, hash, ...} flat; the hash is empty when the key is missing.
local limit = tonumber(ARGV[4])
local page = {}

-- Appends the members of a `WITHSCORES` reply with their hashes, up to the limit.
local function take(members)
  for i = 1, #members, 2 do
    if #page >= 3 * limit then return end
    page[#page + 1] = members[i]
    page[#page + 1] = members[i + 1]
    page[#page + 1] = redis.call('HGETALL', ARGV[1] .. members[i])
  end
end

-- Whether `left` sorts before `right` byte by byte, as Redis orders members (Lua's `<` follows
-- the server's locale).
local function bytes_before(left, right)
  for i = 1, math.min(#left, #right) do
    local a, b = string.byte(left, i), string.byte(right, i)
    if a ~= b then return a < b end
  end
  return #left < #right
end

if ARGV[2] == '' then
  take(redis.call('ZRANGE', KEYS[1], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit,
    'WITHSCORES'))
else
  -- The cursor's score: the members after the cursor's uid (smaller bytes) come next.
  local ties = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[2], 'BYSCORE', 'REV', 'WITHSCORES')
  local after = {}
  for i = 1, #ties, 2 do
    if bytes_before(ties[i], ARGV[3]) then
      after[#after + 1] = ties[i]
      after[#after + 1] = ties[i + 1]
    end
  end
  take(after)
  local left = limit - #page / 3
  if left > 0 then
    take(redis.call('ZRANGE', KEYS[1], '(' .. ARGV[2], '-inf', 'BYSCORE', 'REV', 'LIMIT', 0,
      left, 'WITHSCORES'))
  end
end
return page
