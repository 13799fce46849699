//! The one place Redis key names are built.
//!
//! Every key starts with the store's prefix `P` (`miroir` unless the URL says `?prefix=`). Small
//! tables keep all their keys in one Redis Cluster slot with a hash tag (`{…}`), so each of their
//! scripts touches a single slot; big keyspaces (tasks, sessions, idempotency records, admin
//! sessions, tenants, rate limits) spread over slots.
//!
//! | Key | Type | Contents |
//! |-----|------|----------|
//! | `P:{meta}:schema_version` | string | schema version (absent = 0) |
//! | `P:tasks:<uid>` | hash | one task: `uid kind status node_tasks enqueued_at` and, when set, `index_uid details error canceled_by started_at finished_at` (JSON for `node_tasks`, `details`, `error`) |
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
//! | `P:{jobs}:job:<id>` | hash | one job (`params`, `progress` JSON; `seq` = enqueue order) |
//! | `P:{jobs}:seq` | string | last enqueue sequence number |
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
//! they build from a prefix passed in `ARGV`: job hashes found in the queue or claim set (claim,
//! reclaim, list) and lease hashes found in the lease index (list) stay in their table's slot;
//! task hashes (`P:tasks:<uid>`, the uid allocated by the create script, read back by prune) are
//! outside the `{tasks}` slot, and a tenant's mapping hash and id string (each found through the
//! other by the tenant scripts) are in different slots, so the tasks and tenants keyspaces need a
//! single Redis node (or a cluster-aware redesign); the other tables' scripts each stay within
//! one slot.

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

/// Builds every key of one store prefix.
#[derive(Debug)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
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

    /// `P:tasks:` — the task scripts append the uid.
    pub(super) fn task_prefix(&self) -> String {
        self.key(format_args!("tasks:"))
    }

    pub(super) fn task(&self, uid: TaskUid) -> String {
        self.key(format_args!("tasks:{uid}"))
    }

    pub(super) fn task_seq(&self) -> String {
        self.key(format_args!("{{tasks}}:seq"))
    }

    pub(super) fn task_index_all(&self) -> String {
        self.key(format_args!("{{tasks}}:_index"))
    }

    pub(super) fn tasks_by_status(&self, status: TaskStatus) -> String {
        self.key(format_args!("{{tasks}}:status:{status}"))
    }

    pub(super) fn tasks_by_kind(&self, kind: TaskKind) -> String {
        self.key(format_args!("{{tasks}}:type:{kind}"))
    }

    /// `P:{tasks}:type:` — the prune script appends the type it reads from the task.
    pub(super) fn tasks_by_kind_prefix(&self) -> String {
        self.key(format_args!("{{tasks}}:type:"))
    }

    pub(super) fn tasks_by_index(&self, index_uid: &str) -> String {
        self.key(format_args!("{{tasks}}:index:{index_uid}"))
    }

    /// `P:{tasks}:index:` — the prune script appends the index uid it reads from the task.
    pub(super) fn tasks_by_index_prefix(&self) -> String {
        self.key(format_args!("{{tasks}}:index:"))
    }

    pub(super) fn tasks_enqueued_at(&self) -> String {
        self.key(format_args!("{{tasks}}:enqueued_at"))
    }

    pub(super) fn tasks_started_at(&self) -> String {
        self.key(format_args!("{{tasks}}:started_at"))
    }

    pub(super) fn tasks_finished_at(&self) -> String {
        self.key(format_args!("{{tasks}}:finished_at"))
    }

    pub(super) fn tasks_scratch(&self, number: usize) -> String {
        self.key(format_args!("{{tasks}}:tmp:{number}"))
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
        self.key(format_args!("tenant_map:{}", hex::encode(api_key_hash)))
    }

    /// `P:tenant_map:` — the tenant scripts append the key hash (hex) they read.
    pub(super) fn tenant_prefix(&self) -> String {
        self.key(format_args!("tenant_map:"))
    }

    pub(super) fn tenant_by_id(&self, tenant_id: &str) -> String {
        self.key(format_args!("tenant_by_id:{}", escape(tenant_id)))
    }

    /// `P:tenant_by_id:` — the delete script appends the escaped tenant id it reads.
    pub(super) fn tenant_by_id_prefix(&self) -> String {
        self.key(format_args!("tenant_by_id:"))
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
    fn default_prefix_matches_the_plan() {
        let keys = Keys::new("miroir");
        assert_eq!(
            keys.admin_session_revocations(),
            "miroir:admin_session:revoked"
        );
        assert_eq!(keys.schema_version(), "miroir:{meta}:schema_version");
        assert_eq!(keys.task(7), "miroir:tasks:7");
        assert_eq!(
            keys.tasks_by_status(TaskStatus::Enqueued),
            "miroir:{tasks}:status:enqueued"
        );
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
}
