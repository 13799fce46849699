//! `DELETE /tasks` and `POST /tasks/cancel`: each becomes a Miroir task of its own
//! (`taskDeletion`, `taskCancelation`) acting on the Miroir tasks its filters select among those
//! enqueued before it, and on their node tasks.
//!
//! Both do their work before answering 202, so a client that waits for the task finds it done
//! (or, for a cancelation, with its node cancelations recorded). A replica that stops midway
//! leaves its task without node tasks; the poller then settles it as orphaned, and sending the
//! request again finishes the work (both are idempotent).
//!
//! - **Deletion** deletes the selected terminal tasks (enqueued and processing ones are matched
//!   but kept, as in Meilisearch) and asks every node to delete their node tasks.
//! - **Cancelation** asks every node to cancel the node tasks of the selected unfinished tasks;
//!   its node tasks are those node cancelations, so its status aggregates them. A selected task
//!   becomes `canceled` (with `canceledBy`) once every one of its node tasks was canceled; one
//!   that some node had already applied ends `failed` with `miroir_task_partly_canceled`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use futures::future::join_all;
use miroir_core::aggregate::aggregate;
use miroir_core::cluster::Cluster;
use miroir_core::node::Method;
use miroir_core::refresh::{observe, refresh_task};
use miroir_http::api_keys::ClientAuth;
use miroir_http::write::accepted;
use miroir_http::{AppState, HttpResult, QueryParams};
use miroir_store::{
    DynStore, NewTask, StoreError, StoreResult, Task, TaskKind, TaskQuery, TaskStatus, TaskUid,
    TaskUpdate, Timestamp,
};
use serde_json::json;

use crate::query::{self, Verb};

/// Tasks read from the store per page while selecting.
const PAGE: u32 = 1_000;

/// Node task uids per node request (keeps the URL short).
const NODE_UIDS_PER_CALL: usize = 250;

/// How often a cancelation polls its node cancelations while waiting for them.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Delete tasks.
///
/// Enqueues a `taskDeletion` task that deletes the finished tasks matching the filters (at
/// least one is required; `*` matches everything) among those enqueued before it, and their
/// node tasks on the nodes. `details`: `matchedTasks`, `deletedTasks`, `originalFilter`.
#[utoipa::path(
    delete,
    path = "/tasks",
    tag = "tasks",
    params(query::TaskFilterParameters),
    responses(
        (status = 202, description = "The summarized `taskDeletion` task."),
        (status = 400, description = "No filter (`missing_task_filters`), an unknown parameter or a bad value."),
    )
)]
pub(crate) async fn delete_tasks(
    State(state): State<AppState>,
    auth: ClientAuth,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let (query, task) = enqueue(&state, raw, Verb::Delete).await?;
    let started = Timestamp::now();
    let result = delete_selected(&state.store, &state.cluster, query, task.uid, &auth).await;
    let mut update = match result {
        Ok((matched, deleted)) => {
            let mut update = task.to_update();
            update.status = TaskStatus::Succeeded;
            set_details(&mut update.details, "matchedTasks", matched);
            set_details(&mut update.details, "deletedTasks", deleted);
            update
        }
        Err(error) => stopped_midway(&task, &error),
    };
    update.started_at = Some(started);
    update.finished_at = Some(Timestamp::now());
    state.store.update_task(task.uid, update).await?;
    Ok(accepted(&task))
}

/// Cancel tasks.
///
/// Enqueues a `taskCancelation` task that asks the nodes to cancel the node tasks of the
/// unfinished tasks matching the filters (at least one is required) among those enqueued before
/// it. A task is `canceled` once every node canceled its part; a task some node had already
/// applied ends `failed` (`miroir_task_partly_canceled`). `details`: `matchedTasks`,
/// `canceledTasks`, `originalFilter`.
#[utoipa::path(
    post,
    path = "/tasks/cancel",
    tag = "tasks",
    params(query::TaskFilterParameters),
    responses(
        (status = 202, description = "The summarized `taskCancelation` task."),
        (status = 400, description = "No filter (`missing_task_filters`), an unknown parameter or a bad value."),
    )
)]
pub(crate) async fn cancel_tasks(
    State(state): State<AppState>,
    auth: ClientAuth,
    RawQuery(raw): RawQuery,
) -> HttpResult<Response> {
    let (mut query, task) = enqueue(&state, raw, Verb::Cancel).await?;
    query::only_statuses(&mut query, &[TaskStatus::Enqueued, TaskStatus::Processing]);
    let started = Timestamp::now();
    let selected = match select(&state.store, query, task.uid, &auth).await {
        Ok(selected) => selected,
        Err(error) => {
            let mut update = stopped_midway(&task, &error);
            update.started_at = Some(started);
            update.finished_at = Some(Timestamp::now());
            state.store.update_task(task.uid, update).await?;
            return Ok(accepted(&task));
        }
    };
    let node_tasks = send_to_nodes(
        &state.cluster,
        Method::POST,
        "/tasks/cancel",
        node_uids(&selected),
    )
    .await;
    let canceler = task.uid;
    for selected in &selected {
        mark_canceled_by(&state.store, selected.uid, canceler).await?;
    }
    let mut update = task.to_update();
    set_details(&mut update.details, "matchedTasks", selected.len() as u64);
    // Left out until counted: an open (`null`) count would be filled with the nodes' own counts
    // of node tasks by whoever aggregates the node cancelations.
    if let Some(details) = update
        .details
        .as_mut()
        .and_then(serde_json::Value::as_object_mut)
    {
        details.remove("canceledTasks");
    }
    update.node_tasks = node_tasks;
    if update.node_tasks.is_empty() {
        // Nothing to cancel on any node: done.
        update.status = TaskStatus::Succeeded;
        update.started_at = Some(started);
        update.finished_at = Some(Timestamp::now());
        set_details(&mut update.details, "canceledTasks", 0);
    }
    if !update.status.is_terminal() {
        update = finish_cancelation(&state.store, &state.cluster, &task, update, &selected).await?;
    }
    state.store.update_task(task.uid, update).await?;
    Ok(accepted(&task))
}

