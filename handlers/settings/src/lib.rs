//! `miroir-handler-settings`: the settings routes (plan §2 "Index settings and schema changes").
//!
//! - `GET /indexes/{uid}/settings` and `GET …/settings/{name}`: read from one node (every node
//!   holds the same settings).
//! - `PATCH /indexes/{uid}/settings`, `PUT|PATCH|DELETE …/settings/{name}` and `DELETE
//!   …/settings`: one `settingsUpdate` task broadcast to every node. A sub-route change is sent
//!   as the equivalent `PATCH` of the whole settings object (`{"synonyms": …}`, `null` to reset).
//!
//! Miroir's reserved settings (`miroir_core::reserved`: `_miroir_shard` filterable, its ranking
//! rule last) hold whatever the client sets and are never shown: a write naming
//! `filterableAttributes` or `rankingRules` gets Miroir's item added; a write that does not is
//! sent, to each node where the index does not exist yet (the update creates it there, as in
//! Meilisearch) or has lost an item, with the node's value plus Miroir's item. Each node that
//! applies a change records the task uid as its settings version for the index (see
//! `miroir_core::refresh`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Json, Router};
use miroir_core::catalog::Catalog;
use miroir_core::node::{Method, NodeError, node_path};
use miroir_core::reserved;
use miroir_core::{ApiError, Code, IndexUid};
use miroir_http::object::Object;
use miroir_http::write::{Write, accept_write, fingerprint};
use miroir_http::{AppState, HttpResult, IndexPath, JsonBody, alias};
use miroir_store::{IndexRecord, TaskKind};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The settings routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, update_settings, reset_settings))
        .routes(routes!(
            get_setting,
            put_setting,
            patch_setting,
            reset_setting
        ))
}

/// The settings routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// Sub-route names and the settings key each stands for.
const SETTINGS: &[(&str, &str)] = &[
    ("displayed-attributes", "displayedAttributes"),
    ("searchable-attributes", "searchableAttributes"),
    ("filterable-attributes", "filterableAttributes"),
    ("sortable-attributes", "sortableAttributes"),
    ("ranking-rules", "rankingRules"),
    ("stop-words", "stopWords"),
    ("non-separator-tokens", "nonSeparatorTokens"),
    ("separator-tokens", "separatorTokens"),
    ("dictionary", "dictionary"),
    ("synonyms", "synonyms"),
    ("distinct-attribute", "distinctAttribute"),
    ("proximity-precision", "proximityPrecision"),
    ("typo-tolerance", "typoTolerance"),
    ("faceting", "faceting"),
    ("pagination", "pagination"),
    ("embedders", "embedders"),
    ("search-cutoff-ms", "searchCutoffMs"),
    ("localized-attributes", "localizedAttributes"),
    ("facet-search", "facetSearch"),
    ("prefix-search", "prefixSearch"),
];

/// The node path `/indexes/{uid}/settings`.
fn settings_path(uid: &str) -> String {
    node_path(["indexes", uid, "settings"])
}

fn setting_key(name: &str) -> Result<&'static str, ApiError> {
    SETTINGS
        .iter()
        .find(|(route, _)| *route == name)
        .map(|(_, key)| *key)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("Setting `{name}` does not exist.")))
}

/// Get every setting.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/settings",
    tag = "settings",
    params(("uid" = String, Path, description = "The index uid.")),
    responses(
        (status = 200, description = "The settings object."),
        (status = 404, description = "`index_not_found`."),
    )
)]
async fn get_settings(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
) -> HttpResult<Json<Value>> {
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let mut settings: Value = state.cluster.read_any(&settings_path(&uid)).await?;
    reserved::for_clients(&mut settings);
    Ok(Json(settings))
}

/// Update settings.
///
/// Broadcast to every node as one `settingsUpdate` task.
#[utoipa::path(
    patch,
    path = "/indexes/{uid}/settings",
    tag = "settings",
    params(("uid" = String, Path, description = "The index uid.")),
    request_body(content = Object, description = "The settings to change."),
    responses((status = 202, description = "The summarized `settingsUpdate` task."))
)]
async fn update_settings(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
    JsonBody(Object(body)): JsonBody<Object<Map<String, Value>>>,
) -> HttpResult<Response> {
    broadcast_settings(&state, &uid, &headers, body).await
}

/// Reset every setting.
///
/// One settings update on every node that sets each setting to `null` (its default), with
/// Miroir's reserved settings kept in the same update, so no search ever finds the index
/// without them (a `DELETE` of the node's settings followed by a repair would leave a window).
#[utoipa::path(
    delete,
    path = "/indexes/{uid}/settings",
    tag = "settings",
    params(("uid" = String, Path, description = "The index uid.")),
    responses((status = 202, description = "The summarized `settingsUpdate` task."))
)]
async fn reset_settings(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let defaults = SETTINGS
        .iter()
        .map(|(_, key)| ((*key).to_owned(), Value::Null))
        .collect();
    broadcast_settings(&state, &uid, &headers, defaults).await
}

/// Get one setting.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/settings/{name}",
    tag = "settings",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("name" = String, Path, description = "The setting, e.g. `filterable-attributes`."),
    ),
    responses((status = 200, description = "The setting's value."))
)]
async fn get_setting(
    State(state): State<AppState>,
    IndexPath((uid, name)): IndexPath<(IndexUid, String)>,
) -> HttpResult<Json<Value>> {
    let key = setting_key(&name)?;
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let mut settings: Value = state.cluster.read_any(&settings_path(&uid)).await?;
    reserved::for_clients(&mut settings);
    Ok(Json(settings.get(key).cloned().unwrap_or(Value::Null)))
}

