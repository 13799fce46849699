//! One search from the client's index uid to the merged response: resolve the index, scatter,
//! apply `unavailable_shard_policy`, merge.

use std::borrow::Cow;
use std::collections::BTreeSet;

use miroir_core::ApiError;
use miroir_core::cluster::Cluster;
use miroir_core::config::UnavailableShardPolicy;
use miroir_core::routing::Shard;
use miroir_http::{AppState, alias};

use crate::request::SearchRequest;
use crate::response::SearchResponse;
use crate::scatter;

/// A merged search and the shards it had to leave out.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The response body.
    pub(crate) response: SearchResponse,
    /// Shards no node answered for (`partial` policy only): `X-Miroir-Degraded`.
    pub(crate) degraded: BTreeSet<Shard>,
}

/// Runs `request` on the index `uid` names, or on every index of the alias it names (their hits
/// merged by ranking score, as one index), in `pinned_group` when a session pins one
/// (`miroir_http::session`).
///
/// Shards no node could answer for: with policy `partial` the response holds what the other
/// shards found and `degraded` names them; with policy `error` (or when no shard at all was
/// answered: there is no partial result to give) 503 `miroir_shard_unavailable`.
pub(crate) async fn run(
    state: &AppState,
    uid: &str,
    request: &SearchRequest,
    pinned_group: Option<u32>,
) -> Result<Outcome, ApiError> {
    let targets = alias::read_targets(state, uid).await?;
    // Indexes with their own rules share only the ranking score.
    let mut request = Cow::Borrowed(request);
    if targets.len() > 1 {
        request.to_mut().rules.by_score = true;
    }
    let mut gathered = scatter::Gathered::default();
    for index in targets {
        let one = scatter::gather(&state.cluster, &index, &request, pinned_group).await?;
        gathered.answers.extend(one.answers);
        gathered.missing.extend(one.missing);
    }
    require_answerable(
        &state.cluster,
        uid,
        !gathered.answers.is_empty(),
        &gathered.missing,
    )?;
    Ok(Outcome {
        response: SearchResponse::merge(&request, &gathered.answers),
        degraded: gathered.missing,
    })
}

/// `unavailable_shard_policy` applied to a read of `uid` that left the shards `missing` out:
/// 503 `miroir_shard_unavailable` when some are missing and the policy is `error`, or when no
/// node answered at all (`answered` false: there is no partial result to give); else the read
/// stands (partial, the missing shards named in `X-Miroir-Degraded`).
pub(crate) fn require_answerable(
    cluster: &Cluster,
    uid: &str,
    answered: bool,
    missing: &BTreeSet<Shard>,
) -> Result<(), ApiError> {
    if !missing.is_empty()
        && (!answered || cluster.unavailable_shard_policy() == UnavailableShardPolicy::Error)
    {
        return Err(scatter::unavailable(uid, missing));
    }
    Ok(())
}

/// The `X-Miroir-Degraded` value for `shards` (`shards=3,7,11`), `None` when empty.
pub(crate) fn degraded_header(shards: &BTreeSet<Shard>) -> Option<String> {
    if shards.is_empty() {
        return None;
    }
    let list: Vec<String> = shards.iter().map(Shard::to_string).collect();
    Some(format!("shards={}", list.join(",")))
}
