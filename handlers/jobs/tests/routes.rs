//! The job routes without a server (tower `oneshot`), behind the production layers with an
//! admin key, on a migrated store of each backend.
//!
//! Every case is an `async fn(App)` written once; [`route_suite!`] runs the whole list on a fresh
//! in-memory SQLite store (`sqlite::…`) and on a fresh key prefix of a real Redis (`redis::…`).
//! Every answer is an insta snapshot in `tests/snapshots/<name>.snap`, shared by both backends.
//! Job ids (random UUIDs) are shown as `[job-N]`, N in enqueue order, and the times the store
//! sets as `[time]`.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use miroir_core::Config;
use miroir_core::config::Secret;
use miroir_http::{AppState, apply_layers};
use miroir_store::{DynStore, Job, JobClaim, JobKind, JobQuery, JobState, NewJob};
use miroir_test_support::route_kit::{Reply, Snapshot, Wire};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "jobs-routes",
    app: crate::App::new,
    cases: [
        get_job_in_every_state,
        get_job_errors,
        list_of_an_empty_store,
        list_pages_by_next,
        list_filters,
        list_errors,
        retry_requeues_a_failed_job,
        retry_refuses_other_states,
        bad_requests_change_nothing,
        layers_answer_auth_and_unknown_methods,
    ],
);

/// The admin key the test state is configured with.
const ADMIN_KEY: &str = "jobs-test-admin-key";

/// A well-formed job id no job has.
const ABSENT: &str = "00000000-0000-4000-8000-000000000000";

/// Keys whose values the store sets from its clock.
const TIME_KEYS: &[&str] = &["claimExpiresAt", "runAfter", "createdAt", "updatedAt"];

const LEASE: Duration = Duration::from_secs(600);

/// The routes behind the production layers, with an admin key, on one store.
struct App {
    app: Router,
    store: DynStore,
    /// Job id → `[job-N]`, in enqueue order.
    ids: Mutex<Vec<(String, String)>>,
}

/// Masks what changes from run to run in a snapshot body.
trait Mask {
    /// Replaces the server-set times with `[time]` and every job id, wherever it appears
    /// (messages included), with its name in `ids`.
    fn mask(&mut self, ids: &[(String, String)]);
}

impl Mask for Wire {
    fn mask(&mut self, ids: &[(String, String)]) {
        match self {
            Self::String(text) => {
                for (id, name) in ids {
                    if text.contains(id.as_str()) {
                        *text = text.replace(id.as_str(), name);
                    }
                }
            }
            Self::Array(items) => items.iter_mut().for_each(|item| item.mask(ids)),
            Self::Object(entries) => {
                for (key, value) in entries {
                    if TIME_KEYS.contains(&key.as_str()) && matches!(value, Self::String(_)) {
                        *value = Self::String("[time]".to_owned());
                    } else {
                        value.mask(ids);
                    }
                }
            }
            _ => {}
        }
    }
}

impl App {
    async fn new(store: DynStore) -> Self {
        let mut config = Config::default();
        config.admin.api_key = Secret::new(ADMIN_KEY);
        let state = AppState::start(store.clone(), config, Duration::from_secs(60)).await;
        Self {
            app: apply_layers(miroir_handler_jobs::router(state.clone()), &state),
            store,
            ids: Mutex::new(Vec::new()),
        }
    }

    /// `method uri` with the admin key (or without).
    async fn send(&self, method: Method, uri: &str, admin_key: bool) -> Reply {
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if admin_key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let mut reply = Reply::read(response).await;
        assert_ne!(reply.wire, Wire::Null, "{method} {uri}: no body");
        reply.wire.mask(&self.ids.lock().unwrap());
        reply
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, true).await
    }

    /// `method uri` (with the admin key unless `admin_key` is false), asserting `status` and
    /// that `{status, body}` matches snapshot `name`.
    async fn check_call(
        &self,
        name: &str,
        method: Method,
        uri: &str,
        admin_key: bool,
        status: StatusCode,
    ) -> Reply {
        let reply = self.send(method.clone(), uri, admin_key).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.body);
        let mut request = Wire::String(format!("{method} {uri}"));
        request.mask(&self.ids.lock().unwrap());
        let Wire::String(request) = request else {
            unreachable!("masking keeps a string a string")
        };
        snapshot(name, &request, &Snapshot::of(&reply));
        reply
    }

    /// `GET uri`, checked against `status` and snapshot `name`.
    async fn check(&self, name: &str, uri: &str, status: StatusCode) -> Reply {
        self.check_call(name, Method::GET, uri, true, status).await
    }

    /// Enqueues a job, remembering its id as `[job-N]`.
    async fn enqueue(&self, kind: JobKind, params: Value, max_attempts: u32) -> Job {
        let job = self
            .store
            .enqueue_job(NewJob {
                kind,
                params,
                max_attempts,
            })
            .await
            .unwrap();
        let mut ids = self.ids.lock().unwrap();
        let name = format!("[job-{}]", ids.len());
        ids.push((job.id.clone(), name));
        job
    }

    /// Claims the next job, which must be `expected`; the claim.
    async fn claim(&self, expected: &Job, worker: &str) -> JobClaim {
        let claimed = self.store.claim_next_job(worker, LEASE).await.unwrap();
        let claim = claimed.and_then(|job| job.claim()).unwrap();
        assert_eq!(claim.job_id, expected.id);
        claim
    }

    /// Every job, in enqueue order.
    async fn all_jobs(&self) -> Vec<Job> {
        self.store
            .list_jobs(&JobQuery {
                limit: 1000,
                ..JobQuery::default()
            })
            .await
            .unwrap()
            .jobs
    }
}

