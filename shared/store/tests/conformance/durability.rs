//! Restart resilience: rows of every table written through one handle are all there through a
//! new handle after the first is dropped (and, for Redis, after the server restarted).

use crate::seed::{seed_every_table, verify_every_table};
use crate::support::TestStore;

pub async fn every_table_survives_reopen(store: &TestStore) {
    let seeded = seed_every_table(&store.store).await;
    match store.reopen().await {
        // File and Redis: a brand-new handle must see everything.
        Some(reopened) => verify_every_table(&reopened, &seeded).await,
        // In memory: there is nothing to reopen; still check the same handle reads it all back.
        None => verify_every_table(&store.store, &seeded).await,
    }
}
