//! `CopyStore`: whole tables out of and into a SQLite store, for `miroir-migrate copy`.
//!
//! Export walks a table in primary-key order: `WHERE (key) > (cursor) ORDER BY key LIMIT n + 1`,
//! one range seek on the primary key per page whatever the page's position (never `OFFSET`). The
//! extra row only tells whether a next page exists, so the last page has `next: None` and no
//! empty page follows it. The cursor is the key of the last row returned as a JSON array, one
//! item per key column: an integer column as its SQL integer (a `u64` as its bit-cast `i64`, the
//! order SQL walks), text as a string and a blob as lowercase hex — `[42]`, `["movies","meili-0"]`,
//! `["0909…09"]`. Expiring tables filter on `+expires_at > now`; the unary `+` keeps the planner on
//! the primary key instead of the `expires_at` index (which would need a sort for the order).
//!
//! Import is one `BEGIN IMMEDIATE` transaction per call with `INSERT … ON CONFLICT (key) DO UPDATE`
//! upserts on cached statements. Never `INSERT OR REPLACE`: its implicit delete does not fire the
//! `tasks_count_delete` trigger (recursive triggers are off), so replacing a task would count it
//! twice; an upsert's update fires no count trigger at all. An explicit task uid raises the
//! `AUTOINCREMENT` sequence (`sqlite_sequence`) by itself, and a job's explicit `seq` (its rowid)
//! puts every job enqueued later after it.
//!
//! This module is the dispatcher and the table-independent machinery (paging, the cursor codec,
//! the task sequence, `clear_all_rows`); each table's export spec (`*copy_spec`) and import
//! (`import*`) live beside its other SQL in its own module, as do the CDC overflow export
//! (`cdc::export_overflow`) and the claim-token counter (`jobs::job_claim_sequence`).

use async_trait::async_trait;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Row, Transaction};

use super::connection::in_read_transaction;
use super::rows::{Columns, query_optional, saturating_i64};
use super::{
    SqliteStore, admin_sessions, aliases, canaries, cdc, idempotency, indexes, jobs, leases,
    node_settings, rate_limits, rollover, search_ui, sessions, tasks, tenants,
};
use crate::copy::{CopyPage, CopyRow, CopyStore, CopyTable};
use crate::error::{StoreError, StoreResult};
use crate::tasks::TaskUid;
use crate::time::Timestamp;

/// The SQL type of a primary-key column, for the cursor codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Integer,
    Text,
    Blob,
}

use KeyKind::{Blob, Integer, Text};

/// Decodes one exported row (`now` decides whether a lease is still held).
pub(super) type Decode = fn(&Row<'_>, Timestamp) -> StoreResult<CopyRow>;

/// How a table (other than the CDC overflow buffer, which is grouped by sink) is exported.
pub(super) struct TableSpec {
    /// The SQL table.
    pub(super) table: &'static str,
    /// The columns `decode` reads, in order.
    pub(super) columns: &'static str,
    /// The primary key, in order; selected after `columns` to build the cursor.
    pub(super) key: &'static [(&'static str, KeyKind)],
    /// Whether the table has `expires_at` and its expired rows are left out.
    pub(super) expires: bool,
    /// Decodes one row of `columns`.
    pub(super) decode: Decode,
}

/// The export of `table`; `None` for [`CopyTable::CdcOverflow`].
fn spec(table: CopyTable) -> Option<TableSpec> {
    Some(match table {
        CopyTable::Tasks => tasks::copy_spec(),
        CopyTable::NodeSettings => node_settings::copy_spec(),
        CopyTable::Aliases => aliases::copy_spec(),
        CopyTable::Sessions => sessions::copy_spec(),
        CopyTable::Idempotency => idempotency::copy_spec(),
        CopyTable::Jobs => jobs::copy_spec(),
        CopyTable::Leases => leases::copy_spec(),
        CopyTable::Canaries => canaries::copy_spec(),
        CopyTable::CanaryRuns => canaries::run_copy_spec(),
        CopyTable::CdcCursors => cdc::cursor_copy_spec(),
        CopyTable::CdcOverflow => return None,
        CopyTable::Tenants => tenants::copy_spec(),
        CopyTable::RolloverPolicies => rollover::copy_spec(),
        CopyTable::SearchUiConfigs => search_ui::config_copy_spec(),
        CopyTable::ScopedKeys => search_ui::scoped_key_copy_spec(),
        CopyTable::ScopedKeyObservations => search_ui::observation_copy_spec(),
        CopyTable::AdminSessions => admin_sessions::copy_spec(),
        CopyTable::RateLimits => rate_limits::copy_spec(),
        CopyTable::LoginBackoffs => rate_limits::backoff_copy_spec(),
        CopyTable::Indexes => indexes::copy_spec(),
    })
}

/// The cursor naming the key in columns `first..` of `row`.
fn encode_cursor(
    table: &'static str,
    key: &[(&str, KeyKind)],
    row: &Row<'_>,
    first: usize,
) -> StoreResult<String> {
    let mut items = Vec::with_capacity(key.len());
    for (offset, (column, kind)) in key.iter().enumerate() {
        let item = match (kind, row.get_ref(first + offset)?) {
            (Integer, ValueRef::Integer(value)) => serde_json::Value::from(value),
            (Text, ValueRef::Text(text)) => {
                serde_json::Value::from(std::str::from_utf8(text).map_err(|error| {
                    StoreError::corrupt(table, format!("column `{column}`: {error}"))
                })?)
            }
            (Blob, ValueRef::Blob(bytes)) => serde_json::Value::from(hex::encode(bytes)),
            (_, other) => {
                return Err(StoreError::corrupt(
                    table,
                    format!("key column `{column}` holds a {}", other.data_type()),
                ));
            }
        };
        items.push(item);
    }
    Ok(serde_json::Value::Array(items).to_string())
}

