//! Read-your-writes with `X-Miroir-Session` (plan §13.6).
//!
//! - A write carrying the header records, in the store, the session's last task and its pinned
//!   group: the lowest-numbered group that reached its write quorum for every shard.
//! - A read carrying the header whose session has a write still in flight is routed to the
//!   pinned group ([`read_group`]); with `wait_strategy: block` it first waits, polling the task
//!   (25 ms, doubling up to 200 ms), until the task is terminal or `max_wait_ms` passed. Waiting
//!   for the whole task (every group) is stricter than the plan's "the pinned group succeeded",
//!   and just as bounded.
//! - A read whose session has no write in flight, or no session, routes normally.
//!
//! Sessions live `session_pinning.ttl_seconds` after their last write; the store expires them.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use miroir_core::ApiError;
use miroir_core::cluster::WriteOutcome;
use miroir_core::refresh::refresh_task;
use miroir_store::{Session, Task, Timestamp};

use crate::state::AppState;

/// The request and response header naming a session.
pub const SESSION_HEADER: &str = "x-miroir-session";

/// Longest accepted session id.
const MAX_SESSION_LEN: usize = 128;

/// The session id of the request, when pinning is enabled and a usable id was sent.
pub fn session_id(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if !state.config.session_pinning.enabled {
        return None;
    }
    headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_SESSION_LEN)
        .map(str::to_owned)
}

/// Records `task` as the session's last write, pinned to the first group that reached quorum.
pub async fn record_write(
    state: &AppState,
    session_id: String,
    task: &Task,
    outcome: &WriteOutcome,
) -> Result<(), ApiError> {
    let groups = state.cluster.topology().groups();
    let pinned_group = (0..groups).find(|group| !outcome.degraded.contains_key(group));
    let now = Timestamp::now();
    state
        .store
        .put_session(Session {
            session_id,
            last_write_task_uid: Some(task.uid),
            last_write_at: Some(now),
            pinned_group,
            min_settings_version: 0,
            expires_at: now.plus(Duration::from_secs(
                state.config.session_pinning.ttl_seconds,
            )),
        })
        .await?;
    Ok(())
}

/// The group a read of this request must go to: the session's pinned group while its last
/// write is in flight (after waiting for it with `wait_strategy: block`), else `None`.
pub async fn read_group(state: &AppState, headers: &HeaderMap) -> Result<Option<u32>, ApiError> {
    let Some(id) = session_id(state, headers) else {
        return Ok(None);
    };
    let Some(session) = state.store.get_session(&id).await? else {
        return Ok(None);
    };
    let (Some(uid), Some(group)) = (session.last_write_task_uid, session.pinned_group) else {
        return Ok(None);
    };
    let Some(mut task) = state.store.get_task(uid).await? else {
        return Ok(None);
    };
    if task.status.is_terminal() {
        return Ok(None);
    }
    let pinning = &state.config.session_pinning;
    if pinning.wait_strategy == miroir_core::config::WaitStrategy::Block {
        let deadline = Instant::now() + Duration::from_millis(pinning.max_wait_ms);
        let mut pause = Duration::from_millis(25);
        loop {
            task = refresh_task(&state.store, &state.cluster, task).await?;
            if task.status.is_terminal() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
    Ok(Some(group))
}
