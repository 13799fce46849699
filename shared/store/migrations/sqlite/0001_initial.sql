-- Step 1: the 14 tables of plan §4 and the extras of the Redis keyspace (rate limits, login
-- backoff, CDC overflow, scoped-key rotation), as the Rust row types of `miroir-store` define them.
--
-- Conventions: every time is INTEGER milliseconds since the Unix epoch; JSON columns hold TEXT
-- written by serde_json; 32-byte hashes are BLOBs; enums hold their wire names; a Rust u64
-- (versions, sequence numbers, caller-given uids) is the INTEGER with the same 64 bits, so values
-- above 2^63-1 read as negative here and are only ever compared in Rust. Tables whose rows
-- expire carry `expires_at` (rows with `expires_at <= now` are invisible to reads and deleted by
-- the pruner) and an index on it. The runner applies this file in one transaction and then sets
-- `PRAGMA user_version`; the file only adds the application id.

-- 1. tasks: the task registry. AUTOINCREMENT so that a pruned uid is never handed out again.
CREATE TABLE tasks (
    uid          INTEGER PRIMARY KEY AUTOINCREMENT,
    index_uid    TEXT,               -- NULL for global tasks (swaps, dumps, ...)
    type         TEXT NOT NULL,      -- TaskKind wire name, e.g. documentAdditionOrUpdate
    status       TEXT NOT NULL,      -- enqueued | processing | succeeded | failed | canceled
    node_tasks   TEXT NOT NULL,      -- JSON object {"node-0": 42, ...}
    details      TEXT,               -- JSON, NULL when absent
    error        TEXT,               -- JSON {message, code, type, link}, NULL unless failed
    canceled_by  INTEGER,            -- uid of the cancelation task
    enqueued_at  INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
-- `GET /tasks` filters, each paired with uid so pages come out of the index in uid order.
CREATE INDEX tasks_status_uid ON tasks (status, uid);
CREATE INDEX tasks_type_uid ON tasks (type, uid);
CREATE INDEX tasks_index_uid_uid ON tasks (index_uid, uid);
CREATE INDEX tasks_enqueued_at ON tasks (enqueued_at);
CREATE INDEX tasks_started_at ON tasks (started_at);
CREATE INDEX tasks_finished_at ON tasks (finished_at);

-- The number of rows of `tasks`, kept by triggers so that counting is O(1).
CREATE TABLE task_count (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    count  INTEGER NOT NULL
);
INSERT INTO task_count (id, count) VALUES (1, 0);
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
BEGIN
    UPDATE task_count SET count = count + 1 WHERE id = 1;
END;
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
BEGIN
    UPDATE task_count SET count = count - 1 WHERE id = 1;
END;

-- 2. node_settings_version: the last settings version each (index, node) pair verified.
CREATE TABLE node_settings_version (
    index_uid   TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,    -- never goes down
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (index_uid, node_id)
) WITHOUT ROWID;

-- 3. aliases: single- or multi-target names, flipped by compare-and-set on `version`.
CREATE TABLE aliases (
    name         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,      -- single | multi
    current_uid  TEXT,               -- the target when kind = 'single'
    target_uids  TEXT,               -- JSON array of uids when kind = 'multi'
    version      INTEGER NOT NULL,   -- 1 at creation, +1 per flip
    created_at   INTEGER NOT NULL,
    history      TEXT NOT NULL       -- JSON array of {target, version, replaced_at}, oldest first
);

-- 4. sessions: read-your-writes session pins.
CREATE TABLE sessions (
    session_id            TEXT PRIMARY KEY,
    last_write_task_uid   INTEGER,
    last_write_at         INTEGER,
    pinned_group          INTEGER,
    min_settings_version  INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- 5. idempotency_cache: Idempotency-Key -> (body hash, task).
CREATE TABLE idempotency_cache (
    key          TEXT PRIMARY KEY,
    body_sha256  BLOB NOT NULL,      -- 32 bytes
    task_uid     INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX idempotency_cache_expires_at ON idempotency_cache (expires_at);

-- 6. jobs: the background job queue. `seq` (the rowid) is the enqueue order.
CREATE TABLE jobs (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,  -- UUID v4
    type              TEXT NOT NULL,         -- dump_import | reshard_backfill | reindex
    params            TEXT NOT NULL,         -- JSON
    state             TEXT NOT NULL,         -- queued | in_progress | completed | failed
    claimed_by        TEXT,                  -- worker id while in_progress
    claim_expires_at  INTEGER,               -- end of the claim while in_progress
    progress          TEXT NOT NULL,         -- JSON cursor persisted by the worker
    attempts          INTEGER NOT NULL,      -- claims so far
    max_attempts      INTEGER NOT NULL,
    last_error        TEXT,
    run_after         INTEGER NOT NULL,      -- not claimable before (backoff)
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- Claims: the oldest claimable queued job, found without looking at any other row.
CREATE INDEX jobs_queued_run_after ON jobs (run_after) WHERE state = 'queued';
-- Queue depth per type.
CREATE INDEX jobs_queued_type ON jobs (type) WHERE state = 'queued';
-- The reclaimer: in-progress jobs by end of claim.
CREATE INDEX jobs_in_progress_claim_expires_at ON jobs (claim_expires_at) WHERE state = 'in_progress';
-- Listing one state in enqueue order.
CREATE INDEX jobs_state ON jobs (state);

-- 7. leader_lease: singleton leases. `token` is the last fencing token issued for the scope and
-- survives releases and expiry, so tokens only ever grow.
CREATE TABLE leader_lease (
    scope       TEXT PRIMARY KEY,
    holder      TEXT,                -- NULL once released
    token       INTEGER NOT NULL,
    expires_at  INTEGER              -- NULL once released
) WITHOUT ROWID;

-- 8. canaries: synthetic queries with golden assertions.
CREATE TABLE canaries (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    index_uid        TEXT NOT NULL,
    interval_s       INTEGER NOT NULL,
    query_json       TEXT NOT NULL,
    assertions_json  TEXT NOT NULL,
    enabled          INTEGER NOT NULL,   -- 0 | 1
    created_at       INTEGER NOT NULL
);

-- 9. canary_runs: bounded run history, trimmed by the insert that exceeds the bound. No foreign
-- key: deleting a canary deletes its runs explicitly.
CREATE TABLE canary_runs (
    canary_id               TEXT NOT NULL,
    ran_at                  INTEGER NOT NULL,
    status                  TEXT NOT NULL,   -- pass | fail | error
    latency_ms              INTEGER NOT NULL,
    failed_assertions_json  TEXT,            -- NULL on pass
    PRIMARY KEY (canary_id, ran_at)
) WITHOUT ROWID;

-- 10. cdc_cursors: per-sink, per-index acknowledged event sequence.
CREATE TABLE cdc_cursors (
    sink_name       TEXT NOT NULL,
    index_uid       TEXT NOT NULL,
    last_event_seq  INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (sink_name, index_uid)
) WITHOUT ROWID;

-- CDC overflow buffer: per-sink FIFO of undeliverable events (Redis: miroir:cdc:overflow:<sink>).
CREATE TABLE cdc_overflow (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sink_name  TEXT NOT NULL,
    payload    BLOB NOT NULL
);
CREATE INDEX cdc_overflow_sink_seq ON cdc_overflow (sink_name, seq);
-- Running totals per sink, kept in the same transaction as every push and pop.
CREATE TABLE cdc_overflow_totals (
    sink_name  TEXT PRIMARY KEY,
    events     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL
) WITHOUT ROWID;

-- 11. tenant_map: sha256(API key) -> tenant and optional replica group.
CREATE TABLE tenant_map (
    api_key_hash  BLOB PRIMARY KEY,  -- 32 bytes
    tenant_id     TEXT NOT NULL,
    group_id      INTEGER            -- NULL: hash(tenant_id) % groups
);

-- 12. rollover_policies: ILM rollover policies.
CREATE TABLE rollover_policies (
    name            TEXT PRIMARY KEY,
    write_alias     TEXT NOT NULL,
    read_alias      TEXT NOT NULL,
    pattern         TEXT NOT NULL,
    triggers_json   TEXT NOT NULL,
    retention_json  TEXT NOT NULL,
    template_json   TEXT NOT NULL,
    enabled         INTEGER NOT NULL    -- 0 | 1
);

-- 13. search_ui_config: per-index search-UI configuration.
CREATE TABLE search_ui_config (
    index_uid    TEXT PRIMARY KEY,
    config_json  TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Scoped-key rotation state per index (Redis: miroir:search_ui_scoped_key:<index>).
CREATE TABLE search_ui_scoped_keys (
    index_uid     TEXT PRIMARY KEY,
    primary_uid   TEXT NOT NULL,
    previous_uid  TEXT,
    rotated_at    INTEGER NOT NULL,
    generation    INTEGER NOT NULL    -- 1 after the first rotation
);

-- Which generation each pod last used (Redis: miroir:search_ui_scoped_key_observed:<pod>:<index>).
CREATE TABLE search_ui_scoped_key_observations (
    pod_id       TEXT NOT NULL,
    index_uid    TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    observed_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (pod_id, index_uid)
);
CREATE INDEX search_ui_scoped_key_observations_expires_at
    ON search_ui_scoped_key_observations (expires_at);

-- 14. admin_sessions: admin UI sessions; `revoked` rows stay until they expire.
CREATE TABLE admin_sessions (
    session_id      TEXT PRIMARY KEY,
    csrf_token      TEXT NOT NULL,
    admin_key_hash  BLOB NOT NULL,      -- 32 bytes: sha256 of the admin key used at login
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked         INTEGER NOT NULL DEFAULT 0,
    user_agent      TEXT,
    source_ip       TEXT
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Fixed-window rate-limit counters (Redis: miroir:ratelimit:<bucket>:<key>).
CREATE TABLE rate_limits (
    bucket      TEXT NOT NULL,       -- adminlogin | searchui
    key         TEXT NOT NULL,       -- source IP
    count       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,    -- end of the window
    PRIMARY KEY (bucket, key)
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- Admin-login backoff per source (Redis: miroir:ratelimit:adminlogin:backoff:<ip>).
CREATE TABLE login_backoff (
    source           TEXT PRIMARY KEY,
    failed_count     INTEGER NOT NULL,
    next_allowed_at  INTEGER,          -- NULL below the backoff threshold
    expires_at       INTEGER NOT NULL  -- the backoff cap after the last failure
);
CREATE INDEX login_backoff_expires_at ON login_backoff (expires_at);

-- "MIRR": marks the file as a Miroir store (checked on open).
PRAGMA application_id = 1296650834;
