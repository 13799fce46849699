//! Admin sessions and revocation.

use std::time::Duration;

use futures::StreamExt;
use miroir_store::{AdminSession, RevocationEvent, StoreError, Timestamp};

use crate::support::TestStore;

pub fn admin_session(id: &str, ttl: Duration) -> AdminSession {
    AdminSession {
        session_id: id.to_owned(),
        csrf_token: format!("csrf-{id}"),
        admin_key_hash: [7; 32],
        created_at: Timestamp::now(),
        expires_at: Timestamp::now().plus(ttl),
        revoked: false,
        user_agent: Some("Mozilla/5.0".to_owned()),
        source_ip: Some("10.0.0.7".to_owned()),
    }
}

pub async fn create_get_revoke(store: &TestStore) {
    let session = admin_session("hash-1", Duration::from_secs(600));
    store.create_admin_session(session.clone()).await.unwrap();
    assert_eq!(
        store.get_admin_session("hash-1").await.unwrap(),
        Some(session.clone())
    );
    let duplicate = store.create_admin_session(session.clone()).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let minimal = AdminSession {
        session_id: "hash-2".into(),
        user_agent: None,
        source_ip: None,
        ..session.clone()
    };
    store.create_admin_session(minimal.clone()).await.unwrap();
    assert_eq!(
        store.get_admin_session("hash-2").await.unwrap(),
        Some(minimal)
    );
    assert!(store.revoke_admin_session("hash-1").await.unwrap());
    let revoked = store.get_admin_session("hash-1").await.unwrap().unwrap();
    assert!(revoked.revoked);
    assert_eq!(
        AdminSession {
            revoked: false,
            ..revoked
        },
        session
    );
    assert!(!store.revoke_admin_session("missing").await.unwrap());
    assert_eq!(store.get_admin_session("missing").await.unwrap(), None);
    let expired = AdminSession {
        session_id: "old".into(),
        expires_at: Timestamp::now().minus(Duration::from_secs(1)),
        ..session
    };
    assert!(matches!(
        store.create_admin_session(expired).await,
        Err(StoreError::InvalidInput(_))
    ));
}

pub async fn revocation_is_published(store: &TestStore) {
    let mut events = store.subscribe_admin_session_revocations().await.unwrap();
    // On Redis a second handle plays another replica; SQLite serves one replica, so the
    // revocation comes from the same handle.
    let revoker = match store.backend() {
        miroir_store::Backend::Redis => store.reopen().await.unwrap(),
        miroir_store::Backend::Sqlite => store.store.clone(),
    };
    for id in ["s-1", "s-2"] {
        revoker
            .create_admin_session(admin_session(id, Duration::from_secs(600)))
            .await
            .unwrap();
    }
    // Subscriptions may take a moment to be established server-side.
    let mut received = Vec::new();
    for attempt in 0..50 {
        if attempt == 0 || received.is_empty() {
            if attempt > 0 {
                // Nothing arrived yet: the subscription was not live; revoke a fresh session.
                let id = format!("s-retry-{attempt}");
                revoker
                    .create_admin_session(admin_session(&id, Duration::from_secs(600)))
                    .await
                    .unwrap();
                revoker.revoke_admin_session(&id).await.unwrap();
            } else {
                revoker.revoke_admin_session("s-1").await.unwrap();
            }
        }
        match tokio::time::timeout(Duration::from_millis(100), events.next()).await {
            Ok(Some(RevocationEvent::Revoked(id))) => {
                received.push(id);
                break;
            }
            Ok(Some(RevocationEvent::Resync)) | Err(_) => {}
            Ok(None) => panic!("revocation stream ended"),
        }
    }
    assert_eq!(received.len(), 1, "a revocation must reach the subscriber");
    revoker.revoke_admin_session("s-2").await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), events.next())
        .await
        .unwrap();
    assert_eq!(next, Some(RevocationEvent::Revoked("s-2".to_owned())));
}
