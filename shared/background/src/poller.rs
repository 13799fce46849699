//! The task poller (Mode A, partitioned by task uid): advances every unfinished task this
//! replica owns to its aggregate status, so tasks complete with no client polling. A task whose
//! status did not move is polled again later and later (doubling up to [`MAX_BACKOFF`]), so
//! slow nodes are not hammered; one that moved is polled again next round.
//!
//! # Orphans
//!
//! A task left `enqueued` with no node task for `background.orphan_task_after_s` lost its
//! writer: the process died (or was stopped) before recording what the fan-out produced —
//! possibly after the nodes accepted the write. It is settled by asking the nodes
//! ([`miroir_core::reconcile`]), never by assuming nothing was written:
//!
//! - a document write (whose node calls carry the task's `customMetadata` marker): every node of
//!   the topology is searched for a node task carrying it. Found on some node(s), with every
//!   node answering: those node tasks are recorded (compare-and-set) and the task is polled like
//!   any other, in the same round. Every node answered and none holds it: the task fails with
//!   `miroir_task_orphaned` (nothing was written). Some node did not answer: the task waits for a
//!   later round (backoff as for any task) until it is [`GIVE_UP_FACTOR`] ×
//!   `orphan_task_after_s` old; then what was found is recorded, or, with nothing found, it fails
//!   with `miroir_task_orphaned` naming the nodes that may hold the write;
//! - other writes (index creation, update and deletion, settings: Meilisearch records no marker
//!   on those routes) fail at once with `miroir_task_orphaned`, saying that the write may have
//!   been applied.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream;
use miroir_core::cluster::Cluster;
use miroir_core::reconcile::{Reconciliation, find_marked_node_tasks};
use miroir_core::refresh::refresh_task;
use miroir_store::{
    DynStore, StoreError, StoreResult, Task, TaskError, TaskQuery, TaskStatus, TaskUid, Timestamp,
};

use crate::peers::PeerView;

/// The worker name in metrics.
pub const WORKER: &str = "task_poller";

