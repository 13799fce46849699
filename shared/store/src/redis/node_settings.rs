//! Node settings versions: one hash per index, node id → `"<version> <updated_at>"`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::RedisStore;
use super::codec;
use crate::error::StoreResult;
use crate::node_settings::{NodeSettingsStore, NodeSettingsVersion};

const TABLE: &str = "node_settings_version";

lua_script!(RECORD = "node_settings_record.lua");

pub(super) fn decode(
    index_uid: &str,
    node_id: String,
    raw: &str,
) -> StoreResult<NodeSettingsVersion> {
    let (version, updated_at) = codec::number_and_time(TABLE, raw)?;
    Ok(NodeSettingsVersion {
        index_uid: index_uid.to_owned(),
        node_id,
        version,
        updated_at,
    })
}

#[async_trait]
impl NodeSettingsStore for RedisStore {
    async fn record_node_settings_version(
        &self,
        row: NodeSettingsVersion,
    ) -> StoreResult<NodeSettingsVersion> {
        let mut invocation = RECORD.key(self.keys().node_settings(&row.index_uid));
        invocation
            .arg(&row.node_id)
            .arg(row.version)
            .arg(row.updated_at.as_millis());
        let stored: String = self.eval(&invocation).await?;
        decode(&row.index_uid, row.node_id, &stored)
    }

    async fn get_node_settings_version(
        &self,
        index_uid: &str,
        node_id: &str,
    ) -> StoreResult<Option<NodeSettingsVersion>> {
        let key = self.keys().node_settings(index_uid);
        let stored: Option<String> = self.query(redis::cmd("HGET").arg(key).arg(node_id)).await?;
        stored
            .map(|raw| decode(index_uid, node_id.to_owned(), &raw))
            .transpose()
    }

    async fn list_node_settings_versions(
        &self,
        index_uid: &str,
    ) -> StoreResult<Vec<NodeSettingsVersion>> {
        let key = self.keys().node_settings(index_uid);
        let stored: BTreeMap<String, String> = self.query(redis::cmd("HGETALL").arg(key)).await?;
        stored
            .into_iter()
            .map(|(node_id, raw)| decode(index_uid, node_id, &raw))
            .collect()
    }

    async fn delete_node_settings_versions(&self, index_uid: &str) -> StoreResult<u64> {
        let key = self.keys().node_settings(index_uid);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("HLEN")
            .arg(&key)
            .cmd("DEL")
            .arg(&key)
            .ignore();
        let (deleted,): (u64,) = self.query_pipeline(&pipeline).await?;
        Ok(deleted)
    }
}