/// The key values a cursor names, as bound parameters.
pub(super) fn decode_cursor_key(
    table: CopyTable,
    key: &[(&str, KeyKind)],
    cursor: &str,
) -> StoreResult<Vec<Value>> {
    let bad = || StoreError::invalid(format!("`{cursor}` is not a {table} export cursor"));
    let items: Vec<serde_json::Value> = serde_json::from_str(cursor).map_err(|_| bad())?;
    if items.len() != key.len() {
        return Err(bad());
    }
    key.iter()
        .zip(items)
        .map(|((_, kind), item)| match (kind, item) {
            (Integer, item) => item.as_i64().map(Value::Integer).ok_or_else(bad),
            (Text, serde_json::Value::String(text)) => Ok(Value::Text(text)),
            (Blob, serde_json::Value::String(text)) => {
                hex::decode(text).map(Value::Blob).map_err(|_| bad())
            }
            _ => Err(bad()),
        })
        .collect()
}

/// `SELECT columns, key FROM table WHERE [+expires_at > ?] [AND (key) > (?, …)] ORDER BY key
/// LIMIT ?`.
fn export_sql(spec: &TableSpec, after_cursor: bool) -> String {
    let key = spec
        .key
        .iter()
        .map(|(column, _)| *column)
        .collect::<Vec<_>>()
        .join(", ");
    let mut clauses = Vec::new();
    if spec.expires {
        clauses.push("+expires_at > ?".to_owned());
    }
    if after_cursor {
        let placeholders = vec!["?"; spec.key.len()].join(", ");
        clauses.push(format!("({key}) > ({placeholders})"));
    }
    let mut sql = format!("SELECT {}, {key} FROM {}", spec.columns, spec.table);
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY {key} LIMIT ?"));
    sql
}

/// The number of columns a column list names.
pub(super) fn column_count(columns: &str) -> usize {
    columns.split(',').count()
}

/// One page of a table with a [`TableSpec`].
fn export_table(
    connection: &Connection,
    table: CopyTable,
    spec: &TableSpec,
    cursor: Option<&str>,
    limit: usize,
    now: Timestamp,
) -> StoreResult<CopyPage> {
    let after = cursor
        .map(|cursor| decode_cursor_key(table, spec.key, cursor))
        .transpose()?;
    let sql = export_sql(spec, after.is_some());
    let mut params = Vec::with_capacity(spec.key.len() + 2);
    if spec.expires {
        params.push(Value::Integer(now.as_millis()));
    }
    params.extend(after.into_iter().flatten());
    params.push(Value::Integer(saturating_i64(limit).saturating_add(1)));

    let key_start = column_count(spec.columns);
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut page = CopyPage::default();
    let mut last_key = None;
    while let Some(row) = rows.next()? {
        if page.rows.len() == limit {
            // A row past the page: there is a next page, starting after the last row returned.
            page.next = last_key;
            break;
        }
        page.rows.push((spec.decode)(row, now)?);
        if page.rows.len() == limit {
            last_key = Some(encode_cursor(spec.table, spec.key, row, key_start)?);
        }
    }
    Ok(page)
}

/// Writes one row, replacing the row with the same key.
fn import_row(transaction: &Transaction<'_>, row: &CopyRow) -> StoreResult<()> {
    match row {
        CopyRow::Task(task) => tasks::import(transaction, task)?,
        CopyRow::NodeSettings(row) => node_settings::import(transaction, row)?,
        CopyRow::Alias(alias) => aliases::import(transaction, alias)?,
        CopyRow::Session(session) => sessions::import(transaction, session)?,
        CopyRow::Idempotency(record) => idempotency::import(transaction, record)?,
        CopyRow::Job(record) => jobs::import(transaction, record)?,
        CopyRow::Lease(record) => leases::import(transaction, record)?,
        CopyRow::Canary(canary) => canaries::import(transaction, canary)?,
        CopyRow::CanaryRun(run) => canaries::import_run(transaction, run)?,
        CopyRow::CdcCursor(cursor) => cdc::import_cursor(transaction, cursor)?,
        CopyRow::CdcOverflow(buffer) => cdc::import_overflow(transaction, buffer)?,
        CopyRow::Tenant(mapping) => tenants::import(transaction, mapping)?,
        CopyRow::RolloverPolicy(policy) => rollover::import(transaction, policy)?,
        CopyRow::SearchUiConfig(config) => search_ui::import_config(transaction, config)?,
        CopyRow::ScopedKey(state) => search_ui::import_scoped_key(transaction, state)?,
        CopyRow::ScopedKeyObservation(record) => {
            search_ui::import_observation(transaction, record)?
        }
        CopyRow::AdminSession(session) => admin_sessions::import(transaction, session)?,
        CopyRow::RateLimit(counter) => rate_limits::import(transaction, counter)?,
        CopyRow::LoginBackoff(record) => rate_limits::import_backoff(transaction, record)?,
        CopyRow::Index(record) => indexes::write_index(transaction, record)?,
    }
    Ok(())
}

/// Every table holding rows; `task_count` (kept by the triggers), `sqlite_sequence` and
/// `job_claim_sequence` (claim tokens are never reused) stay.
const CLEAR_ALL_ROWS: &str = "\
    DELETE FROM tasks;
    DELETE FROM node_settings_version;
    DELETE FROM aliases;
    DELETE FROM sessions;
    DELETE FROM idempotency_cache;
    DELETE FROM jobs;
    DELETE FROM leader_lease;
    DELETE FROM canaries;
    DELETE FROM canary_runs;
    DELETE FROM cdc_cursors;
    DELETE FROM cdc_overflow;
    DELETE FROM cdc_overflow_totals;
    DELETE FROM tenant_map;
    DELETE FROM rollover_policies;
    DELETE FROM search_ui_config;
    DELETE FROM search_ui_scoped_keys;
    DELETE FROM search_ui_scoped_key_observations;
    DELETE FROM admin_sessions;
    DELETE FROM rate_limits;
    DELETE FROM login_backoff;
    DELETE FROM indexes;
    UPDATE task_count SET count = 0 WHERE id = 1;";

fn task_sequence(connection: &Connection) -> StoreResult<TaskUid> {
    let mut statement =
        connection.prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'tasks'")?;
    let sequence = query_optional(&mut statement, [], |row| {
        Columns::new("sqlite_sequence", row).i64(0)
    })?;
    let sequence = sequence.unwrap_or(0);
    u64::try_from(sequence).map_err(|_| {
        StoreError::corrupt(
            "sqlite_sequence",
            format!("negative task sequence {sequence}"),
        )
    })
}

