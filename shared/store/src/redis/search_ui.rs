//! Search-UI configs (a hash per index plus a set of index uids), scoped-key rotation state (a
//! hash per index, rotated by compare-and-set) and expiring per-pod observations.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{Fields, Row};
use super::copy::{Expiring, Scan, ScanRows, Stored};
use super::keys::Keys;
use super::rows::Expiry;
use crate::copy::{CopyPage, CopyRow, CopyTable, ObservationRecord};
use crate::error::StoreResult;
use crate::search_ui::{ScopedKeyObservation, ScopedKeyState, SearchUiConfig, SearchUiStore};
use crate::time::{Timestamp, ttl_millis};

const CONFIG_TABLE: &str = "search_ui_config";
const SCOPED_KEY_TABLE: &str = "search_ui_scoped_key";
const OBSERVATION_TABLE: &str = "search_ui_scoped_key_observed";

lua_script!(ROTATE = "scoped_key_rotate.lua");

fn decode_config(row: &Row) -> StoreResult<SearchUiConfig> {
    Ok(SearchUiConfig {
        index_uid: row.text("index_uid")?,
        config: row.json("config")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

fn decode_scoped_key(row: &Row) -> StoreResult<ScopedKeyState> {
    Ok(ScopedKeyState {
        index_uid: row.text("index_uid")?,
        primary_uid: row.text("primary_uid")?,
        previous_uid: row.opt_text("previous_uid")?,
        rotated_at: row.timestamp("rotated_at")?,
        generation: row.parse("generation")?,
    })
}

fn decode_observation(row: &Row) -> StoreResult<ScopedKeyObservation> {
    Ok(ScopedKeyObservation {
        pod_id: row.text("pod_id")?,
        index_uid: row.text("index_uid")?,
        generation: row.parse("generation")?,
        observed_at: row.timestamp("observed_at")?,
    })
}

#[async_trait]
impl SearchUiStore for RedisStore {
    async fn put_search_ui_config(&self, config: SearchUiConfig) -> StoreResult<()> {
        let fields = Fields::new()
            .text("index_uid", config.index_uid.as_str())
            .json("config", &config.config)?
            .timestamp("updated_at", config.updated_at);
        let keys = self.keys();
        let index_key = keys.search_ui_index();
        let key = keys.search_ui_config(&config.index_uid);
        self.put_row(
            &key,
            &fields,
            Expiry::Never,
            Some((&index_key, &config.index_uid)),
        )
        .await
    }

    async fn get_search_ui_config(&self, index_uid: &str) -> StoreResult<Option<SearchUiConfig>> {
        let row = self
            .row(CONFIG_TABLE, &self.keys().search_ui_config(index_uid))
            .await?;
        row.as_ref().map(decode_config).transpose()
    }

    async fn list_search_ui_configs(&self) -> StoreResult<Vec<SearchUiConfig>> {
        let keys = self.keys();
        let rows = self
            .indexed_rows(CONFIG_TABLE, &keys.search_ui_index(), |index| {
                keys.search_ui_config(index)
            })
            .await?;
        rows.iter().map(decode_config).collect()
    }

    async fn delete_search_ui_config(&self, index_uid: &str) -> StoreResult<bool> {
        let keys = self.keys();
        self.delete_indexed_row(
            &[keys.search_ui_config(index_uid)],
            &keys.search_ui_index(),
            index_uid,
        )
        .await
    }

    async fn get_scoped_key(&self, index_uid: &str) -> StoreResult<Option<ScopedKeyState>> {
        let row = self
            .row(SCOPED_KEY_TABLE, &self.keys().scoped_key(index_uid))
            .await?;
        row.as_ref().map(decode_scoped_key).transpose()
    }

    async fn rotate_scoped_key(
        &self,
        index_uid: &str,
        expected_generation: u64,
        new_primary_uid: &str,
        now: Timestamp,
    ) -> StoreResult<ScopedKeyState> {
        let mut invocation = ROTATE.key(self.keys().scoped_key(index_uid));
        invocation
            .arg(index_uid)
            .arg(expected_generation)
            .arg(new_primary_uid)
            .arg(now.as_millis());
        let stored: Value = self.eval(&invocation).await?;
        decode_scoped_key(&Row::decode_present(SCOPED_KEY_TABLE, stored)?)
    }

    async fn record_scoped_key_observation(
        &self,
        observation: ScopedKeyObservation,
        ttl: Duration,
    ) -> StoreResult<()> {
        let fields = Fields::new()
            .text("pod_id", observation.pod_id.as_str())
            .text("index_uid", observation.index_uid.as_str())
            .display("generation", observation.generation)
            .timestamp("observed_at", observation.observed_at);
        let key = self
            .keys()
            .scoped_key_observation(&observation.pod_id, &observation.index_uid);
        self.put_row(&key, &fields, Expiry::AfterMillis(ttl_millis(ttl)), None)
            .await
    }

    async fn get_scoped_key_observation(
        &self,
        pod_id: &str,
        index_uid: &str,
    ) -> StoreResult<Option<ScopedKeyObservation>> {
        let key = self.keys().scoped_key_observation(pod_id, index_uid);
        let row = self.row(OBSERVATION_TABLE, &key).await?;
        row.as_ref().map(decode_observation).transpose()
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of search-UI configs: the index uid set,
    /// read whole, by index uid; the cursor is the last index uid.
    pub(super) async fn export_search_ui_configs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let keys = self.keys();
        let (index_uids, next) = self
            .set_page(&keys.search_ui_index(), cursor, limit)
            .await?;
        let hashes: Vec<String> = index_uids
            .iter()
            .map(|index_uid| keys.search_ui_config(index_uid))
            .collect();
        let rows = self
            .copy_rows(CopyTable::SearchUiConfigs, &hashes, |row| {
                decode_config(row).map(CopyRow::SearchUiConfig)
            })
            .await?;
        Ok(CopyPage { rows, next })
    }

    /// Writes one copied scoped-key rotation state, replacing the state of the same index.
    pub(super) async fn import_scoped_key(&self, state: &ScopedKeyState) -> StoreResult<()> {
        let fields = Fields::new()
            .text("index_uid", state.index_uid.as_str())
            .text("primary_uid", state.primary_uid.as_str())
            .optional("previous_uid", state.previous_uid.as_deref(), Fields::text)
            .timestamp("rotated_at", state.rotated_at)
            .display("generation", state.generation);
        self.put_row(
            &self.keys().scoped_key(&state.index_uid),
            &fields,
            Expiry::Never,
            None,
        )
        .await
    }

    /// Writes one copied scoped-key observation expiring at its `expires_at`, replacing the
    /// observation of the same pod and index.
    pub(super) async fn import_observation(&self, record: &ObservationRecord) -> StoreResult<()> {
        let observation = &record.observation;
        let fields = Fields::new()
            .text("pod_id", observation.pod_id.as_str())
            .text("index_uid", observation.index_uid.as_str())
            .display("generation", observation.generation)
            .timestamp("observed_at", observation.observed_at);
        let key = self
            .keys()
            .scoped_key_observation(&observation.pod_id, &observation.index_uid);
        self.put_row(&key, &fields, Expiry::At(record.expires_at), None)
            .await
    }
}

/// The `miroir-migrate copy` export of scoped-key rotation states: `SCAN` of their hashes in
/// their slot.
pub(super) fn scoped_key_copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(
        keys.scoped_key_prefix(),
        ScanRows::Hashes(|row| decode_scoped_key(row).map(CopyRow::ScopedKey)),
    )
}

/// The `miroir-migrate copy` export of scoped-key observations: `SCAN` of their hashes in their
/// slot, each with the expiry of its key (observations do not store it).
pub(super) fn observation_copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(
        keys.scoped_key_observation_prefix(),
        ScanRows::Expiring(Stored::Hash, decode_observation_copy_row),
    )
}

/// An exported observation from its hash and expiry; `None` when the key is gone or never
/// expires.
fn decode_observation_copy_row(_: &Keys, read: Expiring) -> StoreResult<Option<CopyRow>> {
    let name = CopyTable::ScopedKeyObservations.name();
    let (Some(row), Some(expires_at)) = (Row::decode(name, read.value)?, read.expires_at) else {
        return Ok(None);
    };
    Ok(Some(CopyRow::ScopedKeyObservation(ObservationRecord {
        observation: decode_observation(&row)?,
        expires_at,
    })))
}
