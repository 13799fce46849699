//! The `reindex` job (plan §13.7 blue-green reindex), resumable at every batch:
//!
//! 1. `prepare`: create the target with the source's primary key, copy the source's settings
//!    (then the job's `settings` on top) to it;
//! 2. `copy`: shard by shard, page through the source's documents (`_miroir_shard = s`, from
//!    one node holding the shard) and write each page to the target through the write path
//!    (routing by primary key, per-group quorum); the cursor (shard, offset) is saved after each
//!    page, so a successor resumes at the first page not acknowledged (re-writing a page is
//!    harmless: documents are upserts by primary key);
//! 3. `wait`: until every node applied its last write (nodes apply an index's tasks in order),
//!    then check that each shard holds as many documents in the target as in the source (a
//!    mismatch copies again from the start);
//! 4. `flip`: point the alias at the target (compare-and-set; created when absent).
//!
//! The source must not change during the copy (writes to it are not carried over).

use std::collections::BTreeMap;
use std::time::Duration;

use miroir_core::catalog::Catalog;
use miroir_core::documents::route_documents;
use miroir_core::jobs::ReindexParams;
use miroir_core::merge::SHARD_FIELD;
use miroir_core::node::{Method, NodeError, NodeTask, encode_path_segment, node_path};
use miroir_core::routing::Shard;
use miroir_store::{AliasTarget, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::job::{Claim, JobEnv, JobError};

/// Pause between two polls of the nodes' last tasks.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// Where a reindex stands: the job's `progress`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Progress {
    /// The step in progress.
    pub phase: Phase,
    /// Copy cursor: the shard being copied.
    pub shard: Shard,
    /// Copy cursor: documents of `shard` already written.
    pub offset: u64,
    /// Documents written so far (pages re-written after a crash count twice).
    pub copied: u64,
    /// Node id → the last task uid of a write to the target on that node.
    pub node_tasks: BTreeMap<String, u64>,
}

/// Reindex steps, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Create the target and copy settings.
    #[default]
    Prepare,
    /// Copy documents.
    Copy,
    /// Wait for the nodes, then verify.
    Wait,
    /// Flip the alias.
    Flip,
}

fn failed(message: impl Into<String>) -> JobError {
    JobError::Failed(message.into())
}

fn api(error: &miroir_core::ApiError) -> JobError {
    failed(format!("{} ({})", error.message, error.code_name()))
}

fn save(progress: &Progress) -> Value {
    serde_json::to_value(progress).unwrap_or(Value::Null)
}

/// Runs (or resumes) the reindex of `claim`; its final progress.
pub async fn run(env: JobEnv<'_>, claim: &Claim) -> Result<Value, JobError> {
    let params = ReindexParams::parse(claim.job().params.clone()).map_err(|error| api(&error))?;
    let mut progress: Progress =
        serde_json::from_value(claim.job().progress.clone()).unwrap_or_default();
    let primary_key = Catalog::new(env.store.as_ref(), env.cluster)
        .primary_key(&params.source)
        .await
        .map_err(|error| api(&error))?
        .ok_or_else(|| failed(format!("index `{}` not found", params.source)))?;
    loop {
        claim.check()?;
        match progress.phase {
            Phase::Prepare => {
                prepare(env, &params, &primary_key, &mut progress).await?;
                progress.phase = Phase::Copy;
            }
            Phase::Copy => {
                if progress.shard >= env.cluster.topology().shards() {
                    progress.phase = Phase::Wait;
                } else {
                    copy_page(env, &params, &primary_key, &mut progress).await?;
                }
            }
            Phase::Wait => {
                wait_for_nodes(env, claim, &progress).await?;
                if let Some(shard) = first_incomplete_shard(env, &params).await? {
                    tracing::warn!(
                        shard,
                        "target is missing documents after the copy; copying again"
                    );
                    progress.phase = Phase::Copy;
                    progress.shard = 0;
                    progress.offset = 0;
                } else {
                    progress.phase = Phase::Flip;
                }
            }
            Phase::Flip => {
                if let Some(alias) = &params.alias {
                    flip(env, alias, &params.target).await?;
                }
                return Ok(save(&progress));
            }
        }
        claim.checkpoint(save(&progress)).await?;
    }
}

