//! The Lambda adapter serves what the edge server serves: each request goes once through the
//! `miroir` router over real HTTP and once, as an API Gateway HTTP API (payload 2.0) event built
//! from `fixtures/apigw-v2-event.json`, through the function of the handler crate that owns the
//! route, via `lambda_http`'s own adapter (what `lambda_http::run` calls per invocation). Status,
//! content type, `Retry-After` and body must be equal.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use lambda_http::Adapter;
use lambda_http::lambda_runtime::{Context, LambdaEvent, Service};
use lambda_http::request::LambdaRequest;
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::AppState;
use miroir_store::{DynStore, NewTask, NodeTaskMap, TaskKind, TaskStatus, Timestamp};
use miroir_test_support::process::{HttpReply, http};
use serde_json::{Value, json};
use tower::ServiceExt;

const MASTER: &str = "master-key";
const ADMIN: &str = "admin-key";
const EVENT: &str = include_str!("fixtures/apigw-v2-event.json");

/// The Lambda function that owns a route (one per handler crate, as in the SAM template).
#[derive(Clone, Copy, Debug)]
enum Function {
    Tasks,
    Admin,
}

impl Function {
    fn router(self) -> fn(AppState) -> Router {
        match self {
            Self::Tasks => miroir_handler_tasks::router,
            Self::Admin => miroir_handler_admin::router,
        }
    }
}

