//! The per-index state records ([`IndexRecord`]) as the data path uses them: whether an index
//! exists, the primary key its documents are routed by, and the order between an index's
//! deletion and the writes racing it. Every replica and Lambda function reads the same record
//! from the store, so they all route by the same primary key.
//!
//! # Adoption
//!
//! An index with no record (created before records existed, or on the nodes directly) is
//! adopted the first time [`Catalog::lookup`] meets it: the nodes are asked, and a record is
//! written with the primary key they report.
//!
//! # Deletion and writes
//!
//! Meilisearch creates a missing index when a document addition or a settings update reaches
//! it. A write that reached a node after that node deleted the index would re-create it there
//! without Miroir's settings (`_miroir_shard` not filterable, so shard-scoped reads refuse it).
//! Miroir orders the two with the record and the task uids, which the store hands out in
//! increasing order:
//!
//! - a deletion marks the record `deleting` ([`Catalog::begin_deletion`]) *before* its task
//!   exists, then waits for the index's tasks with a smaller uid that have no node task yet
//!   ([`Catalog::wait_for_writes`]), then sends the deletion and leaves the record `deleted`
//!   ([`Catalog::finish_deletion`]);
//! - every write creates its task before [`Catalog::guard`] reads the record; a write that finds
//!   it `deleting` waits for the deletion to end and then proceeds as a write to a missing index
//!   (creating it the way Miroir creates indexes, or failing as Meilisearch does).
//!
//! A write that read `active` created its task before the mark, so before the deletion's task:
//! the deletion waits until it is enqueued on the nodes, ahead of the deletion everywhere. A
//! write whose task is newer than the deletion's is not waited for and waits itself. The one
//! write that waits for a deletion that waits for it (its task created between the mark and the
//! deletion's task) costs both the deletion's bounded wait, [`Catalog::write_wait`], and nothing
//! else. A deletion left `deleting` by a process that died is resumed by the first request that
//! finds it older than [`Catalog::abandoned_after`]: the deletion is sent again and the record
//! left `deleted`. Writes that are not client tasks (a reindex job copying into its target) are
//! not ordered this way.

use std::future::Future;
use std::time::{Duration, Instant};

use miroir_store::{
    IndexRecord, IndexState, Store, StoreError, TaskQuery, TaskStatus, TaskUid, Timestamp,
};
use serde_json::Value;

use crate::cluster::{Cluster, WriteOutcome};
use crate::errors::{ApiError, Code};
use crate::node::{Method, node_path};

/// How often a wait re-reads the store.
const POLL: Duration = Duration::from_millis(20);

/// How many times a compare-and-set is retried after losing to a concurrent change.
const CAS_ATTEMPTS: usize = 8;

/// The records of one store, with the fleet they describe.
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    store: &'a dyn Store,
    cluster: &'a Cluster,
}

/// A record this request made `active` for an index it must now create on the nodes, with what
/// was stored before (restored by [`Catalog::create`] when the creation fails).
#[derive(Debug)]
pub struct CreationClaim {
    record: IndexRecord,
    previous: Option<IndexRecord>,
}

impl<'a> Catalog<'a> {
    /// The catalog of `store` for `cluster`.
    pub fn new(store: &'a dyn Store, cluster: &'a Cluster) -> Self {
        Self { store, cluster }
    }

