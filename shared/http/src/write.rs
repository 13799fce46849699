//! Turning a client write into one Miroir task (plan §2 write path, §13.10 idempotency).
//!
//! [`accept_write`] is the one path every write route takes:
//!
//! 1. With an `Idempotency-Key`, a live key for the same request (method, path and query, body)
//!    answers the task it created, without a second fan-out; for a different request, 409
//!    `miroir_idempotency_key_reused`.
//! 2. The task is created (`enqueued`, no node tasks yet) and, with a key, the key is claimed
//!    for it atomically. A request that loses the claim to a concurrent identical one withdraws
//!    its task and answers the winner's, so a retry during the first fan-out never fans out twice.
//! 3. The index's state record is checked ([`Catalog::guard`]): while the index is being
//!    deleted nothing is sent (503 `miroir_index_busy`), which orders every write against a
//!    deletion (see [`miroir_core::catalog`]). Then the fan-out runs; the task records the node
//!    tasks it produced. Both run on a task of their own, so a request dropped meanwhile (client
//!    gone, request time limit) still records what the nodes accepted. The fan-out is given the task's [`TaskMarker`]: every node write it
//!    sends on a route that records one carries it (`customMetadata=miroir-<uid>`), so when
//!    the process dies before the recording, the poller finds the node tasks by it
//!    ([`miroir_core::reconcile`]). A write that had nothing to send (an empty batch) succeeds at
//!    once, its `null` counts 0.
//! 4. Success → 202 with the summarized task, plus `X-Miroir-Degraded` when a group missed its
//!    quorum; with `X-Miroir-Session`, the session records the task and its pinned group
//!    ([`crate::session`]). Failure → the task is recorded `failed` (so nothing unacknowledged looks
//!    successful) and the client gets the nodes' rejection or 503 `miroir_no_quorum`. A replay
//!    of that request with the same key answers the failed task; a new attempt needs a new key.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use miroir_core::catalog::Catalog;
use miroir_core::cluster::{NodeCall, WriteOutcome};
use miroir_core::marker::TaskMarker;
use miroir_core::routing::Shard;
use miroir_core::{ApiError, Code};
use miroir_store::{
    IdempotencyInsert, IdempotencyRecord, IndexRecord, NewTask, Task, TaskError, TaskKind,
    TaskStatus, TaskUid, Timestamp,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::HttpResult;
use crate::session;
use crate::state::AppState;
use crate::timefmt::format_rfc3339;

/// The request header that makes a write idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The response header listing groups and shards that missed their write quorum.
pub const DEGRADED: &str = "x-miroir-degraded";

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 256;

/// A client write about to be fanned out.
#[derive(Clone, Debug)]
pub struct Write {
    /// The index written to (`None` for global tasks).
    pub index_uid: Option<String>,
    /// The Meilisearch task type.
    pub kind: TaskKind,
    /// `details` as known at acceptance (counts the nodes report later are `null`).
    pub details: serde_json::Value,
    /// sha256 of what identifies the request for idempotency: see [`fingerprint`].
    pub fingerprint: [u8; 32],
}

/// sha256 over method, path and query, and body: two requests are "the same" for an
/// `Idempotency-Key` when all three are equal.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path_and_query.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(body);
    hasher.finalize().into()
}

/// Meilisearch's summarized task, the body of a 202.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummarizedTask {
    task_uid: u64,
    index_uid: Option<String>,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    enqueued_at: String,
}

impl From<&Task> for SummarizedTask {
    fn from(task: &Task) -> Self {
        Self {
            task_uid: task.uid,
            index_uid: task.index_uid.clone(),
            status: task.status.as_str(),
            kind: task.kind.as_str(),
            enqueued_at: format_rfc3339(task.enqueued_at),
        }
    }
}

/// 202 with the summarized `task`.
pub fn accepted(task: &Task) -> Response {
    (StatusCode::ACCEPTED, Json(SummarizedTask::from(task))).into_response()
}

/// What a write's fan-out is given, once its task exists.
#[derive(Debug)]
pub struct FanOut {
    /// The task's marker: the fan-out passes every node call through [`TaskMarker::mark`].
    pub marker: TaskMarker,
    /// The task's uid.
    pub task_uid: TaskUid,
    /// The index's state record as [`Catalog::guard`] read it after the task was created
    /// (`None` when there is none, and for creations and deletions, which read it themselves).
    pub record: Option<IndexRecord>,
}

