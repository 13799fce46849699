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

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::codec::{self, Fields, Row};
use super::keys::{Layout, key_slot};
use super::rows::Expiry;
use super::{
    RedisStore, admin_sessions, canaries, cdc, idempotency, indexes, jobs, node_settings,
    rate_limits, rollover, search_ui, sessions, tasks, tenants,
};
use crate::aliases::Alias;
use crate::canaries::{CanaryRun, CanaryStore};
use crate::copy::{
    CdcOverflowBuffer, CopyPage, CopyRow, CopyStore, CopyTable, HeldLease, JobRecord, LeaseRecord,
    LoginBackoffRecord, ObservationRecord, RateLimitCounter,
};
use crate::error::{StoreError, StoreResult};
use crate::indexes::{IndexRecord, IndexStore};
use crate::rollover::RolloverStore;
use crate::search_ui::SearchUiStore;
use crate::tasks::{Task, TaskStatus, TaskUid};
use crate::time::Timestamp;

/// Rows an import writes at the same time.
const IMPORT_CONCURRENCY: usize = 64;

/// `COUNT` of an export's `SCAN`: the page size, within these bounds.
const SCAN_COUNT: (usize, usize) = (100, 1000);

/// CDC sinks whose cursors are read in one round trip.
const SINK_BATCH: usize = 32;

/// Elements of one `RPUSH` when a CDC overflow buffer is written.
const PUSH_CHUNK: usize = 1000;

lua_script!(ZSET_PAGE = "copy_zset_page.lua");
lua_script!(COPY_TASK = "copy_task.lua");
lua_script!(COPY_JOB = "jobs_common.lua", "copy_job.lua");
lua_script!(COPY_LEASE = "copy_lease.lua");
lua_script!(COPY_TENANT = "copy_tenant.lua");
lua_script!(RAISE_SEQUENCE = "copy_raise_sequence.lua");
lua_script!(READ_EXPIRING = "copy_read_expiring.lua");

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
struct ZsetPage {
    rows: Vec<Row>,
    members: usize,
    last: Option<String>,
}

/// A row read with its absolute expiry (`None`: no expiry).
struct Expiring {
    key: String,
    value: Value,
    expires_at: Option<Timestamp>,
}

fn bad_cursor(table: CopyTable, cursor: &str) -> StoreError {
    StoreError::invalid(format_args!(
        "`{cursor}` is not a cursor of a {table} export"
    ))
}

fn optional_millis(value: Option<Timestamp>) -> String {
    value
        .map(|time| time.as_millis().to_string())
        .unwrap_or_default()
}

/// A `SCAN` score bound from a cursor: empty or a number.
fn checked_score(table: CopyTable, cursor: &str, score: &str) -> StoreResult<String> {
    if score.is_empty() || score.parse::<f64>().is_ok_and(f64::is_finite) {
        Ok(score.to_owned())
    } else {
        Err(bad_cursor(table, cursor))
    }
}

/// Decodes hashes read for `table` into rows.
fn decode_rows<T>(
    rows: Vec<Row>,
    decode: fn(&Row) -> StoreResult<T>,
    wrap: fn(T) -> CopyRow,
) -> StoreResult<Vec<CopyRow>> {
    rows.iter().map(|row| decode(row).map(wrap)).collect()
}

impl RedisStore {
    // Export.