#[async_trait]
impl CopyStore for SqliteStore {
    /// Pages in primary-key order (see the module documentation for the cursor); the CDC
    /// overflow pages count sinks, each with its whole buffer. A `limit` of 0 is refused (such a
    /// page could never advance).
    async fn export_rows(
        &self,
        table: CopyTable,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        if limit == 0 {
            return Err(StoreError::invalid(
                "an export page needs a limit of at least 1",
            ));
        }
        let cursor = cursor.map(str::to_owned);
        self.read(move |connection| {
            let now = Timestamp::now();
            match spec(table) {
                Some(spec) => export_table(connection, table, &spec, cursor.as_deref(), limit, now),
                None => in_read_transaction(connection, |transaction| {
                    cdc::export_overflow(transaction, cursor.as_deref(), limit)
                }),
            }
        })
        .await
    }

    /// One `BEGIN IMMEDIATE` transaction for the whole call.
    async fn import_rows(&self, rows: &[CopyRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows = rows.to_vec();
        self.write_transaction(move |transaction| {
            let now = Timestamp::now();
            for row in &rows {
                if row.expires_at().is_some_and(|expires_at| expires_at <= now) {
                    continue;
                }
                import_row(transaction, row)?;
            }
            Ok(())
        })
        .await
    }

    /// The `AUTOINCREMENT` counter of `tasks`, absent until the first task.
    async fn task_sequence(&self) -> StoreResult<TaskUid> {
        self.read(|connection| task_sequence(connection)).await
    }

    /// Inserts the counter when absent, then raises it; a uid past `i64::MAX` (which SQLite
    /// cannot hand out) saturates.
    async fn raise_task_sequence(&self, last_uid: TaskUid) -> StoreResult<()> {
        let last_uid = saturating_i64(last_uid);
        self.write_transaction(move |transaction| {
            transaction
                .prepare_cached(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT 'tasks', ?1 \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'tasks')",
                )?
                .execute([last_uid])?;
            transaction
                .prepare_cached(
                    "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'tasks' AND seq < ?1",
                )?
                .execute([last_uid])?;
            Ok(())
        })
        .await
    }

    /// `job_claim_sequence.last_token`.
    async fn job_claim_sequence(&self) -> StoreResult<u64> {
        self.read(|connection| jobs::job_claim_sequence(connection))
            .await
    }

    /// One transaction: reads the counter, raises it when lower.
    async fn raise_job_claim_sequence(&self, last_token: u64) -> StoreResult<()> {
        self.write_transaction(move |transaction| {
            jobs::raise_job_claim_sequence(transaction, last_token)
        })
        .await
    }

