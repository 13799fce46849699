//! [`Background`]: the one implementation of background work, with two drivers: [`Background::run`]
//! loops inside `miroir` (the container) until shutdown; [`Background::pass`] does one bounded
//! round of everything, for the scheduled worker function on AWS Lambda.
//!
//! A round: renew this replica's membership, read the live peers, then the task poller and the
//! canary runner over the items this replica owns (Mode A), and the pruner if this replica
//! leads (Mode B). Jobs (Mode C) run on their own loop in the container (a job may run for
//! minutes) and as the last step of a pass, until the pass's deadline.

use std::time::{Duration, Instant};

use axum::Router;
use miroir_http::AppState;
use miroir_store::StoreResult;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::canary::{self, CanaryEnv, CanaryRunner};
use crate::job::JobEnv;
use crate::leader::Leadership;
use crate::maintenance;
use crate::peers::{Membership, PeerView, live_peers};
use crate::poller::{self, TaskPoller};
use crate::worker;

/// What a pass did (the scheduled function's answer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// This replica's id.
    pub pod_id: String,
    /// Live peers seen (this replica included).
    pub peers: usize,
    /// Whether this replica led the pruner after the pass.
    pub leader: bool,
    /// Unfinished tasks polled.
    pub tasks_polled: u64,
    /// Tasks that reached a terminal status.
    pub tasks_finished: u64,
    /// Canaries run.
    pub canaries_run: u64,
    /// Job ids worked on.
    pub jobs: Vec<String>,
    /// Errors met (each part of the pass runs even when another failed).
    pub errors: Vec<String>,
}

/// The background work of one process.
#[derive(Debug)]
pub struct Background {
    state: AppState,
    search: Router,
    membership: Membership,
    rounds: Mutex<Rounds>,
}

/// The parts that keep memory between rounds.
#[derive(Debug)]
struct Rounds {
    leadership: Leadership,
    poller: TaskPoller,
    canaries: CanaryRunner,
}

impl Background {
    /// Background work for `state`, identified as `pod_id`; canaries search through `search`
    /// (the app's router with its layers).
    pub fn new(state: AppState, search: Router, pod_id: &str) -> Self {
        Self {
            state,
            search,
            membership: Membership::new(pod_id),
            rounds: Mutex::new(Rounds {
                leadership: Leadership::new(maintenance::SCOPE, pod_id),
                poller: TaskPoller::default(),
                canaries: CanaryRunner::default(),
            }),
        }
    }

    /// This replica's id.
    pub fn pod_id(&self) -> &str {
        self.membership.pod_id()
    }

    fn tick(&self) -> Duration {
        Duration::from_millis(self.state.config.background.tick_ms)
    }

    /// One round of the Mode A and Mode B work (no jobs).
    async fn round(&self, report: &mut PassReport) {
        let state = &self.state;
        let config = &state.config.background;
        let metrics = state.metrics.background();
        if !state.readiness.is_ready() {
            report.errors.push(
                "the task store is not ready (unavailable or at another schema version)".to_owned(),
            );
            return;
        }
        let mut rounds = self.rounds.lock().await;
        let view = match self.peer_view().await {
            Ok(view) => view,
            Err(error) => {
                report.errors.push(format!("peer set: {error}"));
                return;
            }
        };
        report.peers = view.peers.len();
        metrics.set_peers(view.peers.len());
        let orphan_after = Duration::from_secs(config.orphan_task_after_s);
        match rounds
            .poller
            .round(
                &state.store,
                &state.cluster,
                &view,
                self.tick(),
                orphan_after,
            )
            .await
        {
            Ok(round) => {
                metrics.set_owned(poller::WORKER, round.owned);
                metrics.worked(poller::WORKER, round.polled);
                report.tasks_polled += round.polled;
                report.tasks_finished += round.finished;
            }
            Err(error) => report.errors.push(format!("task poller: {error}")),
        }
        if state.config.canary_runner.enabled {
            let env = CanaryEnv {
                store: &state.store,
                cluster: &state.cluster,
                config: &state.config,
                metrics,
                search: &self.search,
            };
            match rounds.canaries.round(env, &view).await {
                Ok(round) => {
                    metrics.set_owned(canary::WORKER, round.owned);
                    metrics.worked(canary::WORKER, round.ran);
                    report.canaries_run += round.ran;
                }
                Err(error) => report.errors.push(format!("canary runner: {error}")),
            }
        }
        let lease = Duration::from_millis(config.leader_lease_ms);
        report.leader = rounds
            .leadership
            .round(&state.store, lease, metrics, |fence| async move {
                maintenance::prune(&state.store, &state.config, metrics, &fence)
                    .await
                    .map(drop)
            })
            .await;
        // Every replica reports the registry size (one O(1) read), not only the pruner's leader.
        match state.store.count_tasks().await {
            Ok(size) => metrics.set_registry_size(size),
            Err(error) => report.errors.push(format!("task registry size: {error}")),
        }
    }

