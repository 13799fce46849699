//! Node settings versions: one hash per index, node id → `"<version> <updated_at>"`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::future::BoxFuture;

use super::RedisStore;
use super::codec;
use super::copy::{Scan, ScanRows};
use super::keys::Keys;
use crate::copy::CopyRow;
use crate::error::StoreResult;
use crate::node_settings::{NodeSettingsStore, NodeSettingsVersion};

const TABLE: &str = "node_settings_version";

lua_script!(RECORD = "node_settings_record.lua");

fn decode(index_uid: &str, node_id: String, raw: &str) -> StoreResult<NodeSettingsVersion> {
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

impl RedisStore {
    /// Writes one copied node settings version, replacing the version of the same index and node.
    pub(super) async fn import_node_settings(&self, row: &NodeSettingsVersion) -> StoreResult<()> {
        let _: i64 = self
            .query(
                redis::cmd("HSET")
                    .arg(self.keys().node_settings(&row.index_uid))
                    .arg(&row.node_id)
                    .arg(format!("{} {}", row.version, row.updated_at.as_millis())),
            )
            .await?;
        Ok(())
    }
}

/// The `miroir-migrate copy` export of node settings versions: `SCAN` of the per-index hashes in
/// their slot, each hash's versions by node id.
pub(super) fn copy_scan(keys: &Keys) -> Scan {
    Scan::tagged(
        keys.node_settings_prefix(),
        ScanRows::SeveralPerKey(copy_rows),
    )
}

/// Up to `budget` versions of the index hash `key` after node id `after`, and the last node id
/// returned when more are left.
fn copy_rows<'a>(
    store: &'a RedisStore,
    key: &'a str,
    after: Option<&'a str>,
    budget: usize,
) -> BoxFuture<'a, StoreResult<(Vec<CopyRow>, Option<String>)>> {
    Box::pin(async move {
        let mut rows = Vec::new();
        let Some(index_uid) = key.strip_prefix(store.keys().node_settings_prefix().as_str()) else {
            return Ok((rows, None));
        };
        let versions: BTreeMap<String, String> =
            store.query(redis::cmd("HGETALL").arg(key)).await?;
        let mut versions = versions
            .into_iter()
            .filter(|(node_id, _)| after.is_none_or(|after| node_id.as_str() > after))
            .peekable();
        while rows.len() < budget
            && let Some((node_id, raw)) = versions.next()
        {
            rows.push(CopyRow::NodeSettings(decode(index_uid, node_id, &raw)?));
        }
        let more = versions.peek().is_some();
        let last = match rows.last() {
            Some(CopyRow::NodeSettings(row)) if more => Some(row.node_id.clone()),
            _ => None,
        };
        Ok((rows, last))
    })
}
