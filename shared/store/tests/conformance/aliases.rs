//! Aliases: create-if-absent, compare-and-set flips, bounded history.

use miroir_store::{AliasTarget, StoreError, Timestamp};

use crate::support::TestStore;

fn single(uid: &str) -> AliasTarget {
    AliasTarget::Single {
        uid: uid.to_owned(),
    }
}

pub async fn create_is_create_if_absent(store: &TestStore) {
    let now = Timestamp::now();
    let alias = store
        .create_alias("products", single("products_v1"), now)
        .await
        .unwrap();
    assert_eq!(
        (alias.version, alias.created_at, alias.history.len()),
        (1, now, 0)
    );
    assert_eq!(
        store.get_alias("products").await.unwrap(),
        Some(alias.clone())
    );
    let again = store.create_alias("products", single("other"), now).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.get_alias("products").await.unwrap(), Some(alias));
    assert_eq!(store.get_alias("absent").await.unwrap(), None);
}

pub async fn racing_creates_have_one_winner(store: &TestStore) {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = store.store.clone();
            tokio::spawn(async move {
                store
                    .create_alias("race", single(&format!("idx_{i}")), Timestamp::now())
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

pub async fn flip_is_compare_and_set_with_bounded_history(store: &TestStore) {
    let created = Timestamp::now();
    store
        .create_alias("logs", single("logs_v1"), created)
        .await
        .unwrap();
    let mut version = 1;
    for n in 2..=6 {
        let flipped = store
            .flip_alias(
                "logs",
                version,
                single(&format!("logs_v{n}")),
                3,
                Timestamp::from_millis(created.as_millis() + n),
            )
            .await
            .unwrap();
        assert_eq!(flipped.version, version + 1);
        version = flipped.version;
    }
    let alias = store.get_alias("logs").await.unwrap().unwrap();
    assert_eq!(alias.target, single("logs_v6"));
    assert_eq!(alias.version, 6);
    // Newest three prior states, oldest first.
    let history: Vec<_> = alias
        .history
        .iter()
        .map(|entry| (entry.target.clone(), entry.version))
        .collect();
    assert_eq!(
        history,
        vec![
            (single("logs_v3"), 3),
            (single("logs_v4"), 4),
            (single("logs_v5"), 5)
        ]
    );
    assert_eq!(
        alias.history[2].replaced_at,
        Timestamp::from_millis(created.as_millis() + 6)
    );
    let stale = store
        .flip_alias("logs", 5, single("logs_x"), 3, Timestamp::now())
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(store.get_alias("logs").await.unwrap(), Some(alias));
    let missing = store
        .flip_alias("nope", 1, single("x"), 3, Timestamp::now())
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn racing_flips_never_lose_an_update(store: &TestStore) {
    store
        .create_alias("hot", single("hot_0"), Timestamp::now())
        .await
        .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = store.store.clone();
            tokio::spawn(async move {
                let mut won = 0;
                for round in 0..10 {
                    let current = store.get_alias("hot").await.unwrap().unwrap();
                    let target = AliasTarget::Single {
                        uid: format!("hot_{i}_{round}"),
                    };
                    match store
                        .flip_alias("hot", current.version, target, 100, Timestamp::now())
                        .await
                    {
                        Ok(_) => won += 1,
                        Err(StoreError::Conflict(_)) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut wins = 0;
    for handle in handles {
        wins += handle.await.unwrap();
    }
    let alias = store.get_alias("hot").await.unwrap().unwrap();
    assert_eq!(
        alias.version,
        1 + wins,
        "every successful flip counted exactly once"
    );
    assert_eq!(alias.history.len() as u64, wins.min(100));
    let versions: Vec<u64> = alias.history.iter().map(|entry| entry.version).collect();
    assert_eq!(
        versions,
        (1..=wins).collect::<Vec<_>>(),
        "history is gapless"
    );
}

pub async fn flip_refuses_kind_change_and_bad_input(store: &TestStore) {
    let now = Timestamp::now();
    let multi = AliasTarget::Multi {
        uids: vec!["logs-1".into(), "logs-2".into()],
    };
    store
        .create_alias("logs-search", multi.clone(), now)
        .await
        .unwrap();
    let kind_change = store
        .flip_alias("logs-search", 1, single("logs-3"), 10, now)
        .await;
    assert!(
        matches!(kind_change, Err(StoreError::InvalidInput(_))),
        "{kind_change:?}"
    );
    let flipped = store
        .flip_alias(
            "logs-search",
            1,
            AliasTarget::Multi {
                uids: vec!["logs-2".into(), "logs-3".into()],
            },
            10,
            now,
        )
        .await
        .unwrap();
    assert_eq!(flipped.history[0].target, multi);
    for bad in [
        single(""),
        AliasTarget::Multi { uids: vec![] },
        AliasTarget::Multi {
            uids: vec!["logs-4".into(), String::new()],
        },
    ] {
        assert!(matches!(
            store.create_alias("bad", bad.clone(), now).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert!(matches!(
            store.flip_alias("logs-search", 2, bad, 10, now).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
    assert!(matches!(
        store.create_alias("", single("x"), now).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(store.get_alias("bad").await.unwrap(), None);
    assert_eq!(
        store
            .get_alias("logs-search")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

pub async fn list_and_delete(store: &TestStore) {
    let now = Timestamp::now();
    for name in ["zeta", "alpha", "mid"] {
        store
            .create_alias(name, single(&format!("{name}_v1")), now)
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .list_aliases()
        .await
        .unwrap()
        .into_iter()
        .map(|alias| alias.name)
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    assert!(store.delete_alias("mid").await.unwrap());
    assert!(!store.delete_alias("mid").await.unwrap());
    assert_eq!(store.list_aliases().await.unwrap().len(), 2);
    assert_eq!(store.get_alias("mid").await.unwrap(), None);
    // A deleted name can be created again, from version 1.
    assert_eq!(
        store
            .create_alias("mid", single("mid_v9"), now)
            .await
            .unwrap()
            .version,
        1
    );
}
