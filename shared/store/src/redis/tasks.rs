//! Tasks: one hash per task plus sorted-set indexes (all uids, per status, per type, per index,
//! and enqueued/started/finished times) that `list_tasks` intersects server-side.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row};
use crate::error::{StoreError, StoreResult};
use crate::leases::Fence;
use crate::tasks::{
    NewTask, Task, TaskPage, TaskQuery, TaskStatus, TaskStore, TaskUid, TaskUpdate, TimeRange,
};
use crate::time::Timestamp;

const TABLE: &str = "tasks";

/// Scratch keys `task_list.lua` may use.
const LIST_SCRATCH_KEYS: usize = 8;

lua_script!(CREATE = "task_create.lua");
lua_script!(UPDATE = "task_update.lua");
lua_script!(LIST = "task_list.lua");
lua_script!(PRUNE = "task_prune.lua");
lua_script!(DELETE = "task_delete.lua");

fn decode_task(row: &Row) -> StoreResult<Task> {
    Ok(Task {
        uid: row.parse("uid")?,
        index_uid: row.opt_text("index_uid")?,
        kind: row.parse("kind")?,
        status: row.parse("status")?,
        node_tasks: row.json("node_tasks")?,
        details: row.opt_json("details")?,
        error: row.opt_json("error")?,
        canceled_by: row.opt_parse("canceled_by")?,
        enqueued_at: row.timestamp("enqueued_at")?,
        started_at: row.opt_timestamp("started_at")?,
        finished_at: row.opt_timestamp("finished_at")?,
    })
}

fn update_fields(update: &TaskUpdate) -> StoreResult<Fields> {
    Ok(Fields::new()
        .display("status", update.status)
        .json("node_tasks", &update.node_tasks)?
        .optional_json("details", update.details.as_ref())?
        .optional_json("error", update.error.as_ref())?
        .optional("canceled_by", update.canceled_by, Fields::display)
        .optional("started_at", update.started_at, Fields::timestamp)
        .optional("finished_at", update.finished_at, Fields::timestamp))
}

/// `ZRANGESTORE … BYSCORE` bounds of an exclusive window, or `('', '')` for no window.
fn window_bounds(range: &TimeRange) -> (String, String) {
    if range.is_unbounded() {
        return (String::new(), String::new());
    }
    let bound = |value: Option<Timestamp>, open: &str| {
        value.map_or_else(|| open.to_owned(), |time| format!("({}", time.as_millis()))
    };
    (bound(range.after, "-inf"), bound(range.before, "+inf"))
}

