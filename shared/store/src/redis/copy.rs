//! Copying a whole store ([`CopyStore`]) on Redis.
//!
//! **Export** walks each table through what indexes it, one page per call, and leaves out what
//! Redis has expired (it never returns an expired key):
//!
//! | Table | Walk | Cursor (opaque to callers) |
//! |-------|------|----------------------------|
//! | tasks | each partition's `_index` in turn (one on a standalone server, 16 on a cluster), by uid | `<partition>:<last uid>` |
//! | jobs | `{jobs}:all`, by enqueue seq | `<last seq>` |
//! | aliases, canaries, rollover policies, search-UI configs | their `_index` set, read whole and paged by sorted member | the last member |
//! | CDC cursors | the `{cdc}:_index` sinks, sorted, then each sink's cursors by index uid | JSON `[sink, index uid]` |
//! | index records | `{indexes}:_index`, by uid (`ZRANGEBYLEX`, as `list_indexes`) | the last uid |
//! | every other table | `SCAN … MATCH <family>* COUNT n` on the master holding the family's slot, or on every master in turn for untagged families | JSON [`ScanCursor`] |
//!
//! The scanned tables are node settings (one hash per index: several rows per key), sessions,
//! idempotency records, leases (one row per token key, with its held hash), canary runs (one
//! sorted set per canary: several rows per key; a run's canary need not exist), CDC overflow
//! buffers (one row per sink), tenants, scoped keys, scoped-key observations, admin sessions,
//! rate-limit counters and login backoffs. A `SCAN` may return a key twice, so those tables may
//! export a row twice, which the trait allows. Rows that expire after a relative TTL and do not
//! store their expiry (rate-limit counters, login backoffs, observations) get it from
//! `PEXPIRETIME` (Redis 7), or from `PTTL` against the server clock before.
//!
//! **Import** writes each row with one script or `MULTI` in its own slot, replacing the row with
//! the same key, its index memberships included (`copy_task.lua`, `copy_job.lua`,
//! `copy_lease.lua`, `copy_tenant.lua`; an index record's hash and uid set in one `MULTI` in the
//! `{indexes}` slot, version and timestamps as given), many rows at a time (a CDC cursor first
//! registers its sink in `{cdc}:_index`, like a sink's first advance). Importing tasks raises `P:{tasks}:seq`
//! first (its own slot), importing a job raises `P:{jobs}:seq` and `P:{jobs}:claim_seq` (to its
//! claim token) in the job's script, and a lease token is raised, never lowered. Rows already
//! expired (by this process's clock) are skipped; the others get `PEXPIREAT` their `expires_at`.
//!
//! This module is the dispatcher and the table-independent machinery: the sorted-set page
//! (`copy_zset_page.lua`), the page of a name set, the `SCAN` walk and its cursor ([`Scan`]), rows
//! read with their expiry (`copy_read_expiring.lua`), the two sequences and `clear_all_rows`. Each
//! table's export (an `export_*` method, or the [`Scan`] its `*copy_scan` describes) and import
//! (`import_*`) live beside its other commands in its own module.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::codec::{self, Row};
use super::keys::{Keys, Layout, key_slot};
use super::{
    RedisStore, admin_sessions, canaries, cdc, idempotency, leases, node_settings, rate_limits,
    search_ui, sessions, tenants,
};
use crate::canaries::CanaryStore;
use crate::copy::{CopyPage, CopyRow, CopyStore, CopyTable};
use crate::error::{StoreError, StoreResult};
use crate::rollover::RolloverStore;
use crate::search_ui::SearchUiStore;
use crate::tasks::TaskUid;
use crate::time::Timestamp;

/// Rows an import writes at the same time.
const IMPORT_CONCURRENCY: usize = 64;

/// `COUNT` of an export's `SCAN`: the page size, within these bounds.
const SCAN_COUNT: (usize, usize) = (100, 1000);

lua_script!(ZSET_PAGE = "copy_zset_page.lua");
lua_script!(RAISE_SEQUENCE = "copy_raise_sequence.lua");
lua_script!(READ_EXPIRING = "copy_read_expiring.lua");

/// How a table without an index is exported: a `SCAN` of its key family, master after master.
pub(super) struct Scan {
    /// The `MATCH` pattern.
    pattern: String,
    /// The hash slot of a family in one slot (only its master is scanned); `None`: the family is
    /// spread over every master.
    slot: Option<u16>,
    /// Whether a key the pattern matches is one of the table's rows.
    is_row: fn(&Keys, &str) -> bool,
    /// How the rows of the keys found are read.
    rows: ScanRows,
}

impl Scan {
    /// The keys starting with `prefix`, all in the prefix's hash slot.
    pub(super) fn tagged(prefix: String, rows: ScanRows) -> Self {
        Self {
            slot: Some(key_slot(&prefix)),
            ..Self::spread(prefix, rows)
        }
    }

    /// The keys starting with `prefix`, spread over every master.
    pub(super) fn spread(prefix: String, rows: ScanRows) -> Self {
        Self::matching(format!("{prefix}*"), rows)
    }

    /// The keys matching `pattern`, spread over every master.
    pub(super) fn matching(pattern: String, rows: ScanRows) -> Self {
        Self {
            pattern,
            slot: None,
            is_row: |_, _| true,
            rows,
        }
    }

    /// The same walk, keeping only the keys `is_row` accepts (a pattern that also matches another
    /// table's keys).
    pub(super) fn only(self, is_row: fn(&Keys, &str) -> bool) -> Self {
        Self { is_row, ..self }
    }
}

/// How a scanned table reads the rows of the keys its `SCAN` found; keys gone meanwhile give no
/// row.
pub(super) enum ScanRows {
    /// One hash per row, decoded by the function.
    Hashes(fn(&Row) -> StoreResult<CopyRow>),
    /// One string or hash per row that expires after a relative TTL and does not store its
    /// expiry: read with its absolute expiry, decoded by the function (`None`: no row).
    Expiring(Stored, fn(&Keys, Expiring) -> StoreResult<Option<CopyRow>>),
    /// One row per key, read by the table's own function.
    PerKey(ReadKeys),
    /// Several rows per key (a node id, a run's `ran_at` tells them apart), read by the table's
    /// own function.
    SeveralPerKey(ReadKey),
}

/// Reads the rows of scanned keys, one per key.
pub(super) type ReadKeys =
    for<'a> fn(&'a RedisStore, &'a [String]) -> BoxFuture<'a, StoreResult<Vec<CopyRow>>>;

/// Reads up to `budget` rows of one scanned key, after `after` (the last row of the key already
/// returned), and returns them with the last one when more are left.
pub(super) type ReadKey = for<'a> fn(
    &'a RedisStore,
    &'a str,
    Option<&'a str>,
    usize,
) -> BoxFuture<'a, StoreResult<(Vec<CopyRow>, Option<String>)>>;

/// What the expiring rows of a table are stored as.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stored {
    /// A string.
    String,
    /// A hash.
    Hash,
}

