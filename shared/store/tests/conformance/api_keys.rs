//! API keys (table 16): Meilisearch's four default keys in every migrated store, create if
//! absent, put if present, delete, and the listing newest first (ties by uid descending) with
//! offset, limit and total.

use std::collections::BTreeSet;
use std::time::Duration;

use miroir_store::api_keys::untouched_default_api_keys;
use miroir_store::{ApiKeyRecord, CopyRow, DEFAULT_API_KEYS, StoreError, Timestamp};

use crate::support::TestStore;

const CREATED: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A key of `uid` with every field set, created and updated at `CREATED + millis`.
fn key(uid: &str, millis: i64) -> ApiKeyRecord {
    let at = Timestamp::from_millis(CREATED.as_millis() + millis);
    ApiKeyRecord {
        uid: uid.to_owned(),
        name: Some(format!("key {uid}")),
        description: Some("Use it for tests".to_owned()),
        actions: vec!["search".to_owned(), "documents.add".to_owned()],
        indexes: vec!["movies".to_owned(), "prod_*".to_owned()],
        expires_at: Some(Timestamp::from_millis(CREATED.as_millis() + 86_400_000)),
        created_at: at,
        updated_at: at,
    }
}

/// A fresh UUID v4, as the handlers make them.
fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn uids(keys: &[ApiKeyRecord]) -> Vec<&str> {
    keys.iter().map(|key| key.uid.as_str()).collect()
}

/// `keys` are Meilisearch's four default keys as a migration creates them, listed newest first:
/// names, descriptions, actions and indexes in Meilisearch's order, distinct lowercase hyphenated
/// UUID v4 uids, no expiry, `created_at` 1 ms apart (Search newest), `updated_at` = `created_at`.
pub fn assert_default_keys(keys: &[ApiKeyRecord]) {
    let described: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = keys
        .iter()
        .map(|key| {
            (
                key.name.as_deref().unwrap(),
                key.description.as_deref().unwrap(),
                key.actions.iter().map(String::as_str).collect(),
                key.indexes.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            (
                "Default Search API Key",
                "Use it to search from the frontend",
                vec!["search"],
                vec!["*"]
            ),
            (
                "Default Admin API Key",
                "Use it for anything that is not a search operation. Caution! Do not expose it \
                 on a public frontend",
                vec!["*"],
                vec!["*"]
            ),
            (
                "Default Read-Only Admin API Key",
                "Use it to read information across the whole database. Caution! Do not expose \
                 this key on a public frontend",
                vec!["*.get", "keys.get"],
                vec!["*"]
            ),
            (
                "Default Chat API Key",
                "Use it to chat and search from the frontend",
                vec!["chatCompletions", "search"],
                vec!["*"]
            ),
        ]
    );
    let distinct: BTreeSet<&str> = uids(keys).into_iter().collect();
    assert_eq!(distinct.len(), 4, "{keys:?}");
    for key in keys {
        let uuid = uuid::Uuid::parse_str(&key.uid).unwrap();
        assert_eq!(uuid.get_version_num(), 4, "{}", key.uid);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{}", key.uid);
        assert_eq!(
            uuid.hyphenated().to_string(),
            key.uid,
            "lowercase, hyphenated"
        );
        assert_eq!(key.expires_at, None);
        assert_eq!(key.updated_at, key.created_at);
        assert!(key.is_untouched_default(), "{key:?}");
    }
    for pair in keys.windows(2) {
        assert_eq!(
            pair[0].created_at.as_millis(),
            pair[1].created_at.as_millis() + 1,
            "1 ms apart, newest first: {keys:?}"
        );
    }
    assert_eq!(keys.len(), DEFAULT_API_KEYS.len());
}

/// Deletes the four default keys of a fresh store, checking they are there.
async fn delete_the_default_keys(store: &TestStore) {
    let defaults = untouched_default_api_keys(&***store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(defaults.len(), 4);
    for key in defaults {
        assert!(store.delete_api_key(&key.uid).await.unwrap());
    }
    assert_eq!(store.list_api_keys(0, 10).await.unwrap().total, 0);
}

pub async fn the_default_keys_are_there_after_migrate(store: &TestStore) {
    let page = store.list_api_keys(0, 10).await.unwrap();
    assert_eq!(page.total, 4);
    assert_default_keys(&page.results);
    // Created by the migration the suite's factory ran a moment ago.
    let now = Timestamp::now();
    let newest = page.results[0].created_at;
    assert!(
        newest <= now.plus(Duration::from_secs(60))
            && newest >= now.minus(Duration::from_secs(600)),
        "{newest:?} / {now:?}"
    );
    for key in &page.results {
        assert_eq!(
            store.get_api_key(&key.uid).await.unwrap().as_ref(),
            Some(key)
        );
    }
    assert_eq!(
        untouched_default_api_keys(&***store).await.unwrap(),
        Some(page.results.clone())
    );
    // Migrating again creates no second set.
    assert!(store.migrate().await.unwrap().applied.is_empty());
    assert_eq!(store.list_api_keys(0, 10).await.unwrap(), page);

    // A store with another key, or with a default key changed, holds more than its defaults.
    let custom = key(&new_uid(), 0);
    store.create_api_key(custom.clone()).await.unwrap();
    assert_eq!(untouched_default_api_keys(&***store).await.unwrap(), None);
    assert!(store.delete_api_key(&custom.uid).await.unwrap());
    assert_eq!(
        untouched_default_api_keys(&***store).await.unwrap(),
        Some(page.results.clone())
    );
    let renamed = ApiKeyRecord {
        name: Some("Admin".to_owned()),
        updated_at: page.results[1].created_at.plus(Duration::from_millis(5)),
        ..page.results[1].clone()
    };
    store.put_api_key(renamed).await.unwrap();
    assert_eq!(untouched_default_api_keys(&***store).await.unwrap(), None);
}

pub async fn create_get_put_delete_round_trip(store: &TestStore) {
    let uid = new_uid();
    let created = store.create_api_key(key(&uid, 0)).await.unwrap();
    assert_eq!(created, key(&uid, 0), "returned as given");
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(key(&uid, 0)));

    // Every field replaced, optional ones cleared, `created_at` included.
    let replaced = ApiKeyRecord {
        name: None,
        description: None,
        actions: vec!["*".to_owned()],
        indexes: Vec::new(),
        expires_at: None,
        created_at: Timestamp::from_millis(5),
        updated_at: Timestamp::from_millis(CREATED.as_millis() + 9),
        ..key(&uid, 0)
    };
    assert_eq!(store.put_api_key(replaced.clone()).await.unwrap(), replaced);
    assert_eq!(
        store.get_api_key(&uid).await.unwrap(),
        Some(replaced.clone())
    );
    let back = key(&uid, 3);
    store.put_api_key(back.clone()).await.unwrap();
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(back));

    assert!(store.delete_api_key(&uid).await.unwrap());
    assert_eq!(store.get_api_key(&uid).await.unwrap(), None);
    assert!(!store.delete_api_key(&uid).await.unwrap());
    assert_eq!(store.list_api_keys(0, 10).await.unwrap().total, 4);
    // A deleted uid can be created again.
    store.create_api_key(key(&uid, 1)).await.unwrap();
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(key(&uid, 1)));
}

