//! [`AppState`]: what every handler receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_core::Config;
use miroir_store::DynStore;

use crate::readiness::Readiness;

/// The state shared by every route: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The state plane.
    pub store: DynStore,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Whether the store's schema matches this binary.
    pub readiness: Readiness,
    /// When this process started serving.
    pub started: Instant,
}

impl AppState {
    /// State over `store` and `config`, with a readiness gate that checks the store now and then
    /// every `recheck` (see [`Readiness::start`]). Must run inside a tokio runtime.
    pub async fn start(store: DynStore, config: Config, recheck: Duration) -> Self {
        let readiness = Readiness::start(store.clone(), recheck).await;
        Self {
            store,
            config: Arc::new(config),
            readiness,
            started: Instant::now(),
        }
    }
}