/// A row read with its absolute expiry.
pub(super) struct Expiring {
    /// The key.
    pub(super) key: String,
    /// The string or the flat hash (`Nil` or empty when the key is gone).
    pub(super) value: Value,
    /// When the key expires (`None`: no expiry).
    pub(super) expires_at: Option<Timestamp>,
}

/// Where a `SCAN` walk stands: the master being scanned, its `SCAN` cursor, and the keys found
/// and not read yet (a `SCAN` reply may hold more keys than a page has room for).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct ScanCursor {
    /// A hash slot of the master being scanned (on a cluster: its lowest slot when every master
    /// is walked, the family's slot otherwise).
    #[serde(rename = "n")]
    node: u16,
    /// The next `SCAN` cursor on that master.
    #[serde(rename = "c")]
    scan: u64,
    /// `SCAN` has returned cursor 0 on that master: it is done once `pending` is.
    #[serde(rename = "e")]
    ended: bool,
    /// Keys found and not read yet, in order.
    #[serde(rename = "p")]
    pending: Vec<String>,
    /// In tables with several rows per key: the last row of `pending[0]` already returned (a
    /// node id, a run's `ran_at`).
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

impl ScanCursor {
    fn start(node: u16) -> Self {
        Self {
            node,
            ..Self::default()
        }
    }
}

/// One page of a sorted-set walk: the rows found, how many members were read and the score of
/// the last one.
pub(super) struct ZsetPage {
    /// The hashes of the members read, skipping missing ones.
    pub(super) rows: Vec<Row>,
    /// Members read.
    pub(super) members: usize,
    /// The score of the last member read.
    pub(super) last: Option<String>,
}

/// `InvalidInput`: `cursor` is not a cursor an export of `table` hands out.
pub(super) fn bad_cursor(table: CopyTable, cursor: &str) -> StoreError {
    StoreError::invalid(format_args!(
        "`{cursor}` is not a cursor of a {table} export"
    ))
}

/// A `SCAN` score bound from a cursor: empty or a number.
pub(super) fn checked_score(table: CopyTable, cursor: &str, score: &str) -> StoreResult<String> {
    if score.is_empty() || score.parse::<f64>().is_ok_and(f64::is_finite) {
        Ok(score.to_owned())
    } else {
        Err(bad_cursor(table, cursor))
    }
}

/// The first `budget` keys of `pending` (all of them when fewer), taken off it.
fn take_keys(pending: &mut Vec<String>, budget: usize) -> Vec<String> {
    pending.drain(..budget.min(pending.len())).collect()
}

/// A cursor that could not be encoded.
pub(super) fn cursor_encoding_error(error: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("redis: cursor encoding: {error}"))
}

impl RedisStore {
    /// The members of `index` after score `after` ('' = from the start), at most `limit`, with
    /// their hashes (`hash_prefix` + member).
    pub(super) async fn zset_page(
        &self,
        table: CopyTable,
        index: &str,
        hash_prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<ZsetPage> {
        let mut invocation = ZSET_PAGE.key(index);
        invocation.arg(hash_prefix).arg(after).arg(limit);
        let reply: Value = self.eval(&invocation).await?;
        let mut page = ZsetPage {
            rows: Vec::new(),
            members: 0,
            last: None,
        };
        let mut items = codec::array(table.name(), reply)?.into_iter();
        while let (Some(_member), Some(score), Some(hash)) =
            (items.next(), items.next(), items.next())
        {
            page.members += 1;
            page.last = Some(codec::text(table.name(), score)?);
            page.rows.extend(Row::decode(table.name(), hash)?);
        }
        Ok(page)
    }

    /// A page of the set `index` read whole and sorted: at most `limit` members after `cursor`
    /// (the last member of the previous page), and the cursor of the next page (`None` after the
    /// last).
    pub(super) async fn set_page(
        &self,
        index: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
        let mut names: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(index)).await?;
        names.sort_unstable();
        names.dedup();
        let start = cursor.map_or(0, |after| {
            names.partition_point(|name| name.as_str() <= after)
        });
        let end = names.len().min(start + limit);
        let next = (end < names.len())
            .then(|| names[start..end].last().cloned())
            .flatten();
        names.truncate(end);
        names.drain(..start);
        Ok((names, next))
    }

    /// The rows of `table` in the hashes at `keys`, skipping missing ones.
    pub(super) async fn copy_rows(
        &self,
        table: CopyTable,
        keys: &[String],
        decode: fn(&Row) -> StoreResult<CopyRow>,
    ) -> StoreResult<Vec<CopyRow>> {
        self.rows(table.name(), keys)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// A table without an index: `SCAN` of its key family, master after master.
    async fn export_scanned(
        &self,
        table: CopyTable,
        scan: Scan,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let nodes = match scan.slot {
            Some(slot) => vec![slot],
            None => self.master_slots().await?,
        };
        let mut state = match cursor {
            None => ScanCursor::start(nodes[0]),
            Some(cursor) => serde_json::from_str(cursor).map_err(|_| bad_cursor(table, cursor))?,
        };
        let count = limit.clamp(SCAN_COUNT.0, SCAN_COUNT.1);
        let mut rows = Vec::new();
        while rows.len() < limit {
            if !state.pending.is_empty() {
                let budget = limit - rows.len();
                match &scan.rows {
                    ScanRows::Hashes(decode) => {
                        let batch = take_keys(&mut state.pending, budget);
                        rows.extend(self.copy_rows(table, &batch, *decode).await?);
                    }
                    ScanRows::Expiring(stored, decode) => {
                        let batch = take_keys(&mut state.pending, budget);
                        for read in self.read_expiring(&batch, *stored).await? {
                            rows.extend(decode(self.keys(), read)?);
                        }
                    }
                    ScanRows::PerKey(read) => {
                        let batch = take_keys(&mut state.pending, budget);
                        rows.extend(read(self, &batch).await?);
                    }
                    ScanRows::SeveralPerKey(read) => {
                        let (found, more) =
                            read(self, &state.pending[0], state.after.as_deref(), budget).await?;
                        rows.extend(found);
                        if more.is_none() {
                            state.pending.remove(0);
                        }
                        state.after = more;
                    }
                }
            } else if state.ended {
                match nodes.iter().find(|node| **node > state.node) {
                    Some(node) => state = ScanCursor::start(*node),
                    None => return Ok(CopyPage { rows, next: None }),
                }
            } else {
                let (next, found): (u64, Vec<String>) = self
                    .query_on_slot(
                        redis::cmd("SCAN")
                            .arg(state.scan)
                            .arg("MATCH")
                            .arg(&scan.pattern)
                            .arg("COUNT")
                            .arg(count),
                        state.node,
                    )
                    .await?;
                state.scan = next;
                state.ended = next == 0;
                state.pending = found
                    .into_iter()
                    .filter(|key| (scan.is_row)(self.keys(), key))
                    .collect();
            }
        }
        let done =
            state.pending.is_empty() && state.ended && !nodes.iter().any(|node| *node > state.node);
        let next = if done {
            None
        } else {
            Some(serde_json::to_string(&state).map_err(cursor_encoding_error)?)
        };
        Ok(CopyPage { rows, next })
    }

    /// Strings or hashes (`stored`) expiring after a relative TTL, with their absolute expiry:
    /// one script per hash slot.
    async fn read_expiring(&self, keys: &[String], stored: Stored) -> StoreResult<Vec<Expiring>> {
        let groups: Vec<Vec<String>> = match self.keys().layout() {
            Layout::Standalone => vec![keys.to_vec()],
            Layout::Cluster => {
                let mut by_slot = BTreeMap::<u16, Vec<String>>::new();
                for key in keys {
                    by_slot.entry(key_slot(key)).or_default().push(key.clone());
                }
                by_slot.into_values().collect()
            }
        };
        let replies = futures::future::try_join_all(
            groups
                .iter()
                .filter(|group| !group.is_empty())
                .map(|group| self.read_expiring_group(group, stored)),
        )
        .await?;
        Ok(replies.into_iter().flatten().collect())
    }

    async fn read_expiring_group(
        &self,
        keys: &[String],
        stored: Stored,
    ) -> StoreResult<Vec<Expiring>> {
        let mut invocation = READ_EXPIRING.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(match stored {
            Stored::String => "string",
            Stored::Hash => "hash",
        });
        let reply: Value = self.eval(&invocation).await?;
        let mut items = codec::array("expiring rows", reply)?.into_iter();
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            let (Some(value), Some(expires_at)) = (items.next(), items.next()) else {
                return Err(StoreError::corrupt("expiring rows", "short reply"));
            };
            let expires_at: i64 = codec::integer("expiring rows", expires_at)?;
            rows.push(Expiring {
                key: key.clone(),
                value,
                expires_at: (expires_at >= 0).then(|| Timestamp::from_millis(expires_at)),
            });
        }
        Ok(rows)
    }

