//! The readiness gate: is the store at exactly this binary's schema version?
//!
//! The gate reads `schema_version()` when it starts and then on a fixed interval; it never
//! migrates (that is `miroir-migrate up`'s job). While it is closed, every route but
//! `GET /health` answers 503 (see [`crate::apply_layers`]).

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use miroir_core::{ApiError, Code};
use miroir_store::{DynStore, SCHEMA_VERSION, StoreError, check_schema_version};

/// How often the gate re-reads the store's schema version unless told otherwise.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Longest a single schema-version read may take before the store counts as unavailable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The gate's current verdict, shared by every clone.
#[derive(Clone, Debug)]
pub struct Readiness {
    inner: Arc<RwLock<Result<u32, ApiError>>>,
}

impl Readiness {
    /// Checks `store` now, then every `interval` in a background task that ends when the last
    /// clone of the returned gate is dropped. Must run inside a tokio runtime.
    pub async fn start(store: DynStore, interval: Duration) -> Self {
        let readiness = Self {
            inner: Arc::new(RwLock::new(Err(closed_error(&StoreError::Unavailable(
                "not checked yet".to_owned(),
            ))))),
        };
        readiness.set(check(&store).await);
        let weak: Weak<RwLock<Result<u32, ApiError>>> = Arc::downgrade(&readiness.inner);
        let interval = interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate; the start already checked
            loop {
                ticker.tick().await;
                let verdict = check(&store).await;
                let Some(inner) = weak.upgrade() else { break };
                Self { inner }.set(verdict);
            }
        });
        readiness
    }

    /// `Ok(schema version)` when open, else the error every gated route answers with.
    pub fn status(&self) -> Result<u32, ApiError> {
        match self.inner.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// True when the store is at this binary's schema version.
    pub fn is_ready(&self) -> bool {
        self.status().is_ok()
    }

    fn set(&self, verdict: Result<u32, ApiError>) {
        let mut guard = match self.inner.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let changed = match (&*guard, &verdict) {
            (Ok(old), Ok(new)) => old != new,
            (Err(old), Err(new)) => old != new,
            _ => true,
        };
        if changed {
            match &verdict {
                Ok(version) => {
                    tracing::info!(
                        schema_version = version,
                        "task store schema matches; serving"
                    );
                }
                Err(error) => {
                    tracing::warn!(code = error.code.name(), reason = %error.message, "not ready");
                }
            }
        }
        *guard = verdict;
    }
}

/// Reads the store's version and compares it with the binary's.
async fn check(store: &DynStore) -> Result<u32, ApiError> {
    let version = match tokio::time::timeout(CHECK_TIMEOUT, store.schema_version()).await {
        Ok(Ok(version)) => version,
        Ok(Err(error)) => return Err(closed_error(&error)),
        Err(_) => {
            return Err(closed_error(&StoreError::Unavailable(
                "schema version read timed out".to_owned(),
            )));
        }
    };
    check_schema_version(version)
        .map(|()| version)
        .map_err(|error| closed_error(&error))
}

/// The 503 a closed gate answers with.
fn closed_error(error: &StoreError) -> ApiError {
    match error {
        StoreError::SchemaBehind { store, binary } => ApiError::new(
            Code::MiroirSchemaMismatch,
            format!(
                "The task store is at schema version {store} but this Miroir serves version \
                 {binary}; run `miroir-migrate up`."
            ),
        ),
        StoreError::SchemaAhead { store, binary } => ApiError::new(
            Code::MiroirSchemaMismatch,
            format!(
                "The task store is at schema version {store}, newer than version {binary} that \
                 this Miroir serves; upgrade Miroir."
            ),
        ),
        _ => ApiError::new(
            Code::MiroirStoreUnavailable,
            format!(
                "The task store cannot be read, so its schema version (this Miroir serves \
                 {SCHEMA_VERSION}) is unknown; retry later."
            ),
        ),
    }
}
