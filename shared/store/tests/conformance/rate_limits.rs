//! Fixed-window rate limits and the admin-login backoff.

use std::time::Duration;

use miroir_store::{BackoffPolicy, RateLimitBucket, Timestamp};

use crate::support::{TestStore, sleep_ms};

pub async fn fixed_window_counts_and_resets(store: &TestStore) {
    let window = Duration::from_millis(400);
    let before = Timestamp::now();
    let first = store
        .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.1", window)
        .await
        .unwrap();
    assert_eq!(first.count, 1);
    assert!(first.resets_at > before && first.resets_at <= Timestamp::now().plus(window));
    for expected in 2..=5 {
        let hit = store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.1", window)
            .await
            .unwrap();
        assert_eq!(hit.count, expected);
        assert!(
            hit.resets_at
                .as_millis()
                .abs_diff(first.resets_at.as_millis())
                <= 5,
            "the window does not slide"
        );
    }
    // Buckets and keys are independent.
    assert_eq!(
        store
            .hit_rate_limit(RateLimitBucket::SearchUi, "10.0.0.1", window)
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.2", window)
            .await
            .unwrap()
            .count,
        1
    );
    sleep_ms(550).await;
    assert_eq!(
        store
            .hit_rate_limit(RateLimitBucket::AdminLogin, "10.0.0.1", window)
            .await
            .unwrap()
            .count,
        1,
        "a new window"
    );
}

pub async fn login_backoff_grows_and_resets(store: &TestStore) {
    let policy = BackoffPolicy::default();
    assert_eq!(store.get_login_backoff("10.0.0.9").await.unwrap(), None);
    for failures in 1..=4 {
        let state = store
            .record_login_failure("10.0.0.9", policy)
            .await
            .unwrap();
        assert_eq!(
            (state.failed_count, state.next_allowed_at),
            (failures, None)
        );
    }
    let mut previous_wait = 0;
    for failures in 5..=9 {
        let before = Timestamp::now();
        let state = store
            .record_login_failure("10.0.0.9", policy)
            .await
            .unwrap();
        assert_eq!(state.failed_count, failures);
        let wait = state.next_allowed_at.unwrap().as_millis() - before.as_millis();
        let expected = 600_000i64 << (failures - 5);
        assert!(
            (wait - expected).abs() < 2_000,
            "{failures} failures: waited {wait} ms, expected {expected}"
        );
        assert!(wait > previous_wait);
        previous_wait = wait;
    }
    assert_eq!(
        store
            .get_login_backoff("10.0.0.9")
            .await
            .unwrap()
            .unwrap()
            .failed_count,
        9
    );
    // The cap.
    for _ in 0..10 {
        store
            .record_login_failure("10.0.0.9", policy)
            .await
            .unwrap();
    }
    let capped = store
        .record_login_failure("10.0.0.9", policy)
        .await
        .unwrap();
    let wait = capped.next_allowed_at.unwrap().as_millis() - Timestamp::now().as_millis();
    assert!(
        wait <= 86_400_000 && wait > 86_000_000,
        "capped at 24h: {wait}"
    );
    store
        .hit_rate_limit(
            RateLimitBucket::AdminLogin,
            "10.0.0.9",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    store.record_login_success("10.0.0.9").await.unwrap();
    assert_eq!(store.get_login_backoff("10.0.0.9").await.unwrap(), None);
    let counter = store
        .hit_rate_limit(
            RateLimitBucket::AdminLogin,
            "10.0.0.9",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(counter.count, 1, "success resets the login counter too");
}
