//! The task poller (Mode A, partitioned by task uid): advances every unfinished task this
//! replica owns to its aggregate status, so tasks complete with no client polling. A task whose
//! status did not move is polled again later and later (doubling up to [`MAX_BACKOFF`]), so
//! slow nodes are not hammered; one that moved is polled again next round.
//!
//! A task left `enqueued` with no node task for `background.orphan_task_after_s` was created by
//! a writer that crashed before fanning out (nothing reached a node): it is failed with
//! `miroir_task_orphaned`, so clients waiting on it get an answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream;
use miroir_core::cluster::Cluster;
use miroir_core::refresh::refresh_task;
use miroir_store::{
    DynStore, StoreError, StoreResult, Task, TaskError, TaskQuery, TaskStatus, TaskUid, Timestamp,
};

use crate::peers::PeerView;

/// The worker name in metrics.
pub const WORKER: &str = "task_poller";

/// Longest wait between two polls of a task that does not move.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Tasks refreshed at the same time.
const CONCURRENCY: usize = 8;

/// Unfinished tasks one round looks at, at most (the oldest first).
const MAX_SCAN: usize = 10_000;

/// Page size of the scan.
const PAGE: u32 = 500;

/// When a task is polled next.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    due: Instant,
    backoff: Duration,
}

/// The poller's memory between rounds: when each owned task is due.
#[derive(Debug, Default)]
pub struct TaskPoller {
    schedule: HashMap<TaskUid, Schedule>,
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollRound {
    /// Unfinished tasks this replica owns.
    pub owned: usize,
    /// Tasks polled this round.
    pub polled: u64,
    /// Tasks that reached a terminal status this round.
    pub finished: u64,
}

impl TaskPoller {
    /// One round over the unfinished tasks owned in `view`; `tick` is the round period (the
    /// first backoff).
    pub async fn round(
        &mut self,
        store: &DynStore,
        cluster: &Cluster,
        view: &PeerView,
        tick: Duration,
        orphan_after: Duration,
    ) -> StoreResult<PollRound> {
        let unfinished = unfinished_tasks(store).await?;
        let owned: Vec<Task> = unfinished
            .into_iter()
            .filter(|task| view.owns(&task.uid.to_string()))
            .collect();
        self.schedule
            .retain(|uid, _| owned.iter().any(|task| task.uid == *uid));
        let now = Instant::now();
        let mut round = PollRound {
            owned: owned.len(),
            ..PollRound::default()
        };
        let orphan_cutoff = Timestamp::now().minus(orphan_after);
        let (orphans, live): (Vec<Task>, Vec<Task>) = owned.into_iter().partition(|task| {
            task.node_tasks.is_empty()
                && task.status == TaskStatus::Enqueued
                && task.enqueued_at < orphan_cutoff
        });
        for orphan in orphans {
            fail_orphan(store, orphan).await?;
            round.finished += 1;
        }
        let due: Vec<Task> = live
            .into_iter()
            .filter(|task| !task.node_tasks.is_empty())
            .filter(|task| self.schedule.get(&task.uid).is_none_or(|at| at.due <= now))
            .collect();
        round.polled = due.len() as u64;
        let results: Vec<(Task, Result<Task, StoreError>)> = stream::iter(due)
            .map(|task| async move {
                let before = task.clone();
                (before, refresh_task(store, cluster, task).await)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (before, result) in results {
            match result {
                Ok(after) if after.status.is_terminal() => {
                    self.schedule.remove(&after.uid);
                    round.finished += 1;
                }
                Ok(after) => {
                    let moved = after.to_update() != before.to_update();
                    let backoff = match self.schedule.get(&after.uid) {
                        Some(previous) if !moved => (previous.backoff * 2).min(MAX_BACKOFF),
                        _ => tick,
                    };
                    self.schedule.insert(
                        after.uid,
                        Schedule {
                            due: Instant::now() + backoff,
                            backoff,
                        },
                    );
                }
                Err(StoreError::NotFound(_)) => {
                    self.schedule.remove(&before.uid);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(round)
    }
}

/// The unfinished tasks, oldest first, at most [`MAX_SCAN`].
async fn unfinished_tasks(store: &DynStore) -> StoreResult<Vec<Task>> {
    let mut tasks = Vec::new();
    let mut query = TaskQuery {
        statuses: Some(vec![TaskStatus::Enqueued, TaskStatus::Processing]),
        limit: PAGE,
        reverse: true,
        ..TaskQuery::default()
    };
    loop {
        let page = store.list_tasks(&query).await?;
        tasks.extend(page.results);
        match page.next {
            Some(next) if tasks.len() < MAX_SCAN => query.from = Some(next),
            _ => break,
        }
    }
    tasks.truncate(MAX_SCAN);
    Ok(tasks)
}

/// Fails a task whose writer crashed before any node task was recorded.
async fn fail_orphan(store: &DynStore, task: Task) -> StoreResult<()> {
    let now = Timestamp::now();
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.started_at = Some(now);
    update.finished_at = Some(now);
    update.error = Some(TaskError {
        message: "The task was accepted but never reached a node (its Miroir replica stopped \
                  before fanning it out); nothing was written. Send it again."
            .to_owned(),
        code: "miroir_task_orphaned".to_owned(),
        error_type: "system".to_owned(),
        link: "https://docs.meilisearch.com/errors#miroir_task_orphaned".to_owned(),
    });
    tracing::warn!(
        uid = task.uid,
        "failing an orphaned task (no node task recorded)"
    );
    // Only if the task still has no node task: a late fan-out that recorded its node tasks
    // meanwhile wins, and the task is polled like any other.
    match store.update_task_if(task.uid, &task, update).await {
        // Changed meanwhile (a late fan-out recorded its node tasks, or it completed).
        Ok(_) | Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => Ok(()),
        Err(error) => Err(error),
    }
}
