//! The one place Redis key names are built.
//!
//! Every key starts with the store's prefix `P` (`miroir` unless the URL says `?prefix=`). Small
//! tables keep all their keys in one Redis Cluster slot with a hash tag (`{…}`), so each of their
//! scripts touches a single slot; big keyspaces (tasks, sessions, idempotency records, admin
//! sessions, rate limits) spread over slots. The table is the standalone layout; a Redis Cluster
//! store differs for tasks and tenants (see "On a Redis Cluster" below).
//!
//! | Key | Type | Contents |
//! |-----|------|----------|
//! | `P:{meta}:schema_version` | string | schema version (absent = 0) |
//! | `P:tasks:<uid>` | hash | one task (standalone layout; see the cluster layout below): `uid kind status node_tasks enqueued_at` and, when set, `index_uid details error canceled_by started_at finished_at` (JSON for `node_tasks`, `details`, `error`) |
//! | `P:{tasks}:seq` | string | last uid handed out (`INCR`) |
//! | `P:{tasks}:_index` | zset | every uid, score = uid |
//! | `P:{tasks}:status:<status>` | zset | uids of a status, score = uid |
//! | `P:{tasks}:type:<type>` | zset | uids of a task type, score = uid |
//! | `P:{tasks}:index:<index_uid>` | zset | uids of an index, score = uid |
//! | `P:{tasks}:enqueued_at` | zset | every uid, score = `enqueued_at` ms |
//! | `P:{tasks}:started_at` | zset | uids of started tasks, score = `started_at` ms |
//! | `P:{tasks}:finished_at` | zset | uids of finished tasks, score = `finished_at` ms |
//! | `P:{tasks}:tmp:<n>` | zset | scratch sets of one script run, deleted before it returns |
//! | `P:{node_settings}:<index_uid>` | hash | node id → `"<version> <updated_at>"` |
//! | `P:{aliases}:alias:<name>` | hash | `name kind target version created_at` (`target` JSON) |
//! | `P:{aliases}:history:<name>` | list | history entries (JSON), oldest first |
//! | `P:{aliases}:_index` | set | alias names |
//! | `P:session:<id>` | hash | read-your-writes session, `PEXPIREAT expires_at` |
//! | `P:idemp:<key>` | hash | idempotency record, `PEXPIREAT expires_at` |
//! | `P:{jobs}:job:<id>` | hash | one job: `id kind params state progress attempts max_attempts seq run_after created_at updated_at` and, when set, `claimed_by claim_expires_at claim_token last_error` (`params`, `progress` JSON; `seq` = enqueue order; `claim_token` = token of the current claim) |
//! | `P:{jobs}:seq` | string | last enqueue sequence number |
//! | `P:{jobs}:claim_seq` | string | last claim token handed out (`INCR` by a claim; raised, never lowered, by a copy's import; kept by `clear_all_rows`) |
//! | `P:{jobs}:all` | zset | every job id, score = enqueue seq |
//! | `P:{jobs}:state:<state>` | zset | job ids of a state, score = enqueue seq |
//! | `P:{jobs}:queued` | zset | claimable jobs, score = `run_after` ms, member = `<seq, 20 digits>:<id>` (FIFO among equal scores) |
//! | `P:{jobs}:claims` | zset | in-progress job ids, score = `claim_expires_at` ms |
//! | `P:{jobs}:depth` | hash | job type → queued jobs of that type |
//! | `P:{lease}:held:<scope>` | hash | `holder token expires_at`, `PEXPIRE` ttl |
//! | `P:{lease}:token:<scope>` | string | newest fencing token of the scope (never expires) |
//! | `P:{lease}:_index` | set | scopes acquired and not released since (listing skips and drops those whose lease expired) |
//! | `P:{canaries}:canary:<id>` | hash | canary definition (`query`, `assertions` JSON) |
//! | `P:{canaries}:runs:<id>` | zset | runs as JSON (`failed_assertions` wrapped in a one-element array), score = `ran_at` ms |
//! | `P:{canaries}:_index` | set | canary ids |
//! | `P:cdc:{<sink>}:cursors` | hash | index uid → `"<last_event_seq> <updated_at>"` |
//! | `P:{cdc}:_index` | set | sink names with cursors (added before a sink's first cursor is written) |
//! | `P:cdc:{<sink>}:overflow` | list | buffered events, oldest first |
//! | `P:cdc:{<sink>}:overflow_bytes` | string | total bytes of the buffered events |
//! | `P:tenant_map:<sha256 hex>` | hash | `api_key_hash tenant_id` and optional `group_id` |
//! | `P:tenant_by_id:<tenant_id>` | string | the tenant's one key hash (sha256 hex) |
//! | `P:{rollover}:policy:<name>` | hash | rollover policy (`triggers`, `retention`, `template` JSON) |
//! | `P:{rollover}:_index` | set | policy names |
//! | `P:{search_ui}:config:<index_uid>` | hash | search-UI config (`config` JSON) |
//! | `P:{search_ui}:_index` | set | index uids with a config |
//! | `P:{search_ui}:scoped_key:<index_uid>` | hash | `primary_uid previous_uid rotated_at generation` |
//! | `P:{search_ui}:observed:<pod>:<index_uid>` | hash | `pod_id index_uid generation observed_at`, `PEXPIRE` ttl |
//! | `P:{indexes}:index:<uid>` | hash | index record: `uid physical_uid shards settings_version state version created_at updated_at` and, when set, `primary_key` |
//! | `P:{indexes}:_index` | zset | every recorded index uid, score 0 (listed in byte order with `ZRANGEBYLEX`) |
//! | `P:{api_keys}:key:<uid>` | hash | API key: `uid actions indexes created_at updated_at` and, when set, `name description expires_at` (`actions`, `indexes` JSON; `expires_at` is data, not a key expiry) |
//! | `P:{api_keys}:_index` | zset | every key uid, score = `created_at` ms (`ZRANGE … REV` lists newest first, equal scores by uid descending) |
//! | `P:{api_keys}:defaults` | string | set by schema step 4 once it created the default keys, so a rerun creates none |
//! | `P:admin_session:<id>` | hash | admin session, `PEXPIREAT expires_at` |
//! | `P:admin_session:revoked` | pub/sub channel | ids of revoked admin sessions |
//! | `P:ratelimit:<bucket>:<ip>` | string | fixed-window hit counter, `PEXPIRE` window |
//! | `P:ratelimit:adminlogin:backoff:<ip>` | hash | `failed_count next_allowed_at`, `PEXPIRE` cap |
//!
//! User-supplied segments of untagged keys (session, idempotency and admin session ids, tenant
//! ids, rate limit sources) and segments followed by more of the key (`<sink>`, `<pod>`) are escaped with
//! [`escape`] (`%` → `%25`, `:` → `%3A`, `{` → `%7B`, `}` → `%7D`), so no `:` can make two keys
//! collide and no brace can create or move a hash tag. The last segment of a key whose family
//! already carries its hash tag (`P:{tasks}:index:<index_uid>`, `P:{aliases}:alias:<name>`,
//! `P:{lease}:held:<scope>` …) is stored as given: it cannot collide with another family and
//! cannot move the tag.
//!
//! Scripts declare the keys they touch in `KEYS`, except keys they discover while running, which
//! they build from a prefix passed in `ARGV` and which are always in the slot of the declared
//! keys: job hashes found in the queue or claim set (claim, reclaim, list), lease hashes found in
//! the lease index (list), task hashes and type/index sets of a task read back by prune, delete
//! and a copy's import, the task or job hashes of a page of a copy's export, the index record and
//! API key hashes of a page found in their uid sets (list, a copy's export), and a tenant's
//! mapping hash or id string found through the other (put, delete, a copy's import).
//!
//! # On a Redis Cluster ([`Layout::Cluster`])
//!
//! Every script and every `MULTI` stays in one hash slot, and the big keyspaces spread:
//!
//! - **Tasks** are split into [`CLUSTER_TASK_PARTITIONS`] partitions by `uid mod 16`. Partition
//!   `p` has the hash tag `{tasks~N}` ([`cluster_task_tags`]) and holds, in that slot, the task
//!   hashes `P:{tasks~N}:task:<uid>` and the same index sets as above (`P:{tasks~N}:_index`,
//!   `…:status:<s>`, `…:type:<t>`, `…:index:<i>`, `…:enqueued_at`, `…:started_at`,
//!   `…:finished_at`, `…:tmp:<n>`) over its own tasks, plus `P:{tasks~N}:fence:<scope>`, the
//!   newest fencing token its prune accepted. The uid sequence stays `P:{tasks}:seq`, taken with
//!   `INCR` before the partition's create script. Listing runs the list script on every
//!   partition and merges the pages; counting sums the partitions.
//! - **Tenants** share the tag `{tenants}`: `P:{tenants}:tenant_map:<sha256 hex>` and
//!   `P:{tenants}:tenant_by_id:<tenant_id>` (their scripts read one through the other).
//! - Sessions, idempotency records, admin sessions and rate-limit counters are single-key rows
//!   without a tag, so they spread over all slots by their ids; every other table is one tagged
//!   slot (`{jobs}`, `{lease}`, `{aliases}`, …) as in the table above.
//! - Reads of several rows in different slots (a page of tasks, every CDC sink's cursors) are
//!   concurrent single-key commands instead of one pipeline.

