//! Live fault injection: switches a test flips while the node serves.
//!
//! Every switch is an atomic, so a test may flip it from any thread at any time; the server and the
//! task processor read it at the moment they need it (each response, each processed task).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The faults a [`TestNode`](super::TestNode) is currently injecting. All methods take `&self` and
/// are thread-safe.
#[derive(Debug, Default)]
pub struct Faults {
    latency_nanos: AtomicU64,
    task_delay_nanos: AtomicU64,
    fail_tasks: AtomicBool,
    reject_writes: AtomicBool,
}

/// A duration as nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Faults {
    pub(crate) fn new(task_delay: Duration) -> Self {
        let faults = Self::default();
        faults.set_task_delay(task_delay);
        faults
    }

    /// Delays every response (every route, `/health` included) by `latency`: a slow node. The
    /// request is handled first, then the response waits. `Duration::ZERO` turns it off.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(nanos(latency), Ordering::SeqCst);
    }

    /// The current response latency.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::SeqCst))
    }

    /// While on, every task the processor finishes ends `failed` with an `internal` error and
    /// changes nothing.
    pub fn set_fail_tasks(&self, on: bool) {
        self.fail_tasks.store(on, Ordering::SeqCst);
    }

    /// Whether tasks are currently made to fail.
    pub fn fail_tasks(&self) -> bool {
        self.fail_tasks.load(Ordering::SeqCst)
    }

    /// While on, every write route (everything that would enqueue a task) answers 500 `internal`
    /// without enqueuing anything. Reads, searches and document fetches still answer.
    pub fn set_reject_writes(&self, on: bool) {
        self.reject_writes.store(on, Ordering::SeqCst);
    }

    /// Whether writes are currently rejected.
    pub fn reject_writes(&self) -> bool {
        self.reject_writes.load(Ordering::SeqCst)
    }

    /// How long each task stays `processing` before its change is applied.
    pub fn set_task_delay(&self, delay: Duration) {
        self.task_delay_nanos.store(nanos(delay), Ordering::SeqCst);
    }

    /// The current processing time of each task.
    pub fn task_delay(&self) -> Duration {
        Duration::from_nanos(self.task_delay_nanos.load(Ordering::SeqCst))
    }
}