    /// Renews the membership and reads the peers.
    async fn peer_view(&self) -> StoreResult<PeerView> {
        let ttl = Duration::from_millis(self.state.config.background.peer_ttl_ms);
        self.membership.heartbeat(&self.state.store, ttl).await?;
        let mut peers = live_peers(&self.state.store).await?;
        if !peers.iter().any(|peer| peer == self.pod_id()) {
            // Just renewed: the listing raced an expiry; count this replica anyway.
            peers.push(self.pod_id().to_owned());
            peers.sort();
        }
        Ok(PeerView {
            pod_id: self.pod_id().to_owned(),
            peers,
        })
    }

    /// Runs jobs one after the other until `deadline` (none: until the queue is empty).
    async fn jobs(&self, deadline: Option<Instant>, report: &mut PassReport) {
        let state = &self.state;
        if !state.readiness.is_ready() {
            return;
        }
        let env = JobEnv {
            store: &state.store,
            cluster: &state.cluster,
            config: &state.config,
        };
        while deadline.is_none_or(|deadline| Instant::now() < deadline) {
            match worker::run_next(env, self.pod_id(), state.metrics.background(), deadline).await {
                Ok(Some(job)) => {
                    state.metrics.background().worked(worker::WORKER, 1);
                    report.jobs.push(job.id);
                }
                Ok(None) => break,
                Err(error) => {
                    report.errors.push(format!("job worker: {error}"));
                    break;
                }
            }
        }
    }

    /// One bounded pass of everything (the scheduled worker function): a round, then jobs
    /// until `budget` is spent. Never fails: errors are in the report.
    pub async fn pass(&self, budget: Duration) -> PassReport {
        let deadline = Instant::now() + budget;
        let mut report = PassReport {
            pod_id: self.pod_id().to_owned(),
            ..PassReport::default()
        };
        self.round(&mut report).await;
        self.jobs(Some(deadline), &mut report).await;
        report
    }

    /// Loops until `shutdown` resolves: a round every `background.tick_ms`, and jobs on their
    /// own loop. On shutdown, leaves the peer set and releases the leader lease so peers take
    /// over at once.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tracing::info!(pod = self.pod_id(), "background work started");
        let rounds = async {
            let mut interval = tokio::time::interval(self.tick());
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let mut report = PassReport::default();
                self.round(&mut report).await;
                for error in report.errors {
                    tracing::warn!(%error, "background round");
                }
            }
        };
        let jobs = async {
            let mut interval = tokio::time::interval(self.tick());
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let mut report = PassReport::default();
                self.jobs(None, &mut report).await;
                for error in report.errors {
                    tracing::warn!(%error, "job worker");
                }
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = rounds => {}
            () = jobs => {}
        }
        let metrics = self.state.metrics.background();
        self.rounds
            .lock()
            .await
            .leadership
            .release(&self.state.store, metrics)
            .await;
        if let Ok(Some(lease)) = self
            .state
            .store
            .get_lease(&format!(
                "{}{}",
                crate::peers::PEER_SCOPE_PREFIX,
                self.pod_id()
            ))
            .await
        {
            self.membership.leave(&self.state.store, &lease).await;
        }
        tracing::info!(pod = self.pod_id(), "background work stopped");
    }
}
