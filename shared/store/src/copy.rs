//! Copying a whole store to another (`miroir-migrate copy`): every table is exported page by
//! page in a backend-neutral form ([`CopyRow`]) and imported as is into the target, keeping task
//! uids and the uid sequence, versions (of aliases and index records), fencing tokens, enqueue
//! order, job claim tokens and their sequence, expiry times and API key uids (a client's key is
//! derived from its uid).
//!
//! A copy is meant to run with every writer stopped (see the cut-over procedure in the
//! `miroir-migrate` crate docs and the README): rows written during an export may or may not be
//! part of it.
//! [`CopyDigest`] turns the rows of a table into a count and an order-independent checksum, so
//! the source and the target can be compared after the copy whatever order each backend exports
//! in.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreResult;
use crate::{
    AdminSession, Alias, ApiKeyRecord, Canary, CanaryRun, CdcCursor, IdempotencyRecord,
    IndexRecord, Job, NodeSettingsVersion, RateLimitBucket, RolloverPolicy, ScopedKeyObservation,
    ScopedKeyState, SearchUiConfig, Session, Task, TaskUid, TenantMapping, Timestamp,
};

/// The tables a copy walks, in copy order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CopyTable {
    /// Tasks ([`CopyRow::Task`]).
    Tasks,
    /// Node settings versions ([`CopyRow::NodeSettings`]).
    NodeSettings,
    /// Aliases with their history ([`CopyRow::Alias`]).
    Aliases,
    /// Read-your-writes sessions ([`CopyRow::Session`]).
    Sessions,
    /// Idempotency records ([`CopyRow::Idempotency`]).
    Idempotency,
    /// Background jobs with their enqueue sequence ([`CopyRow::Job`]).
    Jobs,
    /// Fencing tokens and held leases ([`CopyRow::Lease`]).
    Leases,
    /// Canary definitions ([`CopyRow::Canary`]).
    Canaries,
    /// Canary run history ([`CopyRow::CanaryRun`]).
    CanaryRuns,
    /// CDC cursors ([`CopyRow::CdcCursor`]).
    CdcCursors,
    /// CDC overflow buffers, one row per sink ([`CopyRow::CdcOverflow`]).
    CdcOverflow,
    /// Tenant key mappings ([`CopyRow::Tenant`]).
    Tenants,
    /// Rollover policies ([`CopyRow::RolloverPolicy`]).
    RolloverPolicies,
    /// Search-UI configurations ([`CopyRow::SearchUiConfig`]).
    SearchUiConfigs,
    /// Scoped-key rotation states ([`CopyRow::ScopedKey`]).
    ScopedKeys,
    /// Scoped-key observations of pods ([`CopyRow::ScopedKeyObservation`]).
    ScopedKeyObservations,
    /// Admin sessions ([`CopyRow::AdminSession`]).
    AdminSessions,
    /// Fixed-window rate-limit counters ([`CopyRow::RateLimit`]).
    RateLimits,
    /// Admin-login backoff states ([`CopyRow::LoginBackoff`]).
    LoginBackoffs,
    /// Per-index state records, tombstones included ([`CopyRow::Index`]).
    Indexes,
    /// API keys, expired ones included ([`CopyRow::ApiKey`]).
    ApiKeys,
}

impl CopyTable {
    /// Every table, in copy order.
    pub const ALL: &'static [CopyTable] = &[
        CopyTable::Tasks,
        CopyTable::NodeSettings,
        CopyTable::Aliases,
        CopyTable::Sessions,
        CopyTable::Idempotency,
        CopyTable::Jobs,
        CopyTable::Leases,
        CopyTable::Canaries,
        CopyTable::CanaryRuns,
        CopyTable::CdcCursors,
        CopyTable::CdcOverflow,
        CopyTable::Tenants,
        CopyTable::RolloverPolicies,
        CopyTable::SearchUiConfigs,
        CopyTable::ScopedKeys,
        CopyTable::ScopedKeyObservations,
        CopyTable::AdminSessions,
        CopyTable::RateLimits,
        CopyTable::LoginBackoffs,
        CopyTable::Indexes,
        CopyTable::ApiKeys,
    ];

    /// A short snake_case name, for progress and reports.
    pub const fn name(self) -> &'static str {
        match self {
            CopyTable::Tasks => "tasks",
            CopyTable::NodeSettings => "node_settings",
            CopyTable::Aliases => "aliases",
            CopyTable::Sessions => "sessions",
            CopyTable::Idempotency => "idempotency",
            CopyTable::Jobs => "jobs",
            CopyTable::Leases => "leases",
            CopyTable::Canaries => "canaries",
            CopyTable::CanaryRuns => "canary_runs",
            CopyTable::CdcCursors => "cdc_cursors",
            CopyTable::CdcOverflow => "cdc_overflow",
            CopyTable::Tenants => "tenants",
            CopyTable::RolloverPolicies => "rollover_policies",
            CopyTable::SearchUiConfigs => "search_ui_configs",
            CopyTable::ScopedKeys => "scoped_keys",
            CopyTable::ScopedKeyObservations => "scoped_key_observations",
            CopyTable::AdminSessions => "admin_sessions",
            CopyTable::RateLimits => "rate_limits",
            CopyTable::LoginBackoffs => "login_backoffs",
            CopyTable::Indexes => "indexes",
            CopyTable::ApiKeys => "api_keys",
        }
    }
}