/// Parses the filters and creates the task, `enqueued`, with its `details` as Meilisearch
/// starts them (`originalFilter` is the query string as sent).
async fn enqueue(
    state: &AppState,
    raw: Option<String>,
    verb: Verb,
) -> HttpResult<(TaskQuery, Task)> {
    let raw = raw.unwrap_or_default();
    let query = query::parse_selection(&QueryParams::parse(&raw), verb)?;
    let (kind, count) = match verb {
        Verb::Delete => (TaskKind::TaskDeletion, "deletedTasks"),
        Verb::Cancel => (TaskKind::TaskCancelation, "canceledTasks"),
    };
    let task = state
        .store
        .create_task(NewTask {
            index_uid: None,
            kind,
            status: TaskStatus::Enqueued,
            node_tasks: BTreeMap::new(),
            details: Some(json!({
                "matchedTasks": null,
                count: null,
                "originalFilter": format!("?{raw}"),
            })),
            enqueued_at: Timestamp::now(),
        })
        .await?;
    Ok((query, task))
}

/// The tasks a filter selects among those older than a task and visible to the request's
/// credential, newest first, a page at a time.
struct Selection<'a> {
    store: &'a DynStore,
    query: TaskQuery,
    auth: &'a ClientAuth,
    done: bool,
}

impl<'a> Selection<'a> {
    /// The tasks `query` selects among those older than `before`.
    fn new(
        store: &'a DynStore,
        mut query: TaskQuery,
        before: TaskUid,
        auth: &'a ClientAuth,
    ) -> Self {
        let newest = before.checked_sub(1);
        query.reverse = false;
        query.limit = PAGE;
        query.from = newest.map(|newest| query.from.map_or(newest, |from| from.min(newest)));
        Self {
            store,
            query,
            auth,
            done: newest.is_none(),
        }
    }

    /// The next page, `None` after the last.
    async fn next_page(&mut self) -> StoreResult<Option<Vec<Task>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.list_tasks(&self.query).await?;
        match page.next {
            Some(next) => self.query.from = Some(next),
            None => self.done = true,
        }
        let mut results = page.results;
        results.retain(|task| crate::visible(self.auth, task));
        Ok(Some(results))
    }
}

/// Every task `query` selects among those older than `before`.
async fn select(
    store: &DynStore,
    query: TaskQuery,
    before: TaskUid,
    auth: &ClientAuth,
) -> StoreResult<Vec<Task>> {
    let mut selection = Selection::new(store, query, before, auth);
    let mut selected = Vec::new();
    while let Some(page) = selection.next_page().await? {
        selected.extend(page);
    }
    Ok(selected)
}

/// Deletes the terminal tasks `query` selects among those older than `before`, page by page,
/// and their node tasks on the nodes: (matched, deleted).
async fn delete_selected(
    store: &DynStore,
    cluster: &Cluster,
    query: TaskQuery,
    before: TaskUid,
    auth: &ClientAuth,
) -> StoreResult<(u64, u64)> {
    let (mut matched, mut deleted) = (0_u64, 0_u64);
    let mut selection = Selection::new(store, query, before, auth);
    while let Some(page) = selection.next_page().await? {
        matched += page.len() as u64;
        let mut gone = Vec::new();
        for task in page.into_iter().filter(|task| task.status.is_terminal()) {
            if store.delete_task(task.uid).await? {
                gone.push(task);
            }
        }
        deleted += gone.len() as u64;
        send_to_nodes(cluster, Method::DELETE, "/tasks", node_uids(&gone)).await;
    }
    Ok((matched, deleted))
}

