//! Index records (table 15): compare-and-set writes on a version that only grows, tombstones,
//! CAS removal, and listing in uid byte order.

use miroir_store::{CopyRow, IndexRecord, IndexState, StoreError, Timestamp};

use crate::support::TestStore;

const CREATED: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// An active record of `uid` with 2 shards, written at `CREATED` (its `version` is ignored by
/// `put_index`: 0 here).
fn record(uid: &str) -> IndexRecord {
    IndexRecord {
        uid: uid.to_owned(),
        primary_key: Some("id".to_owned()),
        physical_uid: uid.to_owned(),
        shards: 2,
        settings_version: 0,
        state: IndexState::Active,
        version: 0,
        created_at: CREATED,
        updated_at: CREATED,
    }
}

/// `record(uid)` changed at `CREATED + millis`.
fn changed(uid: &str, millis: i64) -> IndexRecord {
    let at = Timestamp::from_millis(CREATED.as_millis() + millis);
    IndexRecord {
        created_at: at,
        updated_at: at,
        ..record(uid)
    }
}

fn uids(records: &[IndexRecord]) -> Vec<&str> {
    records.iter().map(|record| record.uid.as_str()).collect()
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
}

pub async fn an_unknown_uid_has_no_record(store: &TestStore) {
    assert_eq!(store.get_index("movies").await.unwrap(), None);
    assert_eq!(store.list_indexes(None, 10).await.unwrap(), []);
    assert!(!store.delete_index("movies", 0).await.unwrap());
    assert!(!store.delete_index("movies", 1).await.unwrap());
}

pub async fn create_expects_version_0_and_stores_version_1(store: &TestStore) {
    let created = store
        .put_index(
            IndexRecord {
                primary_key: None,
                version: 42,
                ..record("movies")
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        created,
        IndexRecord {
            primary_key: None,
            version: 1,
            ..record("movies")
        },
        "the stored version is expected + 1, whatever the record says"
    );
    assert!(created.is_active());
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(created.clone())
    );
    // A second creation finds the record.
    assert_conflict(store.put_index(changed("movies", 1), 0).await);
    assert_eq!(store.get_index("movies").await.unwrap(), Some(created));
}

