//! Leases with fencing tokens.

use std::time::Duration;

use miroir_store::StoreError;

use crate::support::{TestStore, sleep_ms};

const TTL: Duration = Duration::from_secs(10);

pub async fn acquire_renew_release(store: &TestStore) {
    let lease = store
        .acquire_lease("reshard:movies", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, "pod-a");
    assert_eq!(
        store.get_lease("reshard:movies").await.unwrap(),
        Some(lease.clone())
    );
    assert_eq!(
        store
            .acquire_lease("reshard:movies", "pod-b", TTL)
            .await
            .unwrap(),
        None
    );
    // The holder re-acquiring extends and keeps its token.
    let again = store
        .acquire_lease("reshard:movies", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.token, lease.token);
    let renewed = store
        .renew_lease("reshard:movies", "pod-a", lease.token, TTL)
        .await
        .unwrap();
    assert_eq!(renewed.token, lease.token);
    assert!(renewed.expires_at >= lease.expires_at);
    for (holder, token) in [("pod-b", lease.token), ("pod-a", lease.token + 1)] {
        let result = store
            .renew_lease("reshard:movies", holder, token, TTL)
            .await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "{holder}/{token}: {result:?}"
        );
        assert!(
            !store
                .release_lease("reshard:movies", holder, token)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .release_lease("reshard:movies", "pod-a", lease.token)
            .await
            .unwrap()
    );
    assert_eq!(store.get_lease("reshard:movies").await.unwrap(), None);
    let result = store
        .renew_lease("reshard:movies", "pod-a", lease.token, TTL)
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a released lease cannot be renewed"
    );
    assert!(
        store
            .check_fencing_token("reshard:movies", lease.token)
            .await
            .is_ok()
    );
}

pub async fn tokens_increase_on_every_new_acquisition(store: &TestStore) {
    let mut last = 0;
    for round in 0..5 {
        let holder = format!("pod-{}", round % 2);
        let lease = store
            .acquire_lease("ilm", &holder, TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(lease.token > last, "token {} after {last}", lease.token);
        last = lease.token;
        assert!(
            store
                .release_lease("ilm", &holder, lease.token)
                .await
                .unwrap()
        );
    }
    // Scopes are independent.
    let other = store
        .acquire_lease("alias_flip:products", "pod-0", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(other.token >= 1);
}

pub async fn racing_acquirers_have_one_winner(store: &TestStore) {
    for round in 0..5 {
        let scope = format!("race-{round}");
        let mut handles = Vec::new();
        for pod in 0..6 {
            let handle_store = match store.reopen().await {
                Some(other) if pod % 2 == 1 => other,
                _ => store.store.clone(),
            };
            let scope = scope.clone();
            handles.push(tokio::spawn(async move {
                handle_store
                    .acquire_lease(&scope, &format!("pod-{pod}"), TTL)
                    .await
                    .unwrap()
            }));
        }
        let mut winners = Vec::new();
        for handle in handles {
            winners.extend(handle.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            store.get_lease(&scope).await.unwrap(),
            Some(winners[0].clone())
        );
    }
}

pub async fn expired_lease_can_be_taken_over_and_old_token_is_fenced(store: &TestStore) {
    let old = store
        .acquire_lease("leader", "paused-pod", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.acquire_lease("leader", "pod-b", TTL).await.unwrap(),
        None
    );
    sleep_ms(350).await;
    assert_eq!(
        store.get_lease("leader").await.unwrap(),
        None,
        "expired leases are not returned"
    );
    let renewed = store
        .renew_lease("leader", "paused-pod", old.token, TTL)
        .await;
    assert!(
        matches!(renewed, Err(StoreError::Conflict(_))),
        "an expired lease cannot be renewed: {renewed:?}"
    );
    let new = store
        .acquire_lease("leader", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(new.token > old.token);
    assert!(store.check_fencing_token("leader", new.token).await.is_ok());
    let fenced = store.check_fencing_token("leader", old.token).await;
    assert_eq!(
        fenced,
        Err(StoreError::Fenced {
            scope: "leader".into(),
            token: old.token,
            current: new.token
        })
    );
    assert!(
        !store
            .release_lease("leader", "paused-pod", old.token)
            .await
            .unwrap()
    );
    assert_eq!(store.get_lease("leader").await.unwrap(), Some(new));
}

pub async fn list_shows_only_held_leases_by_scope(store: &TestStore) {
    assert_eq!(store.list_leases().await.unwrap(), []);
    let short = store
        .acquire_lease(
            "settings_broadcast:movies",
            "pod-c",
            Duration::from_millis(200),
        )
        .await
        .unwrap()
        .unwrap();
    let reshard = store
        .acquire_lease("reshard:movies", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let flip = store
        .acquire_lease("alias_flip:products", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let released = store
        .acquire_lease("ilm", "pod-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .release_lease("ilm", "pod-a", released.token)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_leases().await.unwrap(),
        [flip.clone(), reshard.clone(), short.clone()],
        "ordered by scope, released leases left out"
    );
    // A renewal shows in the list; a re-acquisition by the holder keeps one entry.
    let renewed = store
        .renew_lease("reshard:movies", "pod-a", reshard.token, TTL * 2)
        .await
        .unwrap();
    store
        .acquire_lease("alias_flip:products", "pod-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let listed = store.list_leases().await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[1], renewed);
    sleep_ms(350).await;
    let scopes: Vec<String> = store
        .list_leases()
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.scope)
        .collect();
    assert_eq!(
        scopes,
        ["alias_flip:products", "reshard:movies"],
        "expired leases are not listed"
    );
    // An expired scope taken again is listed again, with a new token.
    let again = store
        .acquire_lease("settings_broadcast:movies", "pod-d", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(again.token > short.token);
    assert_eq!(store.list_leases().await.unwrap()[2], again);
    assert_eq!(store.list_leases().await.unwrap().len(), 3);
}