/// Accepts `write`: idempotency, task creation, `fan_out`, task update, response (see the
/// module docs). `fan_out` runs at most once, and only for a request that owns its task, after
/// the index's record was checked ([`Catalog::guard`]: nothing is sent while the index is being
/// deleted); its node calls must pass through [`FanOut::marker`].
pub async fn accept_write<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    write: Write,
    fan_out: F,
) -> HttpResult<Response>
where
    F: FnOnce(FanOut) -> Fut + Send + 'static,
    Fut: Future<Output = Result<WriteOutcome, ApiError>> + Send + 'static,
{
    let key = idempotency_key(state, headers)?;
    if let Some(key) = &key
        && let Some(record) = state.store.get_idempotency(key).await?
    {
        return replay(state, &record, &write).await;
    }
    let task = state
        .store
        .create_task(NewTask {
            index_uid: write.index_uid.clone(),
            kind: write.kind,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: Some(write.details.clone()),
            enqueued_at: Timestamp::now(),
        })
        .await?;
    if let Some(key) = key {
        let record = IdempotencyRecord {
            key,
            body_sha256: write.fingerprint,
            task_uid: task.uid,
            expires_at: Timestamp::now()
                .plus(Duration::from_secs(state.config.idempotency.ttl_seconds)),
        };
        if let IdempotencyInsert::Existing(winner) =
            state.store.insert_idempotency_if_absent(record).await?
        {
            state.store.delete_task(task.uid).await?;
            return replay(state, &winner, &write).await;
        }
    }
    // The fan-out and its recording run on their own task: a client that disconnects (or the
    // request time limit) drops this handler's future, never the recording of what the nodes
    // accepted, so a write the nodes took is not later failed as "nothing was written".
    let enqueued = task.clone();
    let recording = tokio::spawn(fan_out_and_record(state.clone(), task, fan_out));
    let (task, outcome) = recording.await.map_err(|error| {
        tracing::error!(uid = enqueued.uid, %error, "the fan-out of a write panicked");
        ApiError::new(Code::Internal, "internal error")
    })??;
    let session = session::session_id(state, headers);
    if let Some(id) = &session {
        session::record_write(state, id.clone(), &task, &outcome).await?;
    }
    // The summary of the task as accepted (`enqueued`, as Meilisearch answers), even when it
    // finished at once.
    let mut response = accepted(&enqueued);
    if let Some(id) = session.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(session::SESSION_HEADER), id);
    }
    if let Some(degraded) = outcome
        .degraded_header()
        .and_then(|value| HeaderValue::from_str(&value).ok())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static(DEGRADED), degraded);
    }
    Ok(response)
}

/// Runs `fan_out` for `task` and records what it produced: the node tasks (and the task
/// finished at once when nothing had to reach a node), or the task failed with the refusal.
/// Spawned by [`accept_write`] so that it completes even when the request is dropped.
async fn fan_out_and_record<F, Fut>(
    state: AppState,
    task: Task,
    fan_out: F,
) -> HttpResult<(Task, WriteOutcome)>
where
    F: FnOnce(FanOut) -> Fut,
    Fut: Future<Output = Result<WriteOutcome, ApiError>>,
{
    let guarded = match (&task.index_uid, task.kind) {
        (None, _) | (_, TaskKind::IndexCreation | TaskKind::IndexDeletion) => Ok(None),
        (Some(uid), _) => {
            Catalog::new(state.store.as_ref(), &state.cluster)
                .guard(uid)
                .await
        }
    };
    let sent = match guarded {
        Ok(record) => {
            fan_out(FanOut {
                marker: TaskMarker::for_task(task.uid),
                task_uid: task.uid,
                record,
            })
            .await
        }
        Err(error) => Err(error),
    };
    let outcome = match sent {
        Ok(outcome) => outcome,
        Err(error) => {
            fail(&state, &task, &WriteOutcome::default(), &error).await?;
            return Err(error.into());
        }
    };
    if !outcome.succeeded() {
        let error = outcome.failure();
        fail(&state, &task, &outcome, &error).await?;
        return Err(error.into());
    }
    let mut update = task.to_update();
    update.node_tasks = outcome.node_tasks.clone();
    if outcome.node_tasks.is_empty() {
        // Nothing had to reach a node (an empty batch of documents or ids): done now, as
        // Meilisearch finishes an empty addition. Left enqueued, no node task would ever finish
        // it and the poller would fail it as orphaned.
        let now = Timestamp::now();
        update.status = TaskStatus::Succeeded;
        update.started_at = Some(now);
        update.finished_at = Some(now);
        if let Some(serde_json::Value::Object(details)) = &mut update.details {
            for count in details.values_mut().filter(|count| count.is_null()) {
                *count = serde_json::Value::from(0);
            }
        }
    }
    let task = state.store.update_task(task.uid, update).await?;
    Ok((task, outcome))
}

/// [`accept_write`] for a write that is exactly `calls` (already routed, marked here), judged
/// for quorum on `shards` (`None`: every shard, for broadcasts).
pub async fn accept_calls(
    state: &AppState,
    headers: &HeaderMap,
    write: Write,
    calls: Vec<NodeCall>,
    shards: Option<BTreeSet<Shard>>,
) -> HttpResult<Response> {
    let cluster = state.cluster.clone();
    accept_write(state, headers, write, move |fan_out| async move {
        Ok(cluster.write(fan_out.marker.mark(calls), shards).await)
    })
    .await
}

/// Answers `write` the way Meilisearch answers a request it refuses only when the task runs
/// (an index that already exists, a primary key that can no longer change): 202 with a task
/// recorded `failed` with `error`, and no node call.
pub async fn refused_task(
    state: &AppState,
    write: Write,
    error: &ApiError,
) -> HttpResult<Response> {
    let task = state
        .store
        .create_task(NewTask {
            index_uid: write.index_uid,
            kind: write.kind,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: Some(write.details),
            enqueued_at: Timestamp::now(),
        })
        .await?;
    fail(state, &task, &WriteOutcome::default(), error).await?;
    Ok(accepted(&task))
}

