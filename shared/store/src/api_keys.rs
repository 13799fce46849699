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

impl ApiKeyRecord {
    /// True when the key is one of [`DEFAULT_API_KEYS`] exactly as schema step 4 created it:
    /// its name, description, actions and indexes, no expiry, never updated (`updated_at` is
    /// `created_at`). `miroir-migrate copy` replaces such keys of a freshly migrated target by the
    /// source's keys instead of counting them as rows the target already holds.
    pub fn is_untouched_default(&self) -> bool {
        self.expires_at.is_none()
            && self.updated_at == self.created_at
            && DEFAULT_API_KEYS.iter().any(|default| {
                self.name.as_deref() == Some(default.name)
                    && self.description.as_deref() == Some(default.description)
                    && self.actions == default.actions
                    && self.indexes == default.indexes
            })
    }
}

/// One of the keys every store starts with, as Meilisearch creates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultApiKey {
    /// The key's name.
    pub name: &'static str,
    /// The key's description.
    pub description: &'static str,
    /// The actions it allows.
    pub actions: &'static [&'static str],
    /// The index patterns it allows.
    pub indexes: &'static [&'static str],
}

/// Meilisearch's four default keys (1.50), which schema step 4 creates in every store, each with
/// a fresh random UUID v4 uid, in the order [`ApiKeyStore::list_api_keys`] lists them (newest
/// first): the first gets `created_at` = the migration's "now", each next one 1 ms less, so they
/// list as a real Meilisearch lists its own.
pub const DEFAULT_API_KEYS: [DefaultApiKey; 4] = [
    DefaultApiKey {
        name: "Default Search API Key",
        description: "Use it to search from the frontend",
        actions: &["search"],
        indexes: &["*"],
    },
    DefaultApiKey {
        name: "Default Admin API Key",
        description: "Use it for anything that is not a search operation. Caution! Do not \
                      expose it on a public frontend",
        actions: &["*"],
        indexes: &["*"],
    },
    DefaultApiKey {
        name: "Default Read-Only Admin API Key",
        description: "Use it to read information across the whole database. Caution! Do not \
                      expose this key on a public frontend",
        actions: &["*.get", "keys.get"],
        indexes: &["*"],
    },
    DefaultApiKey {
        name: "Default Chat API Key",
        description: "Use it to chat and search from the frontend",
        actions: &["chatCompletions", "search"],
        indexes: &["*"],
    },
];

/// One page of [`ApiKeyStore::list_api_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyPage {
    /// The keys of the page, newest first.
    pub results: Vec<ApiKeyRecord>,
    /// How many keys exist.
    pub total: u64,
}

/// API keys.
///
/// A key's `expires_at` is data, not a row expiry: an expired key stays in the store, is read by
/// [`ApiKeyStore::get_api_key`] and listed by [`ApiKeyStore::list_api_keys`] (Meilisearch lists
/// expired keys too); whoever checks a key compares it with the time.
#[async_trait]
pub trait ApiKeyStore {
    /// Stores a new key and returns it as stored (as given). `Conflict`, changing nothing, if a
    /// key with its uid exists.
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;

    /// Replaces the stored key with the same uid by `key` (every field, `created_at` included)
    /// and returns it as stored (as given). `NotFound`, changing nothing, if there is none.
    async fn put_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;

    /// The key with `uid`, if any.
    async fn get_api_key(&self, uid: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// Keys newest first (by `created_at`, then by uid descending, in byte order), skipping
    /// `offset`, at most `limit`, with the total count, all read at one instant. Expired keys
    /// are listed too.
    async fn list_api_keys(&self, offset: u64, limit: u64) -> StoreResult<ApiKeyPage>;

    /// Deletes the key with `uid`; `false` if there was none.
    async fn delete_api_key(&self, uid: &str) -> StoreResult<bool>;
}

/// The keys of `store` when it holds no key but untouched default keys
/// ([`ApiKeyRecord::is_untouched_default`]), as its migration created them (possibly none);
/// `None` when it holds any other key. `miroir-migrate copy` does not count such a target's keys
/// as rows it already holds, and deletes them so the source's keys (the source's own defaults
/// among them, whose uids its clients' keys are derived from) replace them.
pub async fn untouched_default_api_keys<S>(store: &S) -> StoreResult<Option<Vec<ApiKeyRecord>>>
where
    S: ApiKeyStore + ?Sized,
{
    let most = DEFAULT_API_KEYS.len() as u64;
    let page = store.list_api_keys(0, most + 1).await?;
    let only_defaults =
        page.total <= most && page.results.iter().all(ApiKeyRecord::is_untouched_default);
    Ok(only_defaults.then_some(page.results))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_key(index: usize) -> ApiKeyRecord {
        let default = DEFAULT_API_KEYS[index];
        let at = Timestamp::from_millis(1_700_000_000_000);
        ApiKeyRecord {
            uid: "d4c3f873-d0f5-4d35-b40f-2da66002f818".to_owned(),
            name: Some(default.name.to_owned()),
            description: Some(default.description.to_owned()),
            actions: default
                .actions
                .iter()
                .map(|action| (*action).to_owned())
                .collect(),
            indexes: default
                .indexes
                .iter()
                .map(|index| (*index).to_owned())
                .collect(),
            expires_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn only_a_default_key_as_created_is_untouched() {
        for index in 0..DEFAULT_API_KEYS.len() {
            assert!(default_key(index).is_untouched_default(), "{index}");
        }
        let key = default_key(1);
        for changed in [
            ApiKeyRecord {
                name: Some("Mine".to_owned()),
                ..key.clone()
            },
            ApiKeyRecord {
                description: None,
                ..key.clone()
            },
            ApiKeyRecord {
                actions: vec!["search".to_owned()],
                ..key.clone()
            },
            ApiKeyRecord {
                indexes: vec!["movies".to_owned()],
                ..key.clone()
            },
            ApiKeyRecord {
                expires_at: Some(key.created_at),
                ..key.clone()
            },
            ApiKeyRecord {
                updated_at: key.created_at.plus(std::time::Duration::from_millis(1)),
                ..key.clone()
            },
            // Another default's description under this name.
            ApiKeyRecord {
                description: default_key(0).description,
                ..key.clone()
            },
        ] {
            assert!(!changed.is_untouched_default(), "{changed:?}");
        }
    }
}