impl std::fmt::Display for CopyTable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A job with its enqueue sequence number (FIFO order among jobs ready at the same time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Enqueue sequence number, unique and increasing in enqueue order.
    pub seq: u64,
    /// The job.
    pub job: Job,
}

/// The lease state of one scope: its newest fencing token, and the lease itself while held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The lease scope.
    pub scope: String,
    /// The newest fencing token issued for the scope (kept after release and expiry).
    pub token: u64,
    /// The holder and end of the lease while it is held and not expired, else `None`.
    pub held: Option<HeldLease>,
}

/// Who holds a lease and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldLease {
    /// The holder.
    pub holder: String,
    /// When the lease expires.
    pub expires_at: Timestamp,
}

/// The overflow buffer of one CDC sink: its events, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdcOverflowBuffer {
    /// The sink.
    pub sink_name: String,
    /// Buffered events, oldest first (never empty in an export).
    pub events: Vec<Vec<u8>>,
}

/// A scoped-key observation with the time it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationRecord {
    /// The observation.
    pub observation: ScopedKeyObservation,
    /// When the observation expires.
    pub expires_at: Timestamp,
}

/// One fixed-window rate-limit counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitCounter {
    /// The bucket.
    pub bucket: RateLimitBucket,
    /// The source (client IP).
    pub source: String,
    /// Hits in the current window.
    pub count: u64,
    /// End of the window, when the counter disappears.
    pub expires_at: Timestamp,
}

/// The admin-login backoff state of one source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginBackoffRecord {
    /// The source (client IP).
    pub source: String,
    /// Consecutive failed logins.
    pub failed_count: u32,
    /// Earliest time of the next allowed attempt, when backing off.
    pub next_allowed_at: Option<Timestamp>,
    /// When the state is forgotten.
    pub expires_at: Timestamp,
}

/// One row of any table, as a copy moves it. The variant says the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "table", content = "row", rename_all = "snake_case")]
pub enum CopyRow {
    /// [`CopyTable::Tasks`]: every field, uid included.
    Task(Task),
    /// [`CopyTable::NodeSettings`].
    NodeSettings(NodeSettingsVersion),
    /// [`CopyTable::Aliases`]: version and history included.
    Alias(Alias),
    /// [`CopyTable::Sessions`].
    Session(Session),
    /// [`CopyTable::Idempotency`].
    Idempotency(IdempotencyRecord),
    /// [`CopyTable::Jobs`].
    Job(JobRecord),
    /// [`CopyTable::Leases`].
    Lease(LeaseRecord),
    /// [`CopyTable::Canaries`].
    Canary(Canary),
    /// [`CopyTable::CanaryRuns`].
    CanaryRun(CanaryRun),
    /// [`CopyTable::CdcCursors`].
    CdcCursor(CdcCursor),
    /// [`CopyTable::CdcOverflow`].
    CdcOverflow(CdcOverflowBuffer),
    /// [`CopyTable::Tenants`].
    Tenant(TenantMapping),
    /// [`CopyTable::RolloverPolicies`].
    RolloverPolicy(RolloverPolicy),
    /// [`CopyTable::SearchUiConfigs`].
    SearchUiConfig(SearchUiConfig),
    /// [`CopyTable::ScopedKeys`].
    ScopedKey(ScopedKeyState),
    /// [`CopyTable::ScopedKeyObservations`].
    ScopedKeyObservation(ObservationRecord),
    /// [`CopyTable::AdminSessions`]: revoked ones included.
    AdminSession(AdminSession),
    /// [`CopyTable::RateLimits`].
    RateLimit(RateLimitCounter),
    /// [`CopyTable::LoginBackoffs`].
    LoginBackoff(LoginBackoffRecord),
    /// [`CopyTable::Indexes`]: version and timestamps included.
    Index(IndexRecord),
    /// [`CopyTable::ApiKeys`]: uid and timestamps included. Its `expires_at` is data, not a row
    /// expiry: an expired key is exported and imported like any other.
    ApiKey(ApiKeyRecord),
}