/// Set one setting.
#[utoipa::path(
    put,
    path = "/indexes/{uid}/settings/{name}",
    tag = "settings",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("name" = String, Path, description = "The setting, e.g. `filterable-attributes`."),
    ),
    request_body(content = Object, description = "The setting's new value."),
    responses((status = 202, description = "The summarized `settingsUpdate` task."))
)]
async fn put_setting(
    State(state): State<AppState>,
    IndexPath((uid, name)): IndexPath<(IndexUid, String)>,
    headers: HeaderMap,
    JsonBody(value): JsonBody<Value>,
) -> HttpResult<Response> {
    let key = setting_key(&name)?;
    broadcast_settings(
        &state,
        &uid,
        &headers,
        [(key.to_owned(), value)].into_iter().collect(),
    )
    .await
}

/// Change one setting (the object settings: typo tolerance, faceting, pagination, …).
#[utoipa::path(
    patch,
    path = "/indexes/{uid}/settings/{name}",
    tag = "settings",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("name" = String, Path, description = "The setting, e.g. `typo-tolerance`."),
    ),
    request_body(content = Object, description = "The setting's changes."),
    responses((status = 202, description = "The summarized `settingsUpdate` task."))
)]
async fn patch_setting(
    state: State<AppState>,
    path: IndexPath<(IndexUid, String)>,
    headers: HeaderMap,
    body: JsonBody<Value>,
) -> HttpResult<Response> {
    put_setting(state, path, headers, body).await
}

/// Reset one setting.
#[utoipa::path(
    delete,
    path = "/indexes/{uid}/settings/{name}",
    tag = "settings",
    params(
        ("uid" = String, Path, description = "The index uid."),
        ("name" = String, Path, description = "The setting, e.g. `synonyms`."),
    ),
    responses((status = 202, description = "The summarized `settingsUpdate` task."))
)]
async fn reset_setting(
    State(state): State<AppState>,
    IndexPath((uid, name)): IndexPath<(IndexUid, String)>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let key = setting_key(&name)?;
    broadcast_settings(
        &state,
        &uid,
        &headers,
        [(key.to_owned(), Value::Null)].into_iter().collect(),
    )
    .await
}

/// One `settingsUpdate` task: `settings` as a `PATCH` on every node.
async fn broadcast_settings(
    state: &AppState,
    uid: &IndexUid,
    headers: &HeaderMap,
    mut settings: Map<String, Value>,
) -> HttpResult<Response> {
    state.cluster.require_nodes()?;
    let uid = &alias::write_target(state, uid.as_str()).await?;
    Catalog::new(state.store.as_ref(), &state.cluster)
        .settled(uid)
        .await?;
    let details = Value::Object(settings.clone());
    reserved::for_nodes(&mut settings);
    let path = settings_path(uid);
    let body = serde_json::to_vec(&settings).unwrap_or_default();
    let write = Write {
        index_uid: Some(uid.to_owned()),
        kind: TaskKind::SettingsUpdate,
        details,
        fingerprint: fingerprint("PATCH", &path, &body),
    };
    let mut calls = state.cluster.broadcast(&Method::PATCH, &path, Some(&body));
    let mut creating = None;
    if reserved::KEYS
        .iter()
        .any(|key| !settings.contains_key(*key))
    {
        for (node, patch) in missing_reserved(state, &path, &settings).await {
            if let Some(call) = calls.iter_mut().find(|call| call.node == node) {
                let mut repaired = settings.clone();
                repaired.extend(patch);
                call.body = Some(serde_json::to_vec(&repaired).unwrap_or_default());
            }
        }
        // What every node gets when the update creates the index: the reserved defaults too.
        let mut created = settings.clone();
        created.extend(reserved::missing(None, &settings));
        creating = Some(serde_json::to_vec(&created).unwrap_or_default());
    }
    let (store, cluster) = (state.store.clone(), state.cluster.clone());
    let uid = uid.clone();
    accept_write(state, headers, write, move |fan_out| async move {
        // The index was deleted since the nodes were asked (the record is no longer active):
        // this update re-creates it on every node.
        if let Some(creating) =
            creating.filter(|_| !fan_out.record.as_ref().is_some_and(IndexRecord::is_active))
        {
            for call in &mut calls {
                call.body = Some(creating.clone());
            }
        }
        let update = cluster.write(fan_out.marker.mark(calls), None);
        Catalog::new(store.as_ref(), &cluster)
            .write_creating(&uid, fan_out.record, update)
            .await
    })
    .await
}

/// For an update that does not name every reserved setting: the nodes where one of Miroir's
/// items would be missing after it, each with what to add to the update
/// ([`reserved::missing`]). The nodes are asked for their settings in parallel:
///
/// - `index_not_found`: the update creates the index there (as in Meilisearch), with the
///   defaults, so it also sets Miroir's items;
/// - settings without an item (an index created on the node directly, or by a Miroir older
///   than the item): the update also sets the node's value with the item added, which repairs
///   the index;
/// - anything else (nothing missing, the node refuses or does not answer): unchanged.
async fn missing_reserved(
    state: &AppState,
    settings_path: &str,
    update: &Map<String, Value>,
) -> Vec<(usize, Map<String, Value>)> {
    let answers = state
        .cluster
        .call_all(state.cluster.broadcast(&Method::GET, settings_path, None))
        .await;
    answers
        .into_iter()
        .filter_map(|(node, answer)| {
            let patch = match answer {
                Err(NodeError::Api(error)) if error.code == "index_not_found" => {
                    reserved::missing(None, update)
                }
                Ok(response) => reserved::missing(Some(&response.json::<Value>().ok()?), update),
                Err(_) => return None,
            };
            (!patch.is_empty()).then_some((node, patch))
        })
        .collect()
}
