//! Schema versions and migration.

use miroir_store::{SCHEMA_VERSION, StoreError, check_schema_version};

use crate::support::{RawAccess, TestStore};

pub async fn migrate_is_idempotent_and_reports_versions(store: &TestStore) {
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let again = store.migrate().await.unwrap();
    assert_eq!(
        (again.from, again.to, again.applied.len()),
        (SCHEMA_VERSION, SCHEMA_VERSION, 0)
    );
    assert!(check_schema_version(store.schema_version().await.unwrap()).is_ok());
}

pub async fn racing_migrations_converge(store: &TestStore) {
    // A fresh, empty store per backend: the suite's store is already migrated, so race on a new
    // namespace or file next to it.
    let Some(url) = store.url.as_ref() else {
        return;
    };
    let fresh_url = if url.starts_with("sqlite") {
        url.replace("store.db", "fresh.db")
    } else {
        url.replace("prefix=", "prefix=fresh")
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = fresh_url.clone();
            tokio::spawn(async move {
                let store = miroir_store::open(&url).await.unwrap();
                assert!(store.schema_version().await.unwrap() <= SCHEMA_VERSION);
                store.migrate().await.unwrap()
            })
        })
        .collect();
    let mut applied = Vec::new();
    for handle in handles {
        let report = handle.await.unwrap();
        assert_eq!(report.to, SCHEMA_VERSION);
        applied.extend(report.applied);
    }
    applied.sort_unstable();
    let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(
        applied, expected,
        "every step applied exactly once across racers"
    );
    let reopened = miroir_store::open(&fresh_url).await.unwrap();
    assert_eq!(reopened.schema_version().await.unwrap(), SCHEMA_VERSION);
}

pub async fn store_ahead_is_refused(store: &TestStore) {
    let Some(raw) = RawAccess::of(store) else {
        return;
    };
    raw.set_schema_version(SCHEMA_VERSION + 1).await;
    let handle = store.reopen().await.unwrap();
    let version = handle.schema_version().await.unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1);
    let expected = StoreError::SchemaAhead {
        store: SCHEMA_VERSION + 1,
        binary: SCHEMA_VERSION,
    };
    assert_eq!(check_schema_version(version), Err(expected.clone()));
    assert_eq!(handle.migrate().await, Err(expected));
    assert_eq!(
        handle.schema_version().await.unwrap(),
        SCHEMA_VERSION + 1,
        "nothing changed"
    );
    let message = check_schema_version(version).unwrap_err().to_string();
    assert!(
        message.contains(&(SCHEMA_VERSION + 1).to_string())
            && message.contains(&SCHEMA_VERSION.to_string()),
        "{message}"
    );
}
