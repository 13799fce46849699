//! Leader-only work (plan §14.5 Mode B): one replica at a time holds the lease of a scope and
//! does the scope's work, every write of it carrying the lease's [`Fence`].
//!
//! The lease is renewed after each round of work, not before: a holder that was paused (GC,
//! `SIGSTOP`, a frozen VM) past its lease therefore resumes by attempting a fenced write, which
//! the store refuses once another replica took the lease. That refusal, not a local clock, is
//! what makes a stale leader step down, so nothing it does after losing the lease takes effect.

use std::time::Duration;

use miroir_http::metrics::BackgroundMetrics;
use miroir_store::{DynStore, Fence, Lease, StoreError, StoreResult};

/// One replica's claim on a leader scope.
#[derive(Debug)]
pub struct Leadership {
    scope: &'static str,
    pod_id: String,
    held: Option<Lease>,
}

impl Leadership {
    /// Not holding `scope` yet.
    pub fn new(scope: &'static str, pod_id: &str) -> Self {
        Self {
            scope,
            pod_id: pod_id.to_owned(),
            held: None,
        }
    }

    /// The scope.
    pub fn scope(&self) -> &'static str {
        self.scope
    }

    /// The fence of the lease this replica believes it holds.
    pub fn fence(&self) -> Option<Fence> {
        self.held.as_ref().map(Fence::from)
    }

    /// One round: if leading, runs `work` with the fence, stepping down when the store refuses
    /// it as stale; then takes or renews the lease for `ttl`. Returns whether this replica
    /// leads afterwards. Store outages are logged and leave the state as it was.
    pub async fn round<F, Fut>(
        &mut self,
        store: &DynStore,
        ttl: Duration,
        metrics: &BackgroundMetrics,
        work: F,
    ) -> bool
    where
        F: FnOnce(Fence) -> Fut,
        Fut: Future<Output = StoreResult<()>>,
    {
        if let Some(fence) = self.fence() {
            match work(fence).await {
                Ok(()) => {}
                Err(StoreError::Fenced { current, token, .. }) => {
                    tracing::warn!(
                        scope = self.scope,
                        token,
                        current,
                        "lost the lease while away: fenced write refused, stepping down"
                    );
                    metrics.fenced_write(self.scope);
                    self.step_down(metrics);
                }
                Err(error) => {
                    tracing::warn!(scope = self.scope, %error, "leader work failed; retried next round");
                }
            }
        }
        match store.acquire_lease(self.scope, &self.pod_id, ttl).await {
            Ok(Some(lease)) => {
                if self.held.as_ref().map(|held| held.token) != Some(lease.token) {
                    tracing::info!(
                        scope = self.scope,
                        token = lease.token,
                        "took the leader lease"
                    );
                }
                self.held = Some(lease);
                metrics.set_leader(self.scope, true);
            }
            Ok(None) => {
                if self.held.is_some() {
                    tracing::warn!(
                        scope = self.scope,
                        "another replica holds the leader lease, stepping down"
                    );
                }
                self.step_down(metrics);
            }
            Err(error) => {
                tracing::warn!(scope = self.scope, %error, "leader lease not renewed");
            }
        }
        self.held.is_some()
    }

    /// Forgets the lease (it is not released: a stale holder has nothing to release).
    fn step_down(&mut self, metrics: &BackgroundMetrics) {
        self.held = None;
        metrics.set_leader(self.scope, false);
    }

    /// Releases the lease on a clean shutdown, so another replica leads at once.
    pub async fn release(&mut self, store: &DynStore, metrics: &BackgroundMetrics) {
        if let Some(lease) = self.held.take() {
            if let Err(error) = store
                .release_lease(self.scope, &self.pod_id, lease.token)
                .await
            {
                tracing::warn!(scope = self.scope, %error, "leader lease not released; it expires on its own");
            }
            metrics.set_leader(self.scope, false);
        }
    }
}