impl CopyRow {
    /// The table this row belongs to.
    pub fn table(&self) -> CopyTable {
        match self {
            CopyRow::Task(_) => CopyTable::Tasks,
            CopyRow::NodeSettings(_) => CopyTable::NodeSettings,
            CopyRow::Alias(_) => CopyTable::Aliases,
            CopyRow::Session(_) => CopyTable::Sessions,
            CopyRow::Idempotency(_) => CopyTable::Idempotency,
            CopyRow::Job(_) => CopyTable::Jobs,
            CopyRow::Lease(_) => CopyTable::Leases,
            CopyRow::Canary(_) => CopyTable::Canaries,
            CopyRow::CanaryRun(_) => CopyTable::CanaryRuns,
            CopyRow::CdcCursor(_) => CopyTable::CdcCursors,
            CopyRow::CdcOverflow(_) => CopyTable::CdcOverflow,
            CopyRow::Tenant(_) => CopyTable::Tenants,
            CopyRow::RolloverPolicy(_) => CopyTable::RolloverPolicies,
            CopyRow::SearchUiConfig(_) => CopyTable::SearchUiConfigs,
            CopyRow::ScopedKey(_) => CopyTable::ScopedKeys,
            CopyRow::ScopedKeyObservation(_) => CopyTable::ScopedKeyObservations,
            CopyRow::AdminSession(_) => CopyTable::AdminSessions,
            CopyRow::RateLimit(_) => CopyTable::RateLimits,
            CopyRow::LoginBackoff(_) => CopyTable::LoginBackoffs,
            CopyRow::Index(_) => CopyTable::Indexes,
            CopyRow::ApiKey(_) => CopyTable::ApiKeys,
        }
    }

    /// The row's identity within its table (its primary key), as text.
    pub fn key(&self) -> String {
        match self {
            CopyRow::Task(task) => task.uid.to_string(),
            CopyRow::NodeSettings(row) => format!("{}\0{}", row.index_uid, row.node_id),
            CopyRow::Alias(alias) => alias.name.clone(),
            CopyRow::Session(session) => session.session_id.clone(),
            CopyRow::Idempotency(record) => record.key.clone(),
            CopyRow::Job(record) => record.job.id.clone(),
            CopyRow::Lease(record) => record.scope.clone(),
            CopyRow::Canary(canary) => canary.id.clone(),
            CopyRow::CanaryRun(run) => format!("{}\0{}", run.canary_id, run.ran_at.as_millis()),
            CopyRow::CdcCursor(cursor) => format!("{}\0{}", cursor.sink_name, cursor.index_uid),
            CopyRow::CdcOverflow(buffer) => buffer.sink_name.clone(),
            CopyRow::Tenant(mapping) => hex::encode(mapping.api_key_hash),
            CopyRow::RolloverPolicy(policy) => policy.name.clone(),
            CopyRow::SearchUiConfig(config) => config.index_uid.clone(),
            CopyRow::ScopedKey(state) => state.index_uid.clone(),
            CopyRow::ScopedKeyObservation(record) => format!(
                "{}\0{}",
                record.observation.pod_id, record.observation.index_uid
            ),
            CopyRow::AdminSession(session) => session.session_id.clone(),
            CopyRow::RateLimit(counter) => format!("{}\0{}", counter.bucket, counter.source),
            CopyRow::LoginBackoff(record) => record.source.clone(),
            CopyRow::Index(record) => record.uid.clone(),
            CopyRow::ApiKey(key) => key.uid.clone(),
        }
    }

    /// When the row disappears by itself, for tables whose rows expire.
    pub fn expires_at(&self) -> Option<Timestamp> {
        match self {
            CopyRow::Session(session) => Some(session.expires_at),
            CopyRow::Idempotency(record) => Some(record.expires_at),
            CopyRow::ScopedKeyObservation(record) => Some(record.expires_at),
            CopyRow::AdminSession(session) => Some(session.expires_at),
            CopyRow::RateLimit(counter) => Some(counter.expires_at),
            CopyRow::LoginBackoff(record) => Some(record.expires_at),
            // An API key's `expires_at` is data: an expired key stays, is listed and is copied.
            CopyRow::ApiKey(_) => None,
            _ => None,
        }
    }
}

/// One page of an export.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CopyPage {
    /// The rows, all of the exported table.
    pub rows: Vec<CopyRow>,
    /// Where the next page starts, `None` after the last page. Opaque, backend-defined.
    pub next: Option<String>,
}