    /// One transaction; `user_version`, the application id, `sqlite_sequence` and
    /// `job_claim_sequence` (so neither uids nor claim tokens are ever reused) stay, and
    /// `task_count` ends at 0.
    async fn clear_all_rows(&self) -> StoreResult<()> {
        self.write_transaction(|transaction| Ok(transaction.execute_batch(CLEAR_ALL_ROWS)?))
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::admin_sessions::{AdminSession, AdminSessionStore};
    use crate::aliases::{AliasStore, AliasTarget};
    use crate::canaries::{Canary, CanaryRun, CanaryRunStatus, CanaryStore};
    use crate::cdc::{CdcOverflowStats, CdcStore};
    use crate::copy::{
        CdcOverflowBuffer, JobRecord, LeaseRecord, LoginBackoffRecord, ObservationRecord,
        RateLimitCounter,
    };
    use crate::idempotency::{IdempotencyRecord, IdempotencyStore};
    use crate::indexes::{IndexRecord, IndexState, IndexStore};
    use crate::jobs::{Job, JobKind, JobState, JobStore, NewJob};
    use crate::leases::LeaseStore;
    use crate::node_settings::{NodeSettingsStore, NodeSettingsVersion};
    use crate::rate_limits::{BackoffPolicy, RateLimitBucket, RateLimitStore};
    use crate::rollover::{RolloverPolicy, RolloverStore};
    use crate::schema::{SQLITE_APPLICATION_ID, SchemaStore};
    use crate::search_ui::{ScopedKeyObservation, SearchUiConfig, SearchUiStore};
    use crate::sessions::{Session, SessionStore};
    use crate::sqlite::rows::query_all;
    use crate::sqlite::testing;
    use crate::tasks::{NewTask, Task, TaskError, TaskKind, TaskStatus, TaskStore};
    use crate::tenants::{TenantMapping, TenantStore};

    const HOUR: Duration = Duration::from_secs(3600);

    type Dump = BTreeMap<CopyTable, Vec<CopyRow>>;

    fn new_task(index_uid: Option<&str>) -> NewTask {
        NewTask {
            index_uid: index_uid.map(str::to_owned),
            kind: TaskKind::DocumentAdditionOrUpdate,
            status: TaskStatus::Enqueued,
            node_tasks: [("meili-0".to_owned(), 7), ("meili-1".to_owned(), u64::MAX)].into(),
            details: Some(json!({"receivedDocuments": 3})),
            enqueued_at: Timestamp::from_millis(1_000),
        }
    }

    fn session(id: &str, expires_at: Timestamp) -> Session {
        Session {
            session_id: id.to_owned(),
            last_write_task_uid: Some(u64::MAX),
            last_write_at: Some(Timestamp::from_millis(5)),
            pinned_group: Some(2),
            min_settings_version: 9,
            expires_at,
        }
    }

    fn admin_session(id: &str, expires_at: Timestamp) -> AdminSession {
        AdminSession {
            session_id: id.to_owned(),
            csrf_token: format!("csrf-{id}"),
            admin_key_hash: [3; 32],
            created_at: Timestamp::from_millis(10),
            expires_at,
            revoked: false,
            user_agent: Some("curl".to_owned()),
            source_ip: None,
        }
    }

    /// Rows in every table, with NULLs, u64 values past `i64::MAX`, several rows where a table
    /// has a composite key, and a lease in each state (held, released, expired).
    async fn seed(store: &SqliteStore) {
        let now = Timestamp::now();
        let later = now.plus(HOUR);
        let mut uids = Vec::new();
        for index in [
            Some("movies"),
            None,
            Some("books"),
            Some("movies"),
            Some("books"),
        ] {
            uids.push(store.create_task(new_task(index)).await.unwrap().uid);
        }
        let mut update = store.get_task(uids[0]).await.unwrap().unwrap().to_update();
        update.status = TaskStatus::Failed;
        update.error = Some(TaskError {
            message: "boom".to_owned(),
            code: "internal".to_owned(),
            error_type: "internal".to_owned(),
            link: "https://example.com".to_owned(),
        });
        update.canceled_by = Some(uids[1]);
        update.started_at = Some(Timestamp::from_millis(1_001));
        update.finished_at = Some(Timestamp::from_millis(1_002));
        store.update_task(uids[0], update).await.unwrap();
        // The newest task is pruned: the sequence stays above every uid left.
        assert!(store.delete_task(uids[4]).await.unwrap());

        for (index_uid, node_id, version) in [
            ("movies", "meili-0", 4),
            ("movies", "meili-1", u64::MAX),
            ("books", "meili-0", 1),
        ] {
            store
                .record_node_settings_version(NodeSettingsVersion {
                    index_uid: index_uid.to_owned(),
                    node_id: node_id.to_owned(),
                    version,
                    updated_at: now,
                })
                .await
                .unwrap();
        }
        let single = |uid: &str| AliasTarget::Single {
            uid: uid.to_owned(),
        };
        store
            .create_alias("products", single("p1"), now)
            .await
            .unwrap();
        store
            .flip_alias("products", 1, single("p2"), 10, now)
            .await
            .unwrap();
        store
            .create_alias(
                "all",
                AliasTarget::Multi {
                    uids: vec!["a".to_owned(), "b".to_owned()],
                },
                now,
            )
            .await
            .unwrap();
        store.put_session(session("s1", later)).await.unwrap();
        store
            .put_session(Session {
                last_write_task_uid: None,
                last_write_at: None,
                pinned_group: None,
                ..session("s2", later)
            })
            .await
            .unwrap();
        store
            .insert_idempotency_if_absent(IdempotencyRecord {
                key: "k".to_owned(),
                body_sha256: [1; 32],
                task_uid: uids[1],
                expires_at: later,
            })
            .await
            .unwrap();
        for number in 0..3 {
            store
                .enqueue_job(NewJob {
                    kind: JobKind::Reindex,
                    params: json!({"number": number}),
                    max_attempts: 3,
                })
                .await
                .unwrap();
        }
        let claimed = store.claim_next_job("pod-a", HOUR).await.unwrap().unwrap();
        store
            .heartbeat_job(&claimed.claim().unwrap(), HOUR, Some(json!({"cursor": 77})))
            .await
            .unwrap();
        store
            .acquire_lease("held", "pod-a", HOUR)
            .await
            .unwrap()
            .unwrap();
        let released = store
            .acquire_lease("released", "pod-a", HOUR)
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .release_lease("released", "pod-a", released.token)
                .await
                .unwrap()
        );
        store
            .acquire_lease("released", "pod-b", HOUR)
            .await
            .unwrap()
            .unwrap();
        store
            .release_lease("released", "pod-b", released.token + 1)
            .await
            .unwrap();
        store
            .acquire_lease("expired", "pod-a", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        store
            .upsert_canary(Canary {
                id: "c".to_owned(),
                name: "canary".to_owned(),
                index_uid: "movies".to_owned(),
                interval_s: 60,
                query: json!({"q": "x"}),
                assertions: json!([{"minHits": 1}]),
                enabled: true,
                created_at: now,
            })
            .await
            .unwrap();
        for (ran_at, status, failed) in [
            (1, CanaryRunStatus::Pass, None),
            (2, CanaryRunStatus::Fail, Some(json!(["minHits"]))),
        ] {
            store
                .record_canary_run(
                    CanaryRun {
                        canary_id: "c".to_owned(),
                        ran_at: Timestamp::from_millis(ran_at),
                        status,
                        latency_ms: u64::MAX,
                        failed_assertions: failed,
                    },
                    10,
                )
                .await
                .unwrap();
        }
        store
            .advance_cdc_cursor("kafka", "movies", None, 99, now)
            .await
            .unwrap();
        store
            .advance_cdc_cursor("kafka", "books", None, u64::MAX, now)
            .await
            .unwrap();
        store
            .push_cdc_overflow(
                "kafka",
                vec![b"e1".to_vec(), b"event-2".to_vec(), Vec::new()],
                1 << 20,
            )
            .await
            .unwrap();
        store
            .push_cdc_overflow("http", vec![b"x".to_vec()], 1 << 20)
            .await
            .unwrap();
        store
            .push_cdc_overflow("gone", vec![b"y".to_vec()], 1 << 20)
            .await
            .unwrap();
        store.pop_cdc_overflow("gone", 10).await.unwrap();
        for (hash, tenant_id, group_id) in [([9; 32], "acme", Some(1)), ([0; 32], "zeta", None)] {
            store
                .put_tenant(TenantMapping {
                    api_key_hash: hash,
                    tenant_id: tenant_id.to_owned(),
                    group_id,
                })
                .await
                .unwrap();
        }
        store
            .upsert_rollover_policy(RolloverPolicy {
                name: "logs".to_owned(),
                write_alias: "w".to_owned(),
                read_alias: "r".to_owned(),
                pattern: "logs-{YYYY}".to_owned(),
                triggers: json!({"max_docs": 10}),
                retention: json!({"keep_indexes": 3}),
                template: json!({}),
                enabled: false,
            })
            .await
            .unwrap();
        store
            .put_search_ui_config(SearchUiConfig {
                index_uid: "movies".to_owned(),
                config: json!({"title": "Movies"}),
                updated_at: now,
            })
            .await
            .unwrap();
        store
            .rotate_scoped_key("movies", 0, "key-1", now)
            .await
            .unwrap();
        store
            .rotate_scoped_key("movies", 1, "key-2", now)
            .await
            .unwrap();
        store
            .rotate_scoped_key("books", 0, "key-3", now)
            .await
            .unwrap();
        for pod_id in ["pod-a", "pod-b"] {
            store
                .record_scoped_key_observation(
                    ScopedKeyObservation {
                        pod_id: pod_id.to_owned(),
                        index_uid: "movies".to_owned(),
                        generation: 2,
                        observed_at: now,
                    },
                    HOUR,
                )
                .await
                .unwrap();
        }
        store
            .create_admin_session(admin_session("a1", later))
            .await
            .unwrap();
        store
            .create_admin_session(admin_session("a2", later))
            .await
            .unwrap();
        assert!(store.revoke_admin_session("a2").await.unwrap());
        store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.1", HOUR)
            .await
            .unwrap();
        store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.1", HOUR)
            .await
            .unwrap();
        store
            .hit_rate_limit(RateLimitBucket::SearchUi, "10.0.0.1", HOUR)
            .await
            .unwrap();
        let policy = BackoffPolicy {
            threshold: 1,
            base: Duration::from_secs(10),
            cap: HOUR,
        };
        store
            .record_login_failure("10.0.0.1", policy)
            .await
            .unwrap();
        store
            .record_login_failure(
                "10.0.0.2",
                BackoffPolicy {
                    threshold: 5,
                    ..policy
                },
            )
            .await
            .unwrap();
        seed_indexes(store, now).await;
        // Past the 1 ms lease.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    /// Index records: one without a primary key, one updated, a tombstone, a version past
    /// `i64::MAX` (imported: no write reaches it otherwise).
    async fn seed_indexes(store: &SqliteStore, now: Timestamp) {
        let record = |uid: &str, primary_key: Option<&str>| IndexRecord {
            uid: uid.to_owned(),
            primary_key: primary_key.map(str::to_owned),
            physical_uid: uid.to_owned(),
            shards: 3,
            settings_version: 0,
            state: IndexState::Active,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        store.put_index(record("movies", None), 0).await.unwrap();
        store
            .put_index(
                IndexRecord {
                    settings_version: 7,
                    ..record("movies", Some("id"))
                },
                1,
            )
            .await
            .unwrap();
        let deleted = IndexRecord {
            state: IndexState::Deleted,
            ..record("books", None)
        };
        store.put_index(deleted, 0).await.unwrap();
        store
            .import_rows(&[CopyRow::Index(IndexRecord {
                version: u64::MAX - 1,
                settings_version: u64::MAX,
                shards: u32::MAX,
                ..record("huge", Some("id"))
            })])
            .await
            .unwrap();
    }

    /// Every row of `table` in pages of `limit`, and the number of pages read.
    async fn export_all(
        store: &SqliteStore,
        table: CopyTable,
        limit: usize,
    ) -> (Vec<CopyRow>, usize) {
        let mut rows = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .export_rows(table, cursor.as_deref(), limit)
                .await
                .unwrap();
            pages += 1;
            assert!(pages <= 1_000, "{table}: the cursor does not advance");
            assert!(page.rows.len() <= limit, "{table}: page over its limit");
            assert!(
                page.rows.iter().all(|row| row.table() == table),
                "{table}: a foreign row"
            );
            rows.extend(page.rows);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return (rows, pages),
            }
        }
    }

    async fn dump(store: &SqliteStore, limit: usize) -> Dump {
        let mut dump = Dump::new();
        for table in CopyTable::ALL {
            dump.insert(*table, export_all(store, *table, limit).await.0);
        }
        dump
    }

    /// Copies every table page by page, then the sequence, as `miroir-migrate copy` does.
    async fn copy(source: &SqliteStore, target: &SqliteStore, limit: usize) {
        for table in CopyTable::ALL {
            let mut cursor: Option<String> = None;
            loop {
                let page = source
                    .export_rows(*table, cursor.as_deref(), limit)
                    .await
                    .unwrap();
                target.import_rows(&page.rows).await.unwrap();
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        target
            .raise_task_sequence(source.task_sequence().await.unwrap())
            .await
            .unwrap();
        target
            .raise_job_claim_sequence(source.job_claim_sequence().await.unwrap())
            .await
            .unwrap();
    }

    /// The number of rows of every table of the schema except SQLite's and the one-row counters
    /// `task_count` and `job_claim_sequence`.
    async fn raw_counts(store: &SqliteStore) -> BTreeMap<String, i64> {
        store
            .read(|connection| {
                let tables = query_all(
                    &mut connection.prepare(
                        "SELECT name FROM sqlite_master WHERE type = 'table' \
                         AND name NOT IN ('sqlite_sequence', 'task_count', 'job_claim_sequence')",
                    )?,
                    [],
                    |row| Columns::new("sqlite_master", row).string(0),
                )?;
                assert_eq!(
                    tables.len(),
                    21,
                    "a table was added: clear_all_rows must know it"
                );
                let mut counts = BTreeMap::new();
                for table in tables {
                    let count: i64 = connection.query_row(
                        &format!("SELECT COUNT(*) FROM {table}"),
                        [],
                        |row| row.get(0),
                    )?;
                    counts.insert(table, count);
                }
                Ok(counts)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_table_round_trips_into_a_second_store() {
        let source = testing::memory().await;
        seed(&source).await;
        let exported = dump(&source, 1000).await;
        for (table, rows) in &exported {
            assert!(!rows.is_empty(), "the seed wrote no row of {table}");
        }
        let leases: Vec<_> = exported[&CopyTable::Leases]
            .iter()
            .map(|row| match row {
                CopyRow::Lease(record) => (
                    record.scope.as_str(),
                    record.token,
                    record.held.as_ref().map(|held| held.holder.as_str()),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            leases,
            [
                ("expired", 1, None),
                ("held", 1, Some("pod-a")),
                ("released", 2, None)
            ]
        );
        assert_eq!(
            exported[&CopyTable::CdcOverflow],
            [
                CopyRow::CdcOverflow(CdcOverflowBuffer {
                    sink_name: "http".to_owned(),
                    events: vec![b"x".to_vec()]
                }),
                CopyRow::CdcOverflow(CdcOverflowBuffer {
                    sink_name: "kafka".to_owned(),
                    events: vec![b"e1".to_vec(), b"event-2".to_vec(), Vec::new()]
                }),
            ],
            "one non-empty buffer per sink, events oldest first"
        );

        let dir = tempfile::tempdir().unwrap();
        let target = testing::file(&dir.path().join("target.db")).await;
        copy(&source, &target, 2).await;
        assert_eq!(dump(&target, 1000).await, exported);
        assert_eq!(
            target.task_sequence().await.unwrap(),
            source.task_sequence().await.unwrap()
        );
        assert_eq!(
            target.job_claim_sequence().await.unwrap(),
            source.job_claim_sequence().await.unwrap()
        );
        assert_eq!(target.count_tasks().await.unwrap(), 4);
        for sink in ["kafka", "http", "gone"] {
            assert_eq!(
                target.cdc_overflow_stats(sink).await.unwrap(),
                source.cdc_overflow_stats(sink).await.unwrap(),
                "{sink}"
            );
        }
        assert_eq!(raw_counts(&target).await, raw_counts(&source).await);
        assert_eq!(
            target.get_lease("held").await.unwrap(),
            source.get_lease("held").await.unwrap()
        );
        assert_eq!(
            target.get_alias("products").await.unwrap(),
            source.get_alias("products").await.unwrap()
        );

        // Importing the same rows again replaces them: nothing is counted twice.
        copy(&source, &target, 1000).await;
        assert_eq!(dump(&target, 1000).await, exported);
        assert_eq!(target.count_tasks().await.unwrap(), 4);
        assert_eq!(raw_counts(&target).await, raw_counts(&source).await);
        assert_eq!(target.cdc_overflow_stats("kafka").await.unwrap().events, 3);
    }

    #[tokio::test]
    async fn pages_of_one_row_cover_every_row_exactly_once() {
        let store = testing::memory().await;
        seed(&store).await;
        for table in CopyTable::ALL {
            let (one_by_one, pages) = export_all(&store, *table, 1).await;
            let (all, one_page) = export_all(&store, *table, 1000).await;
            assert_eq!(one_by_one, all, "{table}");
            assert_eq!(one_page, 1, "{table}");
            assert_eq!(
                pages,
                all.len(),
                "{table}: no empty page after the last row"
            );
            let keys: std::collections::BTreeSet<String> = all.iter().map(CopyRow::key).collect();
            assert_eq!(keys.len(), all.len(), "{table}: a row twice");
            let (by_two, _) = export_all(&store, *table, 2).await;
            assert_eq!(by_two, all, "{table}");
        }
        let empty = testing::memory().await;
        for table in CopyTable::ALL {
            assert_eq!(
                empty.export_rows(*table, None, 10).await.unwrap(),
                CopyPage::default(),
                "{table}"
            );
        }
    }

    #[tokio::test]
    async fn tenants_page_in_byte_order_with_hex_cursors() {
        let store = testing::memory().await;
        for (byte, tenant) in [(0xff_u8, "high"), (0x00, "low"), (0x80, "middle")] {
            store
                .put_tenant(TenantMapping {
                    api_key_hash: [byte; 32],
                    tenant_id: tenant.to_owned(),
                    group_id: None,
                })
                .await
                .unwrap();
        }
        let first = store
            .export_rows(CopyTable::Tenants, None, 1)
            .await
            .unwrap();
        assert_eq!(first.rows[0].key(), hex::encode([0u8; 32]));
        assert_eq!(
            first.next,
            Some(format!("[\"{}\"]", hex::encode([0u8; 32])))
        );
        let (rows, _) = export_all(&store, CopyTable::Tenants, 1).await;
        let tenants: Vec<String> = rows
            .iter()
            .map(|row| match row {
                CopyRow::Tenant(mapping) => mapping.tenant_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tenants, ["low", "middle", "high"]);
    }

    #[tokio::test]
    async fn expired_rows_are_neither_exported_nor_imported() {
        let store = testing::memory().await;
        let now = Timestamp::now();
        let past = Timestamp::from_millis(now.as_millis() - 1_000);
        let later = now.plus(HOUR);
        // Expired rows written as the store keeps them until the pruner runs.
        store
            .write(move |connection| {
                let past = past.as_millis();
                connection.execute_batch(&format!(
                    "INSERT INTO sessions VALUES ('old', NULL, NULL, NULL, 0, {past});
                     INSERT INTO idempotency_cache VALUES ('old', zeroblob(32), 1, {past});
                     INSERT INTO search_ui_scoped_key_observations VALUES ('old', 'i', 1, 0, {past});
                     INSERT INTO admin_sessions VALUES ('old', 'c', zeroblob(32), 0, {past}, 0, NULL, NULL);
                     INSERT INTO rate_limits VALUES ('searchui', 'old', 1, {past});
                     INSERT INTO login_backoff VALUES ('old', 1, NULL, {past});
                     INSERT INTO leader_lease VALUES ('old', 'pod', 7, {past});"
                ))?;
                Ok(())
            })
            .await
            .unwrap();
        store.put_session(session("live", later)).await.unwrap();
        store
            .create_admin_session(admin_session("live", later))
            .await
            .unwrap();
        let exported = dump(&store, 10).await;
        let keys = |table| {
            exported[&table]
                .iter()
                .map(CopyRow::key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(CopyTable::Sessions), ["live"]);
        assert_eq!(keys(CopyTable::AdminSessions), ["live"]);
        for table in [
            CopyTable::Idempotency,
            CopyTable::ScopedKeyObservations,
            CopyTable::RateLimits,
            CopyTable::LoginBackoffs,
        ] {
            assert!(exported[&table].is_empty(), "{table}");
        }
        assert_eq!(
            exported[&CopyTable::Leases],
            [CopyRow::Lease(LeaseRecord {
                scope: "old".to_owned(),
                token: 7,
                held: None
            })],
            "an expired lease keeps its token but is not held"
        );

        let stale = vec![
            CopyRow::Session(session("stale", past)),
            CopyRow::Idempotency(IdempotencyRecord {
                key: "stale".to_owned(),
                body_sha256: [0; 32],
                task_uid: 1,
                expires_at: now,
            }),
            CopyRow::ScopedKeyObservation(ObservationRecord {
                observation: ScopedKeyObservation {
                    pod_id: "stale".to_owned(),
                    index_uid: "i".to_owned(),
                    generation: 1,
                    observed_at: past,
                },
                expires_at: past,
            }),
            CopyRow::AdminSession(admin_session("stale", past)),
            CopyRow::RateLimit(RateLimitCounter {
                bucket: RateLimitBucket::SearchUi,
                source: "stale".to_owned(),
                count: 3,
                expires_at: past,
            }),
            CopyRow::LoginBackoff(LoginBackoffRecord {
                source: "stale".to_owned(),
                failed_count: 3,
                next_allowed_at: Some(past),
                expires_at: past,
            }),
            CopyRow::Session(session("fresh", later)),
        ];
        let target = testing::memory().await;
        target.import_rows(&stale).await.unwrap();
        let counts = raw_counts(&target).await;
        let nonempty: Vec<_> = counts.iter().filter(|(_, count)| **count > 0).collect();
        assert_eq!(nonempty, [(&"sessions".to_owned(), &1)]);
        assert!(target.get_session("fresh").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_task_sequence_only_goes_up_and_new_uids_follow_it() {
        let store = testing::memory().await;
        assert_eq!(store.task_sequence().await.unwrap(), 0);
        store.raise_task_sequence(10).await.unwrap();
        assert_eq!(store.task_sequence().await.unwrap(), 10);
        store.raise_task_sequence(5).await.unwrap();
        assert_eq!(store.task_sequence().await.unwrap(), 10, "never lowered");
        let created = store.create_task(new_task(Some("movies"))).await.unwrap();
        assert_eq!(created.uid, 11);
        assert_eq!(store.task_sequence().await.unwrap(), 11);

        // An imported uid raises the sequence by itself; replacing it counts it once.
        let imported = Task {
            uid: 100,
            ..created.clone()
        };
        store
            .import_rows(&[CopyRow::Task(imported.clone())])
            .await
            .unwrap();
        let replaced = Task {
            status: TaskStatus::Canceled,
            canceled_by: Some(11),
            ..imported
        };
        store
            .import_rows(&[CopyRow::Task(replaced.clone())])
            .await
            .unwrap();
        assert_eq!(store.count_tasks().await.unwrap(), 2);
        assert_eq!(store.get_task(100).await.unwrap(), Some(replaced));
        assert_eq!(store.task_sequence().await.unwrap(), 100);
        store.raise_task_sequence(50).await.unwrap();
        assert_eq!(store.create_task(new_task(None)).await.unwrap().uid, 101);

        store.raise_task_sequence(u64::MAX).await.unwrap();
        assert_eq!(
            store.task_sequence().await.unwrap(),
            i64::MAX as u64,
            "saturates"
        );
    }

    #[tokio::test]
    async fn clear_all_rows_empties_every_table_but_keeps_the_sequence_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = testing::file(&dir.path().join("clear.db")).await;
        seed(&store).await;
        let sequence = store.task_sequence().await.unwrap();
        let claim_sequence = store.job_claim_sequence().await.unwrap();
        assert!(claim_sequence > 0, "the seed claims a job");
        let version = store.schema_version().await.unwrap();
        assert!(
            raw_counts(&store).await.values().all(|count| *count > 0),
            "the seed fills every table"
        );
        store.clear_all_rows().await.unwrap();
        assert!(raw_counts(&store).await.values().all(|count| *count == 0));
        assert_eq!(store.count_tasks().await.unwrap(), 0);
        assert_eq!(store.task_sequence().await.unwrap(), sequence);
        assert_eq!(store.job_claim_sequence().await.unwrap(), claim_sequence);
        assert_eq!(store.schema_version().await.unwrap(), version);
        let application_id: i32 = store
            .read(|connection| {
                Ok(connection.query_row("PRAGMA application_id", [], |row| row.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(application_id, SQLITE_APPLICATION_ID);
        for (table, rows) in dump(&store, 10).await {
            assert!(rows.is_empty(), "{table}");
        }
        assert_eq!(
            store.cdc_overflow_stats("kafka").await.unwrap(),
            CdcOverflowStats::default()
        );
        assert_eq!(
            store.create_task(new_task(None)).await.unwrap().uid,
            sequence + 1
        );
        assert_eq!(store.count_tasks().await.unwrap(), 1);
        let lease = store
            .acquire_lease("held", "pod-a", HOUR)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lease.token, 1, "the fencing tokens went with the rows");
    }

    #[tokio::test]
    async fn an_imported_overflow_buffer_replaces_the_sinks_buffer_and_totals() {
        let store = testing::memory().await;
        store
            .push_cdc_overflow("s", vec![b"old".to_vec()], 100)
            .await
            .unwrap();
        let buffer = |events: Vec<&[u8]>| {
            CopyRow::CdcOverflow(CdcOverflowBuffer {
                sink_name: "s".to_owned(),
                events: events.into_iter().map(<[u8]>::to_vec).collect(),
            })
        };
        store
            .import_rows(&[buffer(vec![b"p", b"qq"])])
            .await
            .unwrap();
        assert_eq!(
            store.cdc_overflow_stats("s").await.unwrap(),
            CdcOverflowStats {
                events: 2,
                bytes: 3
            }
        );
        // The totals gate pushes: 3 + 97 fits in 100, one byte more does not.
        assert!(
            !store
                .push_cdc_overflow("s", vec![vec![0; 98]], 100)
                .await
                .unwrap()
        );
        assert!(
            store
                .push_cdc_overflow("s", vec![vec![0; 97]], 100)
                .await
                .unwrap()
        );
        assert_eq!(
            store.pop_cdc_overflow("s", 10).await.unwrap(),
            vec![b"p".to_vec(), b"qq".to_vec(), vec![0; 97]]
        );
        store.import_rows(&[buffer(vec![b"r"])]).await.unwrap();
        store.import_rows(&[buffer(Vec::new())]).await.unwrap();
        assert_eq!(
            store.cdc_overflow_stats("s").await.unwrap(),
            CdcOverflowStats::default()
        );
        assert!(
            store
                .export_rows(CopyTable::CdcOverflow, None, 10)
                .await
                .unwrap()
                .rows
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_claim_token_sequence_only_goes_up_and_new_claims_follow_it() {
        let store = testing::memory().await;
        let new_job = || NewJob {
            kind: JobKind::Reindex,
            params: json!({}),
            max_attempts: 1,
        };
        assert_eq!(store.job_claim_sequence().await.unwrap(), 0);
        store.raise_job_claim_sequence(10).await.unwrap();
        store.raise_job_claim_sequence(4).await.unwrap();
        assert_eq!(
            store.job_claim_sequence().await.unwrap(),
            10,
            "never lowered"
        );
        let job = store.enqueue_job(new_job()).await.unwrap();
        let claimed = store.claim_next_job("pod-a", HOUR).await.unwrap().unwrap();
        assert_eq!(claimed.claim_token, Some(11));
        assert_eq!(store.job_claim_sequence().await.unwrap(), 11);

        // An imported claim raises the sequence to its token, in the import's transaction.
        store
            .import_rows(&[CopyRow::Job(JobRecord {
                seq: 7,
                job: Job {
                    claim_token: Some(500),
                    ..claimed.clone()
                },
            })])
            .await
            .unwrap();
        assert_eq!(store.job_claim_sequence().await.unwrap(), 500);
        let imported = store.get_job(&job.id).await.unwrap().unwrap();
        assert_eq!(imported.claim_token, Some(500));
        assert!(matches!(
            store.complete_job(&claimed.claim().unwrap(), None).await,
            Err(StoreError::Conflict(_))
        ));
        store
            .complete_job(&imported.claim().unwrap(), None)
            .await
            .unwrap();
        store.enqueue_job(new_job()).await.unwrap();
        let next = store.claim_next_job("pod-a", HOUR).await.unwrap().unwrap();
        assert_eq!(next.claim_token, Some(501));
    }

    #[tokio::test]
    async fn imported_jobs_keep_their_seq_and_replace_the_same_id() {
        let store = testing::memory().await;
        let job = store
            .enqueue_job(NewJob {
                kind: JobKind::DumpImport,
                params: json!({}),
                max_attempts: 1,
            })
            .await
            .unwrap();
        let record = |seq, state| {
            CopyRow::Job(JobRecord {
                seq,
                job: Job {
                    state,
                    ..job.clone()
                },
            })
        };
        store
            .import_rows(&[record(40, JobState::Queued)])
            .await
            .unwrap();
        store
            .import_rows(&[record(41, JobState::Failed)])
            .await
            .unwrap();
        assert_eq!(
            store
                .export_rows(CopyTable::Jobs, None, 10)
                .await
                .unwrap()
                .rows,
            [record(41, JobState::Failed)]
        );
        let later = store
            .enqueue_job(NewJob {
                kind: JobKind::Reindex,
                params: json!({}),
                max_attempts: 1,
            })
            .await
            .unwrap();
        let page = store.export_rows(CopyTable::Jobs, None, 10).await.unwrap();
        assert!(
            matches!(&page.rows[1], CopyRow::Job(JobRecord { seq: 42, job }) if job.id == later.id)
        );
    }

    #[tokio::test]
    async fn bad_cursors_and_limits_are_invalid_input() {
        let store = testing::memory().await;
        for (table, cursor) in [
            (CopyTable::Tasks, "7"),
            (CopyTable::Tasks, "[\"7\"]"),
            (CopyTable::NodeSettings, "[\"a\"]"),
            (CopyTable::Tenants, "[\"zz\"]"),
            (CopyTable::CdcOverflow, "[1]"),
            (CopyTable::Sessions, "not json"),
        ] {
            assert!(
                matches!(
                    store.export_rows(table, Some(cursor), 10).await,
                    Err(StoreError::InvalidInput(_))
                ),
                "{table} {cursor}"
            );
        }
        assert!(matches!(
            store.export_rows(CopyTable::Tasks, None, 0).await,
            Err(StoreError::InvalidInput(_))
        ));
    }

    #[tokio::test]
    async fn a_corrupt_row_is_a_typed_error() {
        let store = testing::memory().await;
        store
            .write(|connection| {
                connection.execute_batch(
                    "INSERT INTO rate_limits VALUES ('bogus', 'ip', 1, 9223372036854775807)",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let error = store
            .export_rows(CopyTable::RateLimits, None, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Corrupt {
                    table: "rate_limits",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// Every page is a range seek on the primary key: no sort, and pages after the first search.
    #[tokio::test]
    async fn export_pages_walk_the_primary_key_without_sorting() {
        let store = testing::memory().await;
        store
            .read(|connection| {
                let mut statements = Vec::new();
                for table in CopyTable::ALL {
                    if let Some(spec) = spec(*table) {
                        statements.push((export_sql(&spec, false), false));
                        statements.push((export_sql(&spec, true), true));
                    }
                }
                statements.push((
                    "SELECT DISTINCT sink_name FROM cdc_overflow WHERE sink_name > ?1 ORDER BY sink_name LIMIT ?2".to_owned(),
                    true,
                ));
                for (sql, after_cursor) in statements {
                    let mut plan = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let values = vec![Value::Null; plan.parameter_count()];
                    let steps = query_all(&mut plan, rusqlite::params_from_iter(values), |row| {
                        Columns::new("plan", row).string(3)
                    })?;
                    assert!(!steps.iter().any(|step| step.contains("TEMP B-TREE")), "{sql}: {steps:?}");
                    if after_cursor {
                        assert!(steps.iter().any(|step| step.starts_with("SEARCH")), "{sql}: {steps:?}");
                    }
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// `cargo test -p miroir-store --lib sqlite::copy -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "timing, run by hand"]
    async fn import_of_100k_tasks_takes_seconds() {
        const TASKS: u64 = 100_000;
        let dir = tempfile::tempdir().unwrap();
        let source = testing::memory().await;
        let rows: Vec<CopyRow> = (1..=TASKS)
            .map(|uid| {
                let mut task = new_task(Some("movies")).into_task(uid);
                task.status = TaskStatus::Succeeded;
                task.finished_at = Some(Timestamp::from_millis(2_000));
                CopyRow::Task(task)
            })
            .collect();
        let started = Instant::now();
        source.import_rows(&rows).await.unwrap();
        eprintln!(
            "one call of {TASKS} tasks into memory: {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        let (exported, pages) = export_all(&source, CopyTable::Tasks, 1000).await;
        eprintln!(
            "export of {TASKS} tasks in {pages} pages: {:?}",
            started.elapsed()
        );
        assert_eq!(exported, rows);

        let target = testing::file(&dir.path().join("target.db")).await;
        let started = Instant::now();
        copy(&source, &target, 1000).await;
        eprintln!(
            "copy of {TASKS} tasks into a file in pages of 1000: {:?}",
            started.elapsed()
        );
        assert_eq!(target.count_tasks().await.unwrap(), TASKS);
        assert_eq!(target.task_sequence().await.unwrap(), TASKS);

        let started = Instant::now();
        target.clear_all_rows().await.unwrap();
        eprintln!("clear_all_rows of {TASKS} tasks: {:?}", started.elapsed());
        assert_eq!(target.count_tasks().await.unwrap(), 0);
    }
}
