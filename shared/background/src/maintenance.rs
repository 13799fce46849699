//! The pruner, leader-only work of scope [`SCOPE`]: finished tasks past
//! `task_registry.ttl_seconds`, then the oldest finished tasks beyond `task_registry.max_tasks`
//! (Meilisearch's cap), both through fenced `prune_tasks`; expired rows of the TTL'd tables
//! (SQLite; Redis expires keys itself); and jobs whose claim expired (returned to the queue).
//! (`miroir_task_registry_size` is set by every replica's round, not only the leader's.)
//!
//! Pruning is one leader's work rather than partitioned by key: `prune_tasks` deletes a whole
//! batch from a time index in one store call, far cheaper than peers deleting their own tasks one
//! by one, and the cap needs one global count that two pruners must not both act on.

use std::time::Duration;

use miroir_core::Config;
use miroir_http::metrics::BackgroundMetrics;
use miroir_store::{DynStore, Fence, StoreResult, Timestamp};

/// The leader scope of the pruner.
pub const SCOPE: &str = "maintenance";

/// Most prune batches of each kind in one round, so one round's work stays bounded while
/// requests are served (the rest waits for the next round).
const MAX_BATCHES_PER_ROUND: u32 = 10;

/// Jobs returned to the queue per round at most.
const RECLAIM_BATCH: u32 = 100;

/// What one round removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneRound {
    /// Tasks deleted (age and cap).
    pub tasks: u64,
    /// Expired rows deleted from TTL'd tables.
    pub expired_rows: u64,
    /// Jobs returned to the queue.
    pub reclaimed_jobs: u64,
}

/// One pruner round with `fence`. `Fenced` as soon as a newer leader exists (nothing more is
/// deleted by this replica).
pub async fn prune(
    store: &DynStore,
    config: &Config,
    metrics: &BackgroundMetrics,
    fence: &Fence,
) -> StoreResult<PruneRound> {
    let registry = &config.task_registry;
    let batch = registry.prune_batch;
    let mut round = PruneRound::default();
    let cutoff = Timestamp::now().minus(Duration::from_secs(registry.ttl_seconds));
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let deleted = store.prune_tasks(cutoff, batch, Some(fence)).await?;
        round.tasks += deleted;
        metrics.pruned(deleted);
        if deleted < u64::from(batch) {
            break;
        }
    }
    let mut size = store.count_tasks().await?;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let excess = size.saturating_sub(registry.max_tasks);
        if excess == 0 {
            break;
        }
        let step = u32::try_from(excess).unwrap_or(u32::MAX).min(batch);
        let deleted = store
            .prune_tasks(Timestamp::now(), step, Some(fence))
            .await?;
        round.tasks += deleted;
        metrics.pruned(deleted);
        size = size.saturating_sub(deleted);
        if deleted < u64::from(step) {
            // Only unfinished tasks are left beyond the cap: they are never pruned.
            break;
        }
    }
    round.expired_rows = store.prune_expired(batch).await?.total();
    round.reclaimed_jobs = store.reclaim_expired_jobs(RECLAIM_BATCH).await?.len() as u64;
    if round != PruneRound::default() {
        tracing::info!(
            tasks = round.tasks,
            expired_rows = round.expired_rows,
            reclaimed_jobs = round.reclaimed_jobs,
            registry_size = size,
            "pruned"
        );
    }
    Ok(round)
}
