//! Table 13, `search_ui_config`, and the scoped-key rotation tables `search_ui_scoped_keys` and
//! `search_ui_scoped_key_observations` (expiring).

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, Row, Transaction};

use super::SqliteStore;
use super::copy::{KeyKind, TableSpec};
use super::rows::{Columns, expiry, query_all, query_optional, to_json, u64_to_sql};
use crate::copy::{CopyRow, ObservationRecord};
use crate::error::{StoreError, StoreResult};
use crate::search_ui::{ScopedKeyObservation, ScopedKeyState, SearchUiConfig, SearchUiStore};
use crate::time::Timestamp;

fn decode_config(row: &Row<'_>) -> StoreResult<SearchUiConfig> {
    let columns = Columns::new("search_ui_config", row);
    Ok(SearchUiConfig {
        index_uid: columns.string(0)?,
        config: columns.json(1)?,
        updated_at: columns.timestamp(2)?,
    })
}

fn get_scoped_key(connection: &Connection, index_uid: &str) -> StoreResult<Option<ScopedKeyState>> {
    let mut statement = connection.prepare_cached(
        "SELECT index_uid, primary_uid, previous_uid, rotated_at, generation FROM search_ui_scoped_keys \
         WHERE index_uid = ?1",
    )?;
    query_optional(&mut statement, [index_uid], |row| {
        let columns = Columns::new("search_ui_scoped_keys", row);
        Ok(ScopedKeyState {
            index_uid: columns.string(0)?,
            primary_uid: columns.string(1)?,
            previous_uid: columns.opt_string(2)?,
            rotated_at: columns.timestamp(3)?,
            generation: columns.u64(4)?,
        })
    })
}

#[async_trait]
impl SearchUiStore for SqliteStore {
    async fn put_search_ui_config(&self, config: SearchUiConfig) -> StoreResult<()> {
        let json = to_json("search ui config", &config.config)?;
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO search_ui_config (index_uid, config_json, updated_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(rusqlite::params![config.index_uid, json, config.updated_at.as_millis()])?;
            Ok(())
        })
        .await
    }

    async fn get_search_ui_config(&self, index_uid: &str) -> StoreResult<Option<SearchUiConfig>> {
        let index_uid = index_uid.to_owned();
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached("SELECT index_uid, config_json, updated_at FROM search_ui_config WHERE index_uid = ?1")?;
            query_optional(&mut statement, [index_uid], decode_config)
        })
        .await
    }

    async fn list_search_ui_configs(&self) -> StoreResult<Vec<SearchUiConfig>> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT index_uid, config_json, updated_at FROM search_ui_config ORDER BY index_uid")?;
            query_all(&mut statement, [], decode_config)
        })
        .await
    }

    async fn delete_search_ui_config(&self, index_uid: &str) -> StoreResult<bool> {
        let index_uid = index_uid.to_owned();
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM search_ui_config WHERE index_uid = ?1")?
                .execute([index_uid])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn get_scoped_key(&self, index_uid: &str) -> StoreResult<Option<ScopedKeyState>> {
        let index_uid = index_uid.to_owned();
        self.read(move |connection| get_scoped_key(connection, &index_uid))
            .await
    }

    /// Read, compare and write in one `BEGIN IMMEDIATE` transaction. The first rotation
    /// (expected generation 0, no row) creates the row at generation 1 with no previous key.
    async fn rotate_scoped_key(
        &self,
        index_uid: &str,
        expected_generation: u64,
        new_primary_uid: &str,
        now: Timestamp,
    ) -> StoreResult<ScopedKeyState> {
        let (index_uid, new_primary_uid) = (index_uid.to_owned(), new_primary_uid.to_owned());
        self.write_transaction(move |transaction| {
            let current = get_scoped_key(transaction, &index_uid)?;
            let generation = current.as_ref().map_or(0, |state| state.generation);
            if generation != expected_generation {
                return Err(StoreError::conflict(format!(
                    "scoped key of `{index_uid}` is at generation {generation}, not {expected_generation}"
                )));
            }
            let state = ScopedKeyState {
                index_uid,
                primary_uid: new_primary_uid,
                previous_uid: current.map(|state| state.primary_uid),
                rotated_at: now,
                generation: generation + 1,
            };
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO search_ui_scoped_keys \
                     (index_uid, primary_uid, previous_uid, rotated_at, generation) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    state.index_uid,
                    state.primary_uid,
                    state.previous_uid,
                    state.rotated_at.as_millis(),
                    u64_to_sql(state.generation),
                ])?;
            Ok(state)
        })
        .await
    }

    /// The record expires `ttl` from now.
    async fn record_scoped_key_observation(
        &self,
        observation: ScopedKeyObservation,
        ttl: Duration,
    ) -> StoreResult<()> {
        let generation = u64_to_sql(observation.generation);
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO search_ui_scoped_key_observations \
                     (pod_id, index_uid, generation, observed_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    observation.pod_id,
                    observation.index_uid,
                    generation,
                    observation.observed_at.as_millis(),
                    expiry(Timestamp::now(), ttl).as_millis(),
                ])?;
            Ok(())
        })
        .await
    }

    async fn get_scoped_key_observation(
        &self,
        pod_id: &str,
        index_uid: &str,
    ) -> StoreResult<Option<ScopedKeyObservation>> {
        let (pod_id, index_uid) = (pod_id.to_owned(), index_uid.to_owned());
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT pod_id, index_uid, generation, observed_at FROM search_ui_scoped_key_observations \
                 WHERE pod_id = ?1 AND index_uid = ?2 AND expires_at > ?3",
            )?;
            query_optional(
                &mut statement,
                rusqlite::params![pod_id, index_uid, Timestamp::now().as_millis()],
                |row| {
                    let columns = Columns::new("search_ui_scoped_key_observations", row);
                    Ok(ScopedKeyObservation {
                        pod_id: columns.string(0)?,
                        index_uid: columns.string(1)?,
                        generation: columns.u64(2)?,
                        observed_at: columns.timestamp(3)?,
                    })
                },
            )
        })
        .await
    }
}

