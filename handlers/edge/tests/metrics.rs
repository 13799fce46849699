//! `GET /_miroir/metrics` counts requests by route template and status and times store
//! operations, in the Prometheus text format.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_core::Config;
use miroir_http::AppState;
use tower::ServiceExt;

async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// The value of the sample line starting with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_store_operations_are_counted_by_template_and_outcome() {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    let app = miroir_edge::app(&state);

    for uri in [
        "/tasks/1",
        "/tasks/2",
        "/tasks/abc",
        "/tasks?limit=5",
        "/nope",
    ] {
        get(&app, uri).await;
    }
    let (status, content_type, text) = get(&app, "/_miroir/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    let requests = |route: &str, status: u16| {
        sample(
            &text,
            &format!(
                r#"miroir_http_requests_total{{method="GET",route="{route}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(requests("/tasks/{uid}", 404), Some(2.0), "{text}");
    assert_eq!(requests("/tasks/{uid}", 400), Some(1.0), "{text}");
    assert_eq!(requests("/tasks", 200), Some(1.0), "{text}");
    assert_eq!(requests("unmatched", 404), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"miroir_http_request_duration_seconds_count{method="GET",route="/tasks/{uid}",status="404"}"#
        ),
        Some(2.0),
        "{text}"
    );
    let store_calls = |operation: &str| {
        sample(
            &text,
            &format!(
                r#"miroir_store_operation_duration_seconds_count{{operation="{operation}",outcome="ok"}}"#
            ),
        )
    };
    assert_eq!(store_calls("get_task"), Some(2.0), "{text}");
    assert_eq!(store_calls("list_tasks"), Some(1.0), "{text}");
    assert!(
        store_calls("schema_version").is_some_and(|count| count >= 1.0),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}
