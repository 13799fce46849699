//! Tasks: one hash per task plus sorted-set indexes (all uids, per status, per type, per index,
//! and enqueued/started/finished times) that `list_tasks` intersects server-side.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use super::codec::{self, Fields, Row, optional_millis};
use super::copy::{bad_cursor, checked_score};
use super::keys::{Layout, TaskSpace};
use crate::copy::{CopyPage, CopyRow, CopyTable};
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
lua_script!(COPY = "copy_task.lua");

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

/// One partition's share of a task page: its total and its first matches in page order.
struct PartialPage {
    total: u64,
    uids: Vec<TaskUid>,
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

    /// Runs `task_list.lua` on one partition: its total and up to `limit + 1` uids from `from`.
    async fn list_partition(
        &self,
        space: TaskSpace<'_>,
        query: &TaskQuery,
    ) -> StoreResult<PartialPage> {
        let mut invocation = LIST.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.enqueued_at())
            .key(space.started_at())
            .key(space.finished_at());
        for number in 1..=LIST_SCRATCH_KEYS {
            invocation.key(space.scratch(number));
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
                .map(|status| space.by_status(status))
                .collect()
        });
        let kind_keys = query.kinds.as_ref().map(|kinds| {
            distinct(kinds)
                .into_iter()
                .map(|kind| space.by_kind(kind))
                .collect()
        });
        let index_keys = query.index_uids.as_ref().map(|indexes| {
            distinct(indexes)
                .iter()
                .map(|index| space.by_index(index))
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
        Ok(PartialPage {
            total: codec::integer(TABLE, total)?,
            uids: reply
                .map(|value| codec::integer(TABLE, value))
                .collect::<StoreResult<Vec<TaskUid>>>()?,
        })
    }

    /// Runs `task_prune.lua` on one partition in `mode` (see the script), fenced by `fence_key`
    /// holding a token when `fence` is given.
    async fn prune_partition(
        &self,
        space: TaskSpace<'_>,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<(&Fence, String)>,
        mode: &str,
    ) -> StoreResult<Vec<String>> {
        let mut invocation = PRUNE.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.enqueued_at())
            .key(space.started_at())
            .key(space.finished_at())
            .key(
                fence
                    .as_ref()
                    .map_or_else(|| space.enqueued_at(), |(_, key)| key.clone()),
            );
        for status in TaskStatus::ALL.iter().filter(|status| status.is_terminal()) {
            invocation.key(space.by_status(*status));
        }
        invocation
            .arg(enqueued_before.as_millis())
            .arg(batch)
            .arg(space.task_prefix())
            .arg(space.by_kind_prefix())
            .arg(space.by_index_prefix())
            .arg(fence.map_or_else(String::new, |(fence, _)| fence.token.to_string()))
            .arg(mode);
        self.eval(&invocation).await
    }

    /// Prunes the partitions of a cluster: the oldest `batch` candidates over all partitions
    /// (peeked first), then each partition deletes its share, each checking and raising its own
    /// fence high-water mark, after the lease token itself was checked.
    async fn prune_partitions(
        &self,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<&Fence>,
    ) -> StoreResult<u64> {
        let keys = self.keys();
        if let Some(fence) = fence {
            let current: Option<u64> = self
                .query(redis::cmd("GET").arg(keys.lease_token(&fence.scope)))
                .await?;
            if let Some(current) = current.filter(|current| *current > fence.token) {
                return Err(fenced(fence, current));
            }
        }
        let peeked = futures::future::try_join_all(
            keys.task_spaces()
                .map(|space| self.prune_partition(space, enqueued_before, batch, None, "peek")),
        )
        .await?;
        let mut candidates = Vec::new();
        for (partition, reply) in peeked.iter().enumerate() {
            for pair in reply[1..].chunks(2) {
                let [uid, enqueued_ms] = pair else {
                    return Err(StoreError::corrupt(TABLE, "odd prune candidate list"));
                };
                let parse_error = || StoreError::corrupt(TABLE, "prune candidate is not a number");
                let uid: TaskUid = uid.parse().map_err(|_| parse_error())?;
                let enqueued_ms: f64 = enqueued_ms.parse().map_err(|_| parse_error())?;
                candidates.push((enqueued_ms, uid, partition));
            }
        }
        candidates.sort_by(|left, right| left.0.total_cmp(&right.0).then(left.1.cmp(&right.1)));
        candidates.truncate(usize::try_from(batch).unwrap_or(usize::MAX));
        let mut shares = vec![0_u32; keys.task_partitions()];
        for (_, _, partition) in &candidates {
            shares[*partition] += 1;
        }
        let outcomes = futures::future::try_join_all(
            shares
                .iter()
                .enumerate()
                .filter(|(_, share)| **share > 0)
                .map(|(partition, share)| {
                    let space = keys.task_space(partition);
                    let fence = fence.map(|fence| (fence, space.fence(&fence.scope)));
                    self.prune_partition(space, enqueued_before, *share, fence, "raise")
                }),
        )
        .await?;
        let mut deleted = 0;
        for outcome in outcomes {
            let (kind, value) = prune_outcome(&outcome)?;
            match (kind, fence) {
                ("fenced", Some(fence)) => return Err(fenced(fence, value)),
                _ => deleted += value,
            }
        }
        Ok(deleted)
    }
}

