//! Bringing a stored task up to date with its node tasks: poll them (at most
//! [`POLL_CONCURRENCY`] at once, each bounded by the node timeout), aggregate
//! ([`crate::aggregate`]) and persist the result when it changed. Terminal tasks are returned as
//! they are, without a node call.

use std::collections::BTreeMap;

use futures::StreamExt;
use futures::stream;
use miroir_store::{
    DynStore, NodeSettingsVersion, StoreError, Task, TaskKind, TaskStatus, Timestamp,
};

use crate::aggregate::{Observed, aggregate};
use crate::cluster::Cluster;
use crate::node::NodeError;

/// How many node tasks one refresh polls at the same time.
pub const POLL_CONCURRENCY: usize = 16;

/// The task after polling its node tasks; the store holds the same. The result is written only
/// if the stored task still is `task` (status and node tasks); otherwise the stored task, as
/// another writer left it, is returned.
pub async fn refresh_task(
    store: &DynStore,
    cluster: &Cluster,
    task: Task,
) -> Result<Task, StoreError> {
    if task.status.is_terminal() || task.node_tasks.is_empty() {
        return Ok(task);
    }
    let observed = observe(cluster, &task).await;
    let update = aggregate(&task, &observed, cluster.copies());
    if update == task.to_update() {
        return Ok(task);
    }
    record_settings_versions(store, &task, &observed).await;
    // Compare-and-set against the task as read: node tasks or a status recorded meanwhile (a
    // late fan-out, another replica's refresh) are never overwritten by this view.
    match store.update_task_if(task.uid, &task, update).await {
        Ok(task) => Ok(task),
        // Changed since it was read (another replica finished it first, or its writer recorded
        // more): the stored state stands, and the next refresh starts from it.
        Err(StoreError::Conflict(_)) => store
            .get_task(task.uid)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {}", task.uid))),
        Err(error) => Err(error),
    }
}

/// What each node task of `task` is now (at most [`POLL_CONCURRENCY`] polls at once, each
/// bounded by the node timeout), by node id.
pub async fn observe(cluster: &Cluster, task: &Task) -> BTreeMap<String, Observed> {
    let topology = cluster.topology();
    let polls: Vec<(String, u64)> = task
        .node_tasks
        .iter()
        .map(|(node_id, &uid)| (node_id.clone(), uid))
        .collect();
    stream::iter(polls)
        .map(|(node_id, uid)| async move {
            let observed = match topology.node_index(&node_id) {
                // A node not in this process's config cannot be asked; the task stays as it is
                // (a replica with a partial node list must not fail other replicas' tasks).
                None => Observed::Unknown,
                Some(index) => match cluster.client().task(topology.node(index), uid).await {
                    Ok(node_task) => Observed::Task(node_task),
                    Err(NodeError::Api(error)) if error.code == "task_not_found" => Observed::Lost,
                    Err(error) => {
                        tracing::debug!(node = %node_id, %error, "node task not observed");
                        Observed::Unknown
                    }
                },
            };
            (node_id, observed)
        })
        .buffer_unordered(POLL_CONCURRENCY)
        .collect()
        .await
}

/// A settings change (or index creation, which sets Miroir's own settings) that a node finished
/// successfully raises that node's settings version for the index to the task uid.
async fn record_settings_versions(
    store: &DynStore,
    task: &Task,
    observed: &BTreeMap<String, Observed>,
) {
    if !matches!(
        task.kind,
        TaskKind::SettingsUpdate | TaskKind::IndexCreation
    ) {
        return;
    }
    let Some(index_uid) = &task.index_uid else {
        return;
    };
    for (node_id, observed) in observed {
        let Observed::Task(node_task) = observed else {
            continue;
        };
        if node_task.status.parse() != Ok(TaskStatus::Succeeded) {
            continue;
        }
        let row = NodeSettingsVersion {
            index_uid: index_uid.clone(),
            node_id: node_id.clone(),
            version: task.uid,
            updated_at: Timestamp::now(),
        };
        if let Err(error) = store.record_node_settings_version(row).await {
            tracing::warn!(%error, node = %node_id, "settings version not recorded");
        }
    }
}
