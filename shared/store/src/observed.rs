//! [`ObservedStore`]: a decorator that times every store operation and reports it to a
//! [`StoreObserver`], so callers can export store latencies (for example as Prometheus metrics)
//! without this crate depending on a metrics library.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{
    AdminSession, AdminSessionStore, Alias, AliasStore, AliasTarget, ApiKeyPage, ApiKeyRecord,
    ApiKeyStore, Backend, BackoffPolicy, Canary, CanaryRun, CanaryStore, CdcCursor,
    CdcOverflowStats, CdcStore, CopyPage, CopyRow, CopyStore, CopyTable, DynStore, Fence,
    IdempotencyInsert, IdempotencyRecord, IdempotencyStore, IndexRecord, IndexStore, Job, JobClaim,
    JobKind, JobPage, JobQuery, JobStore, Lease, LeaseStore, LoginBackoff, MaintenanceStore,
    MigrationReport, NewJob, NewTask, NodeSettingsStore, NodeSettingsVersion, PruneReport,
    RateLimitBucket, RateLimitHit, RateLimitStore, RevocationStream, RolloverPolicy, RolloverStore,
    SchemaStore, ScopedKeyObservation, ScopedKeyState, SearchUiConfig, SearchUiStore, Session,
    SessionStore, Store, StoreError, StoreResult, Task, TaskPage, TaskQuery, TaskStore, TaskUid,
    TaskUpdate, TenantMapping, TenantStore, Timestamp,
};

/// How an observed store operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The operation returned `Ok` (including `Ok(None)`, `Ok(false)` and the like).
    Ok,
    /// The operation returned a [`StoreError`]; the string is the variant's name in snake_case
    /// (`"not_found"`, `"conflict"`, `"unavailable"`, …), one fixed name per variant.
    Err(&'static str),
}

impl Outcome {
    /// The outcome of `result`.
    pub fn of<T>(result: &StoreResult<T>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(error) => Self::Err(error_kind(error)),
        }
    }

    /// `"ok"`, or the error's snake_case variant name: a small, fixed set of values, suitable as
    /// a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Err(kind) => kind,
        }
    }
}

/// The snake_case name of an error's variant (exhaustive: a new variant must be named here).
const fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::InvalidUrl { .. } => "invalid_url",
        StoreError::NotFound(_) => "not_found",
        StoreError::Conflict(_) => "conflict",
        StoreError::InvalidInput(_) => "invalid_input",
        StoreError::Fenced { .. } => "fenced",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::SchemaAhead { .. } => "schema_ahead",
        StoreError::SchemaBehind { .. } => "schema_behind",
        StoreError::NotAMiroirStore(_) => "not_a_miroir_store",
        StoreError::Corrupt { .. } => "corrupt",
        StoreError::Backend(_) => "backend",
    }
}

/// Receives one report per completed store operation of an [`ObservedStore`].
///
/// `observe` is called inline, on the caller's task, after the operation finished and before its
/// result is handed back: it must be cheap and must not block (record into a histogram, not a
/// network call).
pub trait StoreObserver: Send + Sync + std::fmt::Debug {
    /// One operation finished: `operation` is the trait method's name (`"get_task"`,
    /// `"list_tasks"`, …, one of [`ObservedStore::OPERATIONS`]), `elapsed` the wall-clock time
    /// from the call until the backend answered, `outcome` whether it succeeded.
    fn observe(&self, operation: &'static str, elapsed: Duration, outcome: Outcome);

    /// One operation failed with `error`, reported right after [`StoreObserver::observe`], so
    /// an observer can log it with the operation's name. Default: nothing.
    fn failed(&self, operation: &'static str, error: &StoreError) {
        let _ = (operation, error);
    }
}

/// A [`Store`] that delegates every operation to an inner store and reports each call's
/// duration and outcome to a [`StoreObserver`].
///
/// Results are passed through unchanged: an observed store behaves exactly like its inner store
/// (the conformance suite runs against one). Every async operation of every table trait is
/// reported exactly once when it completes; a call whose future is dropped before completing
/// (cancelled) is not reported. [`Store::backend`] is not reported, and for
/// [`AdminSessionStore::subscribe_admin_session_revocations`] only the subscription itself is
/// timed, not the stream it returns.
#[derive(Clone, Debug)]
pub struct ObservedStore {
    inner: DynStore,
    observer: Arc<dyn StoreObserver>,
}

impl ObservedStore {
    /// Wraps `inner`, reporting its operations to `observer`.
    pub fn new(inner: DynStore, observer: Arc<dyn StoreObserver>) -> Self {
        Self { inner, observer }
    }

