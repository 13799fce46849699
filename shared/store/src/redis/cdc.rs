//! CDC: per sink, a hash of cursors (index uid → `"<seq> <updated_at>"`), and an overflow list
//! with its byte counter, all in the sink's own hash-tag slot; plus a set of the sinks that have
//! cursors, for listing every cursor.

use std::collections::BTreeMap;

use async_trait::async_trait;
use redis::Value;

use futures::future::BoxFuture;

use super::RedisStore;
use super::codec;
use super::copy::{Scan, ScanRows, bad_cursor, cursor_encoding_error};
use super::keys::Keys;
use crate::cdc::{CdcCursor, CdcOverflowStats, CdcStore};
use crate::copy::{CdcOverflowBuffer, CopyPage, CopyRow, CopyTable};
use crate::error::StoreResult;
use crate::time::Timestamp;

const TABLE: &str = "cdc_cursors";
const OVERFLOW_TABLE: &str = "cdc_overflow";

/// CDC sinks whose cursors a copy's export reads in one round trip.
const SINK_BATCH: usize = 32;

/// Elements of one `RPUSH` when a copy's import writes an overflow buffer.
const PUSH_CHUNK: usize = 1000;

lua_script!(ADVANCE = "cdc_advance.lua");
lua_script!(PUSH = "cdc_push.lua");
lua_script!(POP = "cdc_pop.lua");

fn decode(sink_name: &str, index_uid: String, raw: &str) -> StoreResult<CdcCursor> {
    let (last_event_seq, updated_at) = codec::number_and_time(TABLE, raw)?;
    Ok(CdcCursor {
        sink_name: sink_name.to_owned(),
        index_uid,
        last_event_seq,
        updated_at,
    })
}