/// Longest wait between two polls of a task that does not move.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An orphaned task whose nodes do not all answer is settled with what is known once it is
/// this many times `background.orphan_task_after_s` old.
pub const GIVE_UP_FACTOR: u32 = 10;

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
        let orphans: Vec<Task> = orphans
            .into_iter()
            .filter(|task| self.schedule.get(&task.uid).is_none_or(|at| at.due <= now))
            .collect();
        let settled: Vec<(TaskUid, StoreResult<Orphan>)> = stream::iter(orphans)
            .map(|task| async move {
                (
                    task.uid,
                    settle_orphan(store, cluster, task, orphan_after).await,
                )
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut reconciled = Vec::new();
        for (uid, settled) in settled {
            match settled? {
                Orphan::Failed => {
                    self.schedule.remove(&uid);
                    round.finished += 1;
                }
                Orphan::Recorded(task) => {
                    self.schedule.remove(&uid);
                    reconciled.push(*task);
                }
                Orphan::Pending => self.back_off(uid, false, tick),
                Orphan::Changed => {
                    self.schedule.remove(&uid);
                }
            }
        }
        let mut due: Vec<Task> = live
            .into_iter()
            .filter(|task| !task.node_tasks.is_empty())
            .filter(|task| self.schedule.get(&task.uid).is_none_or(|at| at.due <= now))
            .collect();
        // Node tasks just found for an orphan: aggregated now, like a task its writer recorded.
        due.extend(reconciled);
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
                    self.back_off(after.uid, moved, tick);
                }
                Err(StoreError::NotFound(_)) => {
                    self.schedule.remove(&before.uid);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(round)
    }

    /// Schedules task `uid`'s next poll: after `tick` when it `moved` (or was never polled),
    /// else after twice the previous wait, up to [`MAX_BACKOFF`].
    fn back_off(&mut self, uid: TaskUid, moved: bool, tick: Duration) {
        let backoff = match self.schedule.get(&uid) {
            Some(previous) if !moved => (previous.backoff * 2).min(MAX_BACKOFF),
            _ => tick,
        };
        self.schedule.insert(
            uid,
            Schedule {
                due: Instant::now() + backoff,
                backoff,
            },
        );
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

/// What settling one orphaned task did.
#[derive(Debug)]
enum Orphan {
    /// Failed `miroir_task_orphaned`.
    Failed,
    /// Its node tasks, found on the nodes, are recorded: the task as stored now.
    Recorded(Box<Task>),
    /// Some node did not answer: asked again in a later round.
    Pending,
    /// Another writer changed (or deleted) the task meanwhile; its state stands.
    Changed,
}

/// Settles `task`, enqueued with no node task for `orphan_after` (see the module docs).
async fn settle_orphan(
    store: &DynStore,
    cluster: &Cluster,
    task: Task,
    orphan_after: Duration,
) -> StoreResult<Orphan> {
    let Some(search) = find_marked_node_tasks(cluster, &task, orphan_after).await else {
        let message = "The task was accepted but its Miroir replica stopped before recording                        what the nodes did with it, and this kind of write cannot be traced on                        the nodes: it may have been applied on some or all of them. Check the                        index before sending it again.";
        return fail_orphan(store, &task, message.to_owned()).await;
    };
    let give_up = Timestamp::now() >= task.enqueued_at.plus(orphan_after * GIVE_UP_FACTOR);
    if !search.is_conclusive() && !give_up {
        tracing::info!(
            uid = task.uid,
            unanswered = ?search.unanswered,
            "an orphaned task waits for every node to answer"
        );
        return Ok(Orphan::Pending);
    }
    if !search.found.is_empty() {
        return record_found(store, task, search).await;
    }
    let message = if search.is_conclusive() {
        "The task was accepted but never reached a node (its Miroir replica stopped before          fanning it out): every node was asked and none holds it, so nothing was written. Send          it again."
            .to_owned()
    } else {
        format!(
            "The task was accepted but its Miroir replica stopped before recording what the              nodes did with it. No node that answered holds it; node(s) {} did not answer, so it              may have been written there. Check the index before sending it again.",
            search
                .unanswered
                .iter()
                .map(|node| format!("`{node}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    fail_orphan(store, &task, message).await
}

/// Records the node tasks `search` found for `task`, if the task is still as it was read.
async fn record_found(store: &DynStore, task: Task, search: Reconciliation) -> StoreResult<Orphan> {
    tracing::warn!(
        uid = task.uid,
        found = ?search.found,
        unanswered = ?search.unanswered,
        "an orphaned task's write was found on the nodes: recording its node tasks"
    );
    let mut update = task.to_update();
    update.node_tasks = search.found;
    match store.update_task_if(task.uid, &task, update).await {
        Ok(task) => Ok(Orphan::Recorded(Box::new(task))),
        Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => Ok(Orphan::Changed),
        Err(error) => Err(error),
    }
}

/// Fails orphaned `task` with `miroir_task_orphaned` and `message`, if it is still as it was
/// read (a late fan-out that recorded its node tasks meanwhile wins).
async fn fail_orphan(store: &DynStore, task: &Task, message: String) -> StoreResult<Orphan> {
    let now = Timestamp::now();
    let mut update = task.to_update();
    update.status = TaskStatus::Failed;
    update.started_at = Some(now);
    update.finished_at = Some(now);
    update.error = Some(TaskError {
        message,
        code: "miroir_task_orphaned".to_owned(),
        error_type: "system".to_owned(),
        link: "https://docs.meilisearch.com/errors#miroir_task_orphaned".to_owned(),
    });
    tracing::warn!(
        uid = task.uid,
        "failing an orphaned task (no node task recorded)"
    );
    match store.update_task_if(task.uid, task, update).await {
        Ok(_) => Ok(Orphan::Failed),
        // Changed meanwhile (a late fan-out recorded its node tasks, or it completed).
        Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => Ok(Orphan::Changed),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use miroir_core::Config;
    use miroir_core::config::NodeConfig;
    use miroir_core::marker::{MARKER_PARAM, TaskMarker};
    use miroir_core::node::Method;
    use miroir_store::{NewTask, TaskKind};
    use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};

    use super::*;

    const ORPHAN_AFTER: Duration = Duration::from_secs(1);

    /// Two test nodes holding every shard (one group, replication factor 2), a store and a
    /// poller owning every task.
    struct Fixture {
        nodes: Vec<TestNode>,
        store: DynStore,
        cluster: Cluster,
        view: PeerView,
        poller: TaskPoller,
    }

    impl Fixture {
        async fn start() -> Self {
            let mut nodes = Vec::new();
            for _ in 0..2 {
                nodes.push(TestNode::start(TestNodeOptions::default()).await.unwrap());
            }
            let addresses = nodes.iter().map(TestNode::url).collect();
            let mut fixture = Self::over(addresses, "").await;
            fixture.nodes = nodes;
            fixture
        }

        /// The fixture over the nodes at `addresses` (master key `key`, empty for none).
        async fn over(addresses: Vec<String>, key: &str) -> Self {
            let mut config = Config {
                shards: 4,
                replication_factor: u32::try_from(addresses.len()).unwrap(),
                nodes: addresses
                    .into_iter()
                    .enumerate()
                    .map(|(index, address)| NodeConfig {
                        id: format!("meili-{index}"),
                        address,
                        replica_group: 0,
                    })
                    .collect(),
                ..Config::default()
            };
            config.node_master_key = miroir_core::config::Secret::new(key);
            let store = miroir_store::open("sqlite::memory:").await.unwrap();
            store.migrate().await.unwrap();
            Self {
                nodes: Vec::new(),
                store,
                cluster: Cluster::from_config(&config).unwrap(),
                view: PeerView {
                    pod_id: "pod".to_owned(),
                    peers: vec!["pod".to_owned()],
                },
                poller: TaskPoller::default(),
            }
        }

        /// A task as a writer leaves it right after creating it: `enqueued`, no node task,
        /// created `age` ago.
        async fn orphan(&self, kind: TaskKind, age: Duration) -> Task {
            self.store
                .create_task(NewTask {
                    index_uid: Some("movies".to_owned()),
                    kind,
                    status: TaskStatus::Enqueued,
                    node_tasks: Default::default(),
                    details: Some(
                        serde_json::json!({"receivedDocuments": 3, "indexedDocuments": null}),
                    ),
                    enqueued_at: Timestamp::now().minus(age),
                })
                .await
                .unwrap()
        }

        /// What a writer's fan-out sends node `node` for task `uid` (a marker of `None`: an
        /// unmarked write of someone else).
        async fn write(&self, node: usize, marker: Option<&TaskMarker>) -> u64 {
            let mut path = "/indexes/movies/documents?primaryKey=id".to_owned();
            if let Some(marker) = marker {
                path = format!("{path}&{MARKER_PARAM}={}", marker.as_str());
            }
            let body = br#"[{"id": 1}, {"id": 2}, {"id": 3}]"#.to_vec();
            self.cluster
                .client()
                .enqueue(
                    self.cluster.topology().node(node),
                    Method::POST,
                    &path,
                    Some(body),
                )
                .await
                .unwrap()
        }

        /// Waits until no node has an unfinished task.
        async fn settle(&self) {
            let deadline = Instant::now() + Duration::from_secs(20);
            for node in self.cluster.topology().nodes() {
                loop {
                    let pending: serde_json::Value = self
                        .cluster
                        .client()
                        .get(node, "/tasks?statuses=enqueued,processing&limit=1")
                        .await
                        .unwrap();
                    if pending["results"].as_array().is_some_and(Vec::is_empty) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{} never settled", node.id);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }

        async fn round(&mut self) -> PollRound {
            self.poller
                .round(
                    &self.store,
                    &self.cluster,
                    &self.view,
                    Duration::ZERO,
                    ORPHAN_AFTER,
                )
                .await
                .unwrap()
        }

        async fn task(&self, uid: TaskUid) -> Task {
            self.store.get_task(uid).await.unwrap().unwrap()
        }
    }

    /// The writer died after the nodes accepted its write and before it recorded the node
    /// tasks: the poller finds them by the task's marker and the task succeeds, counted from
    /// the nodes, instead of failing as "nothing was written".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_whose_write_reached_the_nodes_is_reconciled_and_succeeds() {
        let mut fixture = Fixture::start().await;
        let task = fixture
            .orphan(TaskKind::DocumentAdditionOrUpdate, Duration::from_secs(2))
            .await;
        let marker = TaskMarker::for_task(task.uid);
        // Other writes to the index in the same window: unmarked, and another task's.
        fixture.write(0, None).await;
        fixture
            .write(1, Some(&TaskMarker::for_task(task.uid + 1000)))
            .await;
        let written = [
            fixture.write(0, Some(&marker)).await,
            fixture.write(1, Some(&marker)).await,
        ];
        fixture.write(1, None).await;
        fixture.settle().await;

        let round = fixture.round().await;
        assert_eq!((round.polled, round.finished), (1, 1), "{round:?}");
        let task = fixture.task(task.uid).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        assert_eq!(
            task.node_tasks,
            [
                ("meili-0".to_owned(), written[0]),
                ("meili-1".to_owned(), written[1])
            ]
            .into()
        );
        assert_eq!(task.error, None);
        assert_eq!(
            task.details,
            Some(serde_json::json!({"receivedDocuments": 3, "indexedDocuments": 3}))
        );
    }

    /// The same against real Meilisearch (`MIROIR_MEILISEARCH_BIN`, the 1.50 server; skipped
    /// when unset): the marker Miroir sends is the one the node reports, and the window query
    /// is one the node accepts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_is_reconciled_against_real_meilisearch() {
        let Some(binary) = std::env::var_os("MIROIR_MEILISEARCH_BIN") else {
            eprintln!("skipped: MIROIR_MEILISEARCH_BIN is not set (a real Meilisearch binary)");
            return;
        };
        let key = "poller-test-master-key";
        let mut processes = Vec::new();
        let mut addresses = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        for index in 0..2 {
            let port = miroir_test_support::process::loopback_port().unwrap();
            processes.push(
                miroir_test_support::process::Process::spawn(
                    std::process::Command::new(&binary)
                        .arg("--http-addr")
                        .arg(format!("127.0.0.1:{port}"))
                        .arg("--db-path")
                        .arg(dir.path().join(format!("node-{index}.ms")))
                        .args([
                            "--master-key",
                            key,
                            "--no-analytics",
                            "--env",
                            "development",
                        ])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null()),
                )
                .unwrap(),
            );
            miroir_test_support::process::wait_until(
                "meilisearch to answer",
                Duration::from_secs(30),
                || {
                    miroir_test_support::process::http_get(port, "/health", &[])
                        .is_some_and(|reply| reply.status == 200)
                },
            );
            addresses.push(format!("http://127.0.0.1:{port}"));
        }
        let mut fixture = Fixture::over(addresses, key).await;
        let task = fixture
            .orphan(TaskKind::DocumentAdditionOrUpdate, Duration::from_secs(2))
            .await;
        let untraced = fixture
            .orphan(TaskKind::DocumentAdditionOrUpdate, Duration::from_secs(2))
            .await;
        fixture.write(0, None).await;
        let written = [
            fixture
                .write(0, Some(&TaskMarker::for_task(task.uid)))
                .await,
            fixture
                .write(1, Some(&TaskMarker::for_task(task.uid)))
                .await,
        ];
        fixture.settle().await;
        fixture.round().await;
        let task = fixture.task(task.uid).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        assert_eq!(
            task.node_tasks,
            [
                ("meili-0".to_owned(), written[0]),
                ("meili-1".to_owned(), written[1])
            ]
            .into()
        );
        let untraced = fixture.task(untraced.uid).await;
        assert_eq!(untraced.status, TaskStatus::Failed);
        assert!(
            untraced
                .error
                .unwrap()
                .message
                .contains("nothing was written"),
            "{task:?}"
        );
        drop(processes);
    }

    /// Every node answered and none holds the marker: nothing was written, and the task fails
    /// orphaned saying so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_no_node_holds_fails_as_nothing_written() {
        let mut fixture = Fixture::start().await;
        let task = fixture
            .orphan(TaskKind::DocumentDeletion, Duration::from_secs(2))
            .await;
        fixture.write(0, None).await;
        fixture.settle().await;
        // Not yet orphaned: left alone.
        let young = fixture
            .orphan(TaskKind::DocumentDeletion, Duration::ZERO)
            .await;

        let round = fixture.round().await;
        assert_eq!(round.finished, 1, "{round:?}");
        let task = fixture.task(task.uid).await;
        assert_eq!(task.status, TaskStatus::Failed);
        assert!(task.node_tasks.is_empty());
        let error = task.error.unwrap();
        assert_eq!(error.code, "miroir_task_orphaned");
        assert!(error.message.contains("nothing was written"), "{error:?}");
        assert_eq!(fixture.task(young.uid).await.status, TaskStatus::Enqueued);
    }

    /// A node that does not answer may hold the write: the task waits (it is neither failed
    /// nor recorded from the other nodes alone) and is settled once the node answers; past
    /// the give-up age, an orphan nobody found fails naming the silent node.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_orphan_waits_for_silent_nodes_then_gives_up_honestly() {
        let mut fixture = Fixture::start().await;
        let task = fixture
            .orphan(TaskKind::DocumentAdditionOrUpdate, Duration::from_secs(2))
            .await;
        let written = fixture
            .write(0, Some(&TaskMarker::for_task(task.uid)))
            .await;
        fixture.settle().await;
        fixture.nodes[1].stop().await;

        fixture.round().await;
        let waiting = fixture.task(task.uid).await;
        assert_eq!(waiting.status, TaskStatus::Enqueued);
        assert!(waiting.node_tasks.is_empty());

        fixture.nodes[1].restart().await.unwrap();
        fixture.round().await;
        let task = fixture.task(task.uid).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        assert_eq!(task.node_tasks, [("meili-0".to_owned(), written)].into());

        // Old enough to give up, node 1 silent, nothing on node 0.
        fixture.nodes[1].stop().await;
        let old = fixture
            .orphan(
                TaskKind::DocumentAdditionOrUpdate,
                ORPHAN_AFTER * GIVE_UP_FACTOR + Duration::from_secs(1),
            )
            .await;
        fixture.round().await;
        let old = fixture.task(old.uid).await;
        assert_eq!(old.status, TaskStatus::Failed);
        let error = old.error.unwrap();
        assert_eq!(error.code, "miroir_task_orphaned");
        assert!(
            error.message.contains("`meili-1` did not answer")
                && error.message.contains("may have been written"),
            "{error:?}"
        );
    }

    /// Writes whose routes record no marker cannot be traced: failed at once, without claiming
    /// that nothing was written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_untraceable_orphan_fails_without_claiming_nothing_was_written() {
        let mut fixture = Fixture::start().await;
        let task = fixture
            .orphan(TaskKind::SettingsUpdate, Duration::from_secs(2))
            .await;
        fixture.round().await;
        let task = fixture.task(task.uid).await;
        assert_eq!(task.status, TaskStatus::Failed);
        let error = task.error.unwrap();
        assert_eq!(error.code, "miroir_task_orphaned");
        assert!(error.message.contains("may have been applied"), "{error:?}");
        assert!(!error.message.contains("nothing was written"), "{error:?}");
    }
}
