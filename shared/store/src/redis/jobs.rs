//! Jobs: a hash per job and sorted-set indexes in the `{jobs}` slot — the queue (by `run_after`,
//! FIFO among equal times), the claims (by `claim_expires_at`), every job and each state (by
//! enqueue sequence) — plus a per-kind queued counter and the claim token counter
//! (`P:{jobs}:claim_seq`, `INCR` by each claim). Every transition is one script that keeps all of
//! them in step, in the one `{jobs}` slot (also on a Redis Cluster); "now" is the Redis server
//! clock.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::{ScriptInvocation, Value};

use super::RedisStore;
use super::codec::{self, Fields, Row, optional_millis};
use super::copy::checked_score;
use crate::copy::{CopyPage, CopyRow, CopyTable, JobRecord};
use crate::error::{StoreError, StoreResult};
use crate::jobs::{Job, JobClaim, JobKind, JobPage, JobQuery, JobState, JobStore, NewJob};
use crate::time::ttl_millis;

const TABLE: &str = "jobs";

/// `last_error` of a job whose claim ran out.
const CLAIM_EXPIRED: &str = "claim expired";

lua_script!(ENQUEUE = "jobs_common.lua", "job_enqueue.lua");
lua_script!(CLAIM = "jobs_common.lua", "job_claim.lua");
lua_script!(HEARTBEAT = "jobs_common.lua", "job_heartbeat.lua");
lua_script!(COMPLETE = "jobs_common.lua", "job_complete.lua");
lua_script!(FAIL = "jobs_common.lua", "job_fail.lua");
lua_script!(RECLAIM = "jobs_common.lua", "job_reclaim.lua");
lua_script!(RETRY = "jobs_common.lua", "job_retry.lua");
lua_script!(LIST = "job_list.lua");
lua_script!(COPY = "jobs_common.lua", "copy_job.lua");

/// The states in the order `jobs_common.lua` expects them.
pub(super) const STATES: [JobState; 4] = [
    JobState::Queued,
    JobState::InProgress,
    JobState::Completed,
    JobState::Failed,
];