#[async_trait]
impl CdcStore for RedisStore {
    async fn get_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
    ) -> StoreResult<Option<CdcCursor>> {
        let key = self.keys().cdc_cursors(sink_name);
        let stored: Option<String> = self
            .query(redis::cmd("HGET").arg(key).arg(index_uid))
            .await?;
        stored
            .map(|raw| decode(sink_name, index_uid.to_owned(), &raw))
            .transpose()
    }

    async fn advance_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
        expected: Option<u64>,
        new_seq: u64,
        now: Timestamp,
    ) -> StoreResult<CdcCursor> {
        if expected.is_none() {
            // The sink's first cursor: register the sink for `list_all_cdc_cursors` before the
            // cursor can exist. The registry lives outside the sink's slot, so this is its own
            // (idempotent) command; a refused advance leaves at worst a sink without cursors.
            let _: i64 = self
                .query(
                    redis::cmd("SADD")
                        .arg(self.keys().cdc_sinks())
                        .arg(sink_name),
                )
                .await?;
        }
        let mut invocation = ADVANCE.key(self.keys().cdc_cursors(sink_name));
        invocation
            .arg(index_uid)
            .arg(expected.map(|seq| seq.to_string()).unwrap_or_default())
            .arg(new_seq)
            .arg(now.as_millis())
            .arg(sink_name);
        let stored: String = self.eval(&invocation).await?;
        decode(sink_name, index_uid.to_owned(), &stored)
    }

    async fn list_cdc_cursors(&self, sink_name: &str) -> StoreResult<Vec<CdcCursor>> {
        let key = self.keys().cdc_cursors(sink_name);
        let stored: BTreeMap<String, String> = self.query(redis::cmd("HGETALL").arg(key)).await?;
        stored
            .into_iter()
            .map(|(index_uid, raw)| decode(sink_name, index_uid, &raw))
            .collect()
    }

    async fn list_all_cdc_cursors(&self) -> StoreResult<Vec<CdcCursor>> {
        let mut sinks: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys().cdc_sinks()))
            .await?;
        if sinks.is_empty() {
            return Ok(Vec::new());
        }
        sinks.sort();
        let commands: Vec<redis::Cmd> = sinks
            .iter()
            .map(|sink_name| {
                redis::cmd("HGETALL")
                    .arg(self.keys().cdc_cursors(sink_name))
                    .clone()
            })
            .collect();
        let per_sink: Vec<BTreeMap<String, String>> = self.query_each(&commands).await?;
        let mut cursors = Vec::new();
        for (sink_name, stored) in sinks.iter().zip(per_sink) {
            for (index_uid, raw) in stored {
                cursors.push(decode(sink_name, index_uid, &raw)?);
            }
        }
        Ok(cursors)
    }

    async fn push_cdc_overflow(
        &self,
        sink_name: &str,
        events: Vec<Vec<u8>>,
        max_bytes: u64,
    ) -> StoreResult<bool> {
        if events.is_empty() {
            return Ok(true);
        }
        let keys = self.keys();
        let mut invocation = PUSH.key(keys.cdc_overflow(sink_name));
        invocation
            .key(keys.cdc_overflow_bytes(sink_name))
            .arg(max_bytes)
            .arg(events);
        let appended: i64 = self.eval(&invocation).await?;
        Ok(appended == 1)
    }

    async fn pop_cdc_overflow(&self, sink_name: &str, max: usize) -> StoreResult<Vec<Vec<u8>>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys();
        let mut invocation = POP.key(keys.cdc_overflow(sink_name));
        invocation
            .key(keys.cdc_overflow_bytes(sink_name))
            .arg(i64::try_from(max).unwrap_or(i64::MAX));
        let events: Value = self.eval(&invocation).await?;
        codec::array(OVERFLOW_TABLE, events)?
            .into_iter()
            .map(|event| codec::bytes(OVERFLOW_TABLE, event))
            .collect()
    }

    async fn cdc_overflow_stats(&self, sink_name: &str) -> StoreResult<CdcOverflowStats> {
        let keys = self.keys();
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("LLEN")
            .arg(keys.cdc_overflow(sink_name))
            .cmd("GET")
            .arg(keys.cdc_overflow_bytes(sink_name));
        let (events, bytes): (u64, Option<u64>) = self.query_pipeline(&pipeline).await?;
        Ok(CdcOverflowStats {
            events,
            bytes: bytes.unwrap_or(0),
        })
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of CDC cursors: the registered sinks, sorted,
    /// then each sink's cursors by index uid; the cursor is JSON `[sink, index uid]`.
    pub(super) async fn export_cdc_cursors(
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
                        let next = serde_json::to_string(&last).map_err(cursor_encoding_error)?;
                        return Ok(CopyPage {
                            rows,
                            next: Some(next),
                        });
                    }
                    rows.push(CopyRow::CdcCursor(decode(sink, index_uid.clone(), &raw)?));
                    last = Some((sink, index_uid));
                }
            }
        }
        Ok(CopyPage { rows, next: None })
    }

    /// Writes one copied CDC cursor, replacing the cursor of the same sink and index. The sink
    /// registry is in another slot: the sink is registered first, like by a first advance.
    pub(super) async fn import_cdc_cursor(&self, cursor: &CdcCursor) -> StoreResult<()> {
        let keys = self.keys();
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

    /// Replaces the whole overflow buffer of one sink by the copied one and sets its byte counter
    /// to match, in one `MULTI` (an empty buffer clears the sink).
    pub(super) async fn import_cdc_overflow(&self, buffer: &CdcOverflowBuffer) -> StoreResult<()> {
        let keys = self.keys();
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
}

/// The `miroir-migrate copy` export of CDC overflow buffers: `SCAN` of the overflow lists on
/// every master, one row per sink (its whole buffer).
pub(super) fn overflow_copy_scan(keys: &Keys) -> Scan {
    Scan::matching(
        keys.cdc_overflow_pattern(),
        ScanRows::PerKey(overflow_copy_rows),
    )
}

/// The overflow buffers of scanned list keys, skipping empty (deleted) ones.
fn overflow_copy_rows<'a>(
    store: &'a RedisStore,
    list_keys: &'a [String],
) -> BoxFuture<'a, StoreResult<Vec<CopyRow>>> {
    Box::pin(async move {
        let name = CopyTable::CdcOverflow.name();
        let sinks: Vec<(String, &String)> = list_keys
            .iter()
            .filter_map(|key| Some((store.keys().cdc_overflow_sink_of(key)?, key)))
            .collect();
        let commands: Vec<redis::Cmd> = sinks
            .iter()
            .map(|(_, key)| redis::cmd("LRANGE").arg(*key).arg(0).arg(-1).clone())
            .collect();
        let lists: Vec<Value> = store.query_each(&commands).await?;
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
    })
}
