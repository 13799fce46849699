//! The scheduled worker function (`lambda-worker`): an EventBridge scheduled event
//! (`fixtures/scheduled-event.json`) goes through `miroir_edge::worker::handle`, what the bin
//! runs per invocation, with a Lambda context whose deadline bounds the pass. Each invocation
//! returns before its deadline; repeated invocations complete a task nobody polls and run a
//! reindex job to completion.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::Request;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use miroir_background::{Background, PassReport};
use miroir_core::Config;
use miroir_core::config::NodeConfig;
use miroir_http::AppState;
use miroir_store::{CanaryRunStatus, JobState, NewTask, TaskKind, TaskStatus, Timestamp};
use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

const EVENT: &str = include_str!("fixtures/scheduled-event.json");

/// One invocation with `remaining` time before Lambda's deadline; checks it returned in time.
async fn invoke(background: &Background, remaining: Duration) -> PassReport {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut context = Context::default();
    context.deadline = u64::try_from((now + remaining).as_millis()).unwrap();
    let event = LambdaEvent::new(serde_json::from_str::<Value>(EVENT).unwrap(), context);
    let started = Instant::now();
    let report = miroir_edge::worker::handle(background, event)
        .await
        .unwrap();
    assert!(
        started.elapsed() < remaining,
        "the pass took {:?} of {remaining:?}",
        started.elapsed()
    );
    report
}

async fn call(app: &axum::Router, method: &str, path: &str, body: Value) -> Value {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_runs_one_bounded_pass() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let store = miroir_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config = Config {
        shards: 4,
        replication_factor: 1,
        nodes: vec![NodeConfig {
            id: "meili-0".to_owned(),
            address: node.url(),
            replica_group: 0,
        }],
        ..Config::default()
    };
    let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
    let app = miroir_edge::app(&state);
    let background = Background::new(state, app.clone(), "lambda-worker-test");

    let documents: Vec<Value> = (0..40).map(|id| json!({"id": id, "title": "t"})).collect();
    let task = call(
        &app,
        "POST",
        "/indexes/books/documents?primaryKey=id",
        Value::Array(documents),
    )
    .await;
    let uid = task["taskUid"].as_u64().unwrap();
    let mut passes = 0;
    loop {
        let report = invoke(&background, Duration::from_secs(5)).await;
        assert_eq!(report.errors, Vec::<String>::new());
        assert_eq!((report.peers, report.leader), (1, true));
        passes += 1;
        let task = store.get_task(uid).await.unwrap().unwrap();
        if task.status == TaskStatus::Succeeded {
            break;
        }
        assert!(
            passes < 20,
            "task still {:?} after {passes} passes",
            task.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let job = call(
        &app,
        "POST",
        "/_miroir/jobs",
        json!({"type": "reindex", "params": {"source": "books", "target": "books_v2", "alias": "books_live", "batchSize": 15}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let report = invoke(&background, Duration::from_secs(10)).await;
    assert_eq!(report.jobs, [id]);
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Completed, "{job:?}");
    assert_eq!(job.progress["copied"], 40);
    let hits = call(
        &app,
        "POST",
        "/indexes/books_live/search",
        json!({"q": "", "limit": 0}),
    )
    .await;
    assert_eq!(hits["estimatedTotalHits"], 40);

    // Canaries run through the search route; a failed assertion is recorded with what was seen.
    for (name, assertions) in [
        ("books-pass", json!([{"type": "min_hits", "value": 40}])),
        (
            "books-fail",
            json!([{"type": "top_hit_id", "value": "nope"}]),
        ),
    ] {
        call(
            &app,
            "POST",
            "/_miroir/canaries",
            json!({"name": name, "index": "books_live", "query": {"q": ""}, "assertions": assertions}),
        )
        .await;
    }
    // A task whose writer died before fanning out (no node task, enqueued long ago).
    let orphan = store
        .create_task(NewTask {
            index_uid: Some("books".to_owned()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            status: TaskStatus::Enqueued,
            node_tasks: Default::default(),
            details: None,
            enqueued_at: Timestamp::now().minus(Duration::from_secs(3600)),
        })
        .await
        .unwrap();
    let report = invoke(&background, Duration::from_secs(5)).await;
    assert_eq!(report.canaries_run, 2);
    let passed = store.list_canary_runs("books-pass", 10).await.unwrap();
    assert_eq!(passed[0].status, CanaryRunStatus::Pass, "{passed:?}");
    let failed = store.list_canary_runs("books-fail", 10).await.unwrap();
    assert_eq!(failed[0].status, CanaryRunStatus::Fail, "{failed:?}");
    let failure = &failed[0].failed_assertions.as_ref().unwrap()[0];
    assert_eq!(failure["type"], "top_hit_id");
    assert_eq!(failure["expected"], json!({"value": "nope"}));
    assert!(failure["observed"].is_string(), "{failure}");
    let orphan = store.get_task(orphan.uid).await.unwrap().unwrap();
    assert_eq!(orphan.status, TaskStatus::Failed);
    assert_eq!(orphan.error.unwrap().code, "miroir_task_orphaned");

    // Nearly out of time: the pass still answers before the deadline.
    invoke(&background, Duration::from_millis(2600)).await;
}
