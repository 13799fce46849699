-- One page of tasks matching the filters, from the index sorted sets.
-- KEYS: _index, enqueued_at, started_at, finished_at, 8 scratch keys, then the keys of the
--       status, type and index filters in that order
-- ARGV: from uid or '', limit, '1' for oldest first,
--       uid filter: count (-1 = none) then the uids,
--       status, type, index filters: key count each (-1 = none; keys taken from KEYS in order),
--       enqueued, started, finished windows: min and max score each ('' '' = no window)
-- Returns {total, uid, uid, ...}: the matches from `from` in page order, limit + 1 at most.
local scratch_used = 0
local function scratch()
  scratch_used = scratch_used + 1
  local key = KEYS[4 + scratch_used]
  redis.call('DEL', key)
  return key
end

-- Sets to intersect; uid-scored ones get weight 1, time-scored ones weight 0, and the
-- intersection keeps the maximum, so its scores are uids again.
local sets, weights = {}, {}
local uid_scored, uid_filter = 0, false
local function add(key, by_uid)
  sets[#sets + 1] = key
  weights[#weights + 1] = by_uid and 1 or 0
  if by_uid then uid_scored = uid_scored + 1 end
end

local arg = 4
local uid_count = tonumber(ARGV[arg])
arg = arg + 1
if uid_count >= 0 then
  local key = scratch()
  for first = 0, uid_count - 1, 500 do
    local members = {}
    for i = first, math.min(first + 499, uid_count - 1) do
      members[#members + 1] = ARGV[arg + i]
      members[#members + 1] = ARGV[arg + i]
    end
    redis.call('ZADD', key, unpack(members))
  end
  arg = arg + uid_count
  add(key, true)
  uid_filter = true
end

local next_key = 13
for _ = 1, 3 do
  local count = tonumber(ARGV[arg])
  arg = arg + 1
  if count == 1 then
    add(KEYS[next_key], true)
  elseif count > 1 then
    local union = scratch()
    local members = {}
    for i = 0, count - 1 do members[#members + 1] = KEYS[next_key + i] end
    members[#members + 1] = 'AGGREGATE'
    members[#members + 1] = 'MAX'
    redis.call('ZUNIONSTORE', union, count, unpack(members))
    add(union, true)
  end
  if count > 0 then next_key = next_key + count end
end

for window = 1, 3 do
  local min, max = ARGV[arg], ARGV[arg + 1]
  arg = arg + 2
  if min ~= '' or max ~= '' then
    local key = scratch()
    redis.call('ZRANGESTORE', key, KEYS[1 + window], min, max, 'BYSCORE')
    add(key, false)
  end
end

local base
if #sets == 0 then
  base = KEYS[1]
elseif #sets == 1 and uid_scored == 1 and not uid_filter then
  base = sets[1]
else
  -- Explicit uids may not exist, and time sets alone are not scored by uid.
  if uid_filter or uid_scored == 0 then add(KEYS[1], uid_scored == 0) end
  base = scratch()
  local args = {'ZINTERSTORE', base, #sets}
  for _, key in ipairs(sets) do args[#args + 1] = key end
  args[#args + 1] = 'WEIGHTS'
  for _, weight in ipairs(weights) do args[#args + 1] = weight end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MAX'
  redis.call(unpack(args))
end

local total = redis.call('ZCARD', base)
local count = tonumber(ARGV[2]) + 1
local page
if ARGV[3] == '1' then
  local from = ARGV[1] ~= '' and ARGV[1] or '-inf'
  page = redis.call('ZRANGE', base, from, '+inf', 'BYSCORE', 'LIMIT', 0, count)
else
  local from = ARGV[1] ~= '' and ARGV[1] or '+inf'
  page = redis.call('ZRANGE', base, from, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, count)
end
for i = 1, scratch_used do redis.call('DEL', KEYS[4 + i]) end
table.insert(page, 1, total)
return page
