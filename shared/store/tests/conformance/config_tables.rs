//! Node settings versions, tenants, rollover policies, search-UI config and scoped keys.

use std::time::Duration;

use miroir_store::{
    NodeSettingsVersion, RolloverPolicy, ScopedKeyObservation, SearchUiConfig, StoreError,
    TenantMapping, Timestamp,
};
use serde_json::json;

use crate::support::{TestStore, sleep_ms};

pub async fn node_settings_versions_never_go_back(store: &TestStore) {
    let row = |node: &str, version: u64| NodeSettingsVersion {
        index_uid: "movies".into(),
        node_id: node.into(),
        version,
        updated_at: Timestamp::from_millis(1_000 + version as i64),
    };
    assert_eq!(
        store
            .record_node_settings_version(row("meili-1", 3))
            .await
            .unwrap(),
        row("meili-1", 3)
    );
    assert_eq!(
        store
            .record_node_settings_version(row("meili-1", 5))
            .await
            .unwrap(),
        row("meili-1", 5)
    );
    assert_eq!(
        store
            .record_node_settings_version(row("meili-1", 4))
            .await
            .unwrap(),
        row("meili-1", 5),
        "never back"
    );
    store
        .record_node_settings_version(row("meili-0", 1))
        .await
        .unwrap();
    store
        .record_node_settings_version(NodeSettingsVersion {
            index_uid: "books".into(),
            ..row("meili-0", 9)
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .get_node_settings_version("movies", "meili-1")
            .await
            .unwrap(),
        Some(row("meili-1", 5))
    );
    assert_eq!(
        store
            .get_node_settings_version("movies", "meili-9")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_node_settings_versions("movies").await.unwrap(),
        vec![row("meili-0", 1), row("meili-1", 5)]
    );
    assert_eq!(
        store.delete_node_settings_versions("movies").await.unwrap(),
        2
    );
    assert!(
        store
            .list_node_settings_versions("movies")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_node_settings_versions("books")
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn tenants_round_trip_by_hash(store: &TestStore) {
    let mapping = TenantMapping {
        api_key_hash: [0xAB; 32],
        tenant_id: "acme".into(),
        group_id: Some(2),
    };
    store.put_tenant(mapping.clone()).await.unwrap();
    assert_eq!(
        store.get_tenant(&[0xAB; 32]).await.unwrap(),
        Some(mapping.clone())
    );
    let moved = TenantMapping {
        group_id: None,
        ..mapping
    };
    store.put_tenant(moved.clone()).await.unwrap();
    assert_eq!(store.get_tenant(&[0xAB; 32]).await.unwrap(), Some(moved));
    assert_eq!(store.get_tenant(&[0xAC; 32]).await.unwrap(), None);
    assert!(store.delete_tenant(&[0xAB; 32]).await.unwrap());
    assert!(!store.delete_tenant(&[0xAB; 32]).await.unwrap());
}

pub async fn a_tenant_has_one_key_and_rekeying_is_atomic(store: &TestStore) {
    let mapping = |hash: u8, tenant: &str, group: Option<u32>| TenantMapping {
        api_key_hash: [hash; 32],
        tenant_id: tenant.into(),
        group_id: group,
    };
    assert_eq!(store.get_tenant_by_id("acme").await.unwrap(), None);
    assert_eq!(
        store.put_tenant(mapping(1, "acme", Some(1))).await.unwrap(),
        None
    );
    assert_eq!(
        store.put_tenant(mapping(2, "globex", None)).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_tenant_by_id("acme").await.unwrap(),
        Some(mapping(1, "acme", Some(1)))
    );
    // Same key, new group: an update that returns what it replaced.
    assert_eq!(
        store.put_tenant(mapping(1, "acme", None)).await.unwrap(),
        Some(mapping(1, "acme", Some(1)))
    );
    // A new key replaces the old one, which stops resolving.
    assert_eq!(
        store.put_tenant(mapping(3, "acme", Some(0))).await.unwrap(),
        Some(mapping(1, "acme", None))
    );
    assert_eq!(store.get_tenant(&[1; 32]).await.unwrap(), None);
    assert_eq!(
        store.get_tenant(&[3; 32]).await.unwrap(),
        Some(mapping(3, "acme", Some(0)))
    );
    assert_eq!(
        store.get_tenant_by_id("acme").await.unwrap(),
        Some(mapping(3, "acme", Some(0)))
    );
    // Another tenant's key is refused and nothing changes.
    let stolen = store.put_tenant(mapping(2, "acme", None)).await;
    assert!(matches!(stolen, Err(StoreError::Conflict(_))), "{stolen:?}");
    assert_eq!(
        store.get_tenant(&[2; 32]).await.unwrap(),
        Some(mapping(2, "globex", None))
    );
    assert_eq!(
        store.get_tenant_by_id("acme").await.unwrap(),
        Some(mapping(3, "acme", Some(0)))
    );
    // Deleting by id unmaps the key; deleting by key hash forgets the id.
    assert!(store.delete_tenant_by_id("acme").await.unwrap());
    assert!(!store.delete_tenant_by_id("acme").await.unwrap());
    assert_eq!(store.get_tenant(&[3; 32]).await.unwrap(), None);
    assert_eq!(store.get_tenant_by_id("acme").await.unwrap(), None);
    assert!(store.delete_tenant(&[2; 32]).await.unwrap());
    assert_eq!(store.get_tenant_by_id("globex").await.unwrap(), None);
    assert!(!store.delete_tenant_by_id("globex").await.unwrap());
    // The freed key can go to another tenant; ids with separators stay distinct.
    assert_eq!(
        store.put_tenant(mapping(3, "a:b{c}", None)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .put_tenant(mapping(4, "a%3Ab{c}", None))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_tenant_by_id("a:b{c}").await.unwrap(),
        Some(mapping(3, "a:b{c}", None))
    );
    assert!(store.delete_tenant(&[3; 32]).await.unwrap());
    assert_eq!(store.get_tenant_by_id("a:b{c}").await.unwrap(), None);
    assert_eq!(
        store.get_tenant_by_id("a%3Ab{c}").await.unwrap(),
        Some(mapping(4, "a%3Ab{c}", None))
    );
}

pub async fn racing_rekeys_leave_one_key_per_tenant(store: &TestStore) {
    for round in 0..4u8 {
        let tenant = format!("tenant-{round}");
        let handles: Vec<_> = (0..6u8)
            .map(|n| {
                let store = store.store.clone();
                let mapping = TenantMapping {
                    api_key_hash: [round * 16 + n + 1; 32],
                    tenant_id: tenant.clone(),
                    group_id: Some(u32::from(n)),
                };
                tokio::spawn(async move { store.put_tenant(mapping).await.unwrap() })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        let mut mapped = Vec::new();
        for n in 0..6u8 {
            mapped.extend(store.get_tenant(&[round * 16 + n + 1; 32]).await.unwrap());
        }
        assert_eq!(mapped.len(), 1, "round {round}: {mapped:?}");
        assert_eq!(
            store.get_tenant_by_id(&tenant).await.unwrap(),
            Some(mapped[0].clone())
        );
    }
}

pub async fn rollover_policies_crud(store: &TestStore) {
    let policy = RolloverPolicy {
        name: "logs".into(),
        write_alias: "logs-write".into(),
        read_alias: "logs-search".into(),
        pattern: "logs-{YYYY-MM-DD}".into(),
        triggers: json!({"max_docs": 1_000_000, "max_age": "1d", "max_size_gb": 50}),
        retention: json!({"keep_indexes": 30}),
        template: json!({"primary_key": "id", "settings_ref": "logs-template"}),
        enabled: true,
    };
    store.upsert_rollover_policy(policy.clone()).await.unwrap();
    store
        .upsert_rollover_policy(RolloverPolicy {
            name: "audit".into(),
            enabled: false,
            ..policy.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_rollover_policy("logs").await.unwrap(),
        Some(policy.clone())
    );
    let names: Vec<String> = store
        .list_rollover_policies()
        .await
        .unwrap()
        .into_iter()
        .map(|policy| policy.name)
        .collect();
    assert_eq!(names, ["audit", "logs"]);
    let changed = RolloverPolicy {
        retention: json!({"keep_indexes": 7}),
        ..policy
    };
    store.upsert_rollover_policy(changed.clone()).await.unwrap();
    assert_eq!(
        store.get_rollover_policy("logs").await.unwrap(),
        Some(changed)
    );
    assert!(store.delete_rollover_policy("logs").await.unwrap());
    assert!(!store.delete_rollover_policy("logs").await.unwrap());
    assert_eq!(store.list_rollover_policies().await.unwrap().len(), 1);
}

pub async fn search_ui_config_crud(store: &TestStore) {
    let config = SearchUiConfig {
        index_uid: "products".into(),
        config: json!({"title": "Products", "facets": ["brand", "color"], "sort_options": [{"label": "Price", "value": "price:asc"}]}),
        updated_at: Timestamp::now(),
    };
    store.put_search_ui_config(config.clone()).await.unwrap();
    store
        .put_search_ui_config(SearchUiConfig {
            index_uid: "movies".into(),
            ..config.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_search_ui_config("products").await.unwrap(),
        Some(config)
    );
    let indexes: Vec<String> = store
        .list_search_ui_configs()
        .await
        .unwrap()
        .into_iter()
        .map(|config| config.index_uid)
        .collect();
    assert_eq!(indexes, ["movies", "products"]);
    assert!(store.delete_search_ui_config("movies").await.unwrap());
    assert!(!store.delete_search_ui_config("movies").await.unwrap());
    assert_eq!(store.get_search_ui_config("movies").await.unwrap(), None);
}

pub async fn scoped_key_rotation_is_compare_and_set(store: &TestStore) {
    let now = Timestamp::now();
    assert_eq!(store.get_scoped_key("products").await.unwrap(), None);
    let first = store
        .rotate_scoped_key("products", 0, "key-a", now)
        .await
        .unwrap();
    assert_eq!(
        (
            first.primary_uid.as_str(),
            first.previous_uid.as_deref(),
            first.generation
        ),
        ("key-a", None, 1)
    );
    let stale = store.rotate_scoped_key("products", 0, "key-x", now).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let second = store
        .rotate_scoped_key("products", 1, "key-b", now)
        .await
        .unwrap();
    assert_eq!(
        (
            second.primary_uid.as_str(),
            second.previous_uid.as_deref(),
            second.generation
        ),
        ("key-b", Some("key-a"), 2)
    );
    assert_eq!(
        store.get_scoped_key("products").await.unwrap(),
        Some(second)
    );
    let racers: Vec<_> = (0..6)
        .map(|n| {
            let store = store.store.clone();
            tokio::spawn(async move {
                store
                    .rotate_scoped_key("products", 2, &format!("key-{n}"), Timestamp::now())
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        wins += usize::from(racer.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(
        store
            .get_scoped_key("products")
            .await
            .unwrap()
            .unwrap()
            .generation,
        3
    );
}

pub async fn scoped_key_observations_expire(store: &TestStore) {
    let observation = ScopedKeyObservation {
        pod_id: "pod-1".into(),
        index_uid: "products".into(),
        generation: 3,
        observed_at: Timestamp::now(),
    };
    store
        .record_scoped_key_observation(observation.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    store
        .record_scoped_key_observation(
            ScopedKeyObservation {
                pod_id: "pod-2".into(),
                ..observation.clone()
            },
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_scoped_key_observation("pod-1", "products")
            .await
            .unwrap(),
        Some(observation)
    );
    assert!(
        store
            .get_scoped_key_observation("pod-2", "products")
            .await
            .unwrap()
            .is_some()
    );
    sleep_ms(350).await;
    assert_eq!(
        store
            .get_scoped_key_observation("pod-2", "products")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_scoped_key_observation("pod-1", "movies")
            .await
            .unwrap(),
        None
    );
}
