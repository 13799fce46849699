//! CDC cursors (compare-and-set) and the overflow buffer (FIFO, byte-bounded).

use miroir_store::{CdcOverflowStats, StoreError, Timestamp};

use crate::support::TestStore;

pub async fn cursor_is_compare_and_set(store: &TestStore) {
    let now = Timestamp::now();
    assert_eq!(store.get_cdc_cursor("kafka", "movies").await.unwrap(), None);
    let stale = store
        .advance_cdc_cursor("kafka", "movies", Some(3), 5, now)
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "no cursor yet: {stale:?}"
    );
    let first = store
        .advance_cdc_cursor("kafka", "movies", None, 10, now)
        .await
        .unwrap();
    assert_eq!((first.last_event_seq, first.updated_at), (10, now));
    assert!(matches!(
        store
            .advance_cdc_cursor("kafka", "movies", None, 11, now)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .advance_cdc_cursor("kafka", "movies", Some(9), 11, now)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            store
                .advance_cdc_cursor("kafka", "movies", Some(10), 4, now)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "never backwards"
    );
    let second = store
        .advance_cdc_cursor("kafka", "movies", Some(10), 25, now)
        .await
        .unwrap();
    assert_eq!(
        store.get_cdc_cursor("kafka", "movies").await.unwrap(),
        Some(second)
    );
    store
        .advance_cdc_cursor("kafka", "books", None, 1, now)
        .await
        .unwrap();
    store
        .advance_cdc_cursor("webhook:main", "books", None, 7, now)
        .await
        .unwrap();
    let listed: Vec<(String, u64)> = store
        .list_cdc_cursors("kafka")
        .await
        .unwrap()
        .into_iter()
        .map(|cursor| (cursor.index_uid, cursor.last_event_seq))
        .collect();
    assert_eq!(listed, [("books".to_owned(), 1), ("movies".to_owned(), 25)]);
    assert_eq!(
        store.list_cdc_cursors("webhook:main").await.unwrap().len(),
        1
    );
}

pub async fn overflow_is_fifo_and_bounded(store: &TestStore) {
    let events: Vec<Vec<u8>> = (0..5u8).map(|n| vec![n; 10]).collect();
    assert!(
        store
            .push_cdc_overflow("kafka", events[..3].to_vec(), 45)
            .await
            .unwrap()
    );
    assert_eq!(
        store.cdc_overflow_stats("kafka").await.unwrap(),
        CdcOverflowStats {
            events: 3,
            bytes: 30
        }
    );
    // 30 + 20 > 45: all or nothing.
    assert!(
        !store
            .push_cdc_overflow("kafka", events[3..].to_vec(), 45)
            .await
            .unwrap()
    );
    assert_eq!(store.cdc_overflow_stats("kafka").await.unwrap().events, 3);
    assert_eq!(
        store.pop_cdc_overflow("kafka", 2).await.unwrap(),
        events[..2].to_vec()
    );
    assert!(
        store
            .push_cdc_overflow("kafka", events[3..].to_vec(), 45)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pop_cdc_overflow("kafka", 10).await.unwrap(),
        vec![events[2].clone(), events[3].clone(), events[4].clone()]
    );
    assert_eq!(
        store.cdc_overflow_stats("kafka").await.unwrap(),
        CdcOverflowStats::default()
    );
    assert!(
        store
            .pop_cdc_overflow("kafka", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.cdc_overflow_stats("other").await.unwrap(),
        CdcOverflowStats::default()
    );
}
