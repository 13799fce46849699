//! What only a Redis Cluster can show: the task keyspace spreads over the masters while every
//! operation keeps working (the whole suite also runs on the cluster, see `main.rs`).

use futures::StreamExt;
use miroir_store::{TaskKind, TaskQuery};

use crate::support::{self, new_task};

/// Tasks written for the spread check.
const TASKS: u64 = 100_000;

/// Creates in flight at once.
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_of_100k_tasks_spread_evenly_over_the_masters() {
    let store = support::redis_cluster().await;
    let prefix = store
        .prefix()
        .expect("a redis store has a prefix")
        .to_owned();
    let created: Vec<u64> = futures::stream::iter(0..TASKS)
        .map(|number| {
            let store = store.store.clone();
            async move {
                let index = format!("index-{}", number % 7);
                store
                    .create_task(new_task(&index, TaskKind::DocumentAdditionOrUpdate))
                    .await
                    .unwrap()
                    .uid
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert_eq!(created.len() as u64, TASKS);
    assert_eq!(store.count_tasks().await.unwrap(), TASKS);

    let cluster = miroir_test_support::shared_redis_cluster();
    let per_node = cluster
        .count_keys_per_node(&format!("{prefix}:*:task:*"))
        .unwrap();
    assert_eq!(per_node.iter().sum::<u64>(), TASKS, "{per_node:?}");
    let even = TASKS as f64 / per_node.len() as f64;
    let holding = per_node.iter().filter(|count| **count > 0).count();
    assert!(
        holding as f64 >= 0.9 * per_node.len() as f64,
        "only {holding} of {} masters hold task keys: {per_node:?}",
        per_node.len()
    );
    for (node, count) in per_node.iter().enumerate() {
        let share = *count as f64 / even;
        assert!(
            (0.8..=1.2).contains(&share),
            "master {node} holds {count} task keys, {share:.2}× even: {per_node:?}"
        );
    }
    eprintln!("task keys per master: {per_node:?} (even: {even:.0})");

    // The newest page merges the partitions: consecutive uids, newest first.
    let page = store
        .list_tasks(&TaskQuery {
            limit: 20,
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    let newest = created.iter().max().copied().unwrap();
    let uids: Vec<u64> = page.results.iter().map(|task| task.uid).collect();
    assert_eq!(uids, (newest - 19..=newest).rev().collect::<Vec<_>>());
    assert_eq!(page.total, TASKS);
    assert_eq!(page.next, Some(newest - 20));
}