    /// The record of `uid` in any state, adopting an index the nodes hold that has none (see
    /// the module docs); `None` when neither the store nor the nodes know it.
    pub async fn lookup(&self, uid: &str) -> Result<Option<IndexRecord>, ApiError> {
        if let Some(record) = self.store.get_index(uid).await? {
            return Ok(Some(record));
        }
        let Some(primary_key) = self.cluster.index_on_nodes(uid).await? else {
            return Ok(None);
        };
        let record = self.new_record(uid, primary_key, None);
        match self.store.put_index(record, 0).await {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::Conflict(_)) => Ok(self.store.get_index(uid).await?),
            Err(error) => Err(error.into()),
        }
    }

    /// The primary key of active index `uid` (waiting out a deletion in progress, see
    /// [`Catalog::settled`]): its record's, else the nodes' (an index created by a settings
    /// update gets its key with its first documents); `None` when the index does not exist or
    /// has no primary key yet.
    pub async fn primary_key(&self, uid: &str) -> Result<Option<String>, ApiError> {
        match self.settled(uid).await?.filter(IndexRecord::is_active) {
            Some(IndexRecord {
                primary_key: Some(key),
                ..
            }) => Ok(Some(key)),
            Some(_) => Ok(self.cluster.index_on_nodes(uid).await?.flatten()),
            None => Ok(None),
        }
    }

    /// [`Catalog::lookup`] once no deletion of `uid` is in progress (see
    /// [`Catalog::guard`]). The record returned is `active`, `deleted`, or `None`.
    pub async fn settled(&self, uid: &str) -> Result<Option<IndexRecord>, ApiError> {
        match self.lookup(uid).await? {
            Some(record) if record.state == IndexState::Deleting => self.guard(uid).await,
            record => Ok(record),
        }
    }

    /// The check every write of `uid` makes after its task exists and before it sends anything
    /// (see the module docs): the record as stored once no deletion of the index is in
    /// progress. A deletion in progress is waited for (at most [`Catalog::abandoned_after`] and a
    /// second, then 503 `miroir_index_busy`); one abandoned by a process that died is resumed.
    pub async fn guard(&self, uid: &str) -> Result<Option<IndexRecord>, ApiError> {
        let deadline = Instant::now() + self.abandoned_after() + Duration::from_secs(1);
        loop {
            let record = self.store.get_index(uid).await?;
            let Some(deleting) = record
                .as_ref()
                .filter(|record| record.state == IndexState::Deleting)
            else {
                return Ok(record);
            };
            if self.is_abandoned(deleting) {
                self.resume_deletion(deleting.clone()).await?;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(busy(uid));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Readies `uid` for a document write routed by `primary_key`, inside the write's task,
    /// starting from `current` (the record [`Catalog::guard`] returned): an active index with
    /// that key needs nothing (`None`); one without a key gets it; a missing or deleted one is
    /// claimed for creation (`Some`, then [`Catalog::create`]). An index that gets its key here
    /// gets it on every node too, so that each node describes it with its key (not only those
    /// the documents reach). An index with another primary
    /// key is refused (`bad_request`), a deletion in progress is `miroir_index_busy`.
    pub async fn prepare_documents(
        &self,
        uid: &str,
        primary_key: &str,
        mut current: Option<IndexRecord>,
    ) -> Result<Option<CreationClaim>, ApiError> {
        for _ in 0..CAS_ATTEMPTS {
            let attempt = match current {
                Some(record) if record.state == IndexState::Deleting => return Err(busy(uid)),
                Some(record) if record.is_active() => match &record.primary_key {
                    Some(key) if key == primary_key => return Ok(None),
                    Some(key) => return Err(other_primary_key(uid, key, primary_key)),
                    None => {
                        let mut keyed = record.clone();
                        keyed.primary_key = Some(primary_key.to_owned());
                        keyed.updated_at = Timestamp::now();
                        match self.store.put_index(keyed, record.version).await {
                            Ok(_) => {
                                self.cluster.set_primary_key(uid, primary_key).await;
                                Ok(None)
                            }
                            Err(error) => Err(error),
                        }
                    }
                },
                previous => self
                    .claim(uid, Some(primary_key.to_owned()), previous)
                    .await
                    .map(Some),
            };
            match attempt {
                Ok(claim) => return Ok(claim),
                Err(StoreError::Conflict(_)) => current = self.guard(uid).await?,
                Err(error) => return Err(error.into()),
            }
        }
        Err(contended(uid))
    }

    /// Claims `uid` for creation with `primary_key`, inside the creation's task: `None` when
    /// the index is already active (the creation then fails with `index_already_exists`).
    pub async fn claim_creation(
        &self,
        uid: &str,
        primary_key: Option<String>,
    ) -> Result<Option<CreationClaim>, ApiError> {
        let mut current = self.guard(uid).await?;
        for _ in 0..CAS_ATTEMPTS {
            if current.as_ref().is_some_and(IndexRecord::is_active) {
                return Ok(None);
            }
            match self.claim(uid, primary_key.clone(), current).await {
                Ok(claim) => return Ok(Some(claim)),
                Err(StoreError::Conflict(_)) => current = self.guard(uid).await?,
                Err(error) => return Err(error.into()),
            }
        }
        Err(contended(uid))
    }

    /// Runs `send`, a write that creates `uid` on the nodes when it is missing there (a settings
    /// update, as in Meilisearch), inside the write's task, from `current` ([`Catalog::guard`]'s
    /// record): a missing or deleted index is claimed first, without a primary key, and released
    /// when the nodes did not take the write.
    pub async fn write_creating<Fut>(
        &self,
        uid: &str,
        current: Option<IndexRecord>,
        send: Fut,
    ) -> Result<WriteOutcome, ApiError>
    where
        Fut: Future<Output = WriteOutcome>,
    {
        let claim = if current.as_ref().is_some_and(IndexRecord::is_active) {
            None
        } else {
            self.claim_creation(uid, None).await?
        };
        let outcome = send.await;
        if let Some(claim) = claim.filter(|_| !outcome.succeeded()) {
            self.release(claim).await;
        }
        Ok(outcome)
    }

    /// Creates the claimed index on the nodes ([`Cluster::create_index`]); when that fails,
    /// the record goes back to what it was before the claim, so nothing says the index exists.
    pub async fn create(&self, claim: CreationClaim) -> WriteOutcome {
        let outcome = self
            .cluster
            .create_index(&claim.record.uid, claim.record.primary_key.as_deref())
            .await;
        if !outcome.succeeded() {
            self.release(claim).await;
        }
        outcome
    }

    /// Puts back what was stored before `claim` (after a creation that failed). Best effort:
    /// a record changed since is left alone, failures are logged.
    pub async fn release(&self, claim: CreationClaim) {
        let uid = claim.record.uid.clone();
        let version = claim.record.version;
        let restored = match claim.previous {
            None => self.store.delete_index(&uid, version).await.map(drop),
            Some(mut previous) => {
                previous.updated_at = Timestamp::now();
                self.store.put_index(previous, version).await.map(drop)
            }
        };
        if let Err(error) = restored {
            tracing::warn!(index = %uid, %error, "the record of an index that could not be created was kept");
        }
    }

    /// Changes the primary key of active index `uid` to `primary_key`, inside the update's
    /// task, from `current` ([`Catalog::guard`]'s record); returns the record as it was, to
    /// restore with [`Catalog::restore`] if the nodes refuse the update. `None` when there is no
    /// active record to change (the nodes then answer for the index).
    pub async fn set_primary_key(
        &self,
        uid: &str,
        primary_key: &str,
        mut current: Option<IndexRecord>,
    ) -> Result<Option<IndexRecord>, ApiError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(record) = current.filter(IndexRecord::is_active) else {
                return Ok(None);
            };
            let mut changed = record.clone();
            changed.primary_key = Some(primary_key.to_owned());
            changed.updated_at = Timestamp::now();
            match self.store.put_index(changed, record.version).await {
                Ok(_) => return Ok(Some(record)),
                Err(StoreError::Conflict(_)) => current = self.guard(uid).await?,
                Err(error) => return Err(error.into()),
            }
        }
        Err(contended(uid))
    }

    /// Puts `before` back over the record that replaced it (version `before.version + 1`).
    /// Best effort: a record changed since is left alone, failures are logged.
    pub async fn restore(&self, before: IndexRecord) {
        let uid = before.uid.clone();
        let expected = before.version + 1;
        if let Err(error) = self.store.put_index(before, expected).await {
            tracing::warn!(index = %uid, %error, "the record of an index update the nodes refused was kept");
        }
    }

    /// Marks active index `uid` `deleting`, before the deletion's task is created (see the
    /// module docs; a deletion in progress is waited for first). Returns the record as marked,
    /// or `None` when there is no active record (the deletion is then sent as is and the nodes
    /// answer for the index). The caller must end the deletion with
    /// [`Catalog::finish_deletion`], also when it sends nothing.
    pub async fn begin_deletion(&self, uid: &str) -> Result<Option<IndexRecord>, ApiError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(record) = self.guard(uid).await?.filter(IndexRecord::is_active) else {
                return Ok(None);
            };
            let mut deleting = record.clone();
            deleting.state = IndexState::Deleting;
            deleting.updated_at = Timestamp::now();
            match self.store.put_index(deleting, record.version).await {
                Ok(marked) => return Ok(Some(marked)),
                Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(contended(uid))
    }

    /// How long after its last change a `deleting` record counts as abandoned by a process that
    /// died: past the deletion's own wait, its fan-out and a margin.
    pub fn abandoned_after(&self) -> Duration {
        self.write_wait() + self.cluster.client().timeout() * 2 + Duration::from_secs(5)
    }

    fn is_abandoned(&self, deleting: &IndexRecord) -> bool {
        let age = Timestamp::now()
            .as_millis()
            .saturating_sub(deleting.updated_at.as_millis());
        u128::try_from(age).unwrap_or(0) > self.abandoned_after().as_millis()
    }

    /// Finishes a deletion its process abandoned: claims it (so one request resumes it), sends
    /// the deletion to every node again (a node that already applied it answers the task with
    /// `index_not_found`), and leaves the record `deleted` once the nodes took it.
    async fn resume_deletion(&self, abandoned: IndexRecord) -> Result<(), ApiError> {
        let uid = abandoned.uid.clone();
        let mut claimed = abandoned.clone();
        claimed.updated_at = Timestamp::now();
        let claimed = match self.store.put_index(claimed, abandoned.version).await {
            Ok(claimed) => claimed,
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        tracing::warn!(index = %uid, "resuming an index deletion its process abandoned");
        let path = node_path(["indexes", uid.as_str()]);
        let outcome = self
            .cluster
            .write(self.cluster.broadcast(&Method::DELETE, &path, None), None)
            .await;
        if outcome.succeeded() {
            self.finish_deletion(claimed, true).await;
        }
        Ok(())
    }

    /// How long [`Catalog::wait_for_writes`] waits: two node round trips (a creation then
    /// the write) and a second for the store.
    pub fn write_wait(&self) -> Duration {
        self.cluster.client().timeout() * 2 + Duration::from_secs(1)
    }

    /// Waits until no task of index `uid` older than the deletion's task `own` is still being
    /// sent to the nodes (`enqueued` with no node task), at most [`Catalog::write_wait`].
    /// Returns whether it saw none (`false`: the wait ran out).
    pub async fn wait_for_writes(&self, uid: &str, own: TaskUid) -> Result<bool, ApiError> {
        let deadline = Instant::now() + self.write_wait();
        loop {
            let page = self
                .store
                .list_tasks(&TaskQuery {
                    statuses: Some(vec![TaskStatus::Enqueued]),
                    index_uids: Some(vec![uid.to_owned()]),
                    limit: 1000,
                    ..TaskQuery::default()
                })
                .await?;
            let sending = page
                .results
                .iter()
                .any(|task| task.uid < own && task.node_tasks.is_empty());
            if !sending {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    index = uid,
                    "an index deletion stopped waiting for a write still being sent"
                );
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the deletion that marked `marked`: `deleted` when the nodes took it, else `active`
    /// again (nothing was sent, or the nodes refused it). Best effort: failures are logged (a
    /// record left `deleting` is resumed later, see [`Catalog::guard`]).
    pub async fn finish_deletion(&self, marked: IndexRecord, deleted: bool) {
        let uid = marked.uid.clone();
        let expected = marked.version;
        let mut finished = marked;
        finished.state = if deleted {
            IndexState::Deleted
        } else {
            IndexState::Active
        };
        finished.updated_at = Timestamp::now();
        if let Err(error) = self.store.put_index(finished, expected).await {
            tracing::warn!(index = %uid, %error, "the record of a deleted index was left `deleting`");
        }
    }

    /// Whether any node holds documents in index `uid` (`numberOfDocuments` of its stats);
    /// nodes that do not answer count as holding none.
    pub async fn has_documents(&self, uid: &str) -> bool {
        let path = node_path(["indexes", uid, "stats"]);
        let answers = self
            .cluster
            .call_all(self.cluster.broadcast(&Method::GET, &path, None))
            .await;
        answers.into_iter().any(|(_, answer)| {
            answer
                .and_then(|response| response.json::<Value>())
                .ok()
                .and_then(|stats| stats.get("numberOfDocuments").and_then(Value::as_u64))
                .is_some_and(|count| count > 0)
        })
    }

    /// Writes an `active` record for `uid` over `previous` (compare-and-set on its version).
    async fn claim(
        &self,
        uid: &str,
        primary_key: Option<String>,
        previous: Option<IndexRecord>,
    ) -> Result<CreationClaim, StoreError> {
        let expected = previous.as_ref().map_or(0, |record| record.version);
        let record = self.new_record(uid, primary_key, previous.as_ref());
        let record = self.store.put_index(record, expected).await?;
        Ok(CreationClaim { record, previous })
    }

    /// A new `active` record of `uid` (keeping the creation time of a tombstone it replaces).
    fn new_record(
        &self,
        uid: &str,
        primary_key: Option<String>,
        previous: Option<&IndexRecord>,
    ) -> IndexRecord {
        let now = Timestamp::now();
        IndexRecord {
            uid: uid.to_owned(),
            primary_key,
            physical_uid: uid.to_owned(),
            shards: self.cluster.topology().shards(),
            settings_version: 0,
            state: IndexState::Active,
            version: 0,
            created_at: previous.map_or(now, |record| record.created_at),
            updated_at: now,
        }
    }
}

/// 503 `miroir_index_busy`: `uid` is being deleted.
fn busy(uid: &str) -> ApiError {
    ApiError::new(
        Code::MiroirIndexBusy,
        format!(
            "Index `{uid}` is still being deleted by another request; nothing was sent. Retry \
             once the deletion is done."
        ),
    )
}

/// 503 `miroir_index_busy`: the record kept changing under this request.
fn contended(uid: &str) -> ApiError {
    ApiError::new(
        Code::MiroirIndexBusy,
        format!("Index `{uid}` is being changed by other requests; nothing was sent. Retry."),
    )
}

/// 400: a write names another primary key than the index's.
fn other_primary_key(uid: &str, key: &str, requested: &str) -> ApiError {
    ApiError::new(
        Code::BadRequest,
        format!(
            "Index `{uid}` already has the primary key `{key}`; the `primaryKey` parameter \
             `{requested}` does not match it."
        ),
    )
}
