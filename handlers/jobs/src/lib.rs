//! `miroir-handler-jobs`: the background job queue (plan §4 table 6, §14.5 Mode C) as seen by
//! operators, under `/_miroir/` (admin key).
//!
//! - `GET /_miroir/jobs`: jobs in enqueue order, filtered by `state` and `type`, paged by job id
//!   (`from` / `next`);
//! - `POST /_miroir/jobs`: enqueue a job (`{"type": "reindex", "params": {…}, "maxAttempts": 5}`;
//!   `reindex` is the type operators submit, its params checked before anything is queued);
//! - `GET /_miroir/jobs/{id}`: one job;
//! - `POST /_miroir/jobs/{id}/retry`: a failed job back in the queue, its attempts reset.
//!
//! States and types use the store's (and the plan's) names: `queued`, `in_progress`,
//! `completed`, `failed`; `dump_import`, `reshard_backfill`, `reindex`. Job objects are
//! camelCase, like Meilisearch's.

mod query;
mod view;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use miroir_core::jobs::ReindexParams;
use miroir_core::{ApiError, Code};
use miroir_http::object::Object;
use miroir_http::{AppState, HttpResult, JsonBody, QueryParams};
use miroir_store::{JobKind, NewJob, StoreError};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::query::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::view::{JobList, JobView};

/// The job routes and their OpenAPI description: the one place they are defined.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, enqueue_job))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
}

/// The job routes, with `state`. Shared layers are applied by whoever mounts them.
pub fn router(state: AppState) -> Router {
    routes().split_for_parts().0.with_state(state)
}

/// List background jobs.
///
/// Jobs in enqueue order (oldest first), of one state and one type when given. Pages are cut by
/// job id: pass the answer's `next` as `from` for the next page; `next` is null once every job
/// has been seen. With a `type` filter one call looks at a bounded number of jobs (1000, or
/// `limit` if larger), so a page can hold fewer than `limit` jobs while `next` is still set.
#[utoipa::path(
    get,
    path = "/_miroir/jobs",
    tag = "jobs",
    params(query::JobListParameters),
    responses(
        (status = 200, description = "One page of jobs.", body = JobList),
        (status = 400, description = "An unknown parameter, a bad value, or a `from` naming no job (`bad_request`)."),
    )
)]
async fn list_jobs(
    State(state): State<AppState>,
    params: QueryParams,
) -> HttpResult<Json<JobList>> {
    let query = query::parse(&params)?;
    let page = state
        .store
        .list_jobs(&query)
        .await
        .map_err(|error| match error {
            StoreError::NotFound(_) => query::unknown_from(query.from.as_deref().unwrap_or("")),
            other => ApiError::from(other),
        })?;
    Ok(Json(JobList::new(page, &query)))
}

/// Get one background job.
///
/// Its state, type, parameters, claimant, attempts, progress cursor, last error and
/// timestamps.
#[utoipa::path(
    get,
    path = "/_miroir/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (a UUID).")),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 400, description = "The id is not a job id (`bad_request`)."),
        (status = 404, description = "No job has this id (`not_found`)."),
    )
)]
async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Json<JobView>> {
    query::check_job_id(&id)?;
    match state.store.get_job(&id).await? {
        Some(job) => Ok(Json(JobView::from(job))),
        None => Err(not_found(&id).into()),
    }
}

/// Retry a failed background job.
///
/// Puts a `failed` job back in the queue, claimable now, with its attempts reset to 0; its
/// progress cursor and last error are kept. Only failed jobs can be retried.
#[utoipa::path(
    post,
    path = "/_miroir/jobs/{id}/retry",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id (a UUID).")),
    responses(
        (status = 200, description = "The job, queued again.", body = JobView),
        (status = 400, description = "The id is not a job id (`bad_request`)."),
        (status = 404, description = "No job has this id (`not_found`)."),
        (status = 409, description = "The job is not failed (`miroir_conflict`)."),
    )
)]
async fn retry_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> HttpResult<Json<JobView>> {
    query::check_job_id(&id)?;
    match state.store.retry_job(&id).await {
        Ok(job) => Ok(Json(JobView::from(job))),
        Err(StoreError::NotFound(_)) => Err(not_found(&id).into()),
        Err(StoreError::Conflict(_)) => {
            // The retry refused atomically; this read only words the answer.
            let job_state = match state.store.get_job(&id).await {
                Ok(Some(job)) => job.state.to_string(),
                _ => "not failed".to_owned(),
            };
            Err(ApiError::new(
                Code::MiroirConflict,
                format!("Job `{id}` is {job_state}: only a failed job can be retried."),
            )
            .into())
        }
        Err(other) => Err(other.into()),
    }
}

/// Attempts a job gets when the request does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Most attempts a request may ask for.
pub const MAX_ATTEMPTS: u32 = 100;

/// The body of `POST /_miroir/jobs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnqueueJob {
    /// The job type: `reindex`.
    #[serde(rename = "type")]
    kind: String,
    /// The type's parameters. `reindex`: `{source, target, alias?, settings?, batchSize?}`.
    #[schema(value_type = Object)]
    params: Value,
    /// Attempts before the job fails for good, 1 to 100 (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// Enqueue a background job.
///
/// `{"type": "reindex", "params": {"source": "movies_v1", "target": "movies_v2", "alias":
/// "movies"}}`: a worker creates `target` with the primary key and settings of `source` (then
/// `params.settings` on top), copies every document through the write path, waits until every
/// node applied the copy and points the alias at `target` (plan §13.7). The job resumes from its
/// saved progress if its worker dies. Other job types are created by Miroir itself.
#[utoipa::path(
    post,
    path = "/_miroir/jobs",
    tag = "jobs",
    request_body = EnqueueJob,
    responses(
        (status = 201, description = "The job, queued.", body = JobView),
        (status = 400, description = "An unknown field or type, a type operators cannot submit, bad parameters (naming the key) or `maxAttempts` out of range (`bad_request`, `invalid_index_uid`)."),
    )
)]
async fn enqueue_job(
    State(state): State<AppState>,
    JsonBody(Object(body)): JsonBody<Object<EnqueueJob>>,
) -> HttpResult<(StatusCode, Json<JobView>)> {
    let kind: JobKind = body.kind.parse().map_err(|_| {
        ApiError::new(
            Code::BadRequest,
            format!(
                "Invalid value in `type`: `{}` is not a job type.",
                body.kind
            ),
        )
    })?;
    let params = match kind {
        JobKind::Reindex => serde_json::to_value(ReindexParams::parse(body.params)?)
            .map_err(|error| ApiError::new(Code::Internal, error.to_string()))?,
        other => {
            return Err(ApiError::new(
                Code::BadRequest,
                format!(
                    "Invalid value in `type`: `{other}` jobs are created by Miroir itself; operators submit `reindex` jobs."
                ),
            )
            .into());
        }
    };
    let max_attempts = body.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(ApiError::new(
            Code::BadRequest,
            format!(
                "Invalid value in `maxAttempts`: expected 1 to {MAX_ATTEMPTS}, found {max_attempts}."
            ),
        )
        .into());
    }
    let job = state
        .store
        .enqueue_job(NewJob {
            kind,
            params,
            max_attempts,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(JobView::from(job))))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::NotFound, format!("Job `{id}` not found."))
}