/// The `Idempotency-Key` of the request, when idempotency is enabled and one was sent.
fn idempotency_key(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if !state.config.idempotency.enabled {
        return Ok(None);
    }
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => Ok(Some(key.to_owned())),
        _ => Err(ApiError::new(
            Code::BadRequest,
            format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
        )),
    }
}

/// The answer to a request whose key is already taken by `record`.
async fn replay(
    state: &AppState,
    record: &IdempotencyRecord,
    write: &Write,
) -> HttpResult<Response> {
    if record.body_sha256 != write.fingerprint {
        return Err(ApiError::new(
            Code::MiroirIdempotencyKeyReused,
            format!(
                "`Idempotency-Key` `{}` was used for a different request (task {}).",
                record.key, record.task_uid
            ),
        )
        .into());
    }
    match state.store.get_task(record.task_uid).await? {
        Some(task) => Ok(accepted(&task)),
        // The first request's task was pruned: the key outlived it.
        None => Err(ApiError::new(
            Code::TaskNotFound,
            format!("Task `{}` not found.", record.task_uid),
        )
        .into()),
    }
}

/// Records `task` as failed with `error`, keeping the node tasks that were enqueued.
async fn fail(
    state: &AppState,
    task: &Task,
    outcome: &WriteOutcome,
    error: &ApiError,
) -> HttpResult<()> {
    let now = Timestamp::now();
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.node_tasks = outcome.node_tasks.clone();
    update.started_at = Some(now);
    update.finished_at = Some(now);
    update.error = Some(TaskError {
        message: error.message.clone(),
        code: error.code_name().to_owned(),
        error_type: error.error_type().to_owned(),
        link: error.link(),
    });
    state.store.update_task(task.uid, update).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// State over a fresh, migrated in-memory store and the default configuration (no node).
    async fn state() -> AppState {
        let store = miroir_store::open("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        AppState::start(
            store,
            miroir_core::Config::default(),
            Duration::from_secs(60),
        )
        .await
    }

    /// An empty batch reaches no node: its task succeeds at once instead of waiting, enqueued,
    /// for node tasks that do not exist (the poller would fail it as orphaned).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_write_with_nothing_to_send_succeeds_at_once() {
        let state = state().await;
        let write = Write {
            index_uid: Some("movies".to_owned()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            details: serde_json::json!({"receivedDocuments": 0, "indexedDocuments": null}),
            fingerprint: fingerprint("POST", "/indexes/movies/documents", b"[]"),
        };
        let response = accept_write(&state, &HeaderMap::new(), write, |_| async {
            Ok(WriteOutcome::default())
        })
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(summary["status"], "enqueued");
        let uid = summary["taskUid"].as_u64().unwrap();
        let task = state.store.get_task(uid).await.unwrap().unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert!(task.finished_at.is_some());
        assert_eq!(
            task.details,
            Some(serde_json::json!({"receivedDocuments": 0, "indexedDocuments": 0}))
        );
    }

    /// A client that hangs up while the nodes are being written to does not cancel the
    /// recording: the node tasks the fan-out produced are stored, so the poller follows them
    /// instead of failing the task as orphaned.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_dropped_request_still_records_its_node_tasks() {
        let state = state().await;
        let write = Write {
            index_uid: Some("movies".to_owned()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            details: serde_json::json!({"receivedDocuments": 1, "indexedDocuments": null}),
            fingerprint: fingerprint("POST", "/indexes/movies/documents", b"[{}]"),
        };
        let headers = HeaderMap::new();
        let request = accept_write(&state, &headers, write, |_| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(WriteOutcome {
                node_tasks: [("meili-0".to_owned(), 7)].into(),
                ..WriteOutcome::default()
            })
        });
        // The client gives up while the fan-out is under way: its future is dropped.
        let dropped = tokio::time::timeout(Duration::from_millis(50), request).await;
        assert!(dropped.is_err());
        let page = state
            .store
            .list_tasks(&miroir_store::TaskQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let uid = page.results[0].uid;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let task = state.store.get_task(uid).await.unwrap().unwrap();
            if !task.node_tasks.is_empty() {
                assert_eq!(task.node_tasks, [("meili-0".to_owned(), 7)].into());
                assert_eq!(task.status, TaskStatus::Enqueued);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn fingerprints_separate_method_path_and_body() {
        let base = fingerprint("POST", "/indexes/a/documents", b"[1]");
        assert_eq!(base, fingerprint("POST", "/indexes/a/documents", b"[1]"));
        assert_ne!(base, fingerprint("PUT", "/indexes/a/documents", b"[1]"));
        assert_ne!(base, fingerprint("POST", "/indexes/a/documents", b"[2]"));
        // The length prefix keeps path and body apart.
        assert_ne!(
            fingerprint("POST", "/a", b"b"),
            fingerprint("POST", "/ab", b"")
        );
    }
}
