//! Canary definitions and their bounded run history.

use miroir_store::{Canary, CanaryRun, CanaryRunStatus, Timestamp};
use serde_json::json;

use crate::support::TestStore;

fn canary(id: &str) -> Canary {
    Canary {
        id: id.to_owned(),
        name: format!("canary {id}"),
        index_uid: "products".to_owned(),
        interval_s: 60,
        query: json!({"q": "inception", "limit": 10, "filter": null}),
        assertions: json!([{"type": "top_hit_id", "value": "movie_inception"}, {"type": "min_hits", "value": 5}]),
        enabled: true,
        created_at: Timestamp::now(),
    }
}

fn run(canary_id: &str, ran_at: i64, status: CanaryRunStatus) -> CanaryRun {
    CanaryRun {
        canary_id: canary_id.to_owned(),
        ran_at: Timestamp::from_millis(ran_at),
        status,
        latency_ms: 12,
        failed_assertions: (status != CanaryRunStatus::Pass)
            .then(|| json!([{"type": "min_hits", "observed": 2}])),
    }
}

pub async fn canary_crud_deletes_runs(store: &TestStore) {
    let mut first = canary("c1");
    store.upsert_canary(first.clone()).await.unwrap();
    store.upsert_canary(canary("c0")).await.unwrap();
    assert_eq!(store.get_canary("c1").await.unwrap(), Some(first.clone()));
    first.enabled = false;
    first.interval_s = 300;
    store.upsert_canary(first.clone()).await.unwrap();
    assert_eq!(store.get_canary("c1").await.unwrap(), Some(first));
    let ids: Vec<String> = store
        .list_canaries()
        .await
        .unwrap()
        .into_iter()
        .map(|canary| canary.id)
        .collect();
    assert_eq!(ids, ["c0", "c1"]);
    store
        .record_canary_run(run("c1", 1_000, CanaryRunStatus::Pass), 10)
        .await
        .unwrap();
    assert!(store.delete_canary("c1").await.unwrap());
    assert!(!store.delete_canary("c1").await.unwrap());
    assert_eq!(store.get_canary("c1").await.unwrap(), None);
    assert!(
        store.list_canary_runs("c1", 10).await.unwrap().is_empty(),
        "runs go with the canary"
    );
}

pub async fn runs_are_trimmed_to_the_bound_in_the_same_step(store: &TestStore) {
    store.upsert_canary(canary("c1")).await.unwrap();
    for n in 0..12 {
        let status = if n % 3 == 0 {
            CanaryRunStatus::Fail
        } else {
            CanaryRunStatus::Pass
        };
        store
            .record_canary_run(run("c1", 1_000 + n, status), 5)
            .await
            .unwrap();
        let runs = store.list_canary_runs("c1", 100).await.unwrap();
        assert!(
            runs.len() <= 5,
            "never more than the bound, even between calls"
        );
    }
    let runs = store.list_canary_runs("c1", 100).await.unwrap();
    let times: Vec<i64> = runs.iter().map(|run| run.ran_at.as_millis()).collect();
    assert_eq!(times, [1_011, 1_010, 1_009, 1_008, 1_007], "newest first");
    assert_eq!(runs[2], run("c1", 1_009, CanaryRunStatus::Fail));
    assert_eq!(store.list_canary_runs("c1", 2).await.unwrap().len(), 2);
    // Recording the same instant again replaces that run.
    store
        .record_canary_run(run("c1", 1_011, CanaryRunStatus::Error), 5)
        .await
        .unwrap();
    let runs = store.list_canary_runs("c1", 100).await.unwrap();
    assert_eq!((runs.len(), runs[0].status), (5, CanaryRunStatus::Error));
    assert!(store.list_canary_runs("other", 5).await.unwrap().is_empty());
}
