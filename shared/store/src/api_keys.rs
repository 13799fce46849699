//! Table 16, `api_keys`: the API keys Miroir enforces on the client routes (Meilisearch's
//! `/keys`).
//!
//! A key's secret is never stored: as in Meilisearch, the key a client sends is derived from the
//! master key and the key's uid (`hex(HMAC-SHA256(master_key, uid))`), so the store holds only
//! the key's description. Changing the master key changes every key, as it does in Meilisearch.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::time::Timestamp;

/// An API key as stored: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The key's uid: a UUID, lowercase and hyphenated (`d4c3f873-d0f5-4d35-b40f-2da66002f818`).
    pub uid: String,
    /// Optional name.
    pub name: Option<String>,
    /// Optional description.
    pub description: Option<String>,
    /// Meilisearch action names the key allows (`search`, `documents.*`, `*`, …), as given.
    pub actions: Vec<String>,
    /// Index uid patterns the key allows (`*`, `movies`, `prod_*`), as given.
    pub indexes: Vec<String>,
    /// When the key stops being accepted (`None`: never).
    pub expires_at: Option<Timestamp>,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When the key last changed.
    pub updated_at: Timestamp,
}

/// One page of [`ApiKeyStore::list_api_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyPage {
    /// The keys of the page, newest first.
    pub results: Vec<ApiKeyRecord>,
    /// How many keys exist.
    pub total: u64,
}

/// API keys.
#[async_trait]
pub trait ApiKeyStore {
    /// Stores a new key. `Conflict`, changing nothing, if a key with its uid exists.
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;

    /// Replaces the stored key with the same uid by `key` (every field). `NotFound` if there is
    /// none.
    async fn put_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;

    /// The key with `uid`, if any.
    async fn get_api_key(&self, uid: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// Keys newest first (by `created_at`, then by uid descending), skipping `offset`, at most
    /// `limit`, with the total count. Expired keys are listed too.
    async fn list_api_keys(&self, offset: u64, limit: u64) -> StoreResult<ApiKeyPage>;

    /// Deletes the key with `uid`; `false` if there was none.
    async fn delete_api_key(&self, uid: &str) -> StoreResult<bool>;
}
