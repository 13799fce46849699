//! Table 6, `jobs`: the work queue.
//!
//! Every state change but the claim is one conditional `UPDATE … RETURNING`, atomic by itself:
//! heartbeat, complete and fail only match a row still in progress under the caller's claim
//! (worker and claim token). When such an update matches nothing, a second read only decides
//! between `NotFound` and `Conflict`. A claim is one `BEGIN IMMEDIATE` transaction of two
//! statements: the update picks the oldest claimable row through the partial index on queued rows
//! and gives it the token after `job_claim_sequence.last_token`, then the counter is raised to
//! that token (only when a row was claimed).
//!
//! The queue statements name their partial index (`INDEXED BY`): without statistics the planner
//! would rather sort every queued row found through the `state` index, and a statement whose index
//! is gone fails to prepare instead of silently scanning.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec, column_count};
use super::rows::{
    Columns, expiry, query_all, query_optional, saturating_i64, to_json, u64_to_sql,
};
use crate::copy::{CopyRow, JobRecord};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{Job, JobClaim, JobKind, JobPage, JobQuery, JobState, JobStore, NewJob};
use crate::time::Timestamp;

macro_rules! job_columns {
    () => {
        "id, type, params, state, claimed_by, claim_expires_at, progress, attempts, max_attempts, \
         last_error, run_after, created_at, updated_at, claim_token"
    };
}

/// Decodes the columns of `job_columns!`. `claim_token` is read only while the job is in
/// progress: a version-1 binary still finishing its claim after the migration clears
/// `claimed_by` but not the token.
fn decode_job(row: &Row<'_>) -> StoreResult<Job> {
    let columns = Columns::new("jobs", row);
    let state = columns.parse(3)?;
    Ok(Job {
        id: columns.string(0)?,
        kind: columns.parse(1)?,
        params: columns.json(2)?,
        state,
        claimed_by: columns.opt_string(4)?,
        claim_token: match state {
            JobState::InProgress => columns.opt_u64(13)?,
            _ => None,
        },
        claim_expires_at: columns.opt_timestamp(5)?,
        progress: columns.json(6)?,
        attempts: columns.u32(7)?,
        max_attempts: columns.u32(8)?,
        last_error: columns.opt_string(9)?,
        run_after: columns.timestamp(10)?,
        created_at: columns.timestamp(11)?,
        updated_at: columns.timestamp(12)?,
    })
}

fn get_job(connection: &Connection, id: &str) -> StoreResult<Option<Job>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE id = ?1"
    ))?;
    query_optional(&mut statement, [id], decode_job)
}

/// Runs an `UPDATE … WHERE id = ?1 AND <precondition> RETURNING` and returns the job, or
/// `NotFound` when the job does not exist and `Conflict` (saying what `refusal` makes of the job
/// as it is) when it exists but the precondition does not hold.
fn update_job(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    id: &str,
    refusal: impl FnOnce(&Job) -> String,
) -> StoreResult<Job> {
    let mut statement = connection.prepare_cached(sql)?;
    if let Some(job) = query_optional(&mut statement, params, decode_job)? {
        return Ok(job);
    }
    match get_job(connection, id)? {
        None => Err(StoreError::not_found(format!("job `{id}`"))),
        Some(job) => Err(StoreError::conflict(refusal(&job))),
    }
}

