-- Schema step 4 (api_keys): creates Meilisearch's default API keys, once.
-- KEYS: the step's mark (P:{api_keys}:defaults), uid set, then the hash of each key
-- ARGV: per key (in KEYS order from KEYS[3]): uid, name, description, actions (JSON),
--       indexes (JSON)
-- The first key gets created_at = updated_at = the server's now, each next one 1 ms less, so
-- newest first lists them in the given order. Returns the number of keys created: all of them,
-- or 0 when the mark says an earlier run (a racing migrator) created them.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = now_ms()
local count = #KEYS - 2
for i = 0, count - 1 do
  local at = 1 + 5 * i
  local created = int(now - i)
  redis.call('HSET', KEYS[3 + i], 'uid', ARGV[at], 'name', ARGV[at + 1],
    'description', ARGV[at + 2], 'actions', ARGV[at + 3], 'indexes', ARGV[at + 4],
    'created_at', created, 'updated_at', created)
  redis.call('ZADD', KEYS[2], created, ARGV[at])
end
redis.call('SET', KEYS[1], '1')
return count
