//! [`AppState`]: what every handler receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_core::Config;
use miroir_core::cluster::Cluster;
use miroir_store::{DynStore, ObservedStore};

use crate::api_keys::KeyRing;
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// The state shared by every route: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The state plane; every call is timed into `metrics`.
    pub store: DynStore,
    /// This process's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The Meilisearch fleet: placement, node client, fan-out.
    pub cluster: Arc<Cluster>,
    /// Whether the store's schema matches this binary.
    pub readiness: Readiness,
    /// When this process started serving.
    pub started: Instant,
    /// This process's map from API key to key uid.
    pub keys: Arc<KeyRing>,
}

impl AppState {
    /// State over `store` (wrapped so that every operation is timed into fresh [`Metrics`]) and
    /// `config`, with a readiness gate that checks the store now and then every `recheck` (see
    /// [`Readiness::start`]). Must run inside a tokio runtime.
    ///
    /// # Panics
    ///
    /// If the node client cannot be built for a configuration [`Config::validate`] accepted
    /// (no TLS backend could start).
    pub async fn start(store: DynStore, config: Config, recheck: Duration) -> Self {
        #[allow(clippy::expect_used)]
        let cluster = Cluster::from_config(&config).expect("the node client of a valid config");
        let metrics = Arc::new(Metrics::new());
        let store = ObservedStore::wrap(store, metrics.clone());
        let readiness = Readiness::start(store.clone(), recheck).await;
        Self {
            store,
            metrics,
            config: Arc::new(config),
            cluster: Arc::new(cluster),
            readiness,
            started: Instant::now(),
            keys: Arc::new(KeyRing::default()),
        }
    }
}
