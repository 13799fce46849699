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
    SqliteStore, admin_sessions, aliases, api_keys, canaries, cdc, idempotency, indexes, jobs,
    leases, node_settings, rate_limits, rollover, search_ui, sessions, tasks, tenants,
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
        CopyTable::ApiKeys => api_keys::copy_spec(),
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
        CopyRow::ApiKey(key) => api_keys::import(transaction, key)?,
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
    DELETE FROM api_keys;
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
    //! What only this backend shows: the cursor format, the query plans, the SQL rows. What every
    //! backend does is in the conformance suite (`tests/conformance/copy.rs`, `sqlite_only.rs`).

    use super::*;
    use crate::sqlite::rows::query_all;
    use crate::sqlite::testing;
    use crate::tenants::{TenantMapping, TenantStore};

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
        let tenants = |page: CopyPage| -> Vec<String> {
            page.rows
                .iter()
                .map(|row| match row {
                    CopyRow::Tenant(mapping) => mapping.tenant_id.clone(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let first = store
            .export_rows(CopyTable::Tenants, None, 1)
            .await
            .unwrap();
        let cursor = format!("[\"{}\"]", hex::encode([0u8; 32]));
        assert_eq!(first.next.as_ref(), Some(&cursor));
        assert_eq!(tenants(first), ["low"]);
        let rest = store
            .export_rows(CopyTable::Tenants, Some(&cursor), 10)
            .await
            .unwrap();
        assert_eq!(tenants(rest), ["middle", "high"]);
    }

    #[tokio::test]
    async fn a_task_sequence_past_i64_max_saturates() {
        let store = testing::memory().await;
        store.raise_task_sequence(u64::MAX).await.unwrap();
        assert_eq!(store.task_sequence().await.unwrap(), i64::MAX as u64);
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
}
