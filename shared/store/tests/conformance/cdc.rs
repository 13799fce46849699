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

pub async fn list_all_cursors_orders_by_sink_then_index(store: &TestStore) {
    assert_eq!(store.list_all_cdc_cursors().await.unwrap(), []);
    let now = Timestamp::from_millis(1_723_136_755_791);
    for (sink, index, seq) in [
        ("webhook:main", "movies", 3),
        ("kafka", "movies", 7),
        ("webhook:main", "books", 9),
        ("kafka", "books", 1),
        ("nats", "logs", u64::MAX),
    ] {
        store
            .advance_cdc_cursor(sink, index, None, seq, now)
            .await
            .unwrap();
    }
    store
        .advance_cdc_cursor("kafka", "books", Some(1), 2, now)
        .await
        .unwrap();
    // A refused first advance registers nothing visible.
    assert!(
        store
            .advance_cdc_cursor("kafka", "books", None, 5, now)
            .await
            .is_err()
    );
    let listed: Vec<(String, String, u64)> = store
        .list_all_cdc_cursors()
        .await
        .unwrap()
        .into_iter()
        .map(|cursor| {
            assert_eq!(cursor.updated_at, now);
            (cursor.sink_name, cursor.index_uid, cursor.last_event_seq)
        })
        .collect();
    let expected: Vec<(String, String, u64)> = [
        ("kafka", "books", 2),
        ("kafka", "movies", 7),
        ("nats", "logs", u64::MAX),
        ("webhook:main", "books", 9),
        ("webhook:main", "movies", 3),
    ]
    .into_iter()
    .map(|(sink, index, seq)| (sink.to_owned(), index.to_owned(), seq))
    .collect();
    assert_eq!(listed, expected);
    let mut per_sink = store.list_cdc_cursors("kafka").await.unwrap();
    per_sink.extend(store.list_cdc_cursors("nats").await.unwrap());
    per_sink.extend(store.list_cdc_cursors("webhook:main").await.unwrap());
    assert_eq!(store.list_all_cdc_cursors().await.unwrap(), per_sink);
}