/// `{kind, number}` of a deleting prune run.
fn prune_outcome(reply: &[String]) -> StoreResult<(&str, u64)> {
    match reply {
        [kind, value] => value
            .parse()
            .map(|value| (kind.as_str(), value))
            .map_err(|_| StoreError::corrupt(TABLE, "prune count is not a number")),
        _ => Err(StoreError::corrupt(TABLE, "prune script returned no count")),
    }
}

fn fenced(fence: &Fence, current: u64) -> StoreError {
    StoreError::Fenced {
        scope: fence.scope.clone(),
        token: fence.token,
        current,
    }
}

impl RedisStore {
    /// `update_task`, and with `seen`, its compare-and-set on status and node tasks (checked
    /// by the script, in the same atomic step).
    async fn replace_task(
        &self,
        uid: TaskUid,
        seen: Option<&Task>,
        update: TaskUpdate,
    ) -> StoreResult<Task> {
        let space = self.keys().task_space_of(uid);
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
            .key(space.task(uid))
            .key(space.started_at())
            .key(space.finished_at());
        for status in TaskStatus::ALL {
            invocation.key(space.by_status(*status));
        }
        invocation
            .arg(uid)
            .arg(status_position)
            .arg(optional_millis(update.started_at))
            .arg(optional_millis(update.finished_at))
            .arg(terminal.join(" "))
            .arg(update_fields(&update)?.script_args());
        match seen {
            Some(seen) => invocation
                .arg(seen.status.as_str())
                .arg(super::codec::to_json(&seen.node_tasks)?),
            None => invocation.arg("").arg(""),
        };
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
        // On a cluster the uid sequence is in another slot than the task's partition, so the
        // uid is taken first (a crash right after leaves a gap in the uids, never a reuse).
        let allocated: Option<TaskUid> = match keys.layout() {
            Layout::Standalone => None,
            Layout::Cluster => Some(self.query(redis::cmd("INCR").arg(keys.task_seq())).await?),
        };
        let space = allocated.map_or_else(|| keys.task_space(0), |uid| keys.task_space_of(uid));
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.by_status(task.status))
            .key(space.by_kind(task.kind))
            .key(space.enqueued_at())
            .key(
                task.index_uid
                    .as_deref()
                    .map_or_else(|| space.index_all(), |index_uid| space.by_index(index_uid)),
            );
        if allocated.is_none() {
            invocation.key(keys.task_seq());
        }
        invocation
            .arg(allocated.map(|uid| uid.to_string()).unwrap_or_default())
            .arg(space.task_prefix())
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
        self.replace_task(uid, None, update).await
    }

    async fn update_task_if(
        &self,
        uid: TaskUid,
        seen: &Task,
        update: TaskUpdate,
    ) -> StoreResult<Task> {
        self.replace_task(uid, Some(seen), update).await
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
        let partials = futures::future::try_join_all(
            self.keys()
                .task_spaces()
                .map(|space| self.list_partition(space, query)),
        )
        .await?;
        let total = partials.iter().map(|partial| partial.total).sum();
        // Each partition returned its first `limit + 1` matches in page order, so the first
        // `limit + 1` of their union are the page and its successor.
        let mut uids: Vec<TaskUid> = partials
            .into_iter()
            .flat_map(|partial| partial.uids)
            .collect();
        if query.reverse {
            uids.sort_unstable();
        } else {
            uids.sort_unstable_by(|left, right| right.cmp(left));
        }
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let next = uids.get(limit).copied();
        uids.truncate(limit);
        Ok(TaskPage {
            results: self.tasks_by_uid(&uids).await?,
            total,
            next,
        })
    }

    async fn delete_task(&self, uid: TaskUid) -> StoreResult<bool> {
        let space = self.keys().task_space_of(uid);
        let mut invocation = DELETE.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.enqueued_at())
            .key(space.started_at())
            .key(space.finished_at());
        for status in TaskStatus::ALL {
            invocation.key(space.by_status(*status));
        }
        invocation
            .arg(uid)
            .arg(space.task_prefix())
            .arg(space.by_kind_prefix())
            .arg(space.by_index_prefix());
        let deleted: u64 = self.eval(&invocation).await?;
        Ok(deleted > 0)
    }

    async fn count_tasks(&self) -> StoreResult<u64> {
        let commands: Vec<redis::Cmd> = self
            .keys()
            .task_spaces()
            .map(|space| redis::cmd("ZCARD").arg(space.index_all()).clone())
            .collect();
        let counts: Vec<u64> = self.query_each(&commands).await?;
        Ok(counts.into_iter().sum())
    }

    async fn prune_tasks(
        &self,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<&Fence>,
    ) -> StoreResult<u64> {
        let keys = self.keys();
        if keys.task_partitions() > 1 {
            return self.prune_partitions(enqueued_before, batch, fence).await;
        }
        // One partition: the lease token is checked in the same script as the delete.
        let fence_key = fence.map(|fence| (fence, keys.lease_token(&fence.scope)));
        let reply = self
            .prune_partition(
                keys.task_space(0),
                enqueued_before,
                batch,
                fence_key,
                "delete",
            )
            .await?;
        match (prune_outcome(&reply)?, fence) {
            (("fenced", current), Some(fence)) => Err(fenced(fence, current)),
            ((_, deleted), _) => Ok(deleted),
        }
    }
}

