-- Reads rows that expire after a relative TTL (rate-limit counters, login backoffs, scoped-key
-- observations), for a copy's export: each with the instant it expires.
-- KEYS: the rows, all strings or all hashes
-- ARGV: 'string' or 'hash'
-- Returns {value, expires_at ms, ...} flat: the string or the flat hash (nil or empty when the
-- row is gone), and -1 when the key has no expiry. The expiry is exact from Redis 7
-- (PEXPIRETIME); before, it is the server clock plus PTTL.
local now
local rows = {}
for _, key in ipairs(KEYS) do
  local value
  if ARGV[1] == 'string' then
    value = redis.call('GET', key)
  else
    value = redis.call('HGETALL', key)
  end
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) ~= 'number' then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      at = -1
    else
      now = now or now_ms()
      at = now + ttl
    end
  elseif at < 0 then
    at = -1
  end
  rows[#rows + 1] = value
  rows[#rows + 1] = at
end
return rows