/// Asserts that `value` matches `snapshots/<name>.snap`, the same file for every backend.
fn snapshot(name: &str, request: &str, value: &Snapshot<'_>) {
    miroir_test_support::assert_route_snapshot!(name, request, value);
}

/// The jobs [`seed`] makes, in enqueue order.
struct Seeded {
    /// Reindex, failed for good (one attempt allowed).
    failed: Job,
    /// Dump import, in progress under `pod-a` with a progress cursor.
    in_progress: Job,
    /// Reshard backfill, completed.
    completed: Job,
    /// Dump import, queued.
    queued_dump: Job,
    /// Reindex, queued.
    queued_reindex: Job,
    /// Dump import, queued.
    queued_dump_2: Job,
}

impl Seeded {
    fn ids(&self) -> Vec<&str> {
        [
            &self.failed,
            &self.in_progress,
            &self.completed,
            &self.queued_dump,
            &self.queued_reindex,
            &self.queued_dump_2,
        ]
        .iter()
        .map(|job| job.id.as_str())
        .collect()
    }
}

/// Six jobs in every state; see [`Seeded`].
async fn seed(app: &App) -> Seeded {
    let store = &app.store;
    let failed = app
        .enqueue(
            JobKind::Reindex,
            json!({"source": "movies", "target": "movies-v2", "alias": "movies-live"}),
            1,
        )
        .await;
    let claim = app.claim(&failed, "pod-b").await;
    store
        .fail_job(&claim, "node meili-2 unreachable", Duration::ZERO)
        .await
        .unwrap();
    let in_progress = app
        .enqueue(
            JobKind::DumpImport,
            json!({"dump": "s3://dumps/movies.dump", "chunk": 0}),
            3,
        )
        .await;
    let claim = app.claim(&in_progress, "pod-a").await;
    store
        .heartbeat_job(
            &claim,
            LEASE,
            Some(json!({"bytes_processed": 1_048_576, "docs_routed": 2_000, "last_cursor": 17})),
        )
        .await
        .unwrap();
    let completed = app
        .enqueue(
            JobKind::ReshardBackfill,
            json!({"index": "books", "shards": [0, 7]}),
            3,
        )
        .await;
    let claim = app.claim(&completed, "pod-c").await;
    store
        .complete_job(&claim, Some(json!({"last_cursor": 99})))
        .await
        .unwrap();
    let queued_dump = app
        .enqueue(
            JobKind::DumpImport,
            json!({"dump": "s3://dumps/movies.dump", "chunk": 1}),
            3,
        )
        .await;
    let queued_reindex = app
        .enqueue(
            JobKind::Reindex,
            json!({"source": "books", "target": "books-v3"}),
            2,
        )
        .await;
    let queued_dump_2 = app
        .enqueue(
            JobKind::DumpImport,
            json!({"dump": "s3://dumps/movies.dump", "chunk": 2}),
            3,
        )
        .await;
    Seeded {
        failed,
        in_progress,
        completed,
        queued_dump,
        queued_reindex,
        queued_dump_2,
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn get_job_in_every_state(app: App) {
    let jobs = seed(&app).await;
    for (name, job, state) in [
        ("get_job_failed", &jobs.failed, "failed"),
        ("get_job_in_progress", &jobs.in_progress, "in_progress"),
        ("get_job_completed", &jobs.completed, "completed"),
        ("get_job_queued", &jobs.queued_dump, "queued"),
    ] {
        let reply = app
            .check(name, &format!("/_miroir/jobs/{}", job.id), StatusCode::OK)
            .await;
        assert_eq!(reply.body["id"], job.id.as_str(), "{name}");
        assert_eq!(reply.body["state"], state, "{name}");
        for key in TIME_KEYS {
            let value = &reply.body[*key];
            assert!(
                value.is_null() || value.as_str().unwrap().ends_with('Z'),
                "{name}: {key} = {value}"
            );
        }
    }
    let in_progress = app
        .get(&format!("/_miroir/jobs/{}", jobs.in_progress.id))
        .await;
    assert_eq!(in_progress.body["claimedBy"], "pod-a");
    assert!(in_progress.body["claimExpiresAt"].is_string());
}

async fn get_job_errors(app: App) {
    seed(&app).await;
    app.check(
        "get_job_not_found",
        &format!("/_miroir/jobs/{ABSENT}"),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check(
        "get_job_malformed_id",
        "/_miroir/jobs/not-a-job",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let long = format!("/_miroir/jobs/{}", "f".repeat(300));
    app.check("get_job_id_too_long", &long, StatusCode::BAD_REQUEST)
        .await;
}

async fn list_of_an_empty_store(app: App) {
    app.check("list_empty_store", "/_miroir/jobs", StatusCode::OK)
        .await;
    app.check(
        "list_empty_store_filtered",
        "/_miroir/jobs?state=queued&type=reindex&limit=5",
        StatusCode::OK,
    )
    .await;
}

async fn list_pages_by_next(app: App) {
    let jobs = seed(&app).await;
    let all_ids = jobs.ids();
    let all = app.check("list_all", "/_miroir/jobs", StatusCode::OK).await;
    assert_eq!(ids(&all.body), all_ids);
    assert_eq!(all.body["next"], Value::Null);
    let first = app
        .check(
            "list_page_with_next",
            "/_miroir/jobs?limit=4",
            StatusCode::OK,
        )
        .await;
    assert_eq!(ids(&first.body), all_ids[..4]);
    assert_eq!(first.body["next"], all_ids[4]);
    app.check(
        "list_last_page",
        &format!("/_miroir/jobs?limit=4&from={}", all_ids[4]),
        StatusCode::OK,
    )
    .await;
    // Walking the pages by `next` visits every job once, in order.
    let mut seen = Vec::new();
    let mut uri = "/_miroir/jobs?limit=2".to_owned();
    loop {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.body["limit"], 2);
        seen.extend(ids(&reply.body));
        match reply.body["next"].as_str() {
            Some(next) => uri = format!("/_miroir/jobs?limit=2&from={next}"),
            None => break,
        }
    }
    assert_eq!(seen, all_ids);
}

async fn list_filters(app: App) {
    let jobs = seed(&app).await;
    let all = jobs.ids();
    let cases: &[(&str, &str, &[usize])] = &[
        ("list_state_queued", "state=queued", &[3, 4, 5]),
        ("list_state_in_progress", "state=in_progress", &[1]),
        ("list_state_completed", "state=completed", &[2]),
        ("list_state_failed", "state=failed", &[0]),
        ("list_type_dump_import", "type=dump_import", &[1, 3, 5]),
        ("list_type_reindex", "type=reindex", &[0, 4]),
        (
            "list_state_and_type",
            "state=queued&type=dump_import",
            &[3, 5],
        ),
        (
            "list_state_and_type_no_match",
            "state=completed&type=reindex",
            &[],
        ),
        ("list_type_page", "type=dump_import&limit=2", &[1, 3]),
    ];
    for (name, query, expected) in cases {
        let reply = app
            .check(name, &format!("/_miroir/jobs?{query}"), StatusCode::OK)
            .await;
        let expected: Vec<&str> = expected.iter().map(|index| all[*index]).collect();
        assert_eq!(ids(&reply.body), expected, "{query}");
    }
    // A filtered page stops at the job after its last match; the next page resumes there.
    let page = app.get("/_miroir/jobs?type=dump_import&limit=2").await;
    assert_eq!(page.body["next"], all[4]);
    let rest = app
        .check(
            "list_type_next_page",
            &format!("/_miroir/jobs?type=dump_import&limit=2&from={}", all[4]),
            StatusCode::OK,
        )
        .await;
    assert_eq!(ids(&rest.body), [all[5]]);
    assert_eq!(rest.body["next"], Value::Null);
}

/// Every refused `GET /_miroir/jobs` query: (snapshot, query). Each is 400 `bad_request`.
const BAD_QUERIES: &[(&str, &str)] = &[
    ("list_error_unknown_parameter", "offset=3"),
    ("list_error_camel_case_parameter", "types=reindex"),
    ("list_error_state", "state=running"),
    ("list_error_state_empty", "state="),
    ("list_error_state_list", "state=queued,failed"),
    ("list_error_type", "type=backup"),
    ("list_error_limit_zero", "limit=0"),
    ("list_error_limit_too_large", "limit=1001"),
    ("list_error_limit_not_a_number", "limit=ten"),
    ("list_error_limit_negative", "limit=-1"),
    ("list_error_from_malformed", "from=17"),
    (
        "list_error_from_unknown",
        "from=00000000-0000-4000-8000-000000000000",
    ),
];

async fn list_errors(app: App) {
    seed(&app).await;
    for (name, query) in BAD_QUERIES {
        let reply = app
            .check(
                name,
                &format!("/_miroir/jobs?{query}"),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(reply.body["code"], "bad_request", "{query}");
        assert_eq!(reply.body["type"], "invalid_request", "{query}");
    }
}

async fn retry_requeues_a_failed_job(app: App) {
    let jobs = seed(&app).await;
    let reply = app
        .check_call(
            "retry_failed_job",
            Method::POST,
            &format!("/_miroir/jobs/{}/retry", jobs.failed.id),
            true,
            StatusCode::OK,
        )
        .await;
    assert_eq!(reply.body["state"], "queued");
    assert_eq!(reply.body["attempts"], 0);
    let stored = app.store.get_job(&jobs.failed.id).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.attempts), (JobState::Queued, 0));
    assert_eq!(
        stored.last_error.as_deref(),
        Some("node meili-2 unreachable")
    );
    let depth = app.store.job_queue_depth().await.unwrap();
    assert_eq!(depth.get(&JobKind::Reindex), Some(&2));
    // Retried once, the job is queued: a second retry is refused.
    app.check_call(
        "retry_twice",
        Method::POST,
        &format!("/_miroir/jobs/{}/retry", jobs.failed.id),
        true,
        StatusCode::CONFLICT,
    )
    .await;
    // It is claimable again (after or before the jobs queued earlier, as their `run_after`
    // order says).
    let mut claimed = Vec::new();
    while let Some(job) = app.store.claim_next_job("pod-d", LEASE).await.unwrap() {
        claimed.push(job.id);
    }
    assert_eq!(claimed.len(), 4);
    assert!(claimed.contains(&jobs.failed.id));
}

async fn retry_refuses_other_states(app: App) {
    let jobs = seed(&app).await;
    for (name, job) in [
        ("retry_queued_job", &jobs.queued_dump),
        ("retry_in_progress_job", &jobs.in_progress),
        ("retry_completed_job", &jobs.completed),
    ] {
        let reply = app
            .check_call(
                name,
                Method::POST,
                &format!("/_miroir/jobs/{}/retry", job.id),
                true,
                StatusCode::CONFLICT,
            )
            .await;
        assert_eq!(reply.body["code"], "miroir_conflict", "{name}");
    }
    app.check_call(
        "retry_not_found",
        Method::POST,
        &format!("/_miroir/jobs/{ABSENT}/retry"),
        true,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.check_call(
        "retry_malformed_id",
        Method::POST,
        "/_miroir/jobs/17/retry",
        true,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn bad_requests_change_nothing(app: App) {
    let jobs = seed(&app).await;
    let before = app.all_jobs().await;
    let depth = app.store.job_queue_depth().await.unwrap();
    for (_, query) in BAD_QUERIES {
        let reply = app.get(&format!("/_miroir/jobs?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let retry = |id: &str| format!("/_miroir/jobs/{id}/retry");
    for (method, uri, admin_key) in [
        (Method::POST, retry(&jobs.queued_dump.id), true),
        (Method::POST, retry(&jobs.in_progress.id), true),
        (Method::POST, retry(&jobs.completed.id), true),
        (Method::POST, retry(ABSENT), true),
        (Method::POST, retry("17"), true),
        (Method::POST, retry(&jobs.failed.id), false),
        (
            Method::DELETE,
            format!("/_miroir/jobs/{}", jobs.failed.id),
            true,
        ),
        (
            Method::PUT,
            format!("/_miroir/jobs/{}", jobs.failed.id),
            true,
        ),
        (Method::POST, "/_miroir/jobs".to_owned(), true),
    ] {
        let reply = app.send(method.clone(), &uri, admin_key).await;
        assert!(reply.status.is_client_error(), "{method} {uri}");
    }
    assert_eq!(app.all_jobs().await, before);
    assert_eq!(app.store.job_queue_depth().await.unwrap(), depth);
}

async fn layers_answer_auth_and_unknown_methods(app: App) {
    let jobs = seed(&app).await;
    app.check_call(
        "layered_no_admin_key",
        Method::GET,
        "/_miroir/jobs",
        false,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.check_call(
        "layered_delete_job",
        Method::DELETE,
        &format!("/_miroir/jobs/{}", jobs.failed.id),
        true,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check_call(
        "layered_get_retry",
        Method::GET,
        &format!("/_miroir/jobs/{}/retry", jobs.failed.id),
        true,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    app.check_call(
        "layered_unknown_route",
        Method::GET,
        "/_miroir/jobs/queue/depth",
        true,
        StatusCode::NOT_FOUND,
    )
    .await;
}
