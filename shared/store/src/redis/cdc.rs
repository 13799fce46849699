//! CDC: per sink, a hash of cursors (index uid → `"<seq> <updated_at>"`), and an overflow list
//! with its byte counter, all in the sink's own hash-tag slot; plus a set of the sinks that have
//! cursors, for listing every cursor.

use std::collections::BTreeMap;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec;
use crate::cdc::{CdcCursor, CdcOverflowStats, CdcStore};
use crate::error::StoreResult;
use crate::time::Timestamp;

const TABLE: &str = "cdc_cursors";
const OVERFLOW_TABLE: &str = "cdc_overflow";

lua_script!(ADVANCE = "cdc_advance.lua");
lua_script!(PUSH = "cdc_push.lua");
lua_script!(POP = "cdc_pop.lua");

pub(super) fn decode(sink_name: &str, index_uid: String, raw: &str) -> StoreResult<CdcCursor> {
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