use crate::jobs::JobState;
use crate::rate_limits::RateLimitBucket;
use crate::tasks::{TaskKind, TaskStatus, TaskUid};

/// Escapes a user-supplied key segment so it contains no `:`, `{` or `}` (injective).
pub(super) fn escape(segment: &str) -> String {
    let mut escaped = String::with_capacity(segment.len());
    for character in segment.chars() {
        match character {
            '%' => escaped.push_str("%25"),
            ':' => escaped.push_str("%3A"),
            '{' => escaped.push_str("%7B"),
            '}' => escaped.push_str("%7D"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Reverses [`escape`]: `None` unless `escaped` is one of its outputs (every `%` starts `%25`,
/// `%3A`, `%7B` or `%7D`, and no `:`, `{` or `}` is left unescaped).
pub(super) fn unescape(escaped: &str) -> Option<String> {
    let mut segment = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find(['%', ':', '{', '}']) {
        segment.push_str(&rest[..at]);
        let code = rest.get(at..at + 3)?;
        segment.push(match code {
            "%25" => '%',
            "%3A" => ':',
            "%7B" => '{',
            "%7D" => '}',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    segment.push_str(rest);
    Some(segment)
}

/// Number of task partitions on a Redis Cluster. Their hash tags are chosen so their slots are
/// evenly spaced over the 16 384 slots (see [`cluster_task_tags`]), so a cluster whose masters
/// hold contiguous, equal slot ranges (what `redis-cli --cluster create` assigns) holds an equal
/// share of them: 16 partitions spread within ±20 % of even over up to 3 masters, and over every
/// master up to 16.
pub(super) const CLUSTER_TASK_PARTITIONS: usize = 16;

/// Number of Redis Cluster hash slots.
const SLOTS: u16 = 16_384;

/// Where the keys live: one server, or a Redis Cluster whose atomic operations must each stay in
/// one hash slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// A standalone server (or a primary with replicas): the layout of the table above.
    Standalone,
    /// A Redis Cluster: tasks are spread over [`CLUSTER_TASK_PARTITIONS`] hash tags and the
    /// tenant keys share the `{tenants}` tag.
    Cluster,
}

/// Builds every key of one store prefix.
#[derive(Debug)]
pub(super) struct Keys {
    prefix: String,
    layout: Layout,
    /// One hash tag per task partition (`{tasks}` alone on a standalone server).
    task_tags: Vec<String>,
    /// Inserted before the tenant key families: empty, or `{tenants}:` on a cluster.
    tenant_tag: &'static str,
}

impl Keys {
    pub(super) fn new(prefix: &str, layout: Layout) -> Self {
        let (task_tags, tenant_tag) = match layout {
            Layout::Standalone => (vec!["{tasks}".to_owned()], ""),
            Layout::Cluster => (cluster_task_tags(), "{tenants}:"),
        };
        Self {
            prefix: prefix.to_owned(),
            layout,
            task_tags,
            tenant_tag,
        }
    }

    pub(super) fn layout(&self) -> Layout {
        self.layout
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{rest}", self.prefix)
    }

    pub(super) fn schema_version(&self) -> String {
        self.key(format_args!("{{meta}}:schema_version"))
    }

    // Tasks.

    /// Number of task partitions: 1 on a standalone server, [`CLUSTER_TASK_PARTITIONS`] on a
    /// cluster.
    pub(super) fn task_partitions(&self) -> usize {
        self.task_tags.len()
    }

    /// The partition holding task `uid` (`uid mod` the number of partitions).
    pub(super) fn task_partition_of(&self, uid: TaskUid) -> usize {
        // The remainder is below the partition count, a usize.
        (uid % self.task_tags.len() as u64) as usize
    }

    /// The keys of one task partition.
    pub(super) fn task_space(&self, partition: usize) -> TaskSpace<'_> {
        TaskSpace {
            keys: self,
            tag: &self.task_tags[partition],
        }
    }

    /// Every task partition, in order.
    pub(super) fn task_spaces(&self) -> impl Iterator<Item = TaskSpace<'_>> {
        (0..self.task_partitions()).map(|partition| self.task_space(partition))
    }

    /// The keys of the partition holding task `uid`.
    pub(super) fn task_space_of(&self, uid: TaskUid) -> TaskSpace<'_> {
        self.task_space(self.task_partition_of(uid))
    }

    /// The hash of task `uid`.
    pub(super) fn task(&self, uid: TaskUid) -> String {
        self.task_space_of(uid).task(uid)
    }

    /// `P:{tasks}:seq`, the last uid handed out (`INCR`), for every partition.
    pub(super) fn task_seq(&self) -> String {
        self.key(format_args!("{{tasks}}:seq"))
    }

    // Node settings.

    pub(super) fn node_settings(&self, index_uid: &str) -> String {
        self.key(format_args!("{{node_settings}}:{index_uid}"))
    }

    // Aliases.

    pub(super) fn alias(&self, name: &str) -> String {
        self.key(format_args!("{{aliases}}:alias:{name}"))
    }

    pub(super) fn alias_history(&self, name: &str) -> String {
        self.key(format_args!("{{aliases}}:history:{name}"))
    }

    pub(super) fn alias_index(&self) -> String {
        self.key(format_args!("{{aliases}}:_index"))
    }

    // Index records.

    /// `P:{indexes}:index:<uid>`, the hash of one index record.
    pub(super) fn index_record(&self, uid: &str) -> String {
        self.key(format_args!("{{indexes}}:index:{uid}"))
    }

    /// `P:{indexes}:index:` — the list script appends the uids it reads from the uid set.
    pub(super) fn index_record_prefix(&self) -> String {
        self.key(format_args!("{{indexes}}:index:"))
    }

    /// `P:{indexes}:_index`, every recorded uid with score 0, so `ZRANGEBYLEX` lists them in
    /// byte order.
    pub(super) fn index_record_uids(&self) -> String {
        self.key(format_args!("{{indexes}}:_index"))
    }

    // API keys.

    /// `P:{api_keys}:key:<uid>`, the hash of one API key.
    pub(super) fn api_key(&self, uid: &str) -> String {
        self.key(format_args!("{{api_keys}}:key:{uid}"))
    }

    /// `P:{api_keys}:key:` — the list script appends the uids it reads from the uid set.
    pub(super) fn api_key_prefix(&self) -> String {
        self.key(format_args!("{{api_keys}}:key:"))
    }

    /// `P:{api_keys}:_index`, every key uid with score `created_at`: read in reverse rank order
    /// it lists the keys newest first, and equal scores by uid descending (Redis orders equal
    /// scores by member bytes).
    pub(super) fn api_key_uids(&self) -> String {
        self.key(format_args!("{{api_keys}}:_index"))
    }

    /// `P:{api_keys}:defaults`, the mark of schema step 4 having created the default keys.
    pub(super) fn api_key_defaults(&self) -> String {
        self.key(format_args!("{{api_keys}}:defaults"))
    }

    // Expiring rows.

    pub(super) fn session(&self, session_id: &str) -> String {
        self.key(format_args!("session:{}", escape(session_id)))
    }

    pub(super) fn idempotency(&self, key: &str) -> String {
        self.key(format_args!("idemp:{}", escape(key)))
    }

    pub(super) fn admin_session(&self, session_id: &str) -> String {
        self.key(format_args!("admin_session:{}", escape(session_id)))
    }

    pub(super) fn admin_session_revocations(&self) -> String {
        self.key(format_args!("admin_session:revoked"))
    }

    // Jobs.

    pub(super) fn job(&self, id: &str) -> String {
        self.key(format_args!("{{jobs}}:job:{id}"))
    }

    /// `P:{jobs}:job:` — scripts that discover job ids append them.
    pub(super) fn job_prefix(&self) -> String {
        self.key(format_args!("{{jobs}}:job:"))
    }

    pub(super) fn job_seq(&self) -> String {
        self.key(format_args!("{{jobs}}:seq"))
    }

    /// `P:{jobs}:claim_seq` — the last claim token handed out; never lowered.
    pub(super) fn job_claim_seq(&self) -> String {
        self.key(format_args!("{{jobs}}:claim_seq"))
    }

    pub(super) fn jobs_all(&self) -> String {
        self.key(format_args!("{{jobs}}:all"))
    }

    pub(super) fn jobs_by_state(&self, state: JobState) -> String {
        self.key(format_args!("{{jobs}}:state:{state}"))
    }

    pub(super) fn jobs_queued(&self) -> String {
        self.key(format_args!("{{jobs}}:queued"))
    }

    pub(super) fn jobs_claims(&self) -> String {
        self.key(format_args!("{{jobs}}:claims"))
    }

    pub(super) fn jobs_depth(&self) -> String {
        self.key(format_args!("{{jobs}}:depth"))
    }

    // Leases.

    pub(super) fn lease(&self, scope: &str) -> String {
        self.key(format_args!("{{lease}}:held:{scope}"))
    }

    pub(super) fn lease_token(&self, scope: &str) -> String {
        self.key(format_args!("{{lease}}:token:{scope}"))
    }

    /// `P:{lease}:held:` — the list script appends the scopes it reads from the index.
    pub(super) fn lease_prefix(&self) -> String {
        self.key(format_args!("{{lease}}:held:"))
    }

    pub(super) fn lease_index(&self) -> String {
        self.key(format_args!("{{lease}}:_index"))
    }

    // Canaries.

    pub(super) fn canary(&self, id: &str) -> String {
        self.key(format_args!("{{canaries}}:canary:{id}"))
    }

    pub(super) fn canary_runs(&self, id: &str) -> String {
        self.key(format_args!("{{canaries}}:runs:{id}"))
    }

    pub(super) fn canary_index(&self) -> String {
        self.key(format_args!("{{canaries}}:_index"))
    }

    // CDC.

    pub(super) fn cdc_cursors(&self, sink_name: &str) -> String {
        self.key(format_args!("cdc:{{{}}}:cursors", escape(sink_name)))
    }

    pub(super) fn cdc_sinks(&self) -> String {
        self.key(format_args!("{{cdc}}:_index"))
    }

    pub(super) fn cdc_overflow(&self, sink_name: &str) -> String {
        self.key(format_args!("cdc:{{{}}}:overflow", escape(sink_name)))
    }

    pub(super) fn cdc_overflow_bytes(&self, sink_name: &str) -> String {
        self.key(format_args!("cdc:{{{}}}:overflow_bytes", escape(sink_name)))
    }

    // Tenants.

    pub(super) fn tenant(&self, api_key_hash: &[u8; 32]) -> String {
        self.key(format_args!(
            "{}tenant_map:{}",
            self.tenant_tag,
            hex::encode(api_key_hash)
        ))
    }

    /// `P:tenant_map:` — the tenant scripts append the key hash (hex) they read.
    pub(super) fn tenant_prefix(&self) -> String {
        self.key(format_args!("{}tenant_map:", self.tenant_tag))
    }

    pub(super) fn tenant_by_id(&self, tenant_id: &str) -> String {
        self.key(format_args!(
            "{}tenant_by_id:{}",
            self.tenant_tag,
            escape(tenant_id)
        ))
    }

    /// `P:tenant_by_id:` — the delete script appends the escaped tenant id it reads.
    pub(super) fn tenant_by_id_prefix(&self) -> String {
        self.key(format_args!("{}tenant_by_id:", self.tenant_tag))
    }

    // Rollover policies.

    pub(super) fn rollover_policy(&self, name: &str) -> String {
        self.key(format_args!("{{rollover}}:policy:{name}"))
    }

    pub(super) fn rollover_index(&self) -> String {
        self.key(format_args!("{{rollover}}:_index"))
    }

    // Search UI.

    pub(super) fn search_ui_config(&self, index_uid: &str) -> String {
        self.key(format_args!("{{search_ui}}:config:{index_uid}"))
    }

    pub(super) fn search_ui_index(&self) -> String {
        self.key(format_args!("{{search_ui}}:_index"))
    }

    pub(super) fn scoped_key(&self, index_uid: &str) -> String {
        self.key(format_args!("{{search_ui}}:scoped_key:{index_uid}"))
    }

    pub(super) fn scoped_key_observation(&self, pod_id: &str, index_uid: &str) -> String {
        self.key(format_args!(
            "{{search_ui}}:observed:{}:{index_uid}",
            escape(pod_id)
        ))
    }

    // Rate limits.

    pub(super) fn rate_limit(&self, bucket: RateLimitBucket, source: &str) -> String {
        self.key(format_args!("ratelimit:{bucket}:{}", escape(source)))
    }

    pub(super) fn login_backoff(&self, source: &str) -> String {
        self.key(format_args!(
            "ratelimit:adminlogin:backoff:{}",
            escape(source)
        ))
    }

    // Key families walked with `SCAN` by a copy (tables without an index set): the prefix of
    // their keys (append `*` for a `MATCH` pattern) and, where the row's id is only in the key
    // name, the way back from a key to the id.

    /// `P:*`, every key of this store.
    pub(super) fn every_key_pattern(&self) -> String {
        self.key(format_args!("*"))
    }

    /// `P:{node_settings}:` — followed by the index uid as given.
    pub(super) fn node_settings_prefix(&self) -> String {
        self.key(format_args!("{{node_settings}}:"))
    }

    /// `P:session:` — followed by the escaped session id.
    pub(super) fn session_prefix(&self) -> String {
        self.key(format_args!("session:"))
    }

    /// `P:idemp:` — followed by the escaped idempotency key.
    pub(super) fn idempotency_prefix(&self) -> String {
        self.key(format_args!("idemp:"))
    }

    /// `P:admin_session:` — followed by the escaped session id.
    pub(super) fn admin_session_prefix(&self) -> String {
        self.key(format_args!("admin_session:"))
    }

    /// `P:{lease}:token:` — followed by the scope as given.
    pub(super) fn lease_token_prefix(&self) -> String {
        self.key(format_args!("{{lease}}:token:"))
    }

    /// `P:{canaries}:runs:` — followed by the canary id as given.
    pub(super) fn canary_runs_prefix(&self) -> String {
        self.key(format_args!("{{canaries}}:runs:"))
    }

    /// `P:cdc:{*}:overflow`, the `MATCH` pattern of every sink's overflow list (the escaped sink
    /// name has no `}` or `:`, so it never matches an `overflow_bytes` counter or a cursor hash).
    pub(super) fn cdc_overflow_pattern(&self) -> String {
        self.key(format_args!("cdc:{{*}}:overflow"))
    }

    /// The sink of an overflow list key (`P:cdc:{<escaped sink>}:overflow`).
    pub(super) fn cdc_overflow_sink_of(&self, key: &str) -> Option<String> {
        let escaped = key
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":cdc:{")?
            .strip_suffix("}:overflow")?;
        unescape(escaped)
    }

    /// `P:{search_ui}:scoped_key:` — followed by the index uid as given.
    pub(super) fn scoped_key_prefix(&self) -> String {
        self.key(format_args!("{{search_ui}}:scoped_key:"))
    }

    /// `P:{search_ui}:observed:` — followed by the escaped pod id, `:` and the index uid.
    pub(super) fn scoped_key_observation_prefix(&self) -> String {
        self.key(format_args!("{{search_ui}}:observed:"))
    }

    /// `P:ratelimit:` — the counters (`<bucket>:<escaped source>`) and the login backoff hashes
    /// (`adminlogin:backoff:<escaped source>`).
    pub(super) fn rate_limit_prefix(&self) -> String {
        self.key(format_args!("ratelimit:"))
    }

    /// The bucket and source of a rate-limit counter key; `None` for any other key (a login
    /// backoff hash has one more segment).
    pub(super) fn rate_limit_of(&self, key: &str) -> Option<(RateLimitBucket, String)> {
        let rest = key.strip_prefix(self.rate_limit_prefix().as_str())?;
        let (bucket, source) = rest.split_once(':')?;
        if source.contains(':') {
            return None;
        }
        Some((bucket.parse().ok()?, unescape(source)?))
    }

    /// `P:ratelimit:adminlogin:backoff:` — followed by the escaped source.
    pub(super) fn login_backoff_prefix(&self) -> String {
        self.key(format_args!("ratelimit:adminlogin:backoff:"))
    }

    /// The source of a login backoff key.
    pub(super) fn login_backoff_source_of(&self, key: &str) -> Option<String> {
        let escaped = key.strip_prefix(self.login_backoff_prefix().as_str())?;
        (!escaped.contains(':'))
            .then(|| unescape(escaped))
            .flatten()
    }
}

/// The keys of one task partition: its task hashes and the index sets over them, all in the
/// partition's hash slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct TaskSpace<'a> {
    keys: &'a Keys,
    tag: &'a str,
}

impl TaskSpace<'_> {
    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{}:{rest}", self.keys.prefix, self.tag)
    }

    /// The hash key prefix the task scripts append a uid to: `P:tasks:` on a standalone server
    /// (the historical layout), `P:{tasks~N}:task:` in a cluster partition.
    pub(super) fn task_prefix(&self) -> String {
        match self.keys.layout {
            Layout::Standalone => self.keys.key(format_args!("tasks:")),
            Layout::Cluster => self.key(format_args!("task:")),
        }
    }

    pub(super) fn task(&self, uid: TaskUid) -> String {
        format!("{}{uid}", self.task_prefix())
    }

    pub(super) fn index_all(&self) -> String {
        self.key(format_args!("_index"))
    }

    pub(super) fn by_status(&self, status: TaskStatus) -> String {
        self.key(format_args!("status:{status}"))
    }

    pub(super) fn by_kind(&self, kind: TaskKind) -> String {
        self.key(format_args!("type:{kind}"))
    }

    /// `…:type:` — the prune and delete scripts append the type they read from the task.
    pub(super) fn by_kind_prefix(&self) -> String {
        self.key(format_args!("type:"))
    }

    pub(super) fn by_index(&self, index_uid: &str) -> String {
        self.key(format_args!("index:{index_uid}"))
    }

    /// `…:index:` — the prune and delete scripts append the index uid they read from the task.
    pub(super) fn by_index_prefix(&self) -> String {
        self.key(format_args!("index:"))
    }

    pub(super) fn enqueued_at(&self) -> String {
        self.key(format_args!("enqueued_at"))
    }

    pub(super) fn started_at(&self) -> String {
        self.key(format_args!("started_at"))
    }

    pub(super) fn finished_at(&self) -> String {
        self.key(format_args!("finished_at"))
    }

    pub(super) fn scratch(&self, number: usize) -> String {
        self.key(format_args!("tmp:{number}"))
    }

    /// The newest fencing token of `scope` this partition has accepted (cluster only: there the
    /// lease token lives in another slot, so each partition keeps its own high-water mark).
    pub(super) fn fence(&self, scope: &str) -> String {
        self.key(format_args!("fence:{scope}"))
    }
}

