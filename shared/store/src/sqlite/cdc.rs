//! Table 10, `cdc_cursors`, and the overflow buffer `cdc_overflow` with its per-sink running
//! totals `cdc_overflow_totals` (updated in the same transaction as every push and pop, so the
//! size check and the stats are O(1)).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec, decode_cursor_key};
use super::rows::{Columns, query_all, query_optional, saturating_i64, u64_to_sql};
use crate::cdc::{CdcCursor, CdcOverflowStats, CdcStore};
use crate::copy::{CdcOverflowBuffer, CopyPage, CopyRow, CopyTable};
use crate::error::{StoreError, StoreResult};
use crate::time::Timestamp;

macro_rules! cursor_columns {
    () => {
        "sink_name, index_uid, last_event_seq, updated_at"
    };
}

fn decode_cursor(row: &Row<'_>) -> StoreResult<CdcCursor> {
    let columns = Columns::new("cdc_cursors", row);
    Ok(CdcCursor {
        sink_name: columns.string(0)?,
        index_uid: columns.string(1)?,
        last_event_seq: columns.u64(2)?,
        updated_at: columns.timestamp(3)?,
    })
}

fn get_cursor(
    connection: &Connection,
    sink_name: &str,
    index_uid: &str,
) -> StoreResult<Option<CdcCursor>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        cursor_columns!(),
        " FROM cdc_cursors WHERE sink_name = ?1 AND index_uid = ?2"
    ))?;
    query_optional(&mut statement, [sink_name, index_uid], decode_cursor)
}

fn overflow_stats(connection: &Connection, sink_name: &str) -> StoreResult<CdcOverflowStats> {
    let mut statement = connection
        .prepare_cached("SELECT events, bytes FROM cdc_overflow_totals WHERE sink_name = ?1")?;
    let stats = query_optional(&mut statement, [sink_name], |row| {
        let columns = Columns::new("cdc_overflow_totals", row);
        Ok(CdcOverflowStats {
            events: columns.u64(0)?,
            bytes: columns.u64(1)?,
        })
    })?;
    Ok(stats.unwrap_or_default())
}

/// Stores the totals of a sink, dropping the row when the buffer is empty.
fn set_overflow_stats(
    connection: &Connection,
    sink_name: &str,
    stats: CdcOverflowStats,
) -> StoreResult<()> {
    if stats.events == 0 {
        connection
            .prepare_cached("DELETE FROM cdc_overflow_totals WHERE sink_name = ?1")?
            .execute([sink_name])?;
    } else {
        connection
            .prepare_cached("INSERT OR REPLACE INTO cdc_overflow_totals (sink_name, events, bytes) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![
                sink_name,
                u64_to_sql(stats.events),
                u64_to_sql(stats.bytes),
            ])?;
    }
    Ok(())
}

