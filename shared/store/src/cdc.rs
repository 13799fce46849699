//! Table 10, `cdc_cursors`, and the CDC overflow buffer (`miroir:cdc:overflow:<sink>`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// How far a sink has acknowledged an index's change stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdcCursor {
    /// Sink name.
    pub sink_name: String,
    /// Index uid.
    pub index_uid: String,
    /// Last acknowledged event sequence number.
    pub last_event_seq: u64,
    /// When it last moved.
    pub updated_at: Timestamp,
}

/// Size of a sink's overflow buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CdcOverflowStats {
    /// Buffered events.
    pub events: u64,
    /// Sum of their sizes in bytes.
    pub bytes: u64,
}

/// CDC cursors and overflow buffers.
#[async_trait]
pub trait CdcStore {
    /// The cursor of (sink, index).
    async fn get_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
    ) -> StoreResult<Option<CdcCursor>>;

    /// Compare-and-set: moves the cursor to `new_seq` if its current value is `expected`
    /// (`None` = no cursor yet). `Conflict` otherwise, or if `new_seq` would go backwards.
    async fn advance_cdc_cursor(
        &self,
        sink_name: &str,
        index_uid: &str,
        expected: Option<u64>,
        new_seq: u64,
        now: Timestamp,
    ) -> StoreResult<CdcCursor>;

    /// Every cursor of a sink, ordered by index uid.
    async fn list_cdc_cursors(&self, sink_name: &str) -> StoreResult<Vec<CdcCursor>>;

    /// Every cursor of every sink, ordered by sink name, then index uid.
    async fn list_all_cdc_cursors(&self) -> StoreResult<Vec<CdcCursor>>;

    /// Appends events to the sink's FIFO overflow buffer, all or nothing: if the buffer would
    /// exceed `max_bytes`, nothing is appended and `false` is returned.
    async fn push_cdc_overflow(
        &self,
        sink_name: &str,
        events: Vec<Vec<u8>>,
        max_bytes: u64,
    ) -> StoreResult<bool>;

    /// Removes and returns up to `max` of the oldest buffered events.
    async fn pop_cdc_overflow(&self, sink_name: &str, max: usize) -> StoreResult<Vec<Vec<u8>>>;

    /// Events and bytes buffered for the sink.
    async fn cdc_overflow_stats(&self, sink_name: &str) -> StoreResult<CdcOverflowStats>;
}
