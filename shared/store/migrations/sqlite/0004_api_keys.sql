-- Step 4: API keys. Table 16, `api_keys`: the keys Miroir enforces on the client routes
-- (Meilisearch's `/keys`), without their secrets (a key is derived from the master key and the
-- uid), listed newest first. Every store, new or upgraded, starts with Meilisearch's four
-- default keys, as a fresh Meilisearch does (`miroir_store::DEFAULT_API_KEYS`).

-- 16. api_keys: one row per key. `expires_at` is data, not a row expiry: an expired key stays,
-- is read and is listed (as in Meilisearch); whoever checks a key compares it with the time.
CREATE TABLE api_keys (
    uid          TEXT PRIMARY KEY,   -- a UUID, lowercase and hyphenated (byte order: BINARY)
    name         TEXT,               -- NULL: no name
    description  TEXT,               -- NULL: no description
    actions      TEXT NOT NULL,      -- JSON array of Meilisearch action names, as given
    indexes      TEXT NOT NULL,      -- JSON array of index uid patterns, as given
    expires_at   INTEGER,            -- NULL: never
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
-- `list_api_keys` walks this index backwards: newest first, then uid descending.
CREATE INDEX api_keys_newest_first ON api_keys (created_at, uid);

-- The default keys, each with a random UUID v4 uid (version nibble 4, variant 10xx). They are
-- created 1 ms apart so that newest first lists them as Meilisearch 1.50 does: Search (now),
-- Admin, Read-Only Admin, Chat (now - 3 ms). `now` is read once: 'now' is fixed within one
-- statement.
WITH
    clock (now) AS (
        SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000
               + CAST(substr(strftime('%f', 'now'), 4) AS INTEGER)
    ),
    defaults (age, name, description, actions) AS (
        VALUES
            (0, 'Default Search API Key',
             'Use it to search from the frontend',
             '["search"]'),
            (1, 'Default Admin API Key',
             'Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend',
             '["*"]'),
            (2, 'Default Read-Only Admin API Key',
             'Use it to read information across the whole database. Caution! Do not expose this key on a public frontend',
             '["*.get","keys.get"]'),
            (3, 'Default Chat API Key',
             'Use it to chat and search from the frontend',
             '["chatCompletions","search"]')
    )
INSERT INTO api_keys (uid, name, description, actions, indexes, expires_at, created_at, updated_at)
SELECT
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
        || substr(lower(hex(randomblob(2))), 2) || '-'
        || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-'
        || lower(hex(randomblob(6))),
    name, description, actions, '["*"]', NULL, now - age, now - age
FROM defaults, clock;