/// Export and import of whole tables, for copying a store to another backend.
///
/// Both backends pass the same conformance cases (`tests/conformance/copy.rs`): what one
/// exports, the other imports into an identical store (same [`CopyDigest`] per table).
#[async_trait]
pub trait CopyStore {
    /// Up to `limit` rows of `table` from `cursor` (`None`: the start), and where the next page
    /// starts. Rows already expired are left out. Every row present for the whole export is
    /// returned at least once; a backend that walks an unordered keyspace (Redis `SCAN`) may
    /// return a row twice, so callers deduplicate by [`CopyRow::key`] ([`CopyDigest`] does).
    /// The order is the backend's.
    async fn export_rows(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage>;

    /// Writes `rows` as they are, replacing any row with the same key: same uids, versions,
    /// tokens, sequence numbers and expiry times (rows already expired are skipped). Rows of
    /// several tables may come in one call. Importing a task raises the uid sequence to at
    /// least its uid; importing a job raises the job sequence to at least its `seq` and the
    /// claim token sequence to at least its `claim_token`, in the same atomic step.
    async fn import_rows(&self, rows: &[CopyRow]) -> StoreResult<()>;

    /// The last task uid handed out (0 if none ever was): the next task gets a larger uid.
    async fn task_sequence(&self) -> StoreResult<TaskUid>;

    /// Raises the task uid sequence to at least `last_uid` (never lowers it), so uids handed out
    /// after a copy continue the source's sequence even if its newest tasks were pruned.
    async fn raise_task_sequence(&self, last_uid: TaskUid) -> StoreResult<()>;

    /// The last job claim token handed out (0 if none ever was): the next claim gets a larger
    /// token ([`crate::Job::claim_token`]).
    async fn job_claim_sequence(&self) -> StoreResult<u64>;

    /// Raises the job claim token sequence to at least `last_token` (never lowers it), so a
    /// store copied from another never hands out a token the source handed out, even one no
    /// copied job carries any more.
    async fn raise_job_claim_sequence(&self, last_token: u64) -> StoreResult<()>;

    /// Deletes every row of every table (the target of `copy --force`); keeps the schema
    /// version, the task uid sequence and the job claim token sequence (uids and claim tokens
    /// are never reused).
    async fn clear_all_rows(&self) -> StoreResult<()>;
}

/// The count and checksum of a table's rows, independent of the order they come in: the
/// checksum is the wrapping sum of the first 16 bytes of each row's SHA-256 (of its JSON), and a
/// row seen twice (same [`CopyRow::key`]) counts once.
#[derive(Debug, Default)]
pub struct CopyDigest {
    seen: HashSet<u64>,
    count: u64,
    checksum: u128,
}

impl CopyDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `row` unless a row with its key was added before; true if it was new.
    pub fn add(&mut self, row: &CopyRow) -> bool {
        let key = Sha256::digest(row.key().as_bytes());
        let key = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
        if !self.seen.insert(key) {
            return false;
        }
        // Serializing rows of plain data cannot fail.
        let json = serde_json::to_vec(row).unwrap_or_default();
        let hash = Sha256::digest(&json);
        let hash = u128::from_le_bytes(hash[..16].try_into().unwrap_or_default());
        self.count += 1;
        self.checksum = self.checksum.wrapping_add(hash);
        true
    }

    /// Rows added (distinct keys).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The checksum as 32 hex digits.
    pub fn checksum(&self) -> String {
        format!("{:032x}", self.checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(scope: &str, token: u64) -> CopyRow {
        CopyRow::Lease(LeaseRecord {
            scope: scope.to_owned(),
            token,
            held: None,
        })
    }

    #[test]
    fn digests_ignore_order_and_repeats_but_not_content() {
        let mut forward = CopyDigest::new();
        let mut backward = CopyDigest::new();
        for row in [lease("a", 1), lease("b", 2)] {
            assert!(forward.add(&row));
        }
        for row in [lease("b", 2), lease("a", 1), lease("b", 2)] {
            backward.add(&row);
        }
        assert_eq!(forward.count(), 2);
        assert_eq!(backward.count(), 2);
        assert_eq!(forward.checksum(), backward.checksum());
        let mut changed = CopyDigest::new();
        changed.add(&lease("a", 1));
        changed.add(&lease("b", 3));
        assert_ne!(changed.checksum(), forward.checksum());
    }

    #[test]
    fn every_table_is_listed_once() {
        let distinct: HashSet<CopyTable> = CopyTable::ALL.iter().copied().collect();
        assert_eq!(distinct.len(), CopyTable::ALL.len());
        assert_eq!(CopyTable::ALL.len(), 21);
    }
}