/// Distinct values of a filter, in a stable order.
fn distinct<T: Ord + Clone>(values: &[T]) -> Vec<T> {
    values
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn optional_millis(value: Option<Timestamp>) -> String {
    value
        .map(|time| time.as_millis().to_string())
        .unwrap_or_default()
}

impl RedisStore {
    /// The tasks of `uids` in that order, skipping the ones deleted meanwhile.
    async fn tasks_by_uid(&self, uids: &[TaskUid]) -> StoreResult<Vec<Task>> {
        let keys: Vec<String> = uids.iter().map(|uid| self.keys().task(*uid)).collect();
        self.rows(TABLE, &keys)
            .await?
            .iter()
            .map(decode_task)
            .collect()
    }
}

#[async_trait]
impl TaskStore for RedisStore {
    async fn create_task(&self, task: NewTask) -> StoreResult<Task> {
        let keys = self.keys();
        let fields = Fields::new()
            .display("kind", task.kind)
            .display("status", task.status)
            .json("node_tasks", &task.node_tasks)?
            .timestamp("enqueued_at", task.enqueued_at)
            .optional("index_uid", task.index_uid.as_deref(), Fields::text)
            .optional_json("details", task.details.as_ref())?;
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(keys.task_seq())
            .key(keys.task_index_all())
            .key(keys.tasks_by_status(task.status))
            .key(keys.tasks_by_kind(task.kind))
            .key(keys.tasks_enqueued_at());
        if let Some(index_uid) = &task.index_uid {
            invocation.key(keys.tasks_by_index(index_uid));
        }
        invocation
            .arg(keys.task_prefix())
            .arg(task.enqueued_at.as_millis())
            .arg(fields.script_args());
        let uid: TaskUid = self.eval(&invocation).await?;
        Ok(task.into_task(uid))
    }

    async fn get_task(&self, uid: TaskUid) -> StoreResult<Option<Task>> {
        self.row(TABLE, &self.keys().task(uid))
            .await?
            .as_ref()
            .map(decode_task)
            .transpose()
    }

    async fn update_task(&self, uid: TaskUid, update: TaskUpdate) -> StoreResult<Task> {
        let keys = self.keys();
        let status_position = TaskStatus::ALL
            .iter()
            .position(|status| *status == update.status)
            .map_or(0, |index| index + 1);
        let terminal: Vec<&str> = TaskStatus::ALL
            .iter()
            .filter(|status| status.is_terminal())
            .map(|status| status.as_str())
            .collect();
        let mut invocation = UPDATE.prepare_invoke();
        invocation
            .key(keys.task(uid))
            .key(keys.tasks_started_at())
            .key(keys.tasks_finished_at());
        for status in TaskStatus::ALL {
            invocation.key(keys.tasks_by_status(*status));
        }
        invocation
            .arg(uid)
            .arg(status_position)
            .arg(optional_millis(update.started_at))
            .arg(optional_millis(update.finished_at))
            .arg(terminal.join(" "))
            .arg(update_fields(&update)?.script_args());
        let (written, hash): (u8, Value) = self.eval(&invocation).await?;
        let task = decode_task(&Row::decode_present(TABLE, hash)?)?;
        // A terminal task is final, so comparing after the script cannot race with a writer.
        if written == 0 && task.to_update() != update {
            return Err(StoreError::conflict(format_args!(
                "task {uid} is already {} and cannot change",
                task.status
            )));
        }
        Ok(task)
    }

    async fn list_tasks(&self, query: &TaskQuery) -> StoreResult<TaskPage> {
        let empty_filter = query.uids.as_ref().is_some_and(Vec::is_empty)
            || query.statuses.as_ref().is_some_and(Vec::is_empty)
            || query.kinds.as_ref().is_some_and(Vec::is_empty)
            || query.index_uids.as_ref().is_some_and(Vec::is_empty);
        if empty_filter {
            return Ok(TaskPage {
                results: Vec::new(),
                total: 0,
                next: None,
            });
        }
        let keys = self.keys();
        let mut invocation = LIST.prepare_invoke();
        invocation
            .key(keys.task_index_all())
            .key(keys.tasks_enqueued_at())
            .key(keys.tasks_started_at())
            .key(keys.tasks_finished_at());
        for number in 1..=LIST_SCRATCH_KEYS {
            invocation.key(keys.tasks_scratch(number));
        }
        invocation
            .arg(query.from.map(|uid| uid.to_string()).unwrap_or_default())
            .arg(query.limit)
            .arg(if query.reverse { "1" } else { "0" });
        match &query.uids {
            None => invocation.arg(-1),
            Some(uids) => {
                let uids = distinct(uids);
                invocation.arg(uids.len()).arg(uids)
            }
        };
        let status_keys: Option<Vec<String>> = query.statuses.as_ref().map(|statuses| {
            distinct(statuses)
                .into_iter()
                .map(|status| keys.tasks_by_status(status))
                .collect()
        });
        let kind_keys = query.kinds.as_ref().map(|kinds| {
            distinct(kinds)
                .into_iter()
                .map(|kind| keys.tasks_by_kind(kind))
                .collect()
        });
        let index_keys = query.index_uids.as_ref().map(|indexes| {
            distinct(indexes)
                .iter()
                .map(|index| keys.tasks_by_index(index))
                .collect()
        });
        for filter_keys in [status_keys, kind_keys, index_keys] {
            match filter_keys {
                None => invocation.arg(-1),
                Some(filter_keys) => invocation.arg(filter_keys.len()).key(filter_keys),
            };
        }
        for range in [&query.enqueued, &query.started, &query.finished] {
            let (min, max) = window_bounds(range);
            invocation.arg(min).arg(max);
        }
        let mut reply = codec::array(TABLE, self.eval(&invocation).await?)?.into_iter();
        let total = reply
            .next()
            .ok_or_else(|| StoreError::corrupt(TABLE, "list script returned nothing"))?;
        let total: u64 = codec::integer(TABLE, total)?;
        let mut uids = reply
            .map(|value| codec::integer(TABLE, value))
            .collect::<StoreResult<Vec<TaskUid>>>()?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let next = (uids.len() > limit).then(|| uids[limit]);
        uids.truncate(limit);
        Ok(TaskPage {
            results: self.tasks_by_uid(&uids).await?,
            total,
            next,
        })
    }

    async fn delete_task(&self, uid: TaskUid) -> StoreResult<bool> {
        let keys = self.keys();
        let mut invocation = DELETE.prepare_invoke();
        invocation
            .key(keys.task_index_all())
            .key(keys.tasks_enqueued_at())
            .key(keys.tasks_started_at())
            .key(keys.tasks_finished_at());
        for status in TaskStatus::ALL {
            invocation.key(keys.tasks_by_status(*status));
        }
        invocation
            .arg(uid)
            .arg(keys.task_prefix())
            .arg(keys.tasks_by_kind_prefix())
            .arg(keys.tasks_by_index_prefix());
        let deleted: u64 = self.eval(&invocation).await?;
        Ok(deleted > 0)
    }

    async fn count_tasks(&self) -> StoreResult<u64> {
        self.query(redis::cmd("ZCARD").arg(self.keys().task_index_all()))
            .await
    }

    async fn prune_tasks(
        &self,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<&Fence>,
    ) -> StoreResult<u64> {
        let keys = self.keys();
        let mut invocation = PRUNE.prepare_invoke();
        invocation
            .key(keys.task_index_all())
            .key(keys.tasks_enqueued_at())
            .key(keys.tasks_started_at())
            .key(keys.tasks_finished_at())
            .key(fence.map_or_else(
                || keys.tasks_enqueued_at(),
                |fence| keys.lease_token(&fence.scope),
            ));
        for status in TaskStatus::ALL.iter().filter(|status| status.is_terminal()) {
            invocation.key(keys.tasks_by_status(*status));
        }
        invocation
            .arg(enqueued_before.as_millis())
            .arg(batch)
            .arg(keys.task_prefix())
            .arg(keys.tasks_by_kind_prefix())
            .arg(keys.tasks_by_index_prefix())
            .arg(fence.map_or_else(String::new, |fence| fence.token.to_string()));
        let (outcome, value): (String, u64) = self.eval(&invocation).await?;
        match (outcome.as_str(), fence) {
            ("fenced", Some(fence)) => Err(StoreError::Fenced {
                scope: fence.scope.clone(),
                token: fence.token,
                current: value,
            }),
            _ => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::test_support;
    use crate::tasks::{NodeTaskMap, TaskKind};

    /// A tiny deterministic generator, so failures reproduce.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % sides as u64).expect("small")
        }

        fn pick<T: Clone>(&mut self, values: &[T]) -> T {
            values[self.roll(values.len())].clone()
        }
    }

    const BASE: i64 = 1_700_000_000_000;
    const KINDS: [TaskKind; 3] = [
        TaskKind::DocumentAdditionOrUpdate,
        TaskKind::IndexCreation,
        TaskKind::SettingsUpdate,
    ];
    const INDEXES: [Option<&str>; 4] = [Some("a"), Some("b"), Some("a:b{c}"), None];

    fn at(offset: i64) -> Timestamp {
        Timestamp::from_millis(BASE + offset)
    }

    /// Seeds tasks in every status with out-of-order enqueue times and partial start/finish.
    async fn seed(store: &RedisStore, dice: &mut Dice) -> Vec<Task> {
        let mut tasks = Vec::new();
        for number in 0..60 {
            let created = store
                .create_task(NewTask {
                    index_uid: dice.pick(&INDEXES).map(str::to_owned),
                    kind: dice.pick(&KINDS),
                    status: TaskStatus::Enqueued,
                    node_tasks: NodeTaskMap::from([("n".to_owned(), number)]),
                    details: None,
                    enqueued_at: at(i64::try_from(dice.roll(100)).expect("small")),
                })
                .await
                .expect("create");
            let mut update = created.to_update();
            update.status = dice.pick(TaskStatus::ALL);
            if update.status != TaskStatus::Enqueued {
                update.started_at = Some(at(100 + i64::try_from(dice.roll(100)).expect("small")));
            }
            if update.status.is_terminal() {
                update.finished_at = Some(at(200 + i64::try_from(dice.roll(100)).expect("small")));
            }
            tasks.push(
                store
                    .update_task(created.uid, update)
                    .await
                    .expect("update"),
            );
        }
        tasks
    }

    fn window(dice: &mut Dice, offset: i64) -> TimeRange {
        let mut bound = || match dice.roll(3) {
            0 => None,
            _ => Some(at(offset + i64::try_from(dice.roll(100)).expect("small"))),
        };
        TimeRange {
            after: bound(),
            before: bound(),
        }
    }

    fn random_query(dice: &mut Dice, tasks: &[Task]) -> TaskQuery {
        let maybe = |dice: &mut Dice| dice.roll(3) == 0;
        let uids = maybe(dice).then(|| {
            (0..dice.roll(6))
                .map(|_| dice.pick(tasks).uid + u64::from(dice.roll(4) == 0) * 1000)
                .collect()
        });
        let statuses = maybe(dice).then(|| {
            (0..dice.roll(3))
                .map(|_| dice.pick(TaskStatus::ALL))
                .collect()
        });
        let kinds = maybe(dice).then(|| (0..dice.roll(3)).map(|_| dice.pick(&KINDS)).collect());
        let index_uids = maybe(dice).then(|| {
            (0..dice.roll(3))
                .filter_map(|_| dice.pick(&INDEXES).map(str::to_owned))
                .collect()
        });
        let from = (dice.roll(3) == 0).then(|| dice.pick(tasks).uid);
        TaskQuery {
            uids,
            statuses,
            kinds,
            index_uids,
            enqueued: if maybe(dice) {
                window(dice, 0)
            } else {
                TimeRange::default()
            },
            started: if maybe(dice) {
                window(dice, 100)
            } else {
                TimeRange::default()
            },
            finished: if maybe(dice) {
                window(dice, 200)
            } else {
                TimeRange::default()
            },
            from,
            limit: dice.pick(&[0, 1, 3, 20]),
            reverse: dice.roll(2) == 0,
        }
    }

    /// The page `TaskQuery::matches` and the paging rules say `list_tasks` must return.
    fn reference(tasks: &[Task], query: &TaskQuery) -> TaskPage {
        let mut matching: Vec<&Task> = tasks.iter().filter(|task| query.matches(task)).collect();
        let total = matching.len() as u64;
        if !query.reverse {
            matching.reverse();
        }
        let mut page: Vec<Task> = matching
            .into_iter()
            .filter(|task| match (query.from, query.reverse) {
                (None, _) => true,
                (Some(from), false) => task.uid <= from,
                (Some(from), true) => task.uid >= from,
            })
            .take(query.limit as usize + 1)
            .cloned()
            .collect();
        let next = (page.len() > query.limit as usize).then(|| page[query.limit as usize].uid);
        page.truncate(query.limit as usize);
        TaskPage {
            results: page,
            total,
            next,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn list_equals_the_reference_for_random_queries_and_leaves_no_scratch_keys() {
        let store = test_support::store("list_tasks").await;
        let mut dice = Dice(0x5EED_1234_ABCD_0001);
        let tasks = seed(&store, &mut dice).await;
        for round in 0..400 {
            let query = random_query(&mut dice, &tasks);
            let page = store.list_tasks(&query).await.expect("list");
            assert_eq!(page, reference(&tasks, &query), "round {round}: {query:?}");
        }
        for number in 1..=LIST_SCRATCH_KEYS {
            let exists: u64 = store
                .query(redis::cmd("EXISTS").arg(store.keys().tasks_scratch(number)))
                .await
                .expect("exists");
            assert_eq!(exists, 0, "scratch key {number} left behind");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn prune_removes_tasks_from_every_index() {
        let store = test_support::store("prune_tasks").await;
        let mut dice = Dice(0x5EED_0000_0000_0002);
        let tasks = seed(&store, &mut dice).await;
        let cutoff = at(50);
        let prunable = tasks
            .iter()
            .filter(|task| task.status.is_terminal() && task.enqueued_at < cutoff)
            .count() as u64;
        let mut pruned = 0;
        loop {
            let batch = store.prune_tasks(cutoff, 4, None).await.expect("prune");
            pruned += batch;
            if batch < 4 {
                break;
            }
        }
        assert_eq!(pruned, prunable);
        let kept: Vec<&Task> = tasks
            .iter()
            .filter(|task| !(task.status.is_terminal() && task.enqueued_at < cutoff))
            .collect();
        let keys = store.keys();
        let mut index_sets = vec![
            keys.task_index_all(),
            keys.tasks_enqueued_at(),
            keys.tasks_started_at(),
            keys.tasks_finished_at(),
        ];
        index_sets.extend(
            TaskStatus::ALL
                .iter()
                .map(|status| keys.tasks_by_status(*status)),
        );
        index_sets.extend(KINDS.iter().map(|kind| keys.tasks_by_kind(*kind)));
        index_sets.extend(
            INDEXES
                .iter()
                .flatten()
                .map(|index| keys.tasks_by_index(index)),
        );
        let mut indexed = 0;
        for set in &index_sets {
            let members: Vec<TaskUid> = store
                .query(redis::cmd("ZRANGE").arg(set).arg(0).arg(-1))
                .await
                .expect("zrange");
            for uid in &members {
                assert!(
                    kept.iter().any(|task| task.uid == *uid),
                    "{set} still holds {uid}"
                );
            }
            indexed += members.len();
        }
        // Every kept task is in _index, enqueued_at, one status set, one type set, its index
        // set if any, and the started/finished sets when it has those times.
        let expected: usize = kept
            .iter()
            .map(|task| {
                4 + usize::from(task.index_uid.is_some())
                    + usize::from(task.started_at.is_some())
                    + usize::from(task.finished_at.is_some())
            })
            .sum();
        assert_eq!(indexed, expected);
        assert_eq!(store.count_tasks().await, Ok(kept.len() as u64));
    }
}
