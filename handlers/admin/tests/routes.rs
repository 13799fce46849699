//! The service routes without a server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_http::AppState;
use miroir_store::SCHEMA_VERSION;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn app(migrated: bool) -> Router {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    if migrated {
        store.migrate().await.unwrap();
    }
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    miroir_handler_admin::router(state)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_and_version() {
    let app = app(false).await;
    assert_eq!(
        get(&app, "/health").await,
        (StatusCode::OK, json!({"status": "available"}))
    );
    let (status, body) = get(&app, "/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pkgVersion"], env!("CARGO_PKG_VERSION"));
    assert!(body["commitSha"].is_string() && body["commitDate"].is_string());
}

#[tokio::test]
async fn ready_follows_the_schema_version() {
    let (status, body) = get(&app(true).await, "/_miroir/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ready", "schemaVersion": SCHEMA_VERSION})
    );

    let (status, body) = get(&app(false).await, "/_miroir/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "miroir_schema_mismatch");
}

/// `GET /_miroir/metrics` as text.
async fn metrics_text(app: &Router) -> String {
    let response = app
        .clone()
        .oneshot(
            Request::get("/_miroir/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The queue depth samples of `text`, by job type (sorted: the encoder's order is not fixed).
fn queue_depths(text: &str) -> Vec<(String, f64)> {
    let mut samples: Vec<(String, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("miroir_background_queue_depth{job_type=\"")?;
            let (kind, value) = rest.split_once("\"} ")?;
            Some((kind.to_owned(), value.parse().ok()?))
        })
        .collect();
    samples.sort_by(|left, right| left.0.cmp(&right.0));
    samples
}

/// `pairs` as [`queue_depths`] returns them.
fn depths(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    let mut samples: Vec<(String, f64)> = pairs
        .iter()
        .map(|(kind, value)| ((*kind).to_owned(), *value))
        .collect();
    samples.sort_by(|left, right| left.0.cmp(&right.0));
    samples
}

#[tokio::test]
async fn metrics_read_the_queue_depth_from_the_store_at_scrape_time() {
    use miroir_store::{JobKind, NewJob};

    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store.clone(), Config::default(), Duration::from_secs(60)).await;
    let app = miroir_handler_admin::router(state);
    let text = metrics_text(&app).await;
    assert!(
        text.contains("# TYPE miroir_background_queue_depth gauge"),
        "{text}"
    );
    assert_eq!(
        queue_depths(&text),
        depths(&[
            ("dump_import", 0.0),
            ("reshard_backfill", 0.0),
            ("reindex", 0.0)
        ]),
        "every type is reported, 0 when empty"
    );

    for kind in [JobKind::DumpImport, JobKind::DumpImport, JobKind::Reindex] {
        let job = NewJob {
            kind,
            params: json!({}),
            max_attempts: 1,
        };
        store.enqueue_job(job).await.unwrap();
    }
    let lease = Duration::from_secs(60);
    store.claim_next_job("pod-a", lease).await.unwrap().unwrap();
    let text = metrics_text(&app).await;
    assert_eq!(
        queue_depths(&text),
        depths(&[
            ("dump_import", 1.0),
            ("reshard_backfill", 0.0),
            ("reindex", 1.0)
        ]),
        "{text}"
    );
    // A drained queue reads 0, not the last value seen.
    while store
        .claim_next_job("pod-a", lease)
        .await
        .unwrap()
        .is_some()
    {}
    assert!(
        queue_depths(&metrics_text(&app).await)
            .iter()
            .all(|(_, depth)| *depth == 0.0)
    );
}

#[tokio::test]
async fn a_store_failure_leaves_the_queue_depth_out_of_an_otherwise_complete_scrape() {
    // Never migrated: the jobs table does not exist, so reading the depth fails.
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    // As if an earlier scrape had read a depth: it must not be served stale.
    state
        .metrics
        .set_queue_depth(&std::collections::BTreeMap::from([(
            miroir_store::JobKind::Reindex,
            4,
        )]));
    let app = miroir_handler_admin::router(state);
    let text = metrics_text(&app).await;
    assert_eq!(queue_depths(&text), depths(&[]), "{text}");
    assert!(
        text.lines().any(|line| line.starts_with(
            "miroir_store_operation_duration_seconds_count{operation=\"job_queue_depth\",outcome=\""
        ) && !line.contains("outcome=\"ok\"")),
        "the failed read is itself measured: {text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}