pub async fn conflicts_change_nothing(store: &TestStore) {
    let uid = new_uid();
    store.create_api_key(key(&uid, 0)).await.unwrap();
    let other = ApiKeyRecord {
        name: Some("other".to_owned()),
        ..key(&uid, 7)
    };
    let result = store.create_api_key(other).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(key(&uid, 0)));

    let missing = new_uid();
    let result = store.put_api_key(key(&missing, 0)).await;
    assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    assert_eq!(store.get_api_key(&missing).await.unwrap(), None);
    assert!(!store.delete_api_key(&missing).await.unwrap());
    let page = store.list_api_keys(0, 10).await.unwrap();
    assert_eq!(page.total, 5);
    assert!(!uids(&page.results).contains(&missing.as_str()));
}

pub async fn racing_creates_have_one_winner(store: &TestStore) {
    let uid = new_uid();
    let handles: Vec<_> = (0..8)
        .map(|number| {
            let store = store.store.clone();
            let uid = uid.clone();
            tokio::spawn(async move { store.create_api_key(key(&uid, number)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Ok(created) => winners.push(created),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.get_api_key(&uid).await.unwrap().as_ref(),
        winners.first()
    );
    assert_eq!(store.list_api_keys(0, 10).await.unwrap().total, 5);
}

pub async fn list_is_newest_first_with_ties_by_uid_descending(store: &TestStore) {
    delete_the_default_keys(store).await;
    // Three keys per millisecond, each group created in another order than it lists; uids
    // starting with every kind of byte they can start with.
    let mut keys = Vec::new();
    for number in 0..12_i64 {
        let uid = format!("{:x}{}", number % 16, &new_uid()[1..]);
        keys.push(key(&uid, (number * 7) % 4));
    }
    keys.push(key("00000000-0000-4000-8000-000000000000", 2));
    keys.push(key("ffffffff-ffff-4fff-bfff-ffffffffffff", 2));
    for key in &keys {
        store.create_api_key(key.clone()).await.unwrap();
    }
    let mut expected = keys.clone();
    expected
        .sort_by(|left, right| (right.created_at, &right.uid).cmp(&(left.created_at, &left.uid)));
    let total = expected.len() as u64;

    let all = store.list_api_keys(0, 100).await.unwrap();
    assert_eq!(all.total, total);
    assert_eq!(uids(&all.results), uids(&expected));
    assert_eq!(all.results, expected);

    for limit in [1_u64, 2, 3, 5] {
        let mut paged = Vec::new();
        let mut offset = 0;
        while offset < total {
            let page = store.list_api_keys(offset, limit).await.unwrap();
            assert_eq!(page.total, total);
            assert!(page.results.len() as u64 <= limit);
            paged.extend(page.results);
            offset += limit;
        }
        assert_eq!(uids(&paged), uids(&expected), "pages of {limit}");
    }
    let page = store.list_api_keys(3, 4).await.unwrap();
    assert_eq!(page.results, expected[3..7]);
    for (offset, limit) in [
        (0, 0),
        (5, 0),
        (total, 10),
        (total + 1, 1),
        (u64::MAX, u64::MAX),
    ] {
        let page = store.list_api_keys(offset, limit).await.unwrap();
        assert_eq!(page.results, [], "offset {offset}, limit {limit}");
        assert_eq!(page.total, total);
    }
    let page = store.list_api_keys(total - 1, u64::MAX).await.unwrap();
    assert_eq!(page.results, expected[expected.len() - 1..]);

    // A put that changes `created_at` moves the key; a delete takes it out.
    let moved = ApiKeyRecord {
        created_at: Timestamp::from_millis(CREATED.as_millis() + 100),
        ..expected[expected.len() - 1].clone()
    };
    store.put_api_key(moved.clone()).await.unwrap();
    let page = store.list_api_keys(0, 1).await.unwrap();
    assert_eq!(page.results, std::slice::from_ref(&moved));
    assert!(store.delete_api_key(&moved.uid).await.unwrap());
    let page = store.list_api_keys(0, 100).await.unwrap();
    assert_eq!(page.total, total - 1);
    assert_eq!(page.results, expected[..expected.len() - 1]);
}

pub async fn expires_at_round_trips_and_expired_keys_are_listed(store: &TestStore) {
    let now = Timestamp::now();
    let expired = ApiKeyRecord {
        expires_at: Some(now.minus(Duration::from_secs(3600))),
        ..key(&new_uid(), 1)
    };
    let expiring = ApiKeyRecord {
        expires_at: Some(now.plus(Duration::from_millis(300))),
        ..key(&new_uid(), 2)
    };
    let forever = ApiKeyRecord {
        expires_at: None,
        ..key(&new_uid(), 3)
    };
    let far = ApiKeyRecord {
        expires_at: Some(Timestamp::from_millis(253_402_300_799_999)),
        ..key(&new_uid(), 4)
    };
    for key in [&expired, &expiring, &forever, &far] {
        store.create_api_key(key.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.prune_expired(1000).await.unwrap();
    for key in [&expired, &expiring, &forever, &far] {
        assert_eq!(
            store.get_api_key(&key.uid).await.unwrap().as_ref(),
            Some(key)
        );
    }
    // After the four default keys, created now.
    let listed = store.list_api_keys(4, 4).await.unwrap();
    assert_eq!(listed.total, 8);
    assert_eq!(listed.results, [far, forever, expiring, expired]);
}

pub async fn unicode_and_any_text_round_trip(store: &TestStore) {
    let uid = new_uid();
    let odd = ApiKeyRecord {
        name: Some("Clé de recherche 🔑 — 検索キー".to_owned()),
        description: Some(
            "\"quoted\", 'single', new\nline, tab\t, back\\slash, {braces}: % %25".to_owned(),
        ),
        actions: vec![
            "documents.*".to_owned(),
            "indexes.get".to_owned(),
            "é".to_owned(),
        ],
        indexes: vec![
            "a:b{c}%".to_owned(),
            "prod_*".to_owned(),
            "ünï".to_owned(),
            String::new(),
        ],
        ..key(&uid, 0)
    };
    store.create_api_key(odd.clone()).await.unwrap();
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(odd.clone()));
    let empty = ApiKeyRecord {
        name: Some(String::new()),
        description: Some(String::new()),
        actions: Vec::new(),
        indexes: Vec::new(),
        ..odd.clone()
    };
    store.put_api_key(empty.clone()).await.unwrap();
    assert_eq!(store.get_api_key(&uid).await.unwrap(), Some(empty.clone()));
    let listed = store.list_api_keys(4, 10).await.unwrap();
    assert_eq!(listed.results, [empty]);
}

/// An imported key (a copy's) replaces the key with its uid, its place in the listing included,
/// and an expired key is imported like any other.
pub async fn an_imported_key_replaces_the_key_with_its_uid(store: &TestStore) {
    let uid = new_uid();
    store.create_api_key(key(&uid, 0)).await.unwrap();
    let replacement = ApiKeyRecord {
        name: None,
        expires_at: Some(Timestamp::from_millis(1)),
        created_at: Timestamp::now().plus(Duration::from_secs(3600)),
        ..key(&uid, 0)
    };
    store
        .import_rows(&[CopyRow::ApiKey(replacement.clone())])
        .await
        .unwrap();
    assert_eq!(
        store.get_api_key(&uid).await.unwrap(),
        Some(replacement.clone())
    );
    let page = store.list_api_keys(0, 1).await.unwrap();
    assert_eq!((page.total, page.results), (5, vec![replacement]));
}