/// Decodes a job hash. `claim_token` is read only while the job is in progress: a version-1
/// binary still finishing its claim after the migration deletes `claimed_by` but not the token.
fn decode(row: &Row) -> StoreResult<Job> {
    let state = row.parse("state")?;
    Ok(Job {
        id: row.text("id")?,
        kind: row.parse("kind")?,
        params: row.json("params")?,
        state,
        claimed_by: row.opt_text("claimed_by")?,
        claim_token: match state {
            JobState::InProgress => row.opt_parse("claim_token")?,
            _ => None,
        },
        claim_expires_at: row.opt_timestamp("claim_expires_at")?,
        progress: row.json("progress")?,
        attempts: row.parse("attempts")?,
        max_attempts: row.parse("max_attempts")?,
        last_error: row.opt_text("last_error")?,
        run_after: row.timestamp("run_after")?,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

/// `'1', progress` to replace the progress, `'0', ''` to keep it.
fn progress_args(progress: Option<&serde_json::Value>) -> StoreResult<(String, String)> {
    Ok(match progress {
        Some(progress) => ("1".to_owned(), codec::to_json(progress)?),
        None => ("0".to_owned(), String::new()),
    })
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl RedisStore {
    /// An invocation of a job script with the shared keys and arguments of `jobs_common.lua`,
    /// addressing job `id` (`KEYS[11]`) when given. Every key is in the `{jobs}` slot.
    pub(super) fn job_invocation(
        &self,
        script: &'static redis::Script,
        id: Option<&str>,
    ) -> ScriptInvocation<'static> {
        let keys = self.keys();
        let mut invocation = script.prepare_invoke();
        invocation
            .key(keys.jobs_queued())
            .key(keys.jobs_claims())
            .key(keys.jobs_depth())
            .key(keys.jobs_all())
            .key(keys.job_seq());
        for state in STATES {
            invocation.key(keys.jobs_by_state(state));
        }
        invocation.key(keys.job_claim_seq());
        if let Some(id) = id {
            invocation.key(keys.job(id));
        }
        invocation.arg(keys.job_prefix());
        for state in STATES {
            invocation.arg(state.as_str());
        }
        invocation
    }

    /// Runs a job script that returns one job hash.
    async fn eval_job(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<Job> {
        let hash: Value = self.eval(invocation).await?;
        decode(&Row::decode_present(TABLE, hash)?)
    }
}

#[async_trait]
impl JobStore for RedisStore {
    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
        if job.max_attempts == 0 {
            return Err(StoreError::invalid("max_attempts must be at least 1"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let fields = Fields::new()
            .text("id", id.as_str())
            .display("kind", job.kind)
            .json("params", &job.params)?
            .json("progress", &serde_json::Value::Null)?
            .display("max_attempts", job.max_attempts);
        let mut invocation = self.job_invocation(&ENQUEUE, Some(&id));
        invocation.arg(&id).arg(fields.script_args());
        self.eval_job(&invocation).await
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        let row = self.row(TABLE, &self.keys().job(id)).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_jobs(&self, query: &JobQuery) -> StoreResult<JobPage> {
        let keys = self.keys();
        let index = match query.state {
            Some(state) => keys.jobs_by_state(state),
            None => keys.jobs_all(),
        };
        let mut invocation = LIST.key(index);
        if let Some(from) = &query.from {
            invocation.key(keys.job(from));
        }
        invocation
            .arg(keys.job_prefix())
            .arg(query.examined())
            .arg(query.limit.min(query.examined()))
            .arg(query.kind.map_or("", JobKind::as_str))
            .arg(query.from.as_deref().unwrap_or_default());
        let reply: Value = self.eval(&invocation).await?;
        let mut reply = codec::array(TABLE, reply)?.into_iter();
        let (Some(next), Some(hashes), None) = (reply.next(), reply.next(), reply.next()) else {
            return Err(StoreError::corrupt(
                TABLE,
                "job list reply is not {next, jobs}",
            ));
        };
        let next = codec::text(TABLE, next)?;
        let mut page = JobPage {
            jobs: Vec::new(),
            next: (!next.is_empty()).then_some(next),
        };
        for hash in codec::array(TABLE, hashes)? {
            if let Some(row) = Row::decode(TABLE, hash)? {
                page.jobs.push(decode(&row)?);
            }
        }
        Ok(page)
    }

    async fn claim_next_job(&self, worker: &str, lease: Duration) -> StoreResult<Option<Job>> {
        let mut invocation = self.job_invocation(&CLAIM, None);
        invocation.arg(worker).arg(ttl_millis(lease));
        let hash: Value = self.eval(&invocation).await?;
        Row::decode(TABLE, hash)?.as_ref().map(decode).transpose()
    }

    async fn heartbeat_job(
        &self,
        claim: &JobClaim,
        lease: Duration,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job> {
        let mut invocation = self.job_invocation(&HEARTBEAT, Some(&claim.job_id));
        invocation
            .arg(&claim.job_id)
            .arg(&claim.worker)
            .arg(claim.token)
            .arg(ttl_millis(lease))
            .arg(progress_args(progress.as_ref())?);
        self.eval_job(&invocation).await
    }

    async fn complete_job(
        &self,
        claim: &JobClaim,
        progress: Option<serde_json::Value>,
    ) -> StoreResult<Job> {
        let mut invocation = self.job_invocation(&COMPLETE, Some(&claim.job_id));
        invocation
            .arg(&claim.job_id)
            .arg(&claim.worker)
            .arg(claim.token)
            .arg(progress_args(progress.as_ref())?);
        self.eval_job(&invocation).await
    }

    async fn fail_job(
        &self,
        claim: &JobClaim,
        error: &str,
        retry_after: Duration,
    ) -> StoreResult<Job> {
        let mut invocation = self.job_invocation(&FAIL, Some(&claim.job_id));
        invocation
            .arg(&claim.job_id)
            .arg(&claim.worker)
            .arg(claim.token)
            .arg(error)
            .arg(duration_millis(retry_after));
        self.eval_job(&invocation).await
    }

    async fn reclaim_expired_jobs(&self, batch: u32) -> StoreResult<Vec<String>> {
        let mut invocation = self.job_invocation(&RECLAIM, None);
        invocation.arg(batch).arg(CLAIM_EXPIRED);
        let ids: Value = self.eval(&invocation).await?;
        codec::array(TABLE, ids)?
            .into_iter()
            .map(|id| codec::text(TABLE, id))
            .collect()
    }

    async fn retry_job(&self, id: &str) -> StoreResult<Job> {
        let mut invocation = self.job_invocation(&RETRY, Some(id));
        invocation.arg(id);
        self.eval_job(&invocation).await
    }

    async fn job_queue_depth(&self) -> StoreResult<BTreeMap<JobKind, u64>> {
        let depth: BTreeMap<String, i64> = self
            .query(redis::cmd("HGETALL").arg(self.keys().jobs_depth()))
            .await?;
        let mut queued = BTreeMap::new();
        for (kind, count) in depth {
            let kind: JobKind = kind.parse().map_err(|error| {
                StoreError::corrupt(TABLE, format_args!("queue depth: {error}"))
            })?;
            if let Ok(count @ 1..) = u64::try_from(count) {
                queued.insert(kind, count);
            }
        }
        Ok(queued)
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of jobs: `{jobs}:all` by enqueue sequence;
    /// the cursor is the last sequence number.
    pub(super) async fn export_jobs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let table = CopyTable::Jobs;
        let keys = self.keys();
        let after = match cursor {
            None => String::new(),
            Some(cursor) => checked_score(table, cursor, cursor)?,
        };
        let page = self
            .zset_page(table, &keys.jobs_all(), &keys.job_prefix(), &after, limit)
            .await?;
        let rows = page
            .rows
            .iter()
            .map(|row| {
                Ok(CopyRow::Job(JobRecord {
                    seq: row.parse("seq")?,
                    job: decode(row)?,
                }))
            })
            .collect::<StoreResult<_>>()?;
        let next = if page.members == limit {
            page.last
        } else {
            None
        };
        Ok(CopyPage { rows, next })
    }

    /// Writes one copied job with its enqueue sequence (`copy_job.lua`), replacing the job of the
    /// same id and its index entries, and raising the job sequence to its `seq` and the claim
    /// token sequence to its claim token in the same script.
    pub(super) async fn import_job(&self, record: &JobRecord) -> StoreResult<()> {
        let job = &record.job;
        let fields = Fields::new()
            .text("id", job.id.as_str())
            .display("kind", job.kind)
            .json("params", &job.params)?
            .json("progress", &job.progress)?
            .display("max_attempts", job.max_attempts)
            .display("seq", record.seq)
            .display("attempts", job.attempts)
            .timestamp("run_after", job.run_after)
            .timestamp("created_at", job.created_at)
            .timestamp("updated_at", job.updated_at)
            .display("state", job.state)
            .optional("claimed_by", job.claimed_by.as_deref(), Fields::text)
            .optional("claim_expires_at", job.claim_expires_at, Fields::timestamp)
            .optional("claim_token", job.claim_token, Fields::display)
            .optional("last_error", job.last_error.as_deref(), Fields::text);
        let mut invocation = self.job_invocation(&COPY, Some(&job.id));
        invocation
            .arg(&job.id)
            .arg(record.seq)
            .arg(job.state.as_str())
            .arg(job.kind.as_str())
            .arg(job.run_after.as_millis())
            .arg(optional_millis(job.claim_expires_at))
            .arg(
                job.claim_token
                    .map(|token| token.to_string())
                    .unwrap_or_default(),
            )
            .arg(fields.script_args());
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::redis::test_support;

    const LEASE: Duration = Duration::from_secs(60);

    async fn members(store: &RedisStore, key: String) -> Vec<String> {
        store
            .query(redis::cmd("ZRANGE").arg(key).arg(0).arg(-1))
            .await
            .expect("zrange")
    }

    /// Every index agrees with the job hashes.
    async fn assert_indexes_agree(store: &RedisStore) {
        let keys = store.keys();
        let jobs = store
            .list_jobs(&JobQuery {
                limit: 10_000,
                ..JobQuery::default()
            })
            .await
            .expect("list")
            .jobs;
        for state in STATES {
            let expected: Vec<&str> = jobs
                .iter()
                .filter(|job| job.state == state)
                .map(|job| job.id.as_str())
                .collect();
            assert_eq!(
                members(store, keys.jobs_by_state(state)).await,
                expected,
                "{state}"
            );
        }
        let queued: BTreeSet<String> = members(store, keys.jobs_queued())
            .await
            .into_iter()
            .map(|member| member[21..].to_owned())
            .collect();
        let expected: BTreeSet<String> = jobs
            .iter()
            .filter(|job| job.state == JobState::Queued)
            .map(|job| job.id.clone())
            .collect();
        assert_eq!(queued, expected);
        let claimed: BTreeSet<String> = members(store, keys.jobs_claims())
            .await
            .into_iter()
            .collect();
        let expected: BTreeSet<String> = jobs
            .iter()
            .filter(|job| job.state == JobState::InProgress)
            .map(|job| job.id.clone())
            .collect();
        assert_eq!(claimed, expected);
        let mut depth = BTreeMap::new();
        for job in jobs.iter().filter(|job| job.state == JobState::Queued) {
            *depth.entry(job.kind).or_insert(0) += 1;
        }
        assert_eq!(store.job_queue_depth().await, Ok(depth));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_transition_keeps_the_indexes_in_step() {
        let store = test_support::store("jobs_indexes").await;
        let mut ids = Vec::new();
        for (number, kind) in JobKind::ALL.iter().cycle().take(12).enumerate() {
            let job = NewJob {
                kind: *kind,
                params: serde_json::json!({ "n": number }),
                max_attempts: 2,
            };
            ids.push(store.enqueue_job(job).await.expect("enqueue").id);
        }
        assert_indexes_agree(&store).await;
        // FIFO: one worker gets the jobs in enqueue order.
        let mut claims = Vec::new();
        for _ in 0..8 {
            let job = store
                .claim_next_job("w", LEASE)
                .await
                .expect("claim")
                .expect("a job");
            claims.push(job.claim().expect("a claim"));
        }
        let claimed: Vec<&str> = claims.iter().map(|claim| claim.job_id.as_str()).collect();
        assert_eq!(claimed, ids[..8]);
        let tokens: Vec<u64> = claims.iter().map(|claim| claim.token).collect();
        assert_eq!(tokens, (1..=8).collect::<Vec<_>>());
        assert_indexes_agree(&store).await;
        store
            .complete_job(&claims[0], None)
            .await
            .expect("complete");
        store
            .fail_job(&claims[1], "boom", Duration::ZERO)
            .await
            .expect("fail once");
        store
            .heartbeat_job(
                &claims[2],
                Duration::from_millis(1),
                Some(serde_json::json!(5)),
            )
            .await
            .expect("heartbeat");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store.reclaim_expired_jobs(10).await,
            Ok(vec![ids[2].clone()])
        );
        assert_indexes_agree(&store).await;
        // Ordered by run_after, then enqueue order: the never-claimed jobs, then the retried
        // job (requeued before the reclaimed one).
        let mut last = None;
        for expected in [&ids[8], &ids[9], &ids[10], &ids[11], &ids[1]] {
            let job = store
                .claim_next_job("w", LEASE)
                .await
                .expect("claim")
                .expect("a job");
            assert_eq!(&job.id, expected);
            last = job.claim();
        }
        let failed = store
            .fail_job(&last.expect("a claim"), "boom", Duration::ZERO)
            .await
            .expect("fail for good");
        assert_eq!(failed.state, JobState::Failed);
        assert_indexes_agree(&store).await;
        store.retry_job(&ids[1]).await.expect("retry");
        assert_indexes_agree(&store).await;
    }
}