pub async fn racing_creators_have_one_winner(store: &TestStore) {
    let handles: Vec<_> = (1..=8)
        .map(|shards| {
            let store = store.store.clone();
            tokio::spawn(async move {
                let record = IndexRecord {
                    shards,
                    ..record("race")
                };
                store.put_index(record, 0).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Ok(record) => winners.push(record),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(winners[0].version, 1);
    assert_eq!(
        store.get_index("race").await.unwrap(),
        Some(winners.remove(0))
    );
}

pub async fn racing_updates_never_lose_an_update(store: &TestStore) {
    store.put_index(record("hot"), 0).await.unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = store.store.clone();
            tokio::spawn(async move {
                let mut won = 0;
                for _ in 0..5 {
                    let current = store.get_index("hot").await.unwrap().unwrap();
                    let next = IndexRecord {
                        settings_version: current.settings_version + 1,
                        ..current.clone()
                    };
                    match store.put_index(next, current.version).await {
                        Ok(_) => won += 1,
                        Err(StoreError::Conflict(_)) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut won = 0;
    for handle in handles {
        won += handle.await.unwrap();
    }
    let stored = store.get_index("hot").await.unwrap().unwrap();
    assert!(won >= 1);
    assert_eq!(stored.version, 1 + won, "one version per successful write");
    assert_eq!(stored.settings_version, won, "no write was lost");
}

pub async fn a_stale_version_is_a_conflict_and_changes_nothing(store: &TestStore) {
    store.put_index(record("movies"), 0).await.unwrap();
    let current = store.put_index(changed("movies", 1), 1).await.unwrap();
    assert_eq!(current.version, 2);
    for stale in [0, 1, 3, u64::MAX - 1] {
        let write = IndexRecord {
            shards: 9,
            ..changed("movies", 2)
        };
        assert_conflict(store.put_index(write, stale).await);
    }
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(current),
        "nothing changed"
    );
    // Expecting a version of a uid that has no record is stale too.
    assert_conflict(store.put_index(record("absent"), 1).await);
    assert_eq!(store.get_index("absent").await.unwrap(), None);
    assert_eq!(
        uids(&store.list_indexes(None, 10).await.unwrap()),
        ["movies"]
    );
}

pub async fn an_update_keeps_created_at_and_bumps_the_version(store: &TestStore) {
    let created = store
        .put_index(
            IndexRecord {
                primary_key: None,
                ..record("movies")
            },
            0,
        )
        .await
        .unwrap();
    let update = IndexRecord {
        primary_key: Some("movie_id".to_owned()),
        physical_uid: "movies-v2".to_owned(),
        shards: 4,
        settings_version: u64::MAX,
        ..changed("movies", 60_000)
    };
    let updated = store.put_index(update.clone(), 1).await.unwrap();
    assert_eq!(
        updated,
        IndexRecord {
            version: 2,
            created_at: created.created_at,
            ..update
        },
        "every field replaced but the first created_at"
    );
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(updated.clone())
    );
    // And back to no primary key: an optional field can be cleared.
    let cleared = store
        .put_index(
            IndexRecord {
                primary_key: None,
                ..changed("movies", 120_000)
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!((cleared.version, cleared.primary_key), (3, None));
    assert_eq!(cleared.created_at, CREATED);
    assert_eq!(
        store
            .get_index("movies")
            .await
            .unwrap()
            .unwrap()
            .primary_key,
        None
    );
}

pub async fn a_tombstone_round_trips_and_recreation_continues_the_version(store: &TestStore) {
    store.put_index(record("movies"), 0).await.unwrap();
    let deleting = store
        .put_index(
            IndexRecord {
                state: IndexState::Deleting,
                ..changed("movies", 1)
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        (deleting.state, deleting.version),
        (IndexState::Deleting, 2)
    );
    assert!(!deleting.is_active());
    let tombstone = store
        .put_index(
            IndexRecord {
                state: IndexState::Deleted,
                primary_key: None,
                ..changed("movies", 2)
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(tombstone.clone())
    );
    assert_eq!(tombstone.version, 3);
    assert_eq!(
        store.list_indexes(None, 10).await.unwrap(),
        std::slice::from_ref(&tombstone),
        "tombstones are listed"
    );
    // A creation must expect the tombstone's version: the version keeps growing.
    assert_conflict(store.put_index(changed("movies", 3), 0).await);
    let recreated = store.put_index(changed("movies", 3), 3).await.unwrap();
    assert_eq!(
        (recreated.state, recreated.version, recreated.created_at),
        (IndexState::Active, 4, CREATED)
    );
    assert_eq!(
        recreated.updated_at,
        Timestamp::from_millis(CREATED.as_millis() + 3)
    );
    assert_eq!(store.get_index("movies").await.unwrap(), Some(recreated));
}

pub async fn delete_is_compare_and_set(store: &TestStore) {
    store.put_index(record("movies"), 0).await.unwrap();
    let current = store.put_index(changed("movies", 1), 1).await.unwrap();
    for stale in [0, 1, 3] {
        assert_conflict(store.delete_index("movies", stale).await);
    }
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(current),
        "nothing removed"
    );
    assert!(store.delete_index("movies", 2).await.unwrap());
    assert_eq!(store.get_index("movies").await.unwrap(), None);
    assert_eq!(store.list_indexes(None, 10).await.unwrap(), []);
    assert!(!store.delete_index("movies", 2).await.unwrap());
    // No tombstone left: the uid starts over.
    let again = store.put_index(changed("movies", 2), 0).await.unwrap();
    assert_eq!(
        (again.version, again.created_at),
        (1, Timestamp::from_millis(CREATED.as_millis() + 2))
    );
}

pub async fn list_is_in_uid_byte_order_with_paging(store: &TestStore) {
    let mut expected: Vec<String> = [
        "é", "a-b", "B", "a", "b", "a_b", "A", "z", "0", "a:b{c}%", "aa", "Z",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for uid in &expected {
        store.put_index(record(uid), 0).await.unwrap();
    }
    let tombstone = IndexRecord {
        state: IndexState::Deleted,
        ..record("deleted")
    };
    store.put_index(tombstone, 0).await.unwrap();
    expected.push("deleted".to_owned());
    // `String`'s order is the order of the UTF-8 bytes.
    expected.sort();
    assert_eq!(
        expected,
        [
            "0", "A", "B", "Z", "a", "a-b", "a:b{c}%", "a_b", "aa", "b", "deleted", "z", "é"
        ]
    );

    let all = store.list_indexes(None, 100).await.unwrap();
    assert_eq!(uids(&all), expected);
    assert!(all.iter().all(|record| record.version == 1));
    assert_eq!(
        uids(&store.list_indexes(None, 3).await.unwrap()),
        ["0", "A", "B"]
    );
    assert_eq!(store.list_indexes(None, 0).await.unwrap(), []);
    assert_eq!(
        uids(&store.list_indexes(Some("a"), 2).await.unwrap()),
        ["a-b", "a:b{c}%"],
        "strictly after"
    );
    assert_eq!(
        uids(&store.list_indexes(Some("a0"), 100).await.unwrap()),
        ["a:b{c}%", "a_b", "aa", "b", "deleted", "z", "é"],
        "after a uid that has no record"
    );
    assert_eq!(store.list_indexes(Some("é"), 10).await.unwrap(), []);
    assert_eq!(
        uids(&store.list_indexes(Some("z"), usize::MAX).await.unwrap()),
        ["é"]
    );

    for limit in [1, 2, 5] {
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list_indexes(after.as_deref(), limit).await.unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some(last.uid.clone());
            paged.extend(page);
        }
        assert_eq!(paged, all, "pages of {limit}");
    }
}

pub async fn invalid_records_are_refused_and_change_nothing(store: &TestStore) {
    let stored = store.put_index(record("movies"), 0).await.unwrap();
    let invalid = [
        IndexRecord {
            uid: String::new(),
            ..record("movies")
        },
        IndexRecord {
            physical_uid: String::new(),
            ..record("movies")
        },
        IndexRecord {
            shards: 0,
            ..record("movies")
        },
    ];
    for bad in invalid {
        assert_invalid(store.put_index(bad.clone(), 1).await);
        assert_invalid(store.put_index(bad, 0).await);
    }
    assert_invalid(
        store
            .put_index(
                IndexRecord {
                    shards: 0,
                    ..record("other")
                },
                0,
            )
            .await,
    );
    // No version follows u64::MAX.
    assert_invalid(store.put_index(record("movies"), u64::MAX).await);
    assert_eq!(
        store.get_index("movies").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(store.get_index("").await.unwrap(), None);
    assert_eq!(store.get_index("other").await.unwrap(), None);
    assert_eq!(store.list_indexes(None, 10).await.unwrap(), [stored]);
}

/// Versions are compared over the whole `u64` range (a record at a version past `i64::MAX`,
/// which only a copy writes, is still updated by compare-and-set).
pub async fn versions_use_the_whole_u64_range(store: &TestStore) {
    let high = IndexRecord {
        version: u64::MAX - 1,
        ..record("movies")
    };
    store
        .import_rows(&[CopyRow::Index(high.clone())])
        .await
        .unwrap();
    assert_eq!(store.get_index("movies").await.unwrap(), Some(high.clone()));
    assert_conflict(store.put_index(changed("movies", 1), u64::MAX - 2).await);
    assert_conflict(store.put_index(changed("movies", 1), 0).await);
    let last = store
        .put_index(changed("movies", 1), u64::MAX - 1)
        .await
        .unwrap();
    assert_eq!((last.version, last.created_at), (u64::MAX, CREATED));
    assert_invalid(store.put_index(changed("movies", 2), u64::MAX).await);
    assert_conflict(store.delete_index("movies", u64::MAX - 1).await);
    assert!(store.delete_index("movies", u64::MAX).await.unwrap());
}