    /// One page of `table`: the table's own walk, or a `SCAN` of its keys.
    async fn export(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let keys = self.keys();
        let scan = match table {
            CopyTable::Tasks => return self.export_tasks(cursor, limit).await,
            CopyTable::NodeSettings => node_settings::copy_scan(keys),
            CopyTable::Aliases => return self.export_aliases(cursor, limit).await,
            CopyTable::Sessions => sessions::copy_scan(keys),
            CopyTable::Idempotency => idempotency::copy_scan(keys),
            CopyTable::Jobs => return self.export_jobs(cursor, limit).await,
            CopyTable::Leases => leases::copy_scan(keys),
            CopyTable::Canaries => return self.export_canaries(cursor, limit).await,
            CopyTable::CanaryRuns => canaries::run_copy_scan(keys),
            CopyTable::CdcCursors => return self.export_cdc_cursors(cursor, limit).await,
            CopyTable::CdcOverflow => cdc::overflow_copy_scan(keys),
            CopyTable::Tenants => tenants::copy_scan(keys),
            CopyTable::RolloverPolicies => {
                return self.export_rollover_policies(cursor, limit).await;
            }
            CopyTable::SearchUiConfigs => {
                return self.export_search_ui_configs(cursor, limit).await;
            }
            CopyTable::ScopedKeys => search_ui::scoped_key_copy_scan(keys),
            CopyTable::ScopedKeyObservations => search_ui::observation_copy_scan(keys),
            CopyTable::AdminSessions => admin_sessions::copy_scan(keys),
            CopyTable::RateLimits => rate_limits::copy_scan(keys),
            CopyTable::LoginBackoffs => rate_limits::backoff_copy_scan(keys),
            CopyTable::Indexes => return self.export_indexes(cursor, limit).await,
        };
        self.export_scanned(table, scan, cursor, limit).await
    }

    /// Writes one row, replacing the row with the same key.
    async fn import_row(&self, row: &CopyRow) -> StoreResult<()> {
        match row {
            CopyRow::Task(task) => self.import_task(task).await,
            CopyRow::NodeSettings(row) => self.import_node_settings(row).await,
            CopyRow::Alias(alias) => self.import_alias(alias).await,
            CopyRow::Session(session) => self.import_session(session).await,
            CopyRow::Idempotency(record) => self.import_idempotency(record).await,
            CopyRow::Job(record) => self.import_job(record).await,
            CopyRow::Lease(record) => self.import_lease(record).await,
            CopyRow::Canary(canary) => self.upsert_canary(canary.clone()).await,
            CopyRow::CanaryRun(run) => self.import_canary_run(run).await,
            CopyRow::CdcCursor(cursor) => self.import_cdc_cursor(cursor).await,
            CopyRow::CdcOverflow(buffer) => self.import_cdc_overflow(buffer).await,
            CopyRow::Tenant(mapping) => self.import_tenant(mapping).await,
            CopyRow::RolloverPolicy(policy) => self.upsert_rollover_policy(policy.clone()).await,
            CopyRow::SearchUiConfig(config) => self.put_search_ui_config(config.clone()).await,
            CopyRow::ScopedKey(state) => self.import_scoped_key(state).await,
            CopyRow::ScopedKeyObservation(record) => self.import_observation(record).await,
            CopyRow::AdminSession(session) => self.import_admin_session(session).await,
            CopyRow::RateLimit(counter) => self.import_rate_limit(counter).await,
            CopyRow::LoginBackoff(record) => self.import_login_backoff(record).await,
            CopyRow::Index(record) => self.import_index(record).await,
        }
    }

    /// The number in the string at `key` (0 when absent), a sequence of `table`.
    async fn sequence(&self, key: String, table: CopyTable, what: &str) -> StoreResult<u64> {
        let stored: Option<String> = self.query(redis::cmd("GET").arg(key)).await?;
        stored.map_or(Ok(0), |text| {
            text.parse().map_err(|_| {
                StoreError::corrupt(
                    table.name(),
                    format_args!("{what} `{text}` is not a number"),
                )
            })
        })
    }

    /// Raises the sequence at `key` to at least `last` (never lowers it).
    async fn raise_sequence(&self, key: String, last: u64) -> StoreResult<()> {
        let mut invocation = RAISE_SEQUENCE.key(key);
        invocation.arg(last);
        let _: String = self.eval(&invocation).await?;
        Ok(())
    }

    /// Deletes `keys`: one `DEL` on a standalone server, one per hash slot on a cluster.
    async fn delete_keys(&self, keys: Vec<String>) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let commands: Vec<redis::Cmd> = match self.keys().layout() {
            Layout::Standalone => vec![redis::cmd("DEL").arg(keys).clone()],
            Layout::Cluster => {
                let mut by_slot = BTreeMap::<u16, Vec<String>>::new();
                for key in keys {
                    by_slot.entry(key_slot(&key)).or_default().push(key);
                }
                by_slot
                    .into_values()
                    .map(|keys| redis::cmd("DEL").arg(keys).clone())
                    .collect()
            }
        };
        let _: Vec<u64> = self.query_each(&commands).await?;
        Ok(())
    }
}

#[async_trait]
impl CopyStore for RedisStore {
    async fn export_rows(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        // Like SQLite: a page of no rows could never advance.
        if limit == 0 {
            return Err(StoreError::invalid(
                "an export page needs a limit of at least 1",
            ));
        }
        self.export(table, cursor, limit).await
    }