#[async_trait]
impl CdcStore for SqliteStore {
    async fn get_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
    ) -> StoreResult<Option<CdcCursor>> {
        let (sink_name, index_uid) = (sink_name.to_owned(), index_uid.to_owned());
        self.read(move |connection| get_cursor(connection, &sink_name, &index_uid))
            .await
    }

    /// Read, compare and write in one `BEGIN IMMEDIATE` transaction.
    async fn advance_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
        expected: Option<u64>,
        new_seq: u64,
        now: Timestamp,
    ) -> StoreResult<CdcCursor> {
        let (sink_name, index_uid) = (sink_name.to_owned(), index_uid.to_owned());
        let sql_seq = u64_to_sql(new_seq);
        self.write_transaction(move |transaction| {
            let current = get_cursor(transaction, &sink_name, &index_uid)?.map(|cursor| cursor.last_event_seq);
            if current != expected {
                let describe = |seq: Option<u64>| seq.map_or_else(|| "absent".to_owned(), |seq| seq.to_string());
                return Err(StoreError::conflict(format!(
                    "cdc cursor of sink `{sink_name}` on `{index_uid}` is {}, expected {}",
                    describe(current),
                    describe(expected)
                )));
            }
            if let Some(current) = current.filter(|&current| new_seq < current) {
                return Err(StoreError::conflict(format!(
                    "cdc cursor of sink `{sink_name}` on `{index_uid}` cannot go back from {current} to {new_seq}"
                )));
            }
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO cdc_cursors (sink_name, index_uid, last_event_seq, updated_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(rusqlite::params![sink_name, index_uid, sql_seq, now.as_millis()])?;
            Ok(CdcCursor {
                sink_name,
                index_uid,
                last_event_seq: new_seq,
                updated_at: now,
            })
        })
        .await
    }

    async fn list_cdc_cursors(&self, sink_name: &str) -> StoreResult<Vec<CdcCursor>> {
        let sink_name = sink_name.to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                cursor_columns!(),
                " FROM cdc_cursors WHERE sink_name = ?1 ORDER BY index_uid"
            ))?;
            query_all(&mut statement, [sink_name], decode_cursor)
        })
        .await
    }

    async fn list_all_cdc_cursors(&self) -> StoreResult<Vec<CdcCursor>> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(concat!(
                "SELECT ",
                cursor_columns!(),
                " FROM cdc_cursors ORDER BY sink_name, index_uid"
            ))?;
            query_all(&mut statement, [], decode_cursor)
        })
        .await
    }

    async fn push_cdc_overflow(
        &self,
        sink_name: &str,
        events: Vec<Vec<u8>>,
        max_bytes: u64,
    ) -> StoreResult<bool> {
        let sink_name = sink_name.to_owned();
        self.write_transaction(move |transaction| {
            let stats = overflow_stats(transaction, &sink_name)?;
            let added_bytes: u64 = events.iter().map(|event| event.len() as u64).sum();
            let bytes = stats.bytes.saturating_add(added_bytes);
            if bytes > max_bytes {
                return Ok(false);
            }
            let mut insert = transaction
                .prepare_cached("INSERT INTO cdc_overflow (sink_name, payload) VALUES (?1, ?2)")?;
            for event in &events {
                insert.execute(rusqlite::params![sink_name, event])?;
            }
            set_overflow_stats(
                transaction,
                &sink_name,
                CdcOverflowStats {
                    events: stats.events + events.len() as u64,
                    bytes,
                },
            )?;
            Ok(true)
        })
        .await
    }

    async fn pop_cdc_overflow(&self, sink_name: &str, max: usize) -> StoreResult<Vec<Vec<u8>>> {
        let sink_name = sink_name.to_owned();
        self.write_transaction(move |transaction| {
            let mut select = transaction.prepare_cached(
                "SELECT seq, payload FROM cdc_overflow WHERE sink_name = ?1 ORDER BY seq LIMIT ?2",
            )?;
            let popped = query_all(
                &mut select,
                rusqlite::params![sink_name, saturating_i64(max)],
                |row| {
                    let columns = Columns::new("cdc_overflow", row);
                    Ok((columns.i64(0)?, columns.blob(1)?.to_vec()))
                },
            )?;
            let Some(&(last_seq, _)) = popped.last() else {
                return Ok(Vec::new());
            };
            transaction
                .prepare_cached("DELETE FROM cdc_overflow WHERE sink_name = ?1 AND seq <= ?2")?
                .execute(rusqlite::params![sink_name, last_seq])?;
            let stats = overflow_stats(transaction, &sink_name)?;
            let popped_bytes: u64 = popped.iter().map(|(_, payload)| payload.len() as u64).sum();
            set_overflow_stats(
                transaction,
                &sink_name,
                CdcOverflowStats {
                    events: stats.events.saturating_sub(popped.len() as u64),
                    bytes: stats.bytes.saturating_sub(popped_bytes),
                },
            )?;
            Ok(popped.into_iter().map(|(_, payload)| payload).collect())
        })
        .await
    }

    async fn cdc_overflow_stats(&self, sink_name: &str) -> StoreResult<CdcOverflowStats> {
        let sink_name = sink_name.to_owned();
        self.read(move |connection| overflow_stats(connection, &sink_name))
            .await
    }
}

/// The key of `cdc_overflow` exports: one buffer per sink.
const OVERFLOW_COPY_KEY: &[(&str, KeyKind)] = &[("sink_name", KeyKind::Text)];

/// One page of CDC overflow buffers: whole buffers of the sinks after the cursor, by sink name,
/// in one read snapshot. A sink with rows has a non-empty buffer by construction.
pub(super) fn export_overflow(
    transaction: &Transaction<'_>,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<CopyPage> {
    let after = cursor
        .map(|cursor| decode_cursor_key(CopyTable::CdcOverflow, OVERFLOW_COPY_KEY, cursor))
        .transpose()?;
    let fetched = saturating_i64(limit).saturating_add(1);
    let decode_sink = |row: &Row<'_>| Columns::new("cdc_overflow", row).string(0);
    let mut sinks = match after {
        None => {
            let mut statement = transaction.prepare_cached(
                "SELECT DISTINCT sink_name FROM cdc_overflow ORDER BY sink_name LIMIT ?1",
            )?;
            query_all(&mut statement, [Value::Integer(fetched)], decode_sink)?
        }
        Some(after) => {
            let mut statement = transaction.prepare_cached(
                "SELECT DISTINCT sink_name FROM cdc_overflow WHERE sink_name > ?1 \
                 ORDER BY sink_name LIMIT ?2",
            )?;
            let after = after.into_iter().next().unwrap_or(Value::Null);
            query_all(
                &mut statement,
                rusqlite::params![after, fetched],
                decode_sink,
            )?
        }
    };
    let more = sinks.len() > limit;
    sinks.truncate(limit);
    let next = if more {
        sinks
            .last()
            .map(|sink| serde_json::Value::from(vec![sink.as_str()]).to_string())
    } else {
        None
    };
    let mut events = transaction
        .prepare_cached("SELECT payload FROM cdc_overflow WHERE sink_name = ?1 ORDER BY seq")?;
    let mut rows = Vec::with_capacity(sinks.len());
    for sink_name in sinks {
        let payloads = query_all(&mut events, [&sink_name], |row| {
            Ok(Columns::new("cdc_overflow", row).blob(0)?.to_vec())
        })?;
        rows.push(CopyRow::CdcOverflow(CdcOverflowBuffer {
            sink_name,
            events: payloads,
        }));
    }
    Ok(CopyPage { rows, next })
}

