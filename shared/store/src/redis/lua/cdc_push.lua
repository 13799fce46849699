-- Appends events to a sink's overflow buffer, all or nothing against a byte budget.
-- KEYS: overflow list, byte counter
-- ARGV: max bytes, then the events
-- Returns 1 if appended, 0 if the buffer would exceed max bytes.
local added = 0
for i = 2, #ARGV do added = added + #ARGV[i] end
local buffered = tonumber(redis.call('GET', KEYS[2]) or '0')
if buffered + added > tonumber(ARGV[1]) then return 0 end
for first = 2, #ARGV, 1000 do
  local chunk = {}
  for i = first, math.min(first + 999, #ARGV) do chunk[#chunk + 1] = ARGV[i] end
  redis.call('RPUSH', KEYS[1], unpack(chunk))
end
redis.call('INCRBY', KEYS[2], added)
return 1