    /// [`ObservedStore::new`], as a shared handle usable wherever a [`DynStore`] is.
    pub fn wrap(inner: DynStore, observer: Arc<dyn StoreObserver>) -> DynStore {
        Arc::new(Self::new(inner, observer))
    }
}

/// Runs `call` and reports its duration and outcome to `observer` once it completes.
async fn timed<T>(
    observer: &dyn StoreObserver,
    operation: &'static str,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    observer.observe(operation, started.elapsed(), Outcome::of(&result));
    if let Err(error) = &result {
        observer.failed(operation, error);
    }
    result
}

/// Implements each listed table trait for [`ObservedStore`] from its method signatures: every
/// method delegates to the inner store through [`timed`], named after itself. Also defines
/// [`ObservedStore::OPERATIONS`] from the same list, so the names cannot drift.
macro_rules! observed_traits {
    ($(
        $table:ident {
            $( async fn $method:ident(&self $(, $arg:ident: $arg_type:ty)* $(,)?) -> $output:ty; )+
        }
    )+) => {
        impl ObservedStore {
            /// The name of every operation an observer can be told about: each async method of
            /// each table trait, by table then declaration order, without duplicates.
            pub const OPERATIONS: &'static [&'static str] = &[$($(stringify!($method),)+)+];
        }

        $(
            #[async_trait]
            impl $table for ObservedStore {
                $(
                    async fn $method(&self $(, $arg: $arg_type)*) -> $output {
                        timed(&*self.observer, stringify!($method), self.inner.$method($($arg),*))
                            .await
                    }
                )+
            }
        )+
    };
}

