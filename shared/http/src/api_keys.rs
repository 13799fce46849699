//! Client API keys at request time: which stored key a bearer token is ([`KeyRing`]), and what
//! the request is then allowed to do ([`ClientAuth`]).
//!
//! The store holds no secret: a key is derived from the master key and its uid
//! ([`miroir_core::keys::derive_key`]). Each process keeps a map from derived key to uid, built
//! from the stored keys and rebuilt when a request brings a key it does not know (rebuilds are
//! coalesced and at most one per [`MIN_RELOAD_INTERVAL`]). The key itself is read from the store
//! on every request, so a key deleted or expired on any replica is refused at its next request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use miroir_core::keys::{action_allows, derive_key, pattern_matches};
use miroir_store::{ApiKeyRecord, DynStore, StoreResult, Timestamp};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Shortest time between two rebuilds of a process's key map: bounds the store reads that
/// unknown keys can cause (and how long a request with an unknown key waits at most).
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(200);

/// Keys read per store call when rebuilding.
const RELOAD_PAGE: u64 = 1_000;

/// How the auth layer let a request to the client API in (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No master key is configured: the API is open.
    Open,
    /// The master key.
    Master,
    /// A stored API key, as read for this request.
    Key(ApiKeyRecord),
}

impl ClientAuth {
    /// True when the request may act on index `uid` (every index but for an API key whose
    /// `indexes` patterns do not match it).
    pub fn allows_index(&self, uid: &str) -> bool {
        match self {
            Self::Open | Self::Master => true,
            Self::Key(key) => key
                .indexes
                .iter()
                .any(|pattern| pattern_matches(pattern, uid)),
        }
    }

    /// True when the request may do `action` (Meilisearch's action names).
    pub fn allows_action(&self, action: &str) -> bool {
        match self {
            Self::Open | Self::Master => true,
            Self::Key(key) => key
                .actions
                .iter()
                .any(|granted| action_allows(granted, action)),
        }
    }

    /// True when the request may see every index (no API key restricting it).
    pub fn sees_every_index(&self) -> bool {
        match self {
            Self::Open | Self::Master => true,
            Self::Key(key) => key.indexes.iter().any(|pattern| pattern == "*"),
        }
    }
}

/// A process's map from derived key to key uid.
#[derive(Debug, Default)]
pub struct KeyRing {
    uids: RwLock<HashMap<String, String>>,
    reloaded: Mutex<Option<Instant>>,
}

impl KeyRing {
    /// The stored key whose derived key (under `master_key`) is `given`, as stored now: `None`
    /// when no stored key has it. Expiry is the caller's to check.
    pub async fn resolve(
        &self,
        store: &DynStore,
        master_key: &str,
        given: &str,
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let asked = Instant::now();
        if let Some(key) = self.lookup(store, given).await? {
            return Ok(Some(key));
        }
        {
            let mut reloaded = self.reloaded.lock().await;
            // Another request rebuilt the map after this one asked: use it.
            if reloaded.is_none_or(|at| at < asked) {
                if let Some(at) = *reloaded {
                    tokio::time::sleep_until(at + MIN_RELOAD_INTERVAL).await;
                }
                self.reload(store, master_key).await?;
                *reloaded = Some(Instant::now());
            }
        }
        self.lookup(store, given).await
    }

    /// The uid of derived key `key` in the map, read from the store; a key the store no
    /// longer holds leaves the map.
    async fn lookup(&self, store: &DynStore, key: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let uid = self.read().get(key).cloned();
        let Some(uid) = uid else {
            return Ok(None);
        };
        let record = store.get_api_key(&uid).await?;
        if record.is_none() {
            self.write().remove(key);
        }
        Ok(record)
    }

    /// Rebuilds the map from every stored key.
    async fn reload(&self, store: &DynStore, master_key: &str) -> StoreResult<()> {
        let mut uids = HashMap::new();
        let mut offset = 0;
        loop {
            let page = store.list_api_keys(offset, RELOAD_PAGE).await?;
            let count = page.results.len() as u64;
            for key in page.results {
                uids.insert(derive_key(master_key, &key.uid), key.uid);
            }
            offset += count;
            if count < RELOAD_PAGE || offset >= page.total {
                break;
            }
        }
        *self.write() = uids;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, String>> {
        self.uids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, String>> {
        self.uids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// True when `key` has expired at `now`.
pub fn is_expired(key: &ApiKeyRecord, now: Timestamp) -> bool {
    key.expires_at.is_some_and(|expires| expires <= now)
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAuth {
    type Rejection = std::convert::Infallible;

    /// The credential the auth layer recorded; [`ClientAuth::Open`] for a router served without
    /// the layers (tests of a bare handler crate).
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAuth>()
            .cloned()
            .unwrap_or(ClientAuth::Open))
    }
}

/// The refusal of a request whose API key does not allow it (Meilisearch's 403).
pub fn refused() -> miroir_core::ApiError {
    miroir_core::ApiError::new(
        miroir_core::Code::InvalidApiKey,
        "The provided API key is invalid.",
    )
}
