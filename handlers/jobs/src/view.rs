//! The JSON shapes of the job routes.

use miroir_http::timefmt::format_rfc3339;
use miroir_store::{Job, JobPage, JobQuery};
use serde::Serialize;
use utoipa::ToSchema;

/// A background job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Job)]
pub(crate) struct JobView {
    /// The job id (a UUID).
    id: String,
    /// `dump_import`, `reshard_backfill` or `reindex`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    /// `queued`, `in_progress`, `completed` or `failed`.
    #[schema(value_type = String)]
    state: &'static str,
    /// Type-specific parameters.
    #[schema(value_type = Object)]
    params: serde_json::Value,
    /// The worker (pod) holding the claim, while in progress.
    claimed_by: Option<String>,
    /// The token of the current claim, while in progress: greater than every claim token handed
    /// out before it, so it tells apart two claims of one worker name (the job worker logs it as
    /// `claim_token`). Null otherwise, and for a claim made before the store's schema version 2.
    claim_token: Option<u64>,
    /// RFC 3339 end of the claim's lease, while in progress.
    claim_expires_at: Option<String>,
    /// Claims so far (reset by a retry).
    attempts: u32,
    /// Claims allowed before the job fails for good.
    max_attempts: u32,
    /// The progress cursor the worker persisted (null before any).
    #[schema(value_type = Object)]
    progress: serde_json::Value,
    /// The error of the last failed attempt.
    last_error: Option<String>,
    /// RFC 3339: not claimable before (retry backoff).
    run_after: String,
    /// RFC 3339 enqueue time.
    created_at: String,
    /// RFC 3339 time of the last state change or heartbeat.
    updated_at: String,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        Self {
            id: job.id,
            kind: job.kind.as_str(),
            state: job.state.as_str(),
            params: job.params,
            claimed_by: job.claimed_by,
            claim_token: job.claim_token,
            claim_expires_at: job.claim_expires_at.map(format_rfc3339),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            progress: job.progress,
            last_error: job.last_error,
            run_after: format_rfc3339(job.run_after),
            created_at: format_rfc3339(job.created_at),
            updated_at: format_rfc3339(job.updated_at),
        }
    }
}

/// The body of `GET /_miroir/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobList {
    results: Vec<JobView>,
    /// The page size asked for.
    limit: u64,
    /// The `from` of the request, if any.
    from: Option<String>,
    /// The `from` of the next page; null once every job has been seen.
    next: Option<String>,
}

impl JobList {
    pub(crate) fn new(page: JobPage, query: &JobQuery) -> Self {
        Self {
            results: page.jobs.into_iter().map(JobView::from).collect(),
            limit: query.limit,
            from: query.from.clone(),
            next: page.next,
        }
    }
}
