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