    /// The members of `index` after score `after` ('' = from the start), at most `limit`, with
    /// their hashes (`hash_prefix` + member).
    async fn zset_page(
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

    async fn export_tasks(&self, cursor: Option<&str>, limit: usize) -> StoreResult<CopyPage> {
        let table = CopyTable::Tasks;
        let keys = self.keys();
        let (mut partition, mut after) = match cursor {
            None => (0, String::new()),
            Some(cursor) => {
                let (partition, after) = cursor
                    .split_once(':')
                    .ok_or_else(|| bad_cursor(table, cursor))?;
                let partition = partition
                    .parse::<usize>()
                    .ok()
                    .filter(|partition| *partition < keys.task_partitions())
                    .ok_or_else(|| bad_cursor(table, cursor))?;
                (partition, checked_score(table, cursor, after)?)
            }
        };
        let mut rows = Vec::new();
        while partition < keys.task_partitions() {
            let space = keys.task_space(partition);
            let budget = limit - rows.len();
            let page = self
                .zset_page(
                    table,
                    &space.index_all(),
                    &space.task_prefix(),
                    &after,
                    budget,
                )
                .await?;
            for row in &page.rows {
                rows.push(CopyRow::Task(tasks::decode_task(row)?));
            }
            if page.members == budget
                && let Some(last) = page.last
            {
                return Ok(CopyPage {
                    rows,
                    next: Some(format!("{partition}:{last}")),
                });
            }
            partition += 1;
            after.clear();
        }
        Ok(CopyPage { rows, next: None })
    }

    async fn export_jobs(&self, cursor: Option<&str>, limit: usize) -> StoreResult<CopyPage> {
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
                    job: jobs::decode(row)?,
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

    /// A table indexed by a set of names (aliases, canaries, rollover policies, search-UI
    /// configs): the whole set, sorted, paged by name.
    async fn export_named(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let keys = self.keys();
        let index = match table {
            CopyTable::Aliases => keys.alias_index(),
            CopyTable::Canaries => keys.canary_index(),
            CopyTable::RolloverPolicies => keys.rollover_index(),
            CopyTable::SearchUiConfigs => keys.search_ui_index(),
            other => return Err(not_walked(other, "by a name set")),
        };
        let mut names: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(index)).await?;
        names.sort_unstable();
        names.dedup();
        let start = cursor.map_or(0, |after| {
            names.partition_point(|name| name.as_str() <= after)
        });
        let end = names.len().min(start + limit);
        let page = &names[start..end];
        let rows = match table {
            CopyTable::Aliases => self
                .aliases_named(page)
                .await?
                .into_iter()
                .map(CopyRow::Alias)
                .collect(),
            CopyTable::Canaries => {
                let hashes: Vec<String> = page.iter().map(|id| keys.canary(id)).collect();
                decode_rows(
                    self.rows(table.name(), &hashes).await?,
                    canaries::decode,
                    CopyRow::Canary,
                )?
            }
            CopyTable::RolloverPolicies => {
                let hashes: Vec<String> =
                    page.iter().map(|name| keys.rollover_policy(name)).collect();
                decode_rows(
                    self.rows(table.name(), &hashes).await?,
                    rollover::decode,
                    CopyRow::RolloverPolicy,
                )?
            }
            _ => {
                let hashes: Vec<String> = page
                    .iter()
                    .map(|index_uid| keys.search_ui_config(index_uid))
                    .collect();
                decode_rows(
                    self.rows(table.name(), &hashes).await?,
                    search_ui::decode_config,
                    CopyRow::SearchUiConfig,
                )?
            }
        };
        let next = (end < names.len()).then(|| page.last().cloned()).flatten();
        Ok(CopyPage { rows, next })
    }

    /// Index records: a page of `list_indexes` after the last uid of the previous page, read
    /// one record further to tell whether another page follows.
    async fn export_indexes(&self, cursor: Option<&str>, limit: usize) -> StoreResult<CopyPage> {
        let mut records = self.list_indexes(cursor, limit.saturating_add(1)).await?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more {
            records.last().map(|record| record.uid.clone())
        } else {
            None
        };
        Ok(CopyPage {
            rows: records.into_iter().map(CopyRow::Index).collect(),
            next,
        })
    }

    /// CDC cursors: the registered sinks, sorted, then each sink's cursors by index uid.
    async fn export_cdc_cursors(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let table = CopyTable::CdcCursors;
        let keys = self.keys();
        let after: Option<(String, String)> = cursor
            .map(|cursor| serde_json::from_str(cursor).map_err(|_| bad_cursor(table, cursor)))
            .transpose()?;
        let mut sinks: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(keys.cdc_sinks()))
            .await?;
        sinks.sort_unstable();
        sinks.dedup();
        let start = after
            .as_ref()
            .map_or(0, |(sink, _)| sinks.partition_point(|name| name < sink));
        let mut rows = Vec::new();
        let mut last: Option<(&str, String)> = None;
        for chunk in sinks[start..].chunks(SINK_BATCH) {
            let commands: Vec<redis::Cmd> = chunk
                .iter()
                .map(|sink| redis::cmd("HGETALL").arg(keys.cdc_cursors(sink)).clone())
                .collect();
            let hashes: Vec<BTreeMap<String, String>> = self.query_each(&commands).await?;
            for (sink, cursors) in chunk.iter().zip(hashes) {
                for (index_uid, raw) in cursors {
                    if let Some((after_sink, after_index)) = &after
                        && sink == after_sink
                        && index_uid <= *after_index
                    {
                        continue;
                    }
                    if rows.len() == limit {
                        let next = serde_json::to_string(&last).map_err(internal)?;
                        return Ok(CopyPage {
                            rows,
                            next: Some(next),
                        });
                    }
                    rows.push(CopyRow::CdcCursor(cdc::decode(
                        sink,
                        index_uid.clone(),
                        &raw,
                    )?));
                    last = Some((sink, index_uid));
                }
            }
        }
        Ok(CopyPage { rows, next: None })
    }