/// The `Conflict` message of an operation refused to `claim`: the job's state, and its current
/// claim when it is in progress under another one. Redis's `refuse_unless_claimed` says the same.
fn claim_refused(claim: &JobClaim) -> impl FnOnce(&Job) -> String + '_ {
    move |job| match (job.state, job.claimed_by.as_deref(), job.claim_token) {
        (JobState::InProgress, Some(worker), Some(token)) => format!(
            "job `{}` is in progress under claim {token} of `{worker}`, not claim {} of `{}`",
            job.id, claim.token, claim.worker
        ),
        (JobState::InProgress, worker, None) => format!(
            "job `{}` is in progress under a claim of `{}` without a token, not claim {} of `{}`",
            job.id,
            worker.unwrap_or_default(),
            claim.token,
            claim.worker
        ),
        (state, ..) => format!(
            "job `{}` is {state}, not in progress under claim {} of `{}`",
            job.id, claim.token, claim.worker
        ),
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    /// New jobs start queued, claimable now, with `progress` null and no attempt made.
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
        if job.max_attempts == 0 {
            return Err(StoreError::invalid("max_attempts must be at least 1"));
        }
        let params = to_json("job params", &job.params)?;
        self.write(move |connection| {
            let now = Timestamp::now();
            let id = uuid::Uuid::new_v4().to_string();
            let mut statement = connection.prepare_cached(concat!(
                "INSERT INTO jobs (id, type, params, state, progress, attempts, max_attempts, run_after, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, 'queued', 'null', 0, ?4, ?5, ?5, ?5) RETURNING ",
                job_columns!()
            ))?;
            query_optional(
                &mut statement,
                rusqlite::params![id, job.kind.as_str(), params, job.max_attempts, now.as_millis()],
                decode_job,
            )?
            .ok_or_else(|| StoreError::Backend("insert into jobs returned no row".to_owned()))
        })
        .await
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        let id = id.to_owned();
        self.read(move |connection| get_job(connection, &id)).await
    }

    /// Walks the `jobs_state` index (or the rowid) from the `from` job's seq: one range seek,
    /// then at most `examined + 1` rows.
    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage> {
        let query = query.clone();
        self.read(move |connection| {
            let first_seq: i64 = match &query.from {
                None => 0,
                Some(id) => {
                    let mut statement =
                        connection.prepare_cached("SELECT seq FROM jobs WHERE id = ?1")?;
                    query_optional(&mut statement, [id], |row| Columns::new("jobs", row).i64(0))?
                        .ok_or_else(|| StoreError::not_found(format!("job `{id}`")))?
                }
            };
            let fetched = saturating_i64(query.examined() + 1);
            let candidates = match query.state {
                Some(state) => {
                    let mut statement = connection.prepare_cached(concat!(
                        "SELECT ",
                        job_columns!(),
                        " FROM jobs INDEXED BY jobs_state WHERE state = ?1 AND seq >= ?2 \
                         ORDER BY seq LIMIT ?3"
                    ))?;
                    query_all(
                        &mut statement,
                        rusqlite::params![state.as_str(), first_seq, fetched],
                        decode_job,
                    )?
                }
                None => {
                    let mut statement = connection.prepare_cached(concat!(
                        "SELECT ",
                        job_columns!(),
                        " FROM jobs WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
                    ))?;
                    query_all(
                        &mut statement,
                        rusqlite::params![first_seq, fetched],
                        decode_job,
                    )?
                }
            };
            Ok(query.page(candidates))
        })
        .await
    }

    /// One transaction: the claiming statement's subquery walks the partial index of queued
    /// rows in (run_after, seq) order, so a claim costs the same however many jobs are done; the
    /// token counter is written only when a row was claimed.
    async fn claim_next_job(&self, worker: &str, lease: Duration) -> StoreResult<Option<Job>> {
        let worker = worker.to_owned();
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            let mut statement = transaction.prepare_cached(concat!(
                "UPDATE jobs SET state = 'in_progress', claimed_by = ?1, claim_expires_at = ?2, \
                 claim_token = (SELECT last_token + 1 FROM job_claim_sequence WHERE id = 1), \
                 attempts = attempts + 1, updated_at = ?3 \
                 WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_queued_run_after \
                 WHERE state = 'queued' AND run_after <= ?3 \
                 ORDER BY run_after, seq LIMIT 1) RETURNING ",
                job_columns!()
            ))?;
            let Some(job) = query_optional(
                &mut statement,
                rusqlite::params![worker, expiry(now, lease).as_millis(), now.as_millis()],
                decode_job,
            )?
            else {
                return Ok(None);
            };
            // No counter row (a damaged store) leaves the token NULL: refuse, rolling back.
            let token = job.claim_token.ok_or_else(|| {
                StoreError::corrupt("job_claim_sequence", "the claim token counter is missing")
            })?;
            transaction
                .prepare_cached("UPDATE job_claim_sequence SET last_token = ?1 WHERE id = 1")?
                .execute([u64_to_sql(token)])?;
            Ok(Some(job))
        })
        .await
    }

    async fn heartbeat_job(
        &self,
        claim: &JobClaim,
        lease: Duration,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job> {
        let claim = claim.clone();
        let progress = progress
            .map(|progress| to_json("job progress", &progress))
            .transpose()?;
        self.write(move |connection| {
            let now = Timestamp::now();
            update_job(
                connection,
                concat!(
                    "UPDATE jobs SET claim_expires_at = ?4, progress = COALESCE(?5, progress), updated_at = ?6 \
                     WHERE id = ?1 AND state = 'in_progress' AND claimed_by = ?2 AND claim_token = ?3 \
                     RETURNING ",
                    job_columns!()
                ),
                rusqlite::params![
                    claim.job_id,
                    claim.worker,
                    u64_to_sql(claim.token),
                    expiry(now, lease).as_millis(),
                    progress,
                    now.as_millis()
                ],
                &claim.job_id,
                claim_refused(&claim),
            )
        })
        .await
    }

    async fn complete_job(
        &self,
        claim: &JobClaim,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job> {
        let claim = claim.clone();
        let progress = progress
            .map(|progress| to_json("job progress", &progress))
            .transpose()?;
        self.write(move |connection| {
            update_job(
                connection,
                concat!(
                    "UPDATE jobs SET state = 'completed', claimed_by = NULL, claim_expires_at = NULL, \
                     claim_token = NULL, progress = COALESCE(?4, progress), updated_at = ?5 \
                     WHERE id = ?1 AND state = 'in_progress' AND claimed_by = ?2 AND claim_token = ?3 \
                     RETURNING ",
                    job_columns!()
                ),
                rusqlite::params![
                    claim.job_id,
                    claim.worker,
                    u64_to_sql(claim.token),
                    progress,
                    Timestamp::now().as_millis()
                ],
                &claim.job_id,
                claim_refused(&claim),
            )
        })
        .await
    }

    /// Back to queued with `run_after = now + retry_after`, or failed for good when the attempts
    /// are used up; the claim is cleared either way.
    async fn fail_job(
        &self,
        claim: &JobClaim,
        error: &str,
        retry_after: Duration,
    ) -> StoreResult<Job> {
        let (claim, error) = (claim.clone(), error.to_owned());
        self.write(move |connection| {
            let now = Timestamp::now();
            update_job(
                connection,
                concat!(
                    "UPDATE jobs SET \
                     state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                     run_after = CASE WHEN attempts >= max_attempts THEN run_after ELSE ?5 END, \
                     claimed_by = NULL, claim_expires_at = NULL, claim_token = NULL, last_error = ?4, \
                     updated_at = ?6 \
                     WHERE id = ?1 AND state = 'in_progress' AND claimed_by = ?2 AND claim_token = ?3 \
                     RETURNING ",
                    job_columns!()
                ),
                rusqlite::params![
                    claim.job_id,
                    claim.worker,
                    u64_to_sql(claim.token),
                    error,
                    now.plus(retry_after).as_millis(),
                    now.as_millis()
                ],
                &claim.job_id,
                claim_refused(&claim),
            )
        })
        .await
    }

    /// Walks the partial index of in-progress rows by claim expiry.
    async fn reclaim_expired_jobs(&self, batch: u32) -> StoreResult<Vec<String>> {
        self.write(move |connection| {
            let mut statement = connection.prepare_cached(
                "UPDATE jobs SET \
                 state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 run_after = ?1, claimed_by = NULL, claim_expires_at = NULL, claim_token = NULL, \
                 last_error = 'claim expired', updated_at = ?1 \
                 WHERE seq IN (SELECT seq FROM jobs INDEXED BY jobs_in_progress_claim_expires_at \
                 WHERE state = 'in_progress' AND claim_expires_at <= ?1 \
                 ORDER BY claim_expires_at LIMIT ?2) RETURNING id",
            )?;
            query_all(
                &mut statement,
                rusqlite::params![Timestamp::now().as_millis(), batch],
                |row| Columns::new("jobs", row).string(0),
            )
        })
        .await
    }

    async fn retry_job(&self, id: &str) -> StoreResult<Job> {
        let id = id.to_owned();
        self.write(move |connection| {
            update_job(
                connection,
                concat!(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?2, updated_at = ?2 \
                     WHERE id = ?1 AND state = 'failed' RETURNING ",
                    job_columns!()
                ),
                rusqlite::params![id, Timestamp::now().as_millis()],
                &id,
                |job| format!("job `{}` is {}, not failed", job.id, job.state),
            )
        })
        .await
    }

    async fn job_queue_depth(&self) -> StoreResult<BTreeMap<JobKind, u64>> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT type, COUNT(*) FROM jobs INDEXED BY jobs_queued_type \
                 WHERE state = 'queued' GROUP BY type",
            )?;
            let depths = query_all(&mut statement, [], |row| {
                let columns = Columns::new("jobs", row);
                Ok((columns.parse::<JobKind>(0)?, columns.u64(1)?))
            })?;
            Ok(depths.into_iter().collect())
        })
        .await
    }
}