/// Node id → the node task uids of `tasks`.
fn node_uids(tasks: &[Task]) -> BTreeMap<String, Vec<u64>> {
    let mut uids: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for task in tasks {
        for (node, &uid) in &task.node_tasks {
            uids.entry(node.clone()).or_default().push(uid);
        }
    }
    uids
}

/// Sends `method path?uids=…` to each node for its uids (several calls when they are many);
/// node id → the node task of its last call, for the nodes that enqueued every call. A node
/// that does not answer is logged and left out: its tasks stay as they are.
async fn send_to_nodes(
    cluster: &Cluster,
    method: Method,
    path: &str,
    uids: BTreeMap<String, Vec<u64>>,
) -> BTreeMap<String, u64> {
    let topology = cluster.topology();
    let sends = uids.into_iter().filter_map(|(node_id, uids)| {
        let Some(index) = topology.node_index(&node_id) else {
            tracing::warn!(node = %node_id, "a task's node is not in this replica's configuration");
            return None;
        };
        let method = method.clone();
        Some(async move {
            let node = topology.node(index);
            let mut last = None;
            for chunk in uids.chunks(NODE_UIDS_PER_CALL) {
                let list: Vec<String> = chunk.iter().map(u64::to_string).collect();
                let path = format!("{path}?uids={}", list.join(","));
                match cluster
                    .client()
                    .enqueue(node, method.clone(), &path, None)
                    .await
                {
                    Ok(uid) => last = Some(uid),
                    Err(error) => {
                        tracing::warn!(node = %node_id, %error, "a node refused `{method} {path}`");
                        return None;
                    }
                }
            }
            last.map(|uid| (node_id, uid))
        })
    });
    join_all(sends).await.into_iter().flatten().collect()
}

/// Records `canceler` as the cancelation of unfinished task `uid` (shown once it is canceled).
async fn mark_canceled_by(store: &DynStore, uid: TaskUid, canceler: TaskUid) -> StoreResult<()> {
    // A refresh may write the task meanwhile: read again and retry.
    for _ in 0..3 {
        let Some(task) = store.get_task(uid).await? else {
            return Ok(());
        };
        if task.status.is_terminal() {
            return Ok(());
        }
        let mut update = task.to_update();
        update.canceled_by = Some(canceler);
        match store.update_task_if(uid, &task, update).await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other.map(drop),
        }
    }
    Ok(())
}

/// Waits (up to the node timeout) for the node cancelations `update` records for `task`, then
/// refreshes the selected tasks and returns `update` finished, with how many ended `canceled`.
/// Nothing is stored meanwhile: the task has no node task for the poller to finish first (a
/// race that would leave the count out). Past the wait, `update` is returned as it came (the
/// node cancelations recorded): the poller finishes the task and `canceledTasks` stays absent.
async fn finish_cancelation(
    store: &DynStore,
    cluster: &Cluster,
    task: &Task,
    update: TaskUpdate,
    selected: &[Task],
) -> StoreResult<TaskUpdate> {
    let sent = Task {
        node_tasks: update.node_tasks.clone(),
        details: update.details.clone(),
        ..task.clone()
    };
    let deadline = tokio::time::Instant::now() + cluster.client().timeout();
    let mut finished = aggregate(&sent, &observe(cluster, &sent).await, cluster.copies());
    while !finished.status.is_terminal() {
        if tokio::time::Instant::now() >= deadline {
            return Ok(update);
        }
        tokio::time::sleep(POLL_EVERY).await;
        finished = aggregate(&sent, &observe(cluster, &sent).await, cluster.copies());
    }
    let mut canceled = 0;
    for selected in selected {
        if let Some(current) = store.get_task(selected.uid).await? {
            let current = refresh_task(store, cluster, current).await?;
            canceled += u64::from(current.status == TaskStatus::Canceled);
        }
    }
    set_details(&mut finished.details, "canceledTasks", canceled);
    Ok(finished)
}

fn set_details(details: &mut Option<serde_json::Value>, key: &str, count: u64) {
    if let Some(object) = details.as_mut().and_then(serde_json::Value::as_object_mut) {
        object.insert(key.to_owned(), json!(count));
    }
}

/// `task` failed because the store stopped answering midway (logged): part of the selected
/// tasks may have been handled.
fn stopped_midway(task: &Task, error: &StoreError) -> miroir_store::TaskUpdate {
    tracing::warn!(uid = task.uid, %error, "a task deletion or cancelation stopped midway");
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.error = Some(miroir_store::TaskError {
        message: format!(
            "The task store failed midway ({error}): part of the selected tasks may have been \
             handled. Send the request again to finish."
        ),
        code: "miroir_store_unavailable".to_owned(),
        error_type: "system".to_owned(),
        link: "https://docs.meilisearch.com/errors#miroir_store_unavailable".to_owned(),
    });
    update
}