/// Creates the target (unless a previous attempt did) and gives it the source's settings.
async fn prepare(
    env: JobEnv<'_>,
    params: &ReindexParams,
    primary_key: &str,
    progress: &mut Progress,
) -> Result<(), JobError> {
    let cluster = env.cluster;
    let catalog = Catalog::new(env.store.as_ref(), cluster);
    match catalog
        .primary_key(&params.target)
        .await
        .map_err(|error| api(&error))?
    {
        Some(existing) if existing != primary_key => {
            return Err(failed(format!(
                "index `{}` exists with primary key `{existing}`, not `{primary_key}`",
                params.target
            )));
        }
        Some(_) => {}
        None => {
            let claim = catalog
                .claim_creation(&params.target, Some(primary_key.to_owned()))
                .await
                .map_err(|error| api(&error))?;
            // `None`: created meanwhile by someone else; its primary key is checked next run.
            if let Some(claim) = claim {
                let created = catalog.create(claim).await;
                if !created.succeeded() {
                    return Err(api(&created.failure()));
                }
                merge_tasks(progress, &created.node_tasks);
            }
        }
    }
    let mut settings: Map<String, Value> = cluster
        .read_any(&node_path(["indexes", params.source.as_str(), "settings"]))
        .await
        .map_err(|error| api(&error))?;
    if let Some(overrides) = &params.settings {
        settings.extend(overrides.clone());
    }
    keep_shard_filterable(&mut settings);
    let body = Value::Object(settings).to_string();
    let path = node_path(["indexes", params.target.as_str(), "settings"]);
    let outcome = cluster
        .write(
            cluster.broadcast(&Method::PATCH, &path, Some(body.as_bytes())),
            None,
        )
        .await;
    if !outcome.succeeded() {
        return Err(api(&outcome.failure()));
    }
    merge_tasks(progress, &outcome.node_tasks);
    Ok(())
}

/// `_miroir_shard` stays filterable whatever the settings say (routing depends on it).
fn keep_shard_filterable(settings: &mut Map<String, Value>) {
    let filterable = settings
        .entry("filterableAttributes")
        .or_insert_with(|| json!([]));
    if let Value::Array(attributes) = filterable
        && !attributes.iter().any(|value| value == SHARD_FIELD)
    {
        attributes.push(Value::from(SHARD_FIELD));
    }
}

/// Records the newest task uid per node.
fn merge_tasks(progress: &mut Progress, node_tasks: &BTreeMap<String, u64>) {
    for (node, uid) in node_tasks {
        let last = progress.node_tasks.entry(node.clone()).or_insert(*uid);
        *last = (*last).max(*uid);
    }
}

/// The `documents/fetch` answer of a node.
#[derive(Deserialize)]
struct Fetched {
    results: Vec<Map<String, Value>>,
    total: u64,
}

/// `POST /indexes/{uid}/documents/fetch` for one shard's documents, from the first node holding
/// the shard (in any group) that answers.
async fn fetch_shard(
    env: JobEnv<'_>,
    uid: &str,
    shard: Shard,
    offset: u64,
    limit: u64,
) -> Result<Fetched, JobError> {
    let topology = env.cluster.topology();
    let path = node_path(["indexes", uid, "documents", "fetch"]);
    let body = json!({
        "filter": format!("{SHARD_FIELD} = {shard}"),
        "offset": offset,
        "limit": limit,
    })
    .to_string();
    let mut last_error = None;
    for group in 0..topology.groups() {
        for &node in topology.placement(group, shard) {
            let node = topology.node(node);
            match env
                .cluster
                .client()
                .call(node, Method::POST, &path, Some(body.clone().into_bytes()))
                .await
                .and_then(|response| response.json::<Fetched>())
            {
                Ok(fetched) => return Ok(fetched),
                Err(error @ NodeError::Api(_)) => return Err(api(&error.to_api_error(node))),
                Err(error) => last_error = Some(error.to_api_error(node)),
            }
        }
    }
    Err(last_error.map_or_else(|| failed("no node holds the shard"), |error| api(&error)))
}

/// Copies one page of the current shard and advances the cursor.
async fn copy_page(
    env: JobEnv<'_>,
    params: &ReindexParams,
    primary_key: &str,
    progress: &mut Progress,
) -> Result<(), JobError> {
    let limit = u64::from(params.batch_size);
    let page = fetch_shard(env, &params.source, progress.shard, progress.offset, limit).await?;
    let mut documents = page.results;
    if documents.is_empty() {
        progress.shard += 1;
        progress.offset = 0;
        return Ok(());
    }
    for document in &mut documents {
        document.remove(SHARD_FIELD);
    }
    let path = format!(
        "{}?primaryKey={}",
        node_path(["indexes", params.target.as_str(), "documents"]),
        encode_path_segment(primary_key)
    );
    let (calls, shards) = route_documents(
        env.cluster.topology(),
        &documents,
        primary_key,
        &Method::POST,
        &path,
    )
    .map_err(|error| api(&error))?;
    let outcome = env.cluster.write(calls, Some(shards)).await;
    if !outcome.succeeded() {
        return Err(api(&outcome.failure()));
    }
    merge_tasks(progress, &outcome.node_tasks);
    let count = documents.len() as u64;
    progress.offset += count;
    progress.copied += count;
    if count < limit {
        progress.shard += 1;
        progress.offset = 0;
    }
    Ok(())
}