impl RedisStore {
    /// One page of the `miroir-migrate copy` export of tasks: each partition's `_index` in turn
    /// (one on a standalone server, 16 on a cluster), by uid; the cursor is
    /// `<partition>:<last uid>`.
    pub(super) async fn export_tasks(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<CopyPage> {
        let table = CopyTable::Tasks;
        let keys = self.keys();
        let (mut partition, mut after) = match cursor {
            None => (0, String::new()),
            Some(cursor) => {
                let (partition, after) = cursor
                    .split_once(':')
                    .ok_or_else(|| bad_cursor(table, cursor))?;
                let partition = partition
                    .parse::<usize>()
                    .ok()
                    .filter(|partition| *partition < keys.task_partitions())
                    .ok_or_else(|| bad_cursor(table, cursor))?;
                (partition, checked_score(table, cursor, after)?)
            }
        };
        let mut rows = Vec::new();
        while partition < keys.task_partitions() {
            let space = keys.task_space(partition);
            let budget = limit - rows.len();
            let page = self
                .zset_page(
                    table,
                    &space.index_all(),
                    &space.task_prefix(),
                    &after,
                    budget,
                )
                .await?;
            for row in &page.rows {
                rows.push(CopyRow::Task(decode_task(row)?));
            }
            if page.members == budget
                && let Some(last) = page.last
            {
                return Ok(CopyPage {
                    rows,
                    next: Some(format!("{partition}:{last}")),
                });
            }
            partition += 1;
            after.clear();
        }
        Ok(CopyPage { rows, next: None })
    }

    /// Writes one copied task as it is (`copy_task.lua`), replacing the task of the same uid and
    /// its entries in its partition's indexes.
    pub(super) async fn import_task(&self, task: &Task) -> StoreResult<()> {
        let space = self.keys().task_space_of(task.uid);
        let fields = Fields::new()
            .display("uid", task.uid)
            .display("kind", task.kind)
            .display("status", task.status)
            .json("node_tasks", &task.node_tasks)?
            .timestamp("enqueued_at", task.enqueued_at)
            .optional("index_uid", task.index_uid.as_deref(), Fields::text)
            .optional_json("details", task.details.as_ref())?
            .optional_json("error", task.error.as_ref())?
            .optional("canceled_by", task.canceled_by, Fields::display)
            .optional("started_at", task.started_at, Fields::timestamp)
            .optional("finished_at", task.finished_at, Fields::timestamp);
        let mut invocation = COPY.prepare_invoke();
        invocation
            .key(space.index_all())
            .key(space.enqueued_at())
            .key(space.started_at())
            .key(space.finished_at());
        for status in TaskStatus::ALL {
            invocation.key(space.by_status(*status));
        }
        invocation
            .key(space.by_status(task.status))
            .key(space.by_kind(task.kind))
            .key(
                task.index_uid
                    .as_deref()
                    .map_or_else(|| space.index_all(), |index_uid| space.by_index(index_uid)),
            )
            .arg(task.uid)
            .arg(space.task_prefix())
            .arg(space.by_kind_prefix())
            .arg(space.by_index_prefix())
            .arg(task.enqueued_at.as_millis())
            .arg(optional_millis(task.started_at))
            .arg(optional_millis(task.finished_at))
            .arg(fields.script_args());
        let _: i64 = self.eval(&invocation).await?;
        Ok(())
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
        list_matches_the_reference(test_support::store("list_tasks").await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn list_merges_the_partitions_of_a_cluster_like_the_reference() {
        list_matches_the_reference(test_support::cluster_store("list_tasks").await).await;
    }

    async fn list_matches_the_reference(store: RedisStore) {
        let mut dice = Dice(0x5EED_1234_ABCD_0001);
        let tasks = seed(&store, &mut dice).await;
        for round in 0..400 {
            let query = random_query(&mut dice, &tasks);
            let page = store.list_tasks(&query).await.expect("list");
            assert_eq!(page, reference(&tasks, &query), "round {round}: {query:?}");
        }
        for space in store.keys().task_spaces() {
            for number in 1..=LIST_SCRATCH_KEYS {
                let exists: u64 = store
                    .query(redis::cmd("EXISTS").arg(space.scratch(number)))
                    .await
                    .expect("exists");
                assert_eq!(exists, 0, "scratch key {number} left behind");
            }
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
        let space = store.keys().task_space(0);
        let mut index_sets = vec![
            space.index_all(),
            space.enqueued_at(),
            space.started_at(),
            space.finished_at(),
        ];
        index_sets.extend(
            TaskStatus::ALL
                .iter()
                .map(|status| space.by_status(*status)),
        );
        index_sets.extend(KINDS.iter().map(|kind| space.by_kind(*kind)));
        index_sets.extend(INDEXES.iter().flatten().map(|index| space.by_index(index)));
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