observed_traits! {
    SchemaStore {
        async fn schema_version(&self) -> StoreResult<u32>;
        async fn migrate(&self) -> StoreResult<MigrationReport>;
    }
    TaskStore {
        async fn create_task(&self, task: NewTask) -> StoreResult<Task>;
        async fn get_task(&self, uid: TaskUid) -> StoreResult<Option<Task>>;
        async fn update_task(&self, uid: TaskUid, update: TaskUpdate) -> StoreResult<Task>;
        async fn update_task_if(
            &self,
            uid: TaskUid,
            seen: &Task,
            update: TaskUpdate,
        ) -> StoreResult<Task>;
        async fn list_tasks(&self, query: &TaskQuery) -> StoreResult<TaskPage>;
        async fn delete_task(&self, uid: TaskUid) -> StoreResult<bool>;
        async fn count_tasks(&self) -> StoreResult<u64>;
        async fn prune_tasks(
            &self,
            enqueued_before: Timestamp,
            batch: u32,
            fence: Option<&Fence>,
        ) -> StoreResult<u64>;
    }
    NodeSettingsStore {
        async fn record_node_settings_version(
            &self,
            row: NodeSettingsVersion,
        ) -> StoreResult<NodeSettingsVersion>;
        async fn get_node_settings_version(
            &self,
            index_uid: &str,
            node_id: &str,
        ) -> StoreResult<Option<NodeSettingsVersion>>;
        async fn list_node_settings_versions(
            &self,
            index_uid: &str,
        ) -> StoreResult<Vec<NodeSettingsVersion>>;
        async fn delete_node_settings_versions(&self, index_uid: &str) -> StoreResult<u64>;
    }
    AliasStore {
        async fn create_alias(
            &self,
            name: &str,
            target: AliasTarget,
            now: Timestamp,
        ) -> StoreResult<Alias>;
        async fn get_alias(&self, name: &str) -> StoreResult<Option<Alias>>;
        async fn list_aliases(&self) -> StoreResult<Vec<Alias>>;
        async fn flip_alias(
            &self,
            name: &str,
            expected_version: u64,
            target: AliasTarget,
            history_retention: usize,
            now: Timestamp,
        ) -> StoreResult<Alias>;
        async fn delete_alias(&self, name: &str) -> StoreResult<bool>;
    }
    SessionStore {
        async fn put_session(&self, session: Session) -> StoreResult<()>;
        async fn get_session(&self, session_id: &str) -> StoreResult<Option<Session>>;
        async fn delete_session(&self, session_id: &str) -> StoreResult<bool>;
    }
    IdempotencyStore {
        async fn insert_idempotency_if_absent(
            &self,
            record: IdempotencyRecord,
        ) -> StoreResult<IdempotencyInsert>;
        async fn get_idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    }
    JobStore {
        async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job>;
        async fn get_job(&self, id: &str) -> StoreResult<Option<Job>>;
        async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage>;
        async fn claim_next_job(&self, worker: &str, lease: Duration) -> StoreResult<Option<Job>>;
        async fn heartbeat_job(
            &self,
            claim: &JobClaim,
            lease: Duration,
            progress: Option<serde_json::Value>,
        ) -> StoreResult<Job>;
        async fn complete_job(
            &self,
            claim: &JobClaim,
            progress: Option<serde_json::Value>,
        ) -> StoreResult<Job>;
        async fn fail_job(
            &self,
            claim: &JobClaim,
            error: &str,
            retry_after: Duration,
        ) -> StoreResult<Job>;
        async fn reclaim_expired_jobs(&self, batch: u32) -> StoreResult<Vec<String>>;
        async fn retry_job(&self, id: &str) -> StoreResult<Job>;
        async fn job_queue_depth(&self) -> StoreResult<BTreeMap<JobKind, u64>>;
    }
    LeaseStore {
        async fn acquire_lease(
            &self,
            scope: &str,
            holder: &str,
            ttl: Duration,
        ) -> StoreResult<Option<Lease>>;
        async fn renew_lease(
            &self,
            scope: &str,
            holder: &str,
            token: u64,
            ttl: Duration,
        ) -> StoreResult<Lease>;
        async fn release_lease(&self, scope: &str, holder: &str, token: u64) -> StoreResult<bool>;
        async fn get_lease(&self, scope: &str) -> StoreResult<Option<Lease>>;
        async fn list_leases(&self) -> StoreResult<Vec<Lease>>;
        async fn check_fencing_token(&self, scope: &str, token: u64) -> StoreResult<()>;
    }
    CanaryStore {
        async fn upsert_canary(&self, canary: Canary) -> StoreResult<()>;
        async fn get_canary(&self, id: &str) -> StoreResult<Option<Canary>>;
        async fn list_canaries(&self) -> StoreResult<Vec<Canary>>;
        async fn delete_canary(&self, id: &str) -> StoreResult<bool>;
        async fn record_canary_run(&self, run: CanaryRun, keep: usize) -> StoreResult<()>;
        async fn list_canary_runs(
            &self,
            canary_id: &str,
            limit: usize,
        ) -> StoreResult<Vec<CanaryRun>>;
    }
    CdcStore {
        async fn get_cdc_cursor(
            &self,
            sink_name: &str,
            index_uid: &str,
        ) -> StoreResult<Option<CdcCursor>>;
        async fn advance_cdc_cursor(
            &self,
            sink_name: &str,
            index_uid: &str,
            expected: Option<u64>,
            new_seq: u64,
            now: Timestamp,
        ) -> StoreResult<CdcCursor>;
        async fn list_cdc_cursors(&self, sink_name: &str) -> StoreResult<Vec<CdcCursor>>;
        async fn list_all_cdc_cursors(&self) -> StoreResult<Vec<CdcCursor>>;
        async fn push_cdc_overflow(
            &self,
            sink_name: &str,
            events: Vec<Vec<u8>>,
            max_bytes: u64,
        ) -> StoreResult<bool>;
        async fn pop_cdc_overflow(&self, sink_name: &str, max: usize) -> StoreResult<Vec<Vec<u8>>>;
        async fn cdc_overflow_stats(&self, sink_name: &str) -> StoreResult<CdcOverflowStats>;
    }
    TenantStore {
        async fn put_tenant(&self, mapping: TenantMapping) -> StoreResult<Option<TenantMapping>>;
        async fn get_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<Option<TenantMapping>>;
        async fn get_tenant_by_id(&self, tenant_id: &str) -> StoreResult<Option<TenantMapping>>;
        async fn delete_tenant(&self, api_key_hash: &[u8; 32]) -> StoreResult<bool>;
        async fn delete_tenant_by_id(&self, tenant_id: &str) -> StoreResult<bool>;
    }
    IndexStore {
        async fn get_index(&self, uid: &str) -> StoreResult<Option<IndexRecord>>;
        async fn put_index(
            &self,
            record: IndexRecord,
            expected_version: u64,
        ) -> StoreResult<IndexRecord>;
        async fn delete_index(&self, uid: &str, expected_version: u64) -> StoreResult<bool>;
        async fn list_indexes(
            &self,
            after: Option<&str>,
            limit: usize,
        ) -> StoreResult<Vec<IndexRecord>>;
    }
    ApiKeyStore {
        async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;
        async fn put_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;
        async fn get_api_key(&self, uid: &str) -> StoreResult<Option<ApiKeyRecord>>;
        async fn list_api_keys(&self, offset: u64, limit: u64) -> StoreResult<ApiKeyPage>;
        async fn delete_api_key(&self, uid: &str) -> StoreResult<bool>;
    }
    RolloverStore {
        async fn upsert_rollover_policy(&self, policy: RolloverPolicy) -> StoreResult<()>;
        async fn get_rollover_policy(&self, name: &str) -> StoreResult<Option<RolloverPolicy>>;
        async fn list_rollover_policies(&self) -> StoreResult<Vec<RolloverPolicy>>;
        async fn delete_rollover_policy(&self, name: &str) -> StoreResult<bool>;
    }
    SearchUiStore {
        async fn put_search_ui_config(&self, config: SearchUiConfig) -> StoreResult<()>;
        async fn get_search_ui_config(
            &self,
            index_uid: &str,
        ) -> StoreResult<Option<SearchUiConfig>>;
        async fn list_search_ui_configs(&self) -> StoreResult<Vec<SearchUiConfig>>;
        async fn delete_search_ui_config(&self, index_uid: &str) -> StoreResult<bool>;
        async fn get_scoped_key(&self, index_uid: &str) -> StoreResult<Option<ScopedKeyState>>;
        async fn rotate_scoped_key(
            &self,
            index_uid: &str,
            expected_generation: u64,
            new_primary_uid: &str,
            now: Timestamp,
        ) -> StoreResult<ScopedKeyState>;
        async fn record_scoped_key_observation(
            &self,
            observation: ScopedKeyObservation,
            ttl: Duration,
        ) -> StoreResult<()>;
        async fn get_scoped_key_observation(
            &self,
            pod_id: &str,
            index_uid: &str,
        ) -> StoreResult<Option<ScopedKeyObservation>>;
    }
    AdminSessionStore {
        async fn create_admin_session(&self, session: AdminSession) -> StoreResult<()>;
        async fn get_admin_session(&self, session_id: &str) -> StoreResult<Option<AdminSession>>;
        async fn revoke_admin_session(&self, session_id: &str) -> StoreResult<bool>;
        async fn subscribe_admin_session_revocations(&self) -> StoreResult<RevocationStream>;
    }
    RateLimitStore {
        async fn hit_rate_limit(
            &self,
            bucket: RateLimitBucket,
            key: &str,
            window: Duration,
        ) -> StoreResult<RateLimitHit>;
        async fn get_login_backoff(&self, source: &str) -> StoreResult<Option<LoginBackoff>>;
        async fn record_login_failure(
            &self,
            source: &str,
            policy: BackoffPolicy,
        ) -> StoreResult<LoginBackoff>;
        async fn record_login_success(&self, source: &str) -> StoreResult<()>;
    }
    MaintenanceStore {
        async fn prune_expired(&self, batch: u32) -> StoreResult<PruneReport>;
    }
    CopyStore {
        async fn export_rows(
            &self,
            table: CopyTable,
            cursor: Option<&str>,
            limit: usize,
        ) -> StoreResult<CopyPage>;
        async fn import_rows(&self, rows: &[CopyRow]) -> StoreResult<()>;
        async fn task_sequence(&self) -> StoreResult<TaskUid>;
        async fn raise_task_sequence(&self, last_uid: TaskUid) -> StoreResult<()>;
        async fn job_claim_sequence(&self) -> StoreResult<u64>;
        async fn raise_job_claim_sequence(&self, last_token: u64) -> StoreResult<()>;
        async fn clear_all_rows(&self) -> StoreResult<()>;
    }
}

impl Store for ObservedStore {
    /// The inner store's backend (not reported to the observer).
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
}