    /// The `MATCH` pattern of a scanned table and, for a family in one hash slot, that slot
    /// (`None`: spread over every master).
    fn scan_spec(&self, table: CopyTable) -> StoreResult<(String, Option<u16>)> {
        let keys = self.keys();
        let tagged = |prefix: String| (format!("{prefix}*"), Some(key_slot(&prefix)));
        let spread = |prefix: String| (format!("{prefix}*"), None);
        Ok(match table {
            CopyTable::NodeSettings => tagged(keys.node_settings_prefix()),
            CopyTable::Sessions => spread(keys.session_prefix()),
            CopyTable::Idempotency => spread(keys.idempotency_prefix()),
            CopyTable::Leases => tagged(keys.lease_token_prefix()),
            CopyTable::CanaryRuns => tagged(keys.canary_runs_prefix()),
            CopyTable::CdcOverflow => (keys.cdc_overflow_pattern(), None),
            // Tagged `{tenants}` on a cluster; one server anyway on a standalone one.
            CopyTable::Tenants => tagged(keys.tenant_prefix()),
            CopyTable::ScopedKeys => tagged(keys.scoped_key_prefix()),
            CopyTable::ScopedKeyObservations => tagged(keys.scoped_key_observation_prefix()),
            CopyTable::AdminSessions => spread(keys.admin_session_prefix()),
            CopyTable::RateLimits => spread(keys.rate_limit_prefix()),
            CopyTable::LoginBackoffs => spread(keys.login_backoff_prefix()),
            other => return Err(not_walked(other, "with SCAN")),
        })
    }

    /// A table without an index: `SCAN` of its key family, master after master.
    async fn export_scanned(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let (pattern, slot) = self.scan_spec(table)?;
        let nodes = match slot {
            Some(slot) => vec![slot],
            None => self.master_slots().await?,
        };
        let mut state = match cursor {
            None => ScanCursor::start(nodes[0]),
            Some(cursor) => serde_json::from_str(cursor).map_err(|_| bad_cursor(table, cursor))?,
        };
        let several_per_key = matches!(table, CopyTable::NodeSettings | CopyTable::CanaryRuns);
        let count = limit.clamp(SCAN_COUNT.0, SCAN_COUNT.1);
        let mut rows = Vec::new();
        while rows.len() < limit {
            if !state.pending.is_empty() {
                let budget = limit - rows.len();
                if several_per_key {
                    let (found, more) = self
                        .key_rows(table, &state.pending[0], state.after.as_deref(), budget)
                        .await?;
                    rows.extend(found);
                    if more.is_none() {
                        state.pending.remove(0);
                    }
                    state.after = more;
                } else {
                    let batch: Vec<String> = state
                        .pending
                        .drain(..budget.min(state.pending.len()))
                        .collect();
                    rows.extend(self.scanned_rows(table, &batch).await?);
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
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(count),
                        state.node,
                    )
                    .await?;
                state.scan = next;
                state.ended = next == 0;
                state.pending = found
                    .into_iter()
                    .filter(|key| self.is_row_key(table, key))
                    .collect();
            }
        }
        let done =
            state.pending.is_empty() && state.ended && !nodes.iter().any(|node| *node > state.node);
        let next = if done {
            None
        } else {
            Some(serde_json::to_string(&state).map_err(internal)?)
        };
        Ok(CopyPage { rows, next })
    }

    /// Whether a key matched by a table's pattern is one of its rows (the rate-limit pattern
    /// also matches the login backoffs).
    fn is_row_key(&self, table: CopyTable, key: &str) -> bool {
        match table {
            CopyTable::RateLimits => self.keys().rate_limit_of(key).is_some(),
            _ => true,
        }
    }

