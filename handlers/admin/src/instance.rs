//! Instance routes: `/experimental-features` (the nodes' own, changed on every node) and
//! `/network` (Miroir describes itself: one instance in front of its nodes).

use axum::Json;
use axum::extract::State;
use miroir_core::cluster::Cluster;
use miroir_core::node::{Method, NodeError};
use miroir_core::{ApiError, Code};
use miroir_http::{AppState, HttpResult, JsonBody};
use serde_json::{Value, json};

/// The experimental features of the nodes.
///
/// Answered by one node: Miroir keeps every node's features equal (each change goes to all).
#[utoipa::path(
    get,
    path = "/experimental-features",
    tag = "instance",
    responses(
        (status = 200, description = "The features, by name.", body = Object),
        (status = 404, description = "The nodes do not serve experimental features (`not_found`, relayed: not Meilisearch nodes, or older ones)."),
    )
)]
pub(crate) async fn get_features(State(state): State<AppState>) -> HttpResult<Json<Value>> {
    Ok(Json(
        state.cluster.read_any("/experimental-features").await?,
    ))
}

/// Change experimental features.
///
/// Sent to every node; the answer is the first node's. A node's refusal (an unknown feature, a
/// value that is not a boolean) is answered as it wrote it; a node that did not answer makes
/// the answer 503 `miroir_node_unavailable`, naming it (the nodes that answered changed).
#[utoipa::path(
    patch,
    path = "/experimental-features",
    tag = "instance",
    request_body(content = Object, description = "Feature name → boolean."),
    responses(
        (status = 200, description = "Every feature, by name, after the change.", body = Object),
        (status = 400, description = "An unknown feature or a value that is not a boolean (`bad_request`)."),
        (status = 404, description = "The nodes do not serve experimental features (`not_found`, relayed: not Meilisearch nodes, or older ones)."),
        (status = 503, description = "A node did not answer (`miroir_node_unavailable`)."),
    )
)]
pub(crate) async fn patch_features(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> HttpResult<Json<Value>> {
    state.cluster.require_nodes()?;
    let body = body.to_string().into_bytes();
    let cluster = &state.cluster;
    let calls = cluster.broadcast(&Method::PATCH, "/experimental-features", Some(&body));
    let mut answer = None;
    let mut unanswered = Vec::new();
    for (node, result) in cluster.call_all(calls).await {
        let node = cluster.topology().node(node);
        match result.and_then(|response| response.json::<Value>()) {
            Ok(features) => {
                answer.get_or_insert(features);
            }
            Err(error @ NodeError::Api(_)) => return Err(error.to_api_error(node).into()),
            Err(_) => unanswered.push(format!("`{}`", node.id)),
        }
    }
    match answer {
        Some(features) if unanswered.is_empty() => Ok(Json(features)),
        _ => Err(ApiError::new(
            Code::MiroirNodeUnavailable,
            format!(
                "Node(s) {} did not answer: their experimental features may differ from the \
                 other nodes'. Send the change again.",
                unanswered.join(", ")
            ),
        )
        .into()),
    }
}

/// The network of Miroir.
///
/// Miroir is one instance in front of its nodes: no `self`, no remotes. As in Meilisearch, the
/// route needs the `network` experimental feature.
#[utoipa::path(
    get,
    path = "/network",
    tag = "instance",
    responses(
        (status = 200, description = "`{self, remotes, shards, leader, version}`.", body = Object),
        (status = 400, description = "The `network` experimental feature is off (`feature_not_enabled`)."),
        (status = 404, description = "The nodes do not serve experimental features (`not_found`, relayed: not Meilisearch nodes, or older ones)."),
    )
)]
pub(crate) async fn get_network(State(state): State<AppState>) -> HttpResult<Json<Value>> {
    require_network_feature(&state.cluster).await?;
    Ok(Json(json!({
        "self": null,
        "remotes": {},
        "shards": {},
        "leader": null,
        "version": "00000000-0000-0000-0000-000000000000",
    })))
}

/// Change the network: refused.
///
/// Miroir is the network of its nodes (its own topology); a Meilisearch network of remotes
/// cannot be configured through it (400 `miroir_network_unsupported`).
#[utoipa::path(
    patch,
    path = "/network",
    tag = "instance",
    request_body(content = Object, description = "Meilisearch's network object."),
    responses(
        (status = 400, description = "Always: `miroir_network_unsupported` (or `feature_not_enabled`)."),
        (status = 404, description = "The nodes do not serve experimental features (`not_found`, relayed: not Meilisearch nodes, or older ones)."),
    )
)]
pub(crate) async fn patch_network(State(state): State<AppState>) -> HttpResult<Json<Value>> {
    require_network_feature(&state.cluster).await?;
    Err(ApiError::new(
        Code::MiroirNetworkUnsupported,
        "Miroir presents its nodes as one instance and manages their topology itself: a \
         Meilisearch network (`self`, `remotes`, `shards`) cannot be set through it.",
    )
    .into())
}

/// `feature_not_enabled`, as Meilisearch answers, unless the nodes have `network` on.
async fn require_network_feature(cluster: &Cluster) -> Result<(), ApiError> {
    let features: Value = cluster.read_any("/experimental-features").await?;
    if features["network"] == Value::Bool(true) {
        return Ok(());
    }
    Err(ApiError::new(
        Code::FeatureNotEnabled,
        "Using the /network route requires enabling the `network` experimental feature. See \
         https://github.com/orgs/meilisearch/discussions/805",
    ))
}
