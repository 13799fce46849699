//! `GET /indexes/{uid}/stats` and `GET /stats`: every node asked, counts combined.
//!
//! Every document is held by `RF × RG` nodes, so document and field counts are summed over the
//! nodes and divided by that number; sizes are summed as they are (they are the fleet's disk);
//! `isIndexing` is true when any node indexes; `lastUpdate` is the latest. Reserved `_miroir_*`
//! fields are left out of `fieldDistribution`. All nodes must answer: a partial sum would be
//! wrong without saying so.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use miroir_core::ApiError;
use miroir_core::cluster::Cluster;
use miroir_core::node::{Method, node_path};
use miroir_http::{AppState, HttpResult, IndexPath, alias};
use serde_json::{Map, Value, json};

/// Index statistics.
///
/// `{numberOfDocuments, rawDocumentDbSize, avgDocumentSize, isIndexing, numberOfEmbeddings,
/// numberOfEmbeddedDocuments, fieldDistribution}` combined over every node.
#[utoipa::path(
    get,
    path = "/indexes/{uid}/stats",
    tag = "indexes",
    params(("uid" = String, Path, description = "The index uid.")),
    responses(
        (status = 200, description = "The index's statistics."),
        (status = 404, description = "`index_not_found`."),
    )
)]
pub(crate) async fn index_stats(
    State(state): State<AppState>,
    IndexPath(uid): IndexPath,
) -> HttpResult<Json<Value>> {
    let uid = alias::read_target(&state, uid.as_str()).await?;
    let answers = ask_all(
        &state.cluster,
        &node_path(["indexes", uid.as_str(), "stats"]),
    )
    .await?;
    let answers: Vec<&Value> = answers.iter().collect();
    Ok(Json(combine_index(&answers, state.cluster.copies())))
}

/// Global statistics.
///
/// `{databaseSize, usedDatabaseSize, lastUpdate, indexes: {uid: stats}}` combined over every node.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "indexes",
    responses((status = 200, description = "Statistics of every index."))
)]
pub(crate) async fn global_stats(State(state): State<AppState>) -> HttpResult<Json<Value>> {
    let answers = ask_all(&state.cluster, "/stats").await?;
    let copies = state.cluster.copies();
    let sum = |key: &str| -> u64 {
        answers
            .iter()
            .filter_map(|answer| answer.get(key).and_then(Value::as_u64))
            .sum()
    };
    let last_update = answers
        .iter()
        .filter_map(|answer| answer.get("lastUpdate").and_then(Value::as_str))
        .max()
        .map(str::to_owned);
    let mut per_index: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for answer in &answers {
        for (uid, stats) in answer
            .get("indexes")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            per_index.entry(uid.clone()).or_default().push(stats);
        }
    }
    let indexes: Map<String, Value> = per_index
        .into_iter()
        .map(|(uid, stats)| (uid, combine_index(&stats, copies)))
        .collect();
    Ok(Json(json!({
        "databaseSize": sum("databaseSize"),
        "usedDatabaseSize": sum("usedDatabaseSize"),
        "lastUpdate": last_update,
        "indexes": indexes,
    })))
}

/// Every node's answer to `GET path`; the first failure is the answer.
async fn ask_all(cluster: &Cluster, path: &str) -> Result<Vec<Value>, ApiError> {
    cluster.require_nodes()?;
    let results = cluster
        .call_all(cluster.broadcast(&Method::GET, path, None))
        .await;
    let mut answers = Vec::with_capacity(results.len());
    for (node, result) in results {
        let node = cluster.topology().node(node);
        let value = result
            .and_then(|response| response.json::<Value>())
            .map_err(|error| error.to_api_error(node))?;
        answers.push(value);
    }
    Ok(answers)
}

/// One index's statistics from every node's.
fn combine_index(answers: &[&Value], copies: u64) -> Value {
    let copies = copies.max(1);
    let sum = |key: &str| -> u64 {
        answers
            .iter()
            .filter_map(|answer| answer.get(key).and_then(Value::as_u64))
            .sum()
    };
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    for answer in answers {
        for (field, count) in answer
            .get("fieldDistribution")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if !field.starts_with("_miroir_") {
                *fields.entry(field.clone()).or_default() += count.as_u64().unwrap_or(0);
            }
        }
    }
    let documents = sum("numberOfDocuments") / copies;
    let raw_size = sum("rawDocumentDbSize");
    json!({
        "numberOfDocuments": documents,
        "rawDocumentDbSize": raw_size,
        "avgDocumentSize": (raw_size / copies).checked_div(documents).unwrap_or(0),
        "isIndexing": answers
            .iter()
            .any(|answer| answer.get("isIndexing").and_then(Value::as_bool) == Some(true)),
        "numberOfEmbeddings": sum("numberOfEmbeddings") / copies,
        "numberOfEmbeddedDocuments": sum("numberOfEmbeddedDocuments") / copies,
        "fieldDistribution": fields
            .into_iter()
            .map(|(field, count)| (field, Value::from(count / copies)))
            .collect::<Map<String, Value>>(),
    })
}