/// The `miroir-migrate copy` export of `cdc_cursors`, by sink then index.
pub(super) fn cursor_copy_spec() -> TableSpec {
    TableSpec {
        table: "cdc_cursors",
        columns: cursor_columns!(),
        key: &[("sink_name", KeyKind::Text), ("index_uid", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::CdcCursor(decode_cursor(row)?)),
    }
}

/// Writes one copied CDC cursor, replacing the cursor of the same sink and index.
pub(super) fn import_cursor(transaction: &Transaction<'_>, cursor: &CdcCursor) -> StoreResult<()> {
    transaction
        .prepare_cached(concat!(
            "INSERT INTO cdc_cursors (",
            cursor_columns!(),
            ") VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sink_name, index_uid) DO UPDATE SET \
             last_event_seq = excluded.last_event_seq, updated_at = excluded.updated_at"
        ))?
        .execute(rusqlite::params![
            cursor.sink_name,
            cursor.index_uid,
            u64_to_sql(cursor.last_event_seq),
            cursor.updated_at.as_millis(),
        ])?;
    Ok(())
}

/// Replaces the whole overflow buffer of one sink by the copied one and sets its totals to match
/// (an empty buffer clears the sink).
pub(super) fn import_overflow(
    transaction: &Transaction<'_>,
    buffer: &CdcOverflowBuffer,
) -> StoreResult<()> {
    transaction
        .prepare_cached("DELETE FROM cdc_overflow WHERE sink_name = ?1")?
        .execute([&buffer.sink_name])?;
    let mut insert = transaction
        .prepare_cached("INSERT INTO cdc_overflow (sink_name, payload) VALUES (?1, ?2)")?;
    for event in &buffer.events {
        insert.execute(rusqlite::params![buffer.sink_name, event])?;
    }
    let stats = CdcOverflowStats {
        events: buffer.events.len() as u64,
        bytes: buffer.events.iter().map(|event| event.len() as u64).sum(),
    };
    set_overflow_stats(transaction, &buffer.sink_name, stats)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::testing;

    #[tokio::test]
    async fn overflow_totals_follow_pushes_and_pops() {
        let store = testing::memory().await;
        let stats = |events, bytes| CdcOverflowStats { events, bytes };
        assert!(
            store
                .push_cdc_overflow("s", vec![b"ab".to_vec(), b"cde".to_vec()], 6)
                .await
                .unwrap()
        );
        assert!(
            !store
                .push_cdc_overflow("s", vec![b"f".to_vec(), b"gh".to_vec()], 6)
                .await
                .unwrap(),
            "all or nothing"
        );
        assert!(
            store
                .push_cdc_overflow("s", vec![b"f".to_vec()], 6)
                .await
                .unwrap()
        );
        assert!(
            store
                .push_cdc_overflow("other", vec![b"zz".to_vec()], 6)
                .await
                .unwrap()
        );
        assert_eq!(store.cdc_overflow_stats("s").await.unwrap(), stats(3, 6));
        assert_eq!(
            store.pop_cdc_overflow("s", 2).await.unwrap(),
            vec![b"ab".to_vec(), b"cde".to_vec()]
        );
        assert_eq!(store.cdc_overflow_stats("s").await.unwrap(), stats(1, 1));
        assert_eq!(
            store.pop_cdc_overflow("s", 10).await.unwrap(),
            vec![b"f".to_vec()]
        );
        assert_eq!(
            store.pop_cdc_overflow("s", 10).await.unwrap(),
            Vec::<Vec<u8>>::new()
        );
        assert_eq!(store.cdc_overflow_stats("s").await.unwrap(), stats(0, 0));
        assert_eq!(
            store.cdc_overflow_stats("other").await.unwrap(),
            stats(1, 2)
        );
    }

    #[tokio::test]
    async fn cursors_are_compare_and_set_over_the_whole_u64_range() {
        let store = testing::memory().await;
        let now = Timestamp::from_millis(1);
        let advance =
            |expected, new_seq| store.advance_cdc_cursor("s", "i", expected, new_seq, now);
        assert!(matches!(
            advance(Some(0), 1).await,
            Err(StoreError::Conflict(_))
        ));
        advance(None, 5).await.unwrap();
        assert!(matches!(
            advance(None, 6).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            matches!(advance(Some(5), 4).await, Err(StoreError::Conflict(_))),
            "never backwards"
        );
        assert_eq!(
            advance(Some(5), u64::MAX - 1).await.unwrap().last_event_seq,
            u64::MAX - 1
        );
        assert!(matches!(
            advance(Some(u64::MAX - 1), 7).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            advance(Some(u64::MAX - 1), u64::MAX)
                .await
                .unwrap()
                .last_event_seq,
            u64::MAX
        );
    }
}
