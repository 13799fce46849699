-- Step 3: index records. Table 15, `indexes`: one state record per index uid a client has used
-- (the primary key documents are routed by, the name of the index on the nodes, the shard count,
-- the settings version and a lifecycle state), changed only by compare-and-set on `version`.
-- Existing stores gain the table empty: the records are written as indexes are created.

-- 15. indexes: per-index state. `version` only grows for a uid, also across a deletion and a
-- re-creation (a deleted index keeps a `deleted` record, its tombstone); `created_at` is kept
-- from the first write of the uid.
CREATE TABLE indexes (
    uid               TEXT PRIMARY KEY,   -- the index uid clients use (byte order: BINARY)
    primary_key       TEXT,               -- NULL: not known yet
    physical_uid      TEXT NOT NULL,      -- the uid of the index on the nodes
    shards            INTEGER NOT NULL,   -- at least 1
    settings_version  INTEGER NOT NULL,   -- 0: never changed through Miroir
    state             TEXT NOT NULL CHECK (state IN ('active', 'deleting', 'deleted')),
    version           INTEGER NOT NULL,   -- 1 when first written, +1 per change
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) WITHOUT ROWID;