/// One request: the function that serves it on Lambda, method, path, query, headers, body.
#[derive(Clone, Copy)]
struct Case {
    function: Function,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const MASTER_AUTH: &[(&str, &str)] = &[("Authorization", "Bearer master-key")];
const ADMIN_AUTH: &[(&str, &str)] = &[("X-Admin-Key", "admin-key")];

fn cases() -> Vec<Case> {
    let case = |function, method, path, query, headers, body| Case {
        function,
        method,
        path,
        query,
        headers,
        body,
    };
    use Function::{Admin, Tasks};
    vec![
        case(Admin, "GET", "/health", "", &[], ""),
        case(Admin, "GET", "/version", "", MASTER_AUTH, ""),
        case(Admin, "GET", "/_miroir/ready", "", ADMIN_AUTH, ""),
        case(Admin, "GET", "/_miroir/ready", "", &[], ""),
        case(Admin, "GET", "/_miroir/ready", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks", "limit=1&from=2", MASTER_AUTH, ""),
        case(
            Tasks,
            "GET",
            "/tasks",
            "statuses=succeeded,enqueued&indexUids=movies",
            MASTER_AUTH,
            "",
        ),
        case(
            Tasks,
            "GET",
            "/tasks",
            "types=documentAdditionOrUpdate&reverse=true",
            MASTER_AUTH,
            "",
        ),
        case(
            Tasks,
            "GET",
            "/tasks",
            "indexUids=m%C3%BCsli",
            MASTER_AUTH,
            "",
        ),
        case(Tasks, "GET", "/tasks", "statuses=bogus", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks", "limit=-1", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks", "colour=blue", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks", "limit=%ZZ", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks/1", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks/999", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks/abc", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/tasks/1", "", &[], ""),
        case(
            Tasks,
            "GET",
            "/tasks/1",
            "",
            &[("Authorization", "Bearer wrong")],
            "",
        ),
        case(Tasks, "DELETE", "/tasks/1", "", MASTER_AUTH, ""),
        case(Tasks, "GET", "/no/such/route", "", MASTER_AUTH, ""),
        case(
            Tasks,
            "POST",
            "/tasks",
            "",
            MASTER_AUTH,
            r#"{"not":"a route"}"#,
        ),
    ]
}

async fn state() -> (AppState, DynStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    for (index, enqueued) in [("movies", 1_000), ("müsli", 2_000), ("movies", 3_000)] {
        store
            .create_task(NewTask {
                index_uid: Some(index.to_owned()),
                kind: TaskKind::DocumentAdditionOrUpdate,
                status: TaskStatus::Enqueued,
                node_tasks: NodeTaskMap::from([("meili-0".to_owned(), 4)]),
                details: Some(json!({"receivedDocuments": 3, "indexedDocuments": null})),
                enqueued_at: Timestamp::from_millis(1_723_136_755_000 + enqueued),
            })
            .await
            .unwrap();
    }
    let mut config = Config {
        master_key: Secret::new(MASTER),
        ..Config::default()
    };
    config.admin.api_key = Secret::new(ADMIN);
    let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
    (state, store, dir)
}

/// The API Gateway v2 event for `case`, from the fixture.
fn event(case: &Case) -> LambdaRequest {
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    event["rawPath"] = json!(case.path);
    event["rawQueryString"] = json!(case.query);
    event["requestContext"]["http"]["method"] = json!(case.method);
    event["requestContext"]["http"]["path"] = json!(case.path);
    let headers = event["headers"].as_object_mut().unwrap();
    for (name, value) in case.headers {
        // API Gateway HTTP APIs lower-case header names.
        headers.insert(name.to_ascii_lowercase(), json!(value));
    }
    if case.body.is_empty() {
        event["body"] = Value::Null;
    } else {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(case.body.len().to_string()));
        event["body"] = json!(case.body);
    }
    serde_json::from_value(event).unwrap()
}

/// What the function returned to API Gateway, as (status, content type, retry-after, body).
async fn through_lambda(case: &Case, state: &AppState) -> (u16, Value, Value, String) {
    let app = miroir_http::lambda::app(case.function.router(), state);
    let mut adapter = Adapter::from(app);
    let response = adapter
        .ready()
        .await
        .unwrap()
        .call(LambdaEvent::new(event(case), Context::default()))
        .await
        .unwrap();
    let response = serde_json::to_value(&response).unwrap();
    assert_eq!(response["isBase64Encoded"], json!(false), "{response}");
    (
        u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap(),
        response["headers"]["content-type"].clone(),
        response["headers"]["retry-after"].clone(),
        response["body"].as_str().unwrap_or_default().to_owned(),
    )
}

fn through_edge(case: &Case, port: u16) -> (u16, Value, Value, String) {
    let target = if case.query.is_empty() {
        case.path.to_owned()
    } else {
        format!("{}?{}", case.path, case.query)
    };
    let HttpReply {
        status,
        headers,
        body,
    } = http(port, case.method, &target, case.headers, case.body).unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map_or(Value::Null, |(_, value)| json!(value))
    };
    (status, header("content-type"), header("retry-after"), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_function_answers_like_the_edge_server() {
    let (state, _store, _dir) = state().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let edge = miroir_edge::app(&state);
    tokio::spawn(async move { axum::serve(listener, edge).await });

    for case in cases() {
        let label = format!(
            "{} {}?{} via {:?}",
            case.method, case.path, case.query, case.function
        );
        let over_http = tokio::task::spawn_blocking(move || through_edge(&case, port))
            .await
            .unwrap();
        let over_lambda = through_lambda(&case, &state).await;
        assert_eq!(over_lambda.0, over_http.0, "{label}: status");
        assert_eq!(over_lambda.1, over_http.1, "{label}: content-type");
        assert_eq!(over_lambda.2, over_http.2, "{label}: retry-after");
        let body = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(json!(text));
        assert_eq!(body(&over_lambda.3), body(&over_http.3), "{label}: body");
        assert_ne!(over_http.3, "", "{label}: every answer has a body");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_gate_answers_the_same_on_lambda() {
    let store = miroir_store::open("sqlite::memory:").await.unwrap();
    let state = AppState::start(store, Config::default(), Duration::from_secs(60)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let edge = miroir_edge::app(&state);
    tokio::spawn(async move { axum::serve(listener, edge).await });
    for case in [
        Case {
            function: Function::Tasks,
            method: "GET",
            path: "/tasks",
            query: "",
            headers: &[],
            body: "",
        },
        Case {
            function: Function::Admin,
            method: "GET",
            path: "/health",
            query: "",
            headers: &[],
            body: "",
        },
    ] {
        let over_lambda = through_lambda(&case, &state).await;
        let over_http = tokio::task::spawn_blocking(move || through_edge(&case, port))
            .await
            .unwrap();
        assert_eq!(over_lambda.0, over_http.0);
        assert_eq!(over_lambda.2, over_http.2);
        assert_eq!(over_lambda.3, over_http.3);
    }
}
