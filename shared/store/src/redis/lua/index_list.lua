-- A page of index records (table 15), by uid in byte order (ZRANGEBYLEX: every score is 0).
-- KEYS: uid set (the record hashes are in its slot)
-- ARGV: record hash key prefix (the uid is appended), the uid to start after ('' = from the
--       first), most records
-- Returns the record hashes in order (a uid without a hash is skipped).
local min = '-'
if ARGV[2] ~= '' then min = '(' .. ARGV[2] end
local uids = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, ARGV[3])
local records = {}
for _, uid in ipairs(uids) do
  local hash = redis.call('HGETALL', ARGV[1] .. uid)
  if #hash > 0 then records[#records + 1] = hash end
end
return records
