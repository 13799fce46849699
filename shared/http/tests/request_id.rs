//! Request ids and store-failure logs, alone in their test binary: the test installs a
//! thread-local log subscriber, and tracing caches per call site whether anything listens, so a
//! test running beside others on other threads could miss events.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use miroir_core::Config;
use miroir_http::{AppState, apply_layers};
use serde_json::Value;
use tower::ServiceExt;

fn get_with(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A `Write` into a shared buffer, for capturing log lines.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_answer_has_a_request_id_and_store_failures_are_logged_with_it() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    let store = state.store.clone();
    let routes = Router::new()
        .route("/health", get(|| async { "up" }))
        .route(
            "/store-miss",
            get(move || {
                let store = store.clone();
                async move {
                    let update = miroir_store::TaskUpdate {
                        status: miroir_store::TaskStatus::Failed,
                        node_tasks: miroir_store::NodeTaskMap::new(),
                        details: None,
                        error: None,
                        canceled_by: None,
                        started_at: None,
                        finished_at: None,
                    };
                    miroir_http::HttpResult::Ok(
                        store.update_task(u64::MAX, update).await.map(|_| "found")?,
                    )
                }
            }),
        );
    let app = apply_layers(routes, &state);

    let response = app.clone().oneshot(get_with("/store-miss")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let line = String::from_utf8(logs.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .find(|line| line.contains("store operation"))
        .map(str::to_owned)
        .expect("the store failure was not logged");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["fields"]["operation"], "update_task", "{line}");
    assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");

    // A caller's plain id is kept; anything else is replaced.
    for (given, kept) in [("lb-7f3a.2", true), ("bad id", false), ("a\"b", false)] {
        let request = Request::get("/health")
            .header("x-request-id", given)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let answered = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(answered == given, kept, "{given} → {answered}");
    }
    // Refusals of the layers carry one too.
    let response = app.clone().oneshot(get_with("/nope")).await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}