/// The columns of `search_ui_config` a copy export reads, in order.
const CONFIG_COLUMNS: &str = "index_uid, config_json, updated_at";
/// The columns of `search_ui_scoped_keys` a copy export reads, in order.
const SCOPED_KEY_COLUMNS: &str = "index_uid, primary_uid, previous_uid, rotated_at, generation";
/// The columns of `search_ui_scoped_key_observations` a copy export reads, in order.
const OBSERVATION_COLUMNS: &str = "pod_id, index_uid, generation, observed_at, expires_at";

/// The `miroir-migrate copy` export of `search_ui_config`, by index.
pub(super) fn config_copy_spec() -> TableSpec {
    TableSpec {
        table: "search_ui_config",
        columns: CONFIG_COLUMNS,
        key: &[("index_uid", KeyKind::Text)],
        expires: false,
        decode: |row, _| Ok(CopyRow::SearchUiConfig(decode_config(row)?)),
    }
}

/// The `miroir-migrate copy` export of `search_ui_scoped_keys`, by index.
pub(super) fn scoped_key_copy_spec() -> TableSpec {
    TableSpec {
        table: "search_ui_scoped_keys",
        columns: SCOPED_KEY_COLUMNS,
        key: &[("index_uid", KeyKind::Text)],
        expires: false,
        decode: decode_scoped_key_copy_row,
    }
}

/// The `miroir-migrate copy` export of `search_ui_scoped_key_observations`: the unexpired ones,
/// by pod then index.
pub(super) fn observation_copy_spec() -> TableSpec {
    TableSpec {
        table: "search_ui_scoped_key_observations",
        columns: OBSERVATION_COLUMNS,
        key: &[("pod_id", KeyKind::Text), ("index_uid", KeyKind::Text)],
        expires: true,
        decode: decode_observation_copy_row,
    }
}

/// Decodes one exported scoped-key state.
fn decode_scoped_key_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("search_ui_scoped_keys", row);
    Ok(CopyRow::ScopedKey(ScopedKeyState {
        index_uid: columns.string(0)?,
        primary_uid: columns.string(1)?,
        previous_uid: columns.opt_string(2)?,
        rotated_at: columns.timestamp(3)?,
        generation: columns.u64(4)?,
    }))
}

/// Decodes one exported scoped-key observation with its expiry.
fn decode_observation_copy_row(row: &Row<'_>, _: Timestamp) -> StoreResult<CopyRow> {
    let columns = Columns::new("search_ui_scoped_key_observations", row);
    Ok(CopyRow::ScopedKeyObservation(ObservationRecord {
        observation: ScopedKeyObservation {
            pod_id: columns.string(0)?,
            index_uid: columns.string(1)?,
            generation: columns.u64(2)?,
            observed_at: columns.timestamp(3)?,
        },
        expires_at: columns.timestamp(4)?,
    }))
}

/// Writes one copied search UI config, replacing the config of the same index.
pub(super) fn import_config(
    transaction: &Transaction<'_>,
    config: &SearchUiConfig,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO search_ui_config (index_uid, config_json, updated_at) \
             VALUES (?1, ?2, ?3) ON CONFLICT (index_uid) DO UPDATE SET \
             config_json = excluded.config_json, updated_at = excluded.updated_at",
        )?
        .execute(rusqlite::params![
            config.index_uid,
            to_json("search ui config", &config.config)?,
            config.updated_at.as_millis(),
        ])?;
    Ok(())
}

/// Writes one copied scoped-key state with its generation, replacing the state of the same index.
pub(super) fn import_scoped_key(
    transaction: &Transaction<'_>,
    state: &ScopedKeyState,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO search_ui_scoped_keys (index_uid, primary_uid, previous_uid, \
             rotated_at, generation) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (index_uid) DO UPDATE SET primary_uid = excluded.primary_uid, \
             previous_uid = excluded.previous_uid, rotated_at = excluded.rotated_at, \
             generation = excluded.generation",
        )?
        .execute(rusqlite::params![
            state.index_uid,
            state.primary_uid,
            state.previous_uid,
            state.rotated_at.as_millis(),
            u64_to_sql(state.generation),
        ])?;
    Ok(())
}

/// Writes one copied scoped-key observation with its expiry, replacing the observation of the
/// same pod and index.
pub(super) fn import_observation(
    transaction: &Transaction<'_>,
    record: &ObservationRecord,
) -> StoreResult<()> {
    let observation = &record.observation;
    transaction
        .prepare_cached(
            "INSERT INTO search_ui_scoped_key_observations (pod_id, index_uid, generation, \
             observed_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (pod_id, index_uid) DO UPDATE SET generation = excluded.generation, \
             observed_at = excluded.observed_at, expires_at = excluded.expires_at",
        )?
        .execute(rusqlite::params![
            observation.pod_id,
            observation.index_uid,
            u64_to_sql(observation.generation),
            observation.observed_at.as_millis(),
            record.expires_at.as_millis(),
        ])?;
    Ok(())
}