/// Raises `job_claim_sequence.last_token` to at least `last_token` (compared as `u64`: a token
/// past `i64::MAX` is stored negative, like every `u64` column, and cannot be issued by SQLite's
/// `last_token + 1` anyway).
pub(super) fn raise_job_claim_sequence(
    connection: &Connection,
    last_token: u64,
) -> StoreResult<()> {
    if job_claim_sequence(connection)? < last_token {
        connection
            .prepare_cached("UPDATE job_claim_sequence SET last_token = ?1 WHERE id = 1")?
            .execute([u64_to_sql(last_token)])?;
    }
    Ok(())
}

/// `job_claim_sequence.last_token`: the last claim token handed out.
pub(super) fn job_claim_sequence(connection: &Connection) -> StoreResult<u64> {
    let mut statement =
        connection.prepare_cached("SELECT last_token FROM job_claim_sequence WHERE id = 1")?;
    query_optional(&mut statement, [], |row| {
        Columns::new("job_claim_sequence", row).u64(0)
    })?
    .ok_or_else(|| StoreError::corrupt("job_claim_sequence", "the claim token counter is missing"))
}

/// The `miroir-migrate copy` export of `jobs`: every job with its `seq`, in `seq` order.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "jobs",
        columns: job_columns!(),
        key: &[("seq", KeyKind::Integer)],
        expires: false,
        decode: decode_copy_row,
    }
}