/// The hash slot of `key` (CRC16-XMODEM of the key, or of its hash tag, modulo 16 384), as
/// Redis Cluster computes it.
pub(super) fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|byte| *byte == b'{')
        .and_then(|open| {
            let close = bytes[open + 1..].iter().position(|byte| *byte == b'}')?;
            (close > 0).then(|| &bytes[open + 1..open + 1 + close])
        })
        .unwrap_or(bytes);
    crc16_xmodem(hashed) % SLOTS
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

/// The hash tags of the cluster task partitions: partition `p` gets `{tasks~N}` with the
/// smallest `N` whose slot falls in the `p`-th of [`CLUSTER_TASK_PARTITIONS`] equal slot ranges.
/// Deterministic, so every replica and version computes the same tags.
pub(super) fn cluster_task_tags() -> Vec<String> {
    let range = usize::from(SLOTS) / CLUSTER_TASK_PARTITIONS;
    let mut tags: Vec<Option<String>> = vec![None; CLUSTER_TASK_PARTITIONS];
    let mut missing = CLUSTER_TASK_PARTITIONS;
    let mut candidate = 0_u32;
    while missing > 0 {
        let tag = format!("{{tasks~{candidate}}}");
        let partition = usize::from(key_slot(&tag)) / range;
        if tags[partition].is_none() {
            tags[partition] = Some(tag);
            missing -= 1;
        }
        candidate += 1;
    }
    tags.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_injective_and_removes_separators_and_braces() {
        assert_eq!(escape("a:b{c}%"), "a%3Ab%7Bc%7D%25");
        assert_ne!(escape("%3A"), escape(":"));
        assert_eq!(escape("plain-id_1.2"), "plain-id_1.2");
    }

    #[test]
    fn unescaping_reverses_escaping_and_refuses_other_input() {
        for segment in ["", "plain", "a:b{c}%", "%3A", "::", "%%", "é:{}"] {
            assert_eq!(unescape(&escape(segment)).as_deref(), Some(segment));
        }
        for bad in ["%", "%3", "%41", "a:b", "{", "x%7"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn copy_walks_find_ids_back_in_key_names() {
        for layout in [Layout::Standalone, Layout::Cluster] {
            let keys = Keys::new("p-1", layout);
            assert_eq!(
                keys.cdc_overflow_sink_of(&keys.cdc_overflow("s:{x}%")),
                Some("s:{x}%".to_owned())
            );
            assert_eq!(
                keys.cdc_overflow_sink_of(&keys.cdc_overflow_bytes("s")),
                None
            );
            for bucket in [RateLimitBucket::AdminLogin, RateLimitBucket::SearchUi] {
                let key = keys.rate_limit(bucket, "::1");
                assert!(key.starts_with(&keys.rate_limit_prefix()));
                assert_eq!(keys.rate_limit_of(&key), Some((bucket, "::1".to_owned())));
                assert_eq!(keys.login_backoff_source_of(&key), None);
            }
            let backoff = keys.login_backoff("backoff:1");
            assert_eq!(keys.rate_limit_of(&backoff), None);
            assert_eq!(
                keys.login_backoff_source_of(&backoff),
                Some("backoff:1".to_owned())
            );
            // A copy SCANs a tagged family on the master of its prefix's slot only.
            let tenants_tagged = layout == Layout::Cluster;
            for (key, prefix, tagged) in [
                (keys.node_settings("i"), keys.node_settings_prefix(), true),
                (keys.session("s"), keys.session_prefix(), false),
                (keys.idempotency("k"), keys.idempotency_prefix(), false),
                (keys.admin_session("s"), keys.admin_session_prefix(), false),
                (keys.lease_token("l"), keys.lease_token_prefix(), true),
                (keys.canary_runs("c"), keys.canary_runs_prefix(), true),
                (keys.scoped_key("i"), keys.scoped_key_prefix(), true),
                (
                    keys.scoped_key_observation("p", "i"),
                    keys.scoped_key_observation_prefix(),
                    true,
                ),
                (keys.tenant(&[1; 32]), keys.tenant_prefix(), tenants_tagged),
            ] {
                assert!(key.starts_with(&prefix), "{key} / {prefix}");
                if tagged {
                    assert_eq!(key_slot(&key), key_slot(&prefix), "{key}");
                }
            }
            assert_eq!(keys.every_key_pattern(), "p-1:*");
        }
    }

    #[test]
    fn default_prefix_matches_the_plan() {
        let keys = Keys::new("miroir", Layout::Standalone);
        assert_eq!(
            keys.admin_session_revocations(),
            "miroir:admin_session:revoked"
        );
        assert_eq!(keys.schema_version(), "miroir:{meta}:schema_version");
        assert_eq!(keys.task(7), "miroir:tasks:7");
        assert_eq!(
            keys.task_space(0).by_status(TaskStatus::Enqueued),
            "miroir:{tasks}:status:enqueued"
        );
        assert_eq!(keys.tenant_prefix(), "miroir:tenant_map:");
        assert_eq!(keys.index_record("movies"), "miroir:{indexes}:index:movies");
        assert_eq!(keys.index_record_uids(), "miroir:{indexes}:_index");
        assert_eq!(
            keys.api_key("d4c3f873-d0f5-4d35-b40f-2da66002f818"),
            "miroir:{api_keys}:key:d4c3f873-d0f5-4d35-b40f-2da66002f818"
        );
        assert_eq!(keys.api_key_uids(), "miroir:{api_keys}:_index");
        assert_eq!(keys.api_key_defaults(), "miroir:{api_keys}:defaults");
        assert_eq!(
            keys.cdc_overflow("s:{x}"),
            "miroir:cdc:{s%3A%7Bx%7D}:overflow"
        );
        assert_eq!(
            keys.rate_limit(RateLimitBucket::AdminLogin, "::1"),
            "miroir:ratelimit:adminlogin:%3A%3A1"
        );
        assert_ne!(
            keys.rate_limit(RateLimitBucket::AdminLogin, "backoff:1"),
            keys.login_backoff("1")
        );
    }

    #[test]
    fn slots_match_redis() {
        // Values of `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(key_slot("foo"), 12_182);
        assert_eq!(key_slot("hello"), 866);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
    }

    #[test]
    fn cluster_task_partitions_cover_evenly_spaced_slots() {
        let keys = Keys::new("miroir", Layout::Cluster);
        assert_eq!(keys.task_partitions(), CLUSTER_TASK_PARTITIONS);
        let range = SLOTS / CLUSTER_TASK_PARTITIONS as u16;
        for (partition, space) in keys.task_spaces().enumerate() {
            let slot = key_slot(&space.index_all());
            assert_eq!(
                usize::from(slot / range),
                partition,
                "{}",
                space.index_all()
            );
            for key in [
                space.task(17),
                space.by_status(TaskStatus::Failed),
                space.fence("m"),
            ] {
                assert_eq!(key_slot(&key), slot, "{key}");
            }
        }
        assert_eq!(keys.task_partition_of(33), 1);
        assert!(keys.task(33).starts_with("miroir:{tasks~"));
        assert_eq!(
            key_slot(&keys.tenant(&[7; 32])),
            key_slot(&keys.tenant_by_id("t:1"))
        );
        // An index record's scripts touch one slot, whatever the uid.
        for uid in ["movies", "a:b{c}", "é"] {
            assert_eq!(
                key_slot(&keys.index_record(uid)),
                key_slot(&keys.index_record_uids()),
                "{uid}"
            );
        }
        assert!(
            keys.index_record("x")
                .starts_with(&keys.index_record_prefix())
        );
        // Every API key script (and schema step 4) touches one slot, whatever the uid.
        for uid in ["d4c3f873-d0f5-4d35-b40f-2da66002f818", "a:b{c}", "é"] {
            for key in [keys.api_key(uid), keys.api_key_defaults()] {
                assert_eq!(key_slot(&key), key_slot(&keys.api_key_uids()), "{key}");
            }
        }
        assert!(keys.api_key("x").starts_with(&keys.api_key_prefix()));
    }
}
