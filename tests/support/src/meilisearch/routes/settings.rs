//! `/indexes/{uid}/settings` and its sub-routes (`…/settings/filterable-attributes`, …).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::{Map, Value};

use super::{Answer, Shared, enqueue, json_body, object_body, ok};
use crate::meilisearch::error::ApiError;
use crate::meilisearch::settings;
use crate::meilisearch::state::validate_index_uid;
use crate::meilisearch::tasks::Operation;

/// The setting key of sub-route `route`, or 404 `not_found`.
fn key(route: &str) -> Result<&'static str, ApiError> {
    settings::key_of_route(route).ok_or_else(|| ApiError::new("not_found", "Not Found."))
}

/// Validates `update` and enqueues it as a settingsUpdate.
fn enqueue_update(node: &Shared, uid: &str, update: Map<String, Value>) -> Answer {
    settings::validate(&update)?;
    enqueue(node, uid, Operation::SettingsUpdate { update })
}

/// `GET /indexes/{uid}/settings`.
pub(crate) async fn get_all(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    validate_index_uid(&uid)?;
    ok(Value::Object(node.lock().index(&uid)?.settings.clone()))
}

/// `PATCH /indexes/{uid}/settings`: merges the given keys.
pub(crate) async fn update_all(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let update = object_body(body)?;
    enqueue_update(&node, &uid, update)
}

/// `DELETE /indexes/{uid}/settings`: resets every setting.
pub(crate) async fn reset_all(State(node): State<Shared>, Path(uid): Path<String>) -> Answer {
    enqueue_update(&node, &uid, settings::reset_all())
}

/// `GET /indexes/{uid}/settings/{setting}`.
pub(crate) async fn get_one(
    State(node): State<Shared>,
    Path((uid, route)): Path<(String, String)>,
) -> Answer {
    let key = key(&route)?;
    validate_index_uid(&uid)?;
    let state = node.lock();
    let index = state.index(&uid)?;
    ok(index.settings.get(key).cloned().unwrap_or(Value::Null))
}

/// `PUT|PATCH /indexes/{uid}/settings/{setting}` with the bare value as body.
pub(crate) async fn update_one(
    State(node): State<Shared>,
    Path((uid, route)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let key = key(&route)?;
    let value = json_body(body)?;
    enqueue_update(&node, &uid, Map::from_iter([(key.to_owned(), value)]))
}

/// `DELETE /indexes/{uid}/settings/{setting}`: resets that setting.
pub(crate) async fn reset_one(
    State(node): State<Shared>,
    Path((uid, route)): Path<(String, String)>,
) -> Answer {
    let key = key(&route)?;
    enqueue_update(&node, &uid, Map::from_iter([(key.to_owned(), Value::Null)]))
}