    /// The rows of scanned keys of a table with one row per key, skipping keys gone meanwhile.
    async fn scanned_rows(&self, table: CopyTable, keys: &[String]) -> StoreResult<Vec<CopyRow>> {
        let name = table.name();
        match table {
            CopyTable::Sessions => decode_rows(
                self.rows(name, keys).await?,
                sessions::decode,
                CopyRow::Session,
            ),
            CopyTable::Idempotency => decode_rows(
                self.rows(name, keys).await?,
                idempotency::decode,
                CopyRow::Idempotency,
            ),
            CopyTable::AdminSessions => decode_rows(
                self.rows(name, keys).await?,
                admin_sessions::decode,
                CopyRow::AdminSession,
            ),
            CopyTable::Tenants => decode_rows(
                self.rows(name, keys).await?,
                tenants::decode,
                CopyRow::Tenant,
            ),
            CopyTable::ScopedKeys => decode_rows(
                self.rows(name, keys).await?,
                search_ui::decode_scoped_key,
                CopyRow::ScopedKey,
            ),
            CopyTable::Leases => self.lease_rows(keys).await,
            CopyTable::CdcOverflow => self.overflow_rows(keys).await,
            CopyTable::RateLimits => {
                let mut rows = Vec::new();
                for read in self.read_expiring(keys, "string").await? {
                    let (Some((bucket, source)), Some(expires_at)) =
                        (self.keys().rate_limit_of(&read.key), read.expires_at)
                    else {
                        continue;
                    };
                    if read.value == Value::Nil {
                        continue;
                    }
                    rows.push(CopyRow::RateLimit(RateLimitCounter {
                        bucket,
                        source,
                        count: codec::integer(name, read.value)?,
                        expires_at,
                    }));
                }
                Ok(rows)
            }
            CopyTable::LoginBackoffs => {
                let mut rows = Vec::new();
                for read in self.read_expiring(keys, "hash").await? {
                    let (Some(source), Some(expires_at)) = (
                        self.keys().login_backoff_source_of(&read.key),
                        read.expires_at,
                    ) else {
                        continue;
                    };
                    let Some(row) = Row::decode(name, read.value)? else {
                        continue;
                    };
                    let backoff = rate_limits::decode_backoff(&row)?;
                    rows.push(CopyRow::LoginBackoff(LoginBackoffRecord {
                        source,
                        failed_count: backoff.failed_count,
                        next_allowed_at: backoff.next_allowed_at,
                        expires_at,
                    }));
                }
                Ok(rows)
            }
            CopyTable::ScopedKeyObservations => {
                let mut rows = Vec::new();
                for read in self.read_expiring(keys, "hash").await? {
                    let (Some(row), Some(expires_at)) =
                        (Row::decode(name, read.value)?, read.expires_at)
                    else {
                        continue;
                    };
                    rows.push(CopyRow::ScopedKeyObservation(ObservationRecord {
                        observation: search_ui::decode_observation(&row)?,
                        expires_at,
                    }));
                }
                Ok(rows)
            }
            other => Err(not_walked(other, "one row per scanned key")),
        }
    }

