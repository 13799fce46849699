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
//! | API keys | `{api_keys}:_index`, newest first (as `list_api_keys`, `copy_api_key_page.lua`) | `<score>:<uid>` of the last key |
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
//! `{indexes}` slot, version and timestamps as given, and an API key's the same way in the
//! `{api_keys}` slot), many rows at a time (a CDC cursor first
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
            CopyTable::ApiKeys => return self.export_api_keys(cursor, limit).await,
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
            CopyRow::ApiKey(key) => self.import_api_key(key).await,
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
    //! What only this backend does on import: the keys of a tenant and the fencing-token
    //! counters stay consistent with rows written before (SQLite writes the row as given). What
    //! every backend does is in the conformance suite (`tests/conformance/copy.rs`,
    //! `redis_only.rs`).

    use std::time::Duration;

    use super::*;
    use crate::copy::LeaseRecord;
    use crate::redis::test_support;
    use crate::{LeaseStore, TenantMapping, TenantStore};

    /// A tenant re-keyed by an import loses its old key, and the key's old tenant loses the key;
    /// an imported lease token never lowers the scope's counter.
    async fn imports_keep_the_redis_indexes_consistent(store: RedisStore) {
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
        let exported = store.export_rows(CopyTable::Tenants, None, 10).await;
        assert_eq!(
            exported.map(|page| page.rows),
            Ok(vec![CopyRow::Tenant(moved)])
        );

        let hour = Duration::from_secs(3600);
        for _ in 0..3 {
            let lease = store
                .acquire_lease("scope", "a", hour)
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
            .acquire_lease("scope", "b", hour)
            .await
            .expect("acquire")
            .expect("free");
        assert_eq!(next.token, 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn imports_keep_the_redis_indexes_consistent_on_a_standalone_server() {
        imports_keep_the_redis_indexes_consistent(test_support::store("copy_import").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn imports_keep_the_redis_indexes_consistent_on_a_cluster() {
        imports_keep_the_redis_indexes_consistent(test_support::cluster_store("copy_import").await)
            .await;
    }
}