    async fn import_rows(&self, rows: &[CopyRow]) -> StoreResult<()> {
        // Raised first: a failed import leaves at worst a gap in the uids, never a reuse.
        let last_uid = rows
            .iter()
            .filter_map(|row| match row {
                CopyRow::Task(task) => Some(task.uid),
                _ => None,
            })
            .max();
        if let Some(last_uid) = last_uid {
            self.raise_task_sequence(last_uid).await?;
        }
        let now = Timestamp::now();
        // Indexes rather than references: closures over `&CopyRow` trip the `Send` check of
        // `async_trait` futures.
        futures::stream::iter(0..rows.len())
            .map(|index| {
                let row = &rows[index];
                let expired = row.expires_at().is_some_and(|expires_at| expires_at <= now);
                async move {
                    if expired {
                        Ok(())
                    } else {
                        self.import_row(row).await
                    }
                }
            })
            .buffer_unordered(IMPORT_CONCURRENCY)
            .try_for_each(|()| futures::future::ready(Ok(())))
            .await
    }

    async fn task_sequence(&self) -> StoreResult<TaskUid> {
        self.sequence(self.keys().task_seq(), CopyTable::Tasks, "uid sequence")
            .await
    }

    async fn raise_task_sequence(&self, last_uid: TaskUid) -> StoreResult<()> {
        self.raise_sequence(self.keys().task_seq(), last_uid).await
    }

    async fn job_claim_sequence(&self) -> StoreResult<u64> {
        self.sequence(
            self.keys().job_claim_seq(),
            CopyTable::Jobs,
            "claim token sequence",
        )
        .await
    }

    async fn raise_job_claim_sequence(&self, last_token: u64) -> StoreResult<()> {
        self.raise_sequence(self.keys().job_claim_seq(), last_token)
            .await
    }

