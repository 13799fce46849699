-- Helpers prepended to every Miroir script. Everything is `local`: Redis forbids globals.

-- The Redis server clock in milliseconds, the one clock every replica shares.
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- An integer as a decimal string (`tostring` switches to exponents past 1e14).
local function int(number)
  return string.format('%.0f', number)
end

-- An error reply that the Rust side maps to a StoreError: CONFLICT, NOTFOUND or INVALID.
local function fail(kind, message)
  return redis.error_reply('MIROIR_' .. kind .. ' ' .. message)
end

-- Reads `<n> field value ... <m> field ...` (codec::Fields::script_args) from ARGV[at]:
-- returns the flat field/value list, the names of absent fields and the next ARGV index.
local function read_fields(at)
  local count = tonumber(ARGV[at])
  local present = {}
  for i = 1, 2 * count do present[i] = ARGV[at + i] end
  at = at + 2 * count + 1
  local absent_count = tonumber(ARGV[at])
  local absent = {}
  for i = 1, absent_count do absent[i] = ARGV[at + i] end
  return present, absent, at + absent_count + 1
end

-- Writes the fields read by read_fields to the hash `key` (HSET present, HDEL absent).
local function write_fields(key, present, absent)
  if #present > 0 then redis.call('HSET', key, unpack(present)) end
  if #absent > 0 then redis.call('HDEL', key, unpack(absent)) end
end

-- Compares two decimal strings without leading zeros (u64 values do not fit a Lua number):
-- -1, 0 or 1.
local function compare_decimal(left, right)
  if #left ~= #right then return #left < #right and -1 or 1 end
  if left == right then return 0 end
  return left < right and -1 or 1
end