/// Waits until every node finished its last write to the target; a failed one fails the attempt.
async fn wait_for_nodes(
    env: JobEnv<'_>,
    claim: &Claim,
    progress: &Progress,
) -> Result<(), JobError> {
    let topology = env.cluster.topology();
    for (node_id, &uid) in &progress.node_tasks {
        let Some(index) = topology.node_index(node_id) else {
            continue;
        };
        let node = topology.node(index);
        loop {
            claim.check()?;
            match env.cluster.client().task(node, uid).await {
                Ok(NodeTask { status, error, .. }) if status == "failed" => {
                    return Err(failed(format!(
                        "node `{node_id}` failed task {uid}: {}",
                        error.unwrap_or(Value::Null)
                    )));
                }
                Ok(task) if task.status == "succeeded" || task.status == "canceled" => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(node = %node_id, %error, "node task not observed yet");
                }
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }
    Ok(())
}

/// The first shard whose document count differs between source and target, if any.
async fn first_incomplete_shard(
    env: JobEnv<'_>,
    params: &ReindexParams,
) -> Result<Option<Shard>, JobError> {
    for shard in 0..env.cluster.topology().shards() {
        let source = fetch_shard(env, &params.source, shard, 0, 0).await?.total;
        let target = fetch_shard(env, &params.target, shard, 0, 0).await?.total;
        if source != target {
            tracing::warn!(shard, source, target, "shard counts differ");
            return Ok(Some(shard));
        }
    }
    Ok(None)
}

/// Points `alias` at `target`: a compare-and-set flip of the alias read, or its creation.
async fn flip(env: JobEnv<'_>, alias: &str, target: &str) -> Result<(), JobError> {
    let store = env.store;
    let target_uid = AliasTarget::Single {
        uid: target.to_owned(),
    };
    let retention = usize::try_from(env.config.aliases.history_retention).unwrap_or(usize::MAX);
    match store.get_alias(alias).await? {
        None => match store
            .create_alias(alias, target_uid, Timestamp::now())
            .await
        {
            // Created by someone else meanwhile: the next attempt flips it.
            Ok(_) => Ok(()),
            Err(error) => Err(failed(format!("alias `{alias}` not created: {error}"))),
        },
        Some(current) if current.target == target_uid => Ok(()),
        Some(current) => {
            if matches!(current.target, AliasTarget::Multi { .. }) {
                return Err(failed(format!(
                    "alias `{alias}` is a multi-target alias; reindex flips single-target aliases only"
                )));
            }
            match store
                .flip_alias(
                    alias,
                    current.version,
                    target_uid,
                    retention,
                    Timestamp::now(),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(StoreError::Conflict(_)) => Err(failed(format!(
                    "alias `{alias}` changed during the flip; retrying"
                ))),
                Err(error) => Err(failed(format!("alias `{alias}` not flipped: {error}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_field_stays_filterable() {
        let mut settings = Map::new();
        keep_shard_filterable(&mut settings);
        assert_eq!(settings["filterableAttributes"], json!([SHARD_FIELD]));
        let mut settings = json!({"filterableAttributes": ["genre", SHARD_FIELD]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        keep_shard_filterable(&mut settings);
        assert_eq!(
            settings["filterableAttributes"],
            json!(["genre", SHARD_FIELD])
        );
    }

    #[test]
    fn progress_resumes_from_an_empty_object() {
        let progress: Progress = serde_json::from_value(json!({})).unwrap_or_default();
        assert_eq!(progress, Progress::default());
        let saved = save(&Progress {
            phase: Phase::Copy,
            shard: 3,
            offset: 200,
            copied: 1200,
            node_tasks: BTreeMap::from([("n0".to_owned(), 7)]),
        });
        assert_eq!(
            saved,
            json!({"phase": "copy", "shard": 3, "offset": 200, "copied": 1200, "nodeTasks": {"n0": 7}})
        );
    }
}