    /// Keeps the schema version, the task uid sequence and the job claim token sequence.
    async fn clear_all_rows(&self) -> StoreResult<()> {
        let keys = self.keys();
        let kept = [keys.schema_version(), keys.task_seq(), keys.job_claim_seq()];
        let pattern = keys.every_key_pattern();
        for slot in self.master_slots().await? {
            let mut cursor = 0_u64;
            loop {
                let (next, found): (u64, Vec<String>) = self
                    .query_on_slot(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(SCAN_COUNT.1),
                        slot,
                    )
                    .await?;
                self.delete_keys(
                    found
                        .into_iter()
                        .filter(|key| !kept.contains(key))
                        .collect(),
                )
                .await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::copy::{CdcOverflowBuffer, CopyDigest, JobRecord, LeaseRecord};
    use crate::redis::test_support;
    use crate::{
        AdminSession, AdminSessionStore, AliasStore, AliasTarget, BackoffPolicy, Canary, CanaryRun,
        CanaryRunStatus, CdcStore, IdempotencyRecord, IdempotencyStore, IndexRecord, IndexState,
        IndexStore, Job, JobKind, JobQuery, JobState, JobStore, LeaseStore, NewJob, NewTask,
        NodeSettingsStore, NodeSettingsVersion, NodeTaskMap, RateLimitBucket, RateLimitStore,
        RolloverPolicy, SchemaStore, ScopedKeyObservation, SearchUiConfig, Session, SessionStore,
        TaskError, TaskKind, TaskQuery, TaskStatus, TaskStore, TenantMapping, TenantStore,
    };

    const HOUR: Duration = Duration::from_secs(3600);
    const SHORT: Duration = Duration::from_millis(300);

    fn now() -> Timestamp {
        Timestamp::now()
    }

    fn new_task(index_uid: Option<&str>, kind: TaskKind) -> NewTask {
        NewTask {
            index_uid: index_uid.map(str::to_owned),
            kind,
            status: TaskStatus::Enqueued,
            node_tasks: NodeTaskMap::from([("n1".to_owned(), 7)]),
            details: Some(serde_json::json!({ "receivedDocuments": 3 })),
            enqueued_at: Timestamp::from_millis(1_700_000_000_000),
        }
    }

    /// Seeds rows of every table through the store API, with odd ids (separators, braces,
    /// `%`), optional fields both set and unset, and rows living `ttl` where rows expire.
    async fn seed(store: &RedisStore, ttl: Duration) {
        let ids = ["plain", "a:b{c}%"];
        for (number, index_uid) in [Some("movies"), Some("a:b{c}"), None, Some("movies")]
            .into_iter()
            .enumerate()
        {
            let task = store
                .create_task(new_task(index_uid, TaskKind::DocumentAdditionOrUpdate))
                .await
                .expect("create task");
            if number % 2 == 1 {
                let mut update = task.to_update();
                update.status = TaskStatus::Failed;
                update.started_at = Some(Timestamp::from_millis(1_700_000_000_100));
                update.finished_at = Some(Timestamp::from_millis(1_700_000_000_200));
                update.canceled_by = Some(1);
                update.error = Some(TaskError {
                    message: "boom".to_owned(),
                    code: "internal".to_owned(),
                    error_type: "internal".to_owned(),
                    link: "https://example.com".to_owned(),
                });
                store.update_task(task.uid, update).await.expect("update");
            }
        }
        for index_uid in ids {
            for node_id in ["node-1", "node:2"] {
                store
                    .record_node_settings_version(NodeSettingsVersion {
                        index_uid: index_uid.to_owned(),
                        node_id: node_id.to_owned(),
                        version: 4,
                        updated_at: now(),
                    })
                    .await
                    .expect("node settings");
            }
        }
        for name in ids {
            let single = AliasTarget::Single {
                uid: "movies-1".to_owned(),
            };
            store
                .create_alias(name, single, now())
                .await
                .expect("alias");
        }
        let flipped = AliasTarget::Single {
            uid: "movies-2".to_owned(),
        };
        store
            .flip_alias("plain", 1, flipped, 10, now())
            .await
            .expect("flip");
        for (number, id) in ids.into_iter().enumerate() {
            store
                .put_session(Session {
                    session_id: id.to_owned(),
                    last_write_task_uid: (number == 0).then_some(3),
                    last_write_at: (number == 0).then(now),
                    pinned_group: (number == 0).then_some(1),
                    min_settings_version: 2,
                    expires_at: now().plus(ttl),
                })
                .await
                .expect("session");
            store
                .insert_idempotency_if_absent(IdempotencyRecord {
                    key: id.to_owned(),
                    body_sha256: [9; 32],
                    task_uid: 4,
                    expires_at: now().plus(ttl),
                })
                .await
                .expect("idempotency");
            store
                .create_admin_session(AdminSession {
                    session_id: id.to_owned(),
                    csrf_token: "csrf".to_owned(),
                    admin_key_hash: [3; 32],
                    created_at: now(),
                    expires_at: now().plus(ttl),
                    revoked: number == 1,
                    user_agent: (number == 0).then(|| "curl".to_owned()),
                    source_ip: None,
                })
                .await
                .expect("admin session");
            store
                .record_scoped_key_observation(
                    ScopedKeyObservation {
                        pod_id: id.to_owned(),
                        index_uid: "movies:x".to_owned(),
                        generation: 2,
                        observed_at: now(),
                    },
                    ttl,
                )
                .await
                .expect("observation");
            for bucket in [RateLimitBucket::AdminLogin, RateLimitBucket::SearchUi] {
                store
                    .hit_rate_limit(bucket, id, ttl)
                    .await
                    .expect("rate limit");
            }
            let policy = BackoffPolicy {
                threshold: 1,
                base: Duration::from_millis(10),
                cap: ttl,
            };
            store
                .record_login_failure(id, policy)
                .await
                .expect("login failure");
        }
        for kind in [JobKind::Reindex, JobKind::DumpImport, JobKind::Reindex] {
            store
                .enqueue_job(NewJob {
                    kind,
                    params: serde_json::json!({ "kind": kind.as_str() }),
                    max_attempts: 2,
                })
                .await
                .expect("enqueue");
        }
        let claimed = store
            .claim_next_job("worker", HOUR)
            .await
            .expect("claim")
            .expect("a job");
        store
            .heartbeat_job(
                &claimed.claim().expect("a claim"),
                HOUR,
                Some(serde_json::json!(50)),
            )
            .await
            .expect("heartbeat");
        let failed = store
            .claim_next_job("worker", HOUR)
            .await
            .expect("claim")
            .expect("a job");
        store
            .fail_job(
                &failed.claim().expect("a claim"),
                "boom",
                Duration::from_secs(60),
            )
            .await
            .expect("fail");
        store
            .acquire_lease("held:{x}", "pod-1", ttl)
            .await
            .expect("acquire")
            .expect("free");
        let released = store
            .acquire_lease("released", "pod-1", HOUR)
            .await
            .expect("acquire")
            .expect("free");
        store
            .release_lease("released", "pod-1", released.token)
            .await
            .expect("release");
        store
            .acquire_lease("released", "pod-2", HOUR)
            .await
            .expect("acquire again");
        for (number, id) in ids.into_iter().enumerate() {
            store
                .upsert_canary(Canary {
                    id: id.to_owned(),
                    name: format!("canary {number}"),
                    index_uid: "movies".to_owned(),
                    interval_s: 60,
                    query: serde_json::json!({ "q": "x" }),
                    assertions: serde_json::json!([]),
                    enabled: number == 0,
                    created_at: now(),
                })
                .await
                .expect("canary");
        }
        // Runs of an existing canary and of one that was never defined.
        for (canary_id, ran_at) in [("plain", 1), ("plain", 2), ("plain", 3), ("gone:1", 1)] {
            store
                .record_canary_run(
                    CanaryRun {
                        canary_id: canary_id.to_owned(),
                        ran_at: Timestamp::from_millis(1_700_000_000_000 + ran_at),
                        status: if ran_at == 2 {
                            CanaryRunStatus::Fail
                        } else {
                            CanaryRunStatus::Pass
                        },
                        latency_ms: 12,
                        failed_assertions: (ran_at == 2).then_some(serde_json::Value::Null),
                    },
                    10,
                )
                .await
                .expect("canary run");
        }
        for sink in ids {
            for index_uid in ["movies", "a:b"] {
                store
                    .advance_cdc_cursor(sink, index_uid, None, 5, now())
                    .await
                    .expect("cdc cursor");
            }
            store
                .push_cdc_overflow(sink, vec![b"one".to_vec(), vec![0, 255, 1]], 1 << 20)
                .await
                .expect("overflow");
        }
        for (number, tenant_id) in ids.into_iter().enumerate() {
            store
                .put_tenant(TenantMapping {
                    api_key_hash: [u8::try_from(number).expect("small"); 32],
                    tenant_id: tenant_id.to_owned(),
                    group_id: (number == 0).then_some(2),
                })
                .await
                .expect("tenant");
        }
        for name in ids {
            store
                .upsert_rollover_policy(RolloverPolicy {
                    name: name.to_owned(),
                    write_alias: "w".to_owned(),
                    read_alias: "r".to_owned(),
                    pattern: "logs-*".to_owned(),
                    triggers: serde_json::json!({ "max_docs": 10 }),
                    retention: serde_json::json!({ "keep": 3 }),
                    template: serde_json::json!({}),
                    enabled: true,
                })
                .await
                .expect("rollover");
            store
                .put_search_ui_config(SearchUiConfig {
                    index_uid: name.to_owned(),
                    config: serde_json::json!({ "title": name }),
                    updated_at: now(),
                })
                .await
                .expect("search ui config");
        }
        // Index records with odd uids, one without a primary key, one updated, a tombstone.
        for (number, uid) in ids.into_iter().enumerate() {
            store
                .put_index(
                    IndexRecord {
                        uid: uid.to_owned(),
                        primary_key: (number == 0).then(|| "id".to_owned()),
                        physical_uid: uid.to_owned(),
                        shards: 2,
                        settings_version: 0,
                        state: IndexState::Active,
                        version: 0,
                        created_at: now(),
                        updated_at: now(),
                    },
                    0,
                )
                .await
                .expect("index record");
        }
        let mut deleted = store
            .get_index("plain")
            .await
            .expect("get index")
            .expect("an index record");
        deleted.state = IndexState::Deleted;
        deleted.settings_version = 3;
        store.put_index(deleted, 1).await.expect("tombstone");
        // Scoped keys of indexes with and without a search-UI config.
        for index_uid in ["plain", "no-config"] {
            for generation in 0..2 {
                store
                    .rotate_scoped_key(index_uid, generation, &format!("key-{generation}"), now())
                    .await
                    .expect("rotate");
            }
        }
    }

    /// Every row of `table`, in pages of `limit` rows (checking that no page is larger).
    async fn export_all(store: &RedisStore, table: CopyTable, limit: usize) -> Vec<CopyRow> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100_000 {
            let page = store
                .export_rows(table, cursor.as_deref(), limit)
                .await
                .unwrap_or_else(|error| panic!("export {table}: {error}"));
            assert!(
                page.rows.len() <= limit,
                "{table}: {} rows",
                page.rows.len()
            );
            for row in &page.rows {
                assert_eq!(row.table(), table);
            }
            rows.extend(page.rows);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return rows,
            }
        }
        panic!("the export of {table} does not end");
    }

    async fn export_everything(store: &RedisStore, limit: usize) -> Vec<CopyRow> {
        let mut rows = Vec::new();
        for table in CopyTable::ALL {
            rows.extend(export_all(store, *table, limit).await);
        }
        rows
    }

    /// Count and checksum of every table.
    fn digests(rows: &[CopyRow]) -> BTreeMap<CopyTable, (u64, String)> {
        let mut digests: BTreeMap<CopyTable, CopyDigest> = CopyTable::ALL
            .iter()
            .map(|table| (*table, CopyDigest::new()))
            .collect();
        for row in rows {
            if let Some(digest) = digests.get_mut(&row.table()) {
                digest.add(row);
            }
        }
        digests
            .into_iter()
            .map(|(table, digest)| (table, (digest.count(), digest.checksum())))
            .collect()
    }

    /// Rows of one table, deduplicated and sorted by key.
    fn by_key(rows: &[CopyRow], table: CopyTable) -> BTreeMap<String, CopyRow> {
        rows.iter()
            .filter(|row| row.table() == table)
            .map(|row| (row.key(), row.clone()))
            .collect()
    }

    async fn round_trip(source: &RedisStore, targets: &[RedisStore]) {
        seed(source, HOUR).await;
        let exported = export_everything(source, 1000).await;
        let expected = digests(&exported);
        for (table, (count, _)) in &expected {
            assert!(*count > 0, "nothing seeded in {table}");
        }
        // What the seed wrote, checked field by field on a few tables.
        let leases = by_key(&exported, CopyTable::Leases);
        assert!(matches!(
            &leases["held:{x}"],
            CopyRow::Lease(LeaseRecord { token: 1, held: Some(held), .. }) if held.holder == "pod-1"
        ));
        assert!(matches!(
            &leases["released"],
            CopyRow::Lease(LeaseRecord { token: 2, held: Some(held), .. }) if held.holder == "pod-2"
        ));
        let overflow = by_key(&exported, CopyTable::CdcOverflow);
        assert_eq!(
            overflow["a:b{c}%"],
            CopyRow::CdcOverflow(CdcOverflowBuffer {
                sink_name: "a:b{c}%".to_owned(),
                events: vec![b"one".to_vec(), vec![0, 255, 1]],
            })
        );
        let counters = by_key(&exported, CopyTable::RateLimits);
        assert_eq!(counters.len(), 4);
        for counter in counters.values() {
            let CopyRow::RateLimit(counter) = counter else {
                panic!("{counter:?}");
            };
            assert_eq!(counter.count, 1);
            let left = counter.expires_at.as_millis() - now().as_millis();
            assert!((0..=3_600_000).contains(&left), "{left} ms left");
        }
        assert_eq!(by_key(&exported, CopyTable::CanaryRuns).len(), 4);
        assert_eq!(by_key(&exported, CopyTable::ScopedKeys).len(), 2);

        for target in targets {
            target.import_rows(&exported).await.expect("import");
            let imported = export_everything(target, 1000).await;
            assert_eq!(digests(&imported), expected);
            for table in CopyTable::ALL {
                assert_eq!(
                    by_key(&imported, *table),
                    by_key(&exported, *table),
                    "{table}"
                );
            }
            // The indexes were written with the rows: the store API sees the same thing.
            assert!(target.task_sequence().await.expect("seq") >= 4);
            let failed = TaskQuery {
                statuses: Some(vec![TaskStatus::Failed]),
                index_uids: Some(vec!["a:b{c}".to_owned()]),
                ..TaskQuery::default()
            };
            assert_eq!(
                target.list_tasks(&failed).await.expect("list"),
                source.list_tasks(&failed).await.expect("list")
            );
            assert_eq!(target.count_tasks().await, source.count_tasks().await,);
            for state in [JobState::Queued, JobState::InProgress] {
                let query = JobQuery {
                    state: Some(state),
                    limit: 10,
                    ..JobQuery::default()
                };
                assert_eq!(
                    target.list_jobs(&query).await.expect("jobs"),
                    source.list_jobs(&query).await.expect("jobs")
                );
            }
            assert_eq!(
                target.job_queue_depth().await,
                source.job_queue_depth().await
            );
            assert_eq!(target.list_leases().await, source.list_leases().await);
            assert!(matches!(
                target.check_fencing_token("released", 1).await,
                Err(StoreError::Fenced { current: 2, .. })
            ));
            assert_eq!(
                target.get_tenant_by_id("a:b{c}%").await,
                source.get_tenant_by_id("a:b{c}%").await
            );
            assert_eq!(target.list_aliases().await, source.list_aliases().await);
            assert_eq!(
                target.list_indexes(None, 10).await,
                source.list_indexes(None, 10).await
            );
            assert_eq!(
                target.list_all_cdc_cursors().await,
                source.list_all_cdc_cursors().await
            );
            assert_eq!(
                target.cdc_overflow_stats("plain").await,
                source.cdc_overflow_stats("plain").await
            );
            assert_eq!(
                target.list_canary_runs("plain", 10).await,
                source.list_canary_runs("plain", 10).await
            );
            // Importing again replaces every row: nothing changes.
            target.import_rows(&exported).await.expect("import again");
            assert_eq!(digests(&export_everything(target, 1000).await), expected);
            assert_eq!(
                target.job_queue_depth().await,
                source.job_queue_depth().await
            );
            assert_eq!(target.count_tasks().await, source.count_tasks().await);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_table_round_trips_from_a_standalone_server() {
        round_trip(
            &test_support::store("copy_source").await,
            &[
                test_support::store("copy_target").await,
                test_support::cluster_store("copy_target").await,
            ],
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_table_round_trips_from_a_cluster() {
        round_trip(
            &test_support::cluster_store("copy_source").await,
            &[
                test_support::cluster_store("copy_target").await,
                test_support::store("copy_target").await,
            ],
        )
        .await;
    }

    async fn pages_of_one_cover_every_row(store: RedisStore) {
        seed(&store, HOUR).await;
        // More tasks than partitions, so that pages cross partitions.
        for _ in 0..20 {
            store
                .create_task(new_task(Some("movies"), TaskKind::IndexCreation))
                .await
                .expect("create");
        }
        let whole = digests(&export_everything(&store, 1000).await);
        let paged = export_everything(&store, 1).await;
        assert_eq!(digests(&paged), whole);
        // Only SCAN walks may repeat a row; the indexed walks return each row once.
        for table in [
            CopyTable::Tasks,
            CopyTable::Jobs,
            CopyTable::Aliases,
            CopyTable::Canaries,
            CopyTable::CdcCursors,
            CopyTable::RolloverPolicies,
            CopyTable::SearchUiConfigs,
            CopyTable::Indexes,
        ] {
            let rows = paged.iter().filter(|row| row.table() == table).count();
            assert_eq!(rows as u64, whole[&table].0, "{table}");
        }
        // Three-row pages too (rows of several keys in one page, several pages per key).
        assert_eq!(digests(&export_everything(&store, 3).await), whole);
        assert_eq!(
            store
                .export_rows(CopyTable::Tasks, Some("garbage"), 1)
                .await
                .map(|_| ()),
            Err(StoreError::invalid(
                "`garbage` is not a cursor of a tasks export"
            ))
        );
        assert!(matches!(
            store.export_rows(CopyTable::Sessions, Some("{"), 1).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert!(matches!(
            store.export_rows(CopyTable::Tasks, None, 0).await,
            Err(StoreError::InvalidInput(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_of_one_row_cover_every_row_on_a_standalone_server() {
        pages_of_one_cover_every_row(test_support::store("copy_pages").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_of_one_row_cover_every_row_on_a_cluster() {
        pages_of_one_cover_every_row(test_support::cluster_store("copy_pages").await).await;
    }

    /// The tables whose rows expire, and the lease table (a lease's hold expires).
    const EXPIRING: [CopyTable; 7] = [
        CopyTable::Sessions,
        CopyTable::Idempotency,
        CopyTable::ScopedKeyObservations,
        CopyTable::AdminSessions,
        CopyTable::RateLimits,
        CopyTable::LoginBackoffs,
        CopyTable::Leases,
    ];

    async fn expired_rows_are_skipped(store: RedisStore, target: RedisStore) {
        seed(&store, SHORT).await;
        let mut alive = Vec::new();
        for table in EXPIRING {
            let rows = export_all(&store, table, 100).await;
            assert!(!rows.is_empty(), "{table}");
            alive.extend(rows);
        }
        tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
        for table in EXPIRING {
            let rows = export_all(&store, table, 100).await;
            if table == CopyTable::Leases {
                // The expired hold is gone, its token stays.
                let leases = by_key(&rows, table);
                assert_eq!(
                    leases["held:{x}"],
                    CopyRow::Lease(LeaseRecord {
                        scope: "held:{x}".to_owned(),
                        token: 1,
                        held: None,
                    })
                );
            } else {
                assert_eq!(rows, Vec::new(), "{table}");
            }
        }
        // Rows exported alive and expired since are not imported.
        target.import_rows(&alive).await.expect("import");
        for table in EXPIRING {
            let rows = export_all(&target, table, 100).await;
            if table == CopyTable::Leases {
                assert_eq!(target.list_leases().await.expect("leases").len(), 1);
                assert_eq!(target.get_lease("held:{x}").await, Ok(None));
                assert_eq!(by_key(&rows, table).len(), 2);
            } else {
                assert_eq!(rows, Vec::new(), "{table}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_rows_are_neither_exported_nor_imported_on_a_standalone_server() {
        expired_rows_are_skipped(
            test_support::store("copy_expired").await,
            test_support::store("copy_expired_target").await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_rows_are_neither_exported_nor_imported_on_a_cluster() {
        expired_rows_are_skipped(
            test_support::cluster_store("copy_expired").await,
            test_support::cluster_store("copy_expired_target").await,
        )
        .await;
    }

    async fn sequence_only_rises(store: RedisStore) {
        assert_eq!(store.task_sequence().await, Ok(0));
        store.raise_task_sequence(1000).await.expect("raise");
        assert_eq!(store.task_sequence().await, Ok(1000));
        store.raise_task_sequence(5).await.expect("raise");
        assert_eq!(store.task_sequence().await, Ok(1000));
        let task = store
            .create_task(new_task(None, TaskKind::DumpCreation))
            .await
            .expect("create");
        assert_eq!(task.uid, 1001);
        // Importing a task raises the sequence to its uid (and only raises it).
        let mut imported = task.clone();
        imported.uid = 5000;
        store
            .import_rows(&[CopyRow::Task(imported.clone())])
            .await
            .expect("import");
        assert_eq!(store.task_sequence().await, Ok(5000));
        imported.uid = 7;
        store
            .import_rows(&[CopyRow::Task(imported)])
            .await
            .expect("import");
        assert_eq!(store.task_sequence().await, Ok(5000));
        let next = store
            .create_task(new_task(None, TaskKind::DumpCreation))
            .await
            .expect("create");
        assert_eq!(next.uid, 5001);
        assert_eq!(
            store.get_task(7).await.expect("get").map(|task| task.uid),
            Some(7)
        );
        // Importing a job raises the job sequence: the next job is enqueued after it.
        let job = store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: serde_json::json!({}),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        let mut copied = job.clone();
        copied.id = "copied".to_owned();
        store
            .import_rows(&[CopyRow::Job(JobRecord {
                seq: 40,
                job: copied,
            })])
            .await
            .expect("import job");
        let later = store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: serde_json::json!({}),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        let jobs = export_all(&store, CopyTable::Jobs, 10).await;
        let seqs: BTreeMap<String, u64> = jobs
            .iter()
            .filter_map(|row| match row {
                CopyRow::Job(record) => Some((record.job.id.clone(), record.seq)),
                _ => None,
            })
            .collect();
        assert_eq!(seqs[&job.id], 1);
        assert_eq!(seqs["copied"], 40);
        assert_eq!(seqs[&later.id], 41);

        // The claim token sequence only rises; importing a claim raises it to the claim's
        // token in the job's script; the next claim follows it.
        assert_eq!(store.job_claim_sequence().await, Ok(0));
        store.raise_job_claim_sequence(30).await.expect("raise");
        store.raise_job_claim_sequence(3).await.expect("raise");
        assert_eq!(store.job_claim_sequence().await, Ok(30));
        let claimed = store
            .claim_next_job("w", HOUR)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(claimed.claim_token, Some(31));
        let held = Job {
            claim_token: Some(600),
            ..claimed.clone()
        };
        store
            .import_rows(&[CopyRow::Job(JobRecord { seq: 1, job: held })])
            .await
            .expect("import claim");
        assert_eq!(store.job_claim_sequence().await, Ok(600));
        let next = store
            .claim_next_job("w", HOUR)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(next.claim_token, Some(601));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_task_sequence_only_rises_on_a_standalone_server() {
        sequence_only_rises(test_support::store("copy_sequence").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_task_sequence_only_rises_on_a_cluster() {
        sequence_only_rises(test_support::cluster_store("copy_sequence").await).await;
    }

    async fn import_replaces(store: RedisStore) {
        let task = store
            .create_task(new_task(Some("a"), TaskKind::IndexCreation))
            .await
            .expect("create");
        let mut replacement = task.clone();
        replacement.index_uid = Some("b".to_owned());
        replacement.kind = TaskKind::IndexDeletion;
        replacement.status = TaskStatus::Succeeded;
        replacement.finished_at = Some(Timestamp::from_millis(1_700_000_001_000));
        store
            .import_rows(&[CopyRow::Task(replacement.clone())])
            .await
            .expect("import");
        let count = |query: TaskQuery| {
            let store = store.clone();
            async move { store.list_tasks(&query).await.expect("list").total }
        };
        assert_eq!(store.count_tasks().await, Ok(1));
        assert_eq!(
            count(TaskQuery {
                statuses: Some(vec![TaskStatus::Enqueued]),
                ..TaskQuery::default()
            })
            .await,
            0
        );
        assert_eq!(
            count(TaskQuery {
                index_uids: Some(vec!["a".to_owned()]),
                ..TaskQuery::default()
            })
            .await,
            0
        );
        assert_eq!(
            count(TaskQuery {
                kinds: Some(vec![TaskKind::IndexCreation]),
                ..TaskQuery::default()
            })
            .await,
            0
        );
        assert_eq!(
            count(TaskQuery {
                index_uids: Some(vec!["b".to_owned()]),
                kinds: Some(vec![TaskKind::IndexDeletion]),
                statuses: Some(vec![TaskStatus::Succeeded]),
                ..TaskQuery::default()
            })
            .await,
            1
        );
        assert_eq!(store.get_task(task.uid).await, Ok(Some(replacement)));

        // A queued job replaced by a completed copy leaves the queue.
        let job = store
            .enqueue_job(NewJob {
                kind: JobKind::DumpImport,
                params: serde_json::json!({}),
                max_attempts: 1,
            })
            .await
            .expect("enqueue");
        let mut done = job.clone();
        done.state = JobState::Completed;
        store
            .import_rows(&[CopyRow::Job(JobRecord { seq: 9, job: done })])
            .await
            .expect("import job");
        assert_eq!(store.job_queue_depth().await, Ok(BTreeMap::new()));
        assert_eq!(store.claim_next_job("w", HOUR).await, Ok(None));
        let completed = JobQuery {
            state: Some(JobState::Completed),
            limit: 10,
            ..JobQuery::default()
        };
        assert_eq!(
            store.list_jobs(&completed).await.expect("list").jobs.len(),
            1
        );

        // A tenant re-keyed by the copy loses its old key; the key's old tenant loses it too.
        for (hash, tenant_id) in [(1, "t1"), (2, "t2")] {
            store
                .put_tenant(TenantMapping {
                    api_key_hash: [hash; 32],
                    tenant_id: tenant_id.to_owned(),
                    group_id: None,
                })
                .await
                .expect("tenant");
        }
        let moved = TenantMapping {
            api_key_hash: [2; 32],
            tenant_id: "t1".to_owned(),
            group_id: Some(3),
        };
        store
            .import_rows(&[CopyRow::Tenant(moved.clone())])
            .await
            .expect("import tenant");
        assert_eq!(store.get_tenant(&[1; 32]).await, Ok(None));
        assert_eq!(store.get_tenant_by_id("t1").await, Ok(Some(moved.clone())));
        assert_eq!(store.get_tenant_by_id("t2").await, Ok(None));
        assert_eq!(
            by_key(
                &export_all(&store, CopyTable::Tenants, 10).await,
                CopyTable::Tenants
            )
            .into_values()
            .collect::<Vec<_>>(),
            vec![CopyRow::Tenant(moved)]
        );

        // Fencing tokens never go back.
        for _ in 0..3 {
            let lease = store
                .acquire_lease("scope", "a", HOUR)
                .await
                .expect("acquire")
                .expect("free");
            store
                .release_lease("scope", "a", lease.token)
                .await
                .expect("release");
        }
        store
            .import_rows(&[CopyRow::Lease(LeaseRecord {
                scope: "scope".to_owned(),
                token: 1,
                held: None,
            })])
            .await
            .expect("import lease");
        assert!(matches!(
            store.check_fencing_token("scope", 2).await,
            Err(StoreError::Fenced { current: 3, .. })
        ));
        let next = store
            .acquire_lease("scope", "b", HOUR)
            .await
            .expect("acquire")
            .expect("free");
        assert_eq!(next.token, 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn import_replaces_rows_and_their_index_entries_on_a_standalone_server() {
        import_replaces(test_support::store("copy_replace").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn import_replaces_rows_and_their_index_entries_on_a_cluster() {
        import_replaces(test_support::cluster_store("copy_replace").await).await;
    }

    /// Every key of the store's prefix, on every master.
    async fn all_keys(store: &RedisStore) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for slot in store.master_slots().await.expect("masters") {
            let mut cursor = 0_u64;
            loop {
                let (next, found): (u64, Vec<String>) = store
                    .query_on_slot(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(store.keys().every_key_pattern()),
                        slot,
                    )
                    .await
                    .expect("scan");
                keys.extend(found);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys
    }

    async fn clear_keeps_version_and_sequence(store: RedisStore, neighbour: RedisStore) {
        store.migrate().await.expect("migrate");
        seed(&store, HOUR).await;
        seed(&neighbour, HOUR).await;
        let neighbour_keys = all_keys(&neighbour).await;
        let version = store.schema_version().await.expect("version");
        let sequence = store.task_sequence().await.expect("sequence");
        let claims = store.job_claim_sequence().await.expect("claim sequence");
        assert!(claims > 0, "the seed claims jobs");
        assert!(all_keys(&store).await.len() > 50);
        store.clear_all_rows().await.expect("clear");
        for table in CopyTable::ALL {
            assert_eq!(export_all(&store, *table, 100).await, Vec::new(), "{table}");
        }
        assert_eq!(
            all_keys(&store).await,
            BTreeSet::from([
                store.keys().schema_version(),
                store.keys().task_seq(),
                store.keys().job_claim_seq()
            ])
        );
        assert_eq!(store.schema_version().await, Ok(version));
        assert_eq!(store.task_sequence().await, Ok(sequence));
        assert_eq!(store.job_claim_sequence().await, Ok(claims));
        let task = store
            .create_task(new_task(None, TaskKind::DumpCreation))
            .await
            .expect("create");
        assert_eq!(task.uid, sequence + 1);
        // Another prefix on the same server is untouched.
        assert_eq!(all_keys(&neighbour).await, neighbour_keys);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn clear_all_rows_keeps_the_schema_version_and_the_sequence_on_a_standalone_server() {
        clear_keeps_version_and_sequence(
            test_support::store("copy_clear").await,
            test_support::store("copy_clear").await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn clear_all_rows_keeps_the_schema_version_and_the_sequence_on_a_cluster() {
        clear_keeps_version_and_sequence(
            test_support::cluster_store("copy_clear").await,
            test_support::cluster_store("copy_clear").await,
        )
        .await;
    }

    /// Imports (and exports) 100 000 tasks, printing how long it took: `cargo test -p
    /// miroir-store --release --lib redis::copy -- --ignored --nocapture`.
    #[allow(clippy::print_stdout)]
    async fn import_many_tasks(store: RedisStore) {
        const TASKS: u64 = 100_000;
        let rows: Vec<CopyRow> = (1..=TASKS)
            .map(|uid| {
                let index = uid % 7;
                CopyRow::Task(
                    new_task(Some(&format!("index-{index}")), TaskKind::SettingsUpdate)
                        .into_task(uid),
                )
            })
            .collect();
        let started = Instant::now();
        store.import_rows(&rows).await.expect("import");
        let imported = started.elapsed();
        let started = Instant::now();
        let exported = export_all(&store, CopyTable::Tasks, 1000).await;
        println!(
            "{:?}: imported {TASKS} tasks in {imported:?}, exported them in {:?}",
            store.keys().layout(),
            started.elapsed()
        );
        assert_eq!(exported.len() as u64, TASKS);
        assert_eq!(store.count_tasks().await, Ok(TASKS));
        assert_eq!(store.task_sequence().await, Ok(TASKS));
        store.clear_all_rows().await.expect("clean up");
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "timing: 100 000 tasks"]
    async fn import_of_100k_tasks_on_a_standalone_server() {
        import_many_tasks(test_support::store("copy_100k").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "timing: 100 000 tasks"]
    async fn import_of_100k_tasks_on_a_cluster() {
        import_many_tasks(test_support::cluster_store("copy_100k").await).await;
    }
}