    /// Leases from their token keys (all in the `{lease}` slot), each with its held hash.
    async fn lease_rows(&self, token_keys: &[String]) -> StoreResult<Vec<CopyRow>> {
        let keys = self.keys();
        let name = CopyTable::Leases.name();
        let prefix = keys.lease_token_prefix();
        let scopes: Vec<&str> = token_keys
            .iter()
            .filter_map(|key| key.strip_prefix(prefix.as_str()))
            .collect();
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for scope in &scopes {
            pipeline
                .cmd("GET")
                .arg(keys.lease_token(scope))
                .cmd("HGETALL")
                .arg(keys.lease(scope));
        }
        let replies: Vec<Value> = self.query_pipeline(&pipeline).await?;
        let mut replies = replies.into_iter();
        let mut rows = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let (Some(token), Some(held)) = (replies.next(), replies.next()) else {
                return Err(StoreError::corrupt(name, "short lease reply"));
            };
            if token == Value::Nil {
                continue;
            }
            let held = Row::decode(name, held)?
                .map(|row| -> StoreResult<HeldLease> {
                    Ok(HeldLease {
                        holder: row.text("holder")?,
                        expires_at: row.timestamp("expires_at")?,
                    })
                })
                .transpose()?;
            rows.push(CopyRow::Lease(LeaseRecord {
                scope: scope.to_owned(),
                token: codec::integer(name, token)?,
                held,
            }));
        }
        Ok(rows)
    }

    /// CDC overflow buffers from their list keys, skipping empty (deleted) ones.
    async fn overflow_rows(&self, list_keys: &[String]) -> StoreResult<Vec<CopyRow>> {
        let name = CopyTable::CdcOverflow.name();
        let sinks: Vec<(String, &String)> = list_keys
            .iter()
            .filter_map(|key| Some((self.keys().cdc_overflow_sink_of(key)?, key)))
            .collect();
        let commands: Vec<redis::Cmd> = sinks
            .iter()
            .map(|(_, key)| redis::cmd("LRANGE").arg(*key).arg(0).arg(-1).clone())
            .collect();
        let lists: Vec<Value> = self.query_each(&commands).await?;
        let mut rows = Vec::new();
        for ((sink_name, _), list) in sinks.into_iter().zip(lists) {
            let events = codec::array(name, list)?
                .into_iter()
                .map(|event| codec::bytes(name, event))
                .collect::<StoreResult<Vec<_>>>()?;
            if !events.is_empty() {
                rows.push(CopyRow::CdcOverflow(CdcOverflowBuffer {
                    sink_name,
                    events,
                }));
            }
        }
        Ok(rows)
    }

    /// Strings or hashes (`kind`) expiring after a relative TTL, with their absolute expiry:
    /// one script per hash slot.
    async fn read_expiring(&self, keys: &[String], kind: &str) -> StoreResult<Vec<Expiring>> {
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
                .map(|group| self.read_expiring_group(group, kind)),
        )
        .await?;
        Ok(replies.into_iter().flatten().collect())
    }

    async fn read_expiring_group(&self, keys: &[String], kind: &str) -> StoreResult<Vec<Expiring>> {
        let mut invocation = READ_EXPIRING.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(kind);
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

    /// Up to `budget` rows of one key of a table with several rows per key, after `after` (a
    /// node id, a run's `ran_at`), and the last row returned when more are left.
    async fn key_rows(
        &self,
        table: CopyTable,
        key: &str,
        after: Option<&str>,
        budget: usize,
    ) -> StoreResult<(Vec<CopyRow>, Option<String>)> {
        let name = table.name();
        let mut rows = Vec::new();
        match table {
            CopyTable::NodeSettings => {
                let Some(index_uid) = key.strip_prefix(self.keys().node_settings_prefix().as_str())
                else {
                    return Ok((rows, None));
                };
                let versions: BTreeMap<String, String> =
                    self.query(redis::cmd("HGETALL").arg(key)).await?;
                let mut versions = versions
                    .into_iter()
                    .filter(|(node_id, _)| after.is_none_or(|after| node_id.as_str() > after))
                    .peekable();
                while rows.len() < budget
                    && let Some((node_id, raw)) = versions.next()
                {
                    rows.push(CopyRow::NodeSettings(node_settings::decode(
                        index_uid, node_id, &raw,
                    )?));
                }
                let more = versions.peek().is_some();
                let last = match rows.last() {
                    Some(CopyRow::NodeSettings(row)) if more => Some(row.node_id.clone()),
                    _ => None,
                };
                Ok((rows, last))
            }
            CopyTable::CanaryRuns => {
                let min = match after {
                    None => "-inf".to_owned(),
                    Some(after) => format!("({}", checked_score(table, after, after)?),
                };
                let reply: Value = self
                    .query(
                        redis::cmd("ZRANGEBYSCORE")
                            .arg(key)
                            .arg(min)
                            .arg("+inf")
                            .arg("WITHSCORES")
                            .arg("LIMIT")
                            .arg(0)
                            .arg(budget + 1),
                    )
                    .await?;
                let mut items = codec::array(name, reply)?.into_iter();
                let mut last = None;
                let mut more = false;
                while let (Some(run), Some(score)) = (items.next(), items.next()) {
                    if rows.len() == budget {
                        more = true;
                        break;
                    }
                    let run: canaries::StoredRun = codec::json(name, run)?;
                    rows.push(CopyRow::CanaryRun(CanaryRun::from(run)));
                    last = Some(codec::text(name, score)?);
                }
                Ok((rows, last.filter(|_| more)))
            }
            other => Err(not_walked(other, "several rows per scanned key")),
        }
    }

    // Import.

    async fn import_row(&self, row: &CopyRow) -> StoreResult<()> {
        let keys = self.keys();
        match row {
            CopyRow::Task(task) => self.import_task(task).await,
            CopyRow::NodeSettings(row) => {
                let _: i64 = self
                    .query(
                        redis::cmd("HSET")
                            .arg(keys.node_settings(&row.index_uid))
                            .arg(&row.node_id)
                            .arg(format!("{} {}", row.version, row.updated_at.as_millis())),
                    )
                    .await?;
                Ok(())
            }
            CopyRow::Alias(alias) => self.import_alias(alias).await,
            CopyRow::Session(session) => {
                let fields = Fields::new()
                    .text("session_id", session.session_id.as_str())
                    .optional(
                        "last_write_task_uid",
                        session.last_write_task_uid,
                        Fields::display,
                    )
                    .optional("last_write_at", session.last_write_at, Fields::timestamp)
                    .optional("pinned_group", session.pinned_group, Fields::display)
                    .display("min_settings_version", session.min_settings_version)
                    .timestamp("expires_at", session.expires_at);
                let key = keys.session(&session.session_id);
                self.put_row(&key, &fields, Expiry::At(session.expires_at), None)
                    .await
            }
            CopyRow::Idempotency(record) => {
                let fields = Fields::new()
                    .text("key", record.key.as_str())
                    .hex("body_sha256", &record.body_sha256)
                    .display("task_uid", record.task_uid)
                    .timestamp("expires_at", record.expires_at);
                let key = keys.idempotency(&record.key);
                self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
                    .await
            }
            CopyRow::Job(record) => self.import_job(record).await,
            CopyRow::Lease(record) => {
                let mut invocation = COPY_LEASE.key(keys.lease(&record.scope));
                invocation
                    .key(keys.lease_token(&record.scope))
                    .key(keys.lease_index())
                    .arg(&record.scope)
                    .arg(record.token);
                match &record.held {
                    Some(held) => invocation
                        .arg(&held.holder)
                        .arg(held.expires_at.as_millis()),
                    None => invocation.arg("").arg(0),
                };
                let _: i64 = self.eval(&invocation).await?;
                Ok(())
            }
            CopyRow::Canary(canary) => self.upsert_canary(canary.clone()).await,
            CopyRow::CanaryRun(run) => {
                let key = keys.canary_runs(&run.canary_id);
                let ran_at = run.ran_at.as_millis();
                let stored = codec::to_json(&canaries::StoredRun::from(run.clone()))?;
                let mut pipeline = redis::pipe();
                pipeline
                    .atomic()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg(ran_at)
                    .arg(ran_at)
                    .ignore()
                    .cmd("ZADD")
                    .arg(&key)
                    .arg(ran_at)
                    .arg(stored)
                    .ignore();
                self.query_pipeline(&pipeline).await
            }
            CopyRow::CdcCursor(cursor) => {
                // The sink registry is in another slot: registered first, like a first advance.
                let _: i64 = self
                    .query(
                        redis::cmd("SADD")
                            .arg(keys.cdc_sinks())
                            .arg(&cursor.sink_name),
                    )
                    .await?;
                let _: i64 = self
                    .query(
                        redis::cmd("HSET")
                            .arg(keys.cdc_cursors(&cursor.sink_name))
                            .arg(&cursor.index_uid)
                            .arg(format!(
                                "{} {}",
                                cursor.last_event_seq,
                                cursor.updated_at.as_millis()
                            )),
                    )
                    .await?;
                Ok(())
            }
            CopyRow::CdcOverflow(buffer) => {
                let list = keys.cdc_overflow(&buffer.sink_name);
                let bytes = keys.cdc_overflow_bytes(&buffer.sink_name);
                let mut pipeline = redis::pipe();
                pipeline.atomic().cmd("DEL").arg(&list).arg(&bytes).ignore();
                for chunk in buffer.events.chunks(PUSH_CHUNK) {
                    pipeline.cmd("RPUSH").arg(&list).arg(chunk).ignore();
                }
                if !buffer.events.is_empty() {
                    let total: usize = buffer.events.iter().map(Vec::len).sum();
                    pipeline.cmd("SET").arg(&bytes).arg(total).ignore();
                }
                self.query_pipeline(&pipeline).await
            }
            CopyRow::Tenant(mapping) => {
                let fields = Fields::new()
                    .hex("api_key_hash", &mapping.api_key_hash)
                    .text("tenant_id", mapping.tenant_id.as_str())
                    .optional("group_id", mapping.group_id, Fields::display);
                let mut invocation = COPY_TENANT.key(keys.tenant(&mapping.api_key_hash));
                invocation
                    .key(keys.tenant_by_id(&mapping.tenant_id))
                    .arg(keys.tenant_prefix())
                    .arg(keys.tenant_by_id_prefix())
                    .arg(hex::encode(mapping.api_key_hash))
                    .arg(&mapping.tenant_id)
                    .arg(fields.script_args());
                let _: i64 = self.eval(&invocation).await?;
                Ok(())
            }
            CopyRow::RolloverPolicy(policy) => self.upsert_rollover_policy(policy.clone()).await,
            CopyRow::SearchUiConfig(config) => self.put_search_ui_config(config.clone()).await,
            CopyRow::ScopedKey(state) => {
                let fields = Fields::new()
                    .text("index_uid", state.index_uid.as_str())
                    .text("primary_uid", state.primary_uid.as_str())
                    .optional("previous_uid", state.previous_uid.as_deref(), Fields::text)
                    .timestamp("rotated_at", state.rotated_at)
                    .display("generation", state.generation);
                self.put_row(
                    &keys.scoped_key(&state.index_uid),
                    &fields,
                    Expiry::Never,
                    None,
                )
                .await
            }
            CopyRow::ScopedKeyObservation(record) => {
                let observation = &record.observation;
                let fields = Fields::new()
                    .text("pod_id", observation.pod_id.as_str())
                    .text("index_uid", observation.index_uid.as_str())
                    .display("generation", observation.generation)
                    .timestamp("observed_at", observation.observed_at);
                let key = keys.scoped_key_observation(&observation.pod_id, &observation.index_uid);
                self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
                    .await
            }
            CopyRow::AdminSession(session) => {
                let fields = Fields::new()
                    .text("session_id", session.session_id.as_str())
                    .text("csrf_token", session.csrf_token.as_str())
                    .hex("admin_key_hash", &session.admin_key_hash)
                    .timestamp("created_at", session.created_at)
                    .timestamp("expires_at", session.expires_at)
                    .flag("revoked", session.revoked)
                    .optional("user_agent", session.user_agent.as_deref(), Fields::text)
                    .optional("source_ip", session.source_ip.as_deref(), Fields::text);
                let key = keys.admin_session(&session.session_id);
                self.put_row(&key, &fields, Expiry::At(session.expires_at), None)
                    .await
            }
            CopyRow::RateLimit(counter) => {
                let key = keys.rate_limit(counter.bucket, &counter.source);
                let mut pipeline = redis::pipe();
                pipeline
                    .atomic()
                    .cmd("SET")
                    .arg(&key)
                    .arg(counter.count)
                    .ignore()
                    .cmd("PEXPIREAT")
                    .arg(&key)
                    .arg(counter.expires_at.as_millis())
                    .ignore();
                self.query_pipeline(&pipeline).await
            }
            CopyRow::LoginBackoff(record) => {
                let fields = Fields::new()
                    .display("failed_count", record.failed_count)
                    .optional("next_allowed_at", record.next_allowed_at, Fields::timestamp);
                let key = keys.login_backoff(&record.source);
                self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
                    .await
            }
            CopyRow::Index(record) => self.import_index(record).await,
        }
    }

    /// Replaces the record's hash and adds its uid to the uid set in one `MULTI` (both in the
    /// `{indexes}` slot), keeping its version and timestamps.
    async fn import_index(&self, record: &IndexRecord) -> StoreResult<()> {
        let keys = self.keys();
        let hash = keys.index_record(&record.uid);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(&hash)
            .ignore()
            .add_command(indexes::fields(record).hset(&hash))
            .ignore()
            .cmd("ZADD")
            .arg(keys.index_record_uids())
            .arg(0)
            .arg(&record.uid)
            .ignore();
        self.query_pipeline(&pipeline).await
    }

    async fn import_task(&self, task: &Task) -> StoreResult<()> {
        let space = self.keys().task_space_of(task.uid);
        let fields = Fields::new()
            .display("uid", task.uid)
            .display("kind", task.kind)
            .display("status", task.status)
            .json("node_tasks", &task.node_tasks)?
            .timestamp("enqueued_at", task.enqueued_at)
            .optional("index_uid", task.index_uid.as_deref(), Fields::text)
            .optional_json("details", task.details.as_ref())?
            .optional_json("error", task.error.as_ref())?
            .optional("canceled_by", task.canceled_by, Fields::display)
            .optional("started_at", task.started_at, Fields::timestamp)
            .optional("finished_at", task.finished_at, Fields::timestamp);
        let mut invocation = COPY_TASK.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.enqueued_at())
            .key(space.started_at())
            .key(space.finished_at());
        for status in TaskStatus::ALL {
            invocation.key(space.by_status(*status));
        }
        invocation
            .key(space.by_status(task.status))
            .key(space.by_kind(task.kind))
            .key(
                task.index_uid
                    .as_deref()
                    .map_or_else(|| space.index_all(), |index_uid| space.by_index(index_uid)),
            )
            .arg(task.uid)
            .arg(space.task_prefix())
            .arg(space.by_kind_prefix())
            .arg(space.by_index_prefix())
            .arg(task.enqueued_at.as_millis())
            .arg(optional_millis(task.started_at))
            .arg(optional_millis(task.finished_at))
            .arg(fields.script_args());
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
    }

    async fn import_job(&self, record: &JobRecord) -> StoreResult<()> {
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
        let mut invocation = self.job_invocation(&COPY_JOB, Some(&job.id));
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

    async fn import_alias(&self, alias: &Alias) -> StoreResult<()> {
        let keys = self.keys();
        let fields = Fields::new()
            .text("name", alias.name.as_str())
            .text("kind", alias.target.kind_name())
            .json("target", &alias.target)?
            .display("version", alias.version)
            .timestamp("created_at", alias.created_at);
        let hash = keys.alias(&alias.name);
        let history = keys.alias_history(&alias.name);
        let entries = alias
            .history
            .iter()
            .map(codec::to_json)
            .collect::<StoreResult<Vec<String>>>()?;
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("DEL")
            .arg(&hash)
            .arg(&history)
            .ignore()
            .add_command(fields.hset(&hash))
            .ignore();
        if !entries.is_empty() {
            pipeline.cmd("RPUSH").arg(&history).arg(entries).ignore();
        }
        pipeline
            .cmd("SADD")
            .arg(keys.alias_index())
            .arg(&alias.name)
            .ignore();
        self.query_pipeline(&pipeline).await
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

fn not_walked(table: CopyTable, how: &str) -> StoreError {
    StoreError::Backend(format!("redis: the {table} table is not walked {how}"))
}

fn internal(error: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("redis: cursor encoding: {error}"))
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
        match table {
            CopyTable::Tasks => self.export_tasks(cursor, limit).await,
            CopyTable::Jobs => self.export_jobs(cursor, limit).await,
            CopyTable::Aliases
            | CopyTable::Canaries
            | CopyTable::RolloverPolicies
            | CopyTable::SearchUiConfigs => self.export_named(table, cursor, limit).await,
            CopyTable::CdcCursors => self.export_cdc_cursors(cursor, limit).await,
            CopyTable::Indexes => self.export_indexes(cursor, limit).await,
            CopyTable::NodeSettings
            | CopyTable::Sessions
            | CopyTable::Idempotency
            | CopyTable::Leases
            | CopyTable::CanaryRuns
            | CopyTable::CdcOverflow
            | CopyTable::Tenants
            | CopyTable::ScopedKeys
            | CopyTable::ScopedKeyObservations
            | CopyTable::AdminSessions
            | CopyTable::RateLimits
            | CopyTable::LoginBackoffs => self.export_scanned(table, cursor, limit).await,
        }
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
        let stored: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys().task_seq()))
            .await?;
        stored.map_or(Ok(0), |text| {
            text.parse().map_err(|_| {
                StoreError::corrupt(
                    CopyTable::Tasks.name(),
                    format_args!("uid sequence `{text}` is not a number"),
                )
            })
        })
    }

    async fn raise_task_sequence(&self, last_uid: TaskUid) -> StoreResult<()> {
        let mut invocation = RAISE_SEQUENCE.key(self.keys().task_seq());
        invocation.arg(last_uid);
        let _: String = self.eval(&invocation).await?;
        Ok(())
    }

    async fn job_claim_sequence(&self) -> StoreResult<u64> {
        let stored: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys().job_claim_seq()))
            .await?;
        stored.map_or(Ok(0), |text| {
            text.parse().map_err(|_| {
                StoreError::corrupt(
                    CopyTable::Jobs.name(),
                    format_args!("claim token sequence `{text}` is not a number"),
                )
            })
        })
    }

    async fn raise_job_claim_sequence(&self, last_token: u64) -> StoreResult<()> {
        let mut invocation = RAISE_SEQUENCE.key(self.keys().job_claim_seq());
        invocation.arg(last_token);
        let _: String = self.eval(&invocation).await?;
        Ok(())
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
    use crate::copy::CopyDigest;
    use crate::redis::test_support;
    use crate::{
        AdminSession, AdminSessionStore, AliasStore, AliasTarget, BackoffPolicy, Canary,
        CanaryRunStatus, CdcStore, IdempotencyRecord, IdempotencyStore, IndexState, Job, JobKind,
        JobQuery, JobState, JobStore, LeaseStore, NewJob, NewTask, NodeSettingsStore,
        NodeSettingsVersion, NodeTaskMap, RateLimitBucket, RateLimitStore, RolloverPolicy,
        SchemaStore, ScopedKeyObservation, SearchUiConfig, Session, SessionStore, TaskError,
        TaskKind, TaskQuery, TaskStore, TenantMapping, TenantStore,
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