/// Decodes one exported job and its `seq` (selected right after the job's columns).
fn decode_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    // `seq`, the key, comes right after the job's columns.
    let seq = Columns::new("jobs", row).u64(column_count(job_columns!()))?;
    Ok(CopyRow::Job(JobRecord {
        seq,
        job: decode_job(row)?,
    }))
}

/// Writes one copied job under its explicit `seq` (so every job enqueued later comes after it),
/// replacing the row with that `seq` and any row holding the same id under another `seq`, and
/// raises `job_claim_sequence` to the job's claim token.
pub(super) fn import(transaction: &Transaction<'_>, record: &JobRecord) -> StoreResult<()> {
    let JobRecord { seq, job } = record;
    let seq = u64_to_sql(*seq);
    // The id is unique too: the same job under another seq is the row being replaced.
    transaction
        .prepare_cached("DELETE FROM jobs WHERE id = ?1 AND seq != ?2")?
        .execute(rusqlite::params![job.id, seq])?;
    transaction
        .prepare_cached(concat!(
            "INSERT INTO jobs (seq, ",
            job_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT (seq) DO UPDATE SET id = excluded.id, type = excluded.type, \
             params = excluded.params, state = excluded.state, \
             claimed_by = excluded.claimed_by, claim_expires_at = excluded.claim_expires_at, \
             progress = excluded.progress, attempts = excluded.attempts, \
             max_attempts = excluded.max_attempts, last_error = excluded.last_error, \
             run_after = excluded.run_after, created_at = excluded.created_at, \
             updated_at = excluded.updated_at, claim_token = excluded.claim_token"
        ))?
        .execute(rusqlite::params![
            seq,
            job.id,
            job.kind.as_str(),
            to_json("job params", &job.params)?,
            job.state.as_str(),
            job.claimed_by,
            job.claim_expires_at.map(Timestamp::as_millis),
            to_json("job progress", &job.progress)?,
            job.attempts,
            job.max_attempts,
            job.last_error,
            job.run_after.as_millis(),
            job.created_at.as_millis(),
            job.updated_at.as_millis(),
            job.claim_token.map(u64_to_sql),
        ])?;
    if let Some(token) = job.claim_token {
        raise_job_claim_sequence(transaction, token)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::jobs::JobState;
    use crate::sqlite::testing;

    fn new_job() -> NewJob {
        NewJob {
            kind: JobKind::Reindex,
            params: serde_json::json!({"from": "a"}),
            max_attempts: 2,
        }
    }

    /// Eight claimers on two handles of one file (so two writer connections race through
    /// SQLite's lock, not only through one writer thread) take each job exactly once, and the
    /// claims get the tokens 1..=64, each once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claimers_take_each_job_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let handles = [testing::file(&path).await, testing::file(&path).await];
        let mut enqueued = BTreeSet::new();
        for _ in 0..64 {
            enqueued.insert(handles[0].enqueue_job(new_job()).await.unwrap().id);
        }
        let claimers: Vec<_> = (0..8)
            .map(|worker| {
                let store = handles[worker % 2].clone();
                tokio::spawn(async move {
                    let mut claimed = Vec::new();
                    while let Some(job) = store
                        .claim_next_job(&format!("w{worker}"), Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        assert_eq!((job.state, job.attempts), (JobState::InProgress, 1));
                        claimed.push((job.id, job.claim_token.unwrap()));
                    }
                    claimed
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for claimer in claimers {
            claimed.extend(claimer.await.unwrap());
        }
        assert_eq!(claimed.len(), enqueued.len(), "no job claimed twice");
        let tokens: BTreeSet<u64> = claimed.iter().map(|(_, token)| *token).collect();
        assert_eq!(tokens, (1..=64).collect(), "no token handed out twice");
        assert_eq!(
            claimed
                .into_iter()
                .map(|(id, _)| id)
                .collect::<BTreeSet<_>>(),
            enqueued
        );
    }

    #[tokio::test]
    async fn expired_claims_return_to_the_queue_then_fail_when_out_of_attempts() {
        let store = testing::memory().await;
        let job = store.enqueue_job(new_job()).await.unwrap();
        let lease = Duration::from_millis(1);
        let claim = store
            .claim_next_job("a", lease)
            .await
            .unwrap()
            .unwrap()
            .claim()
            .unwrap();
        store
            .heartbeat_job(&claim, lease, Some(serde_json::json!({"cursor": 7})))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            store.reclaim_expired_jobs(10).await.unwrap(),
            vec![job.id.clone()]
        );
        let requeued = store.get_job(&job.id).await.unwrap().unwrap();
        assert_eq!(
            (requeued.state, requeued.claimed_by, requeued.progress),
            (JobState::Queued, None, serde_json::json!({"cursor": 7}))
        );
        assert_eq!(requeued.last_error.as_deref(), Some("claim expired"));
        assert!(matches!(
            store.heartbeat_job(&claim, lease, None).await,
            Err(StoreError::Conflict(_))
        ));

        store.claim_next_job("b", lease).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        store.reclaim_expired_jobs(10).await.unwrap();
        let failed = store.get_job(&job.id).await.unwrap().unwrap();
        assert_eq!((failed.state, failed.attempts), (JobState::Failed, 2));
        let retried = store.retry_job(&job.id).await.unwrap();
        assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
        assert!(matches!(
            store.retry_job(&job.id).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.retry_job("missing").await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_attempt_waits_for_its_backoff() {
        let store = testing::memory().await;
        let job = store.enqueue_job(new_job()).await.unwrap();
        let claim = store
            .claim_next_job("a", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap()
            .claim()
            .unwrap();
        assert_eq!(claim.job_id, job.id);
        let failed = store
            .fail_job(&claim, "boom", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            (failed.state, failed.last_error.as_deref()),
            (JobState::Queued, Some("boom"))
        );
        assert!(
            store
                .claim_next_job("b", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.job_queue_depth().await.unwrap(),
            BTreeMap::from([(JobKind::Reindex, 1)])
        );
    }
}
