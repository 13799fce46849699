//! Table 1, `tasks`, and its O(1) row counter `task_count` (kept by triggers).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Row, Transaction};
use serde::Serialize;

use super::SqliteStore;
use super::connection::in_read_transaction;
use super::copy::{KeyKind, TableSpec};
use super::leases::check_fence;
use super::rows::{
    Columns, query_all, query_optional, saturating_i64, to_json, to_json_opt, u64_to_sql,
};
use crate::NodeTaskMap;
use crate::copy::CopyRow;
use crate::error::{StoreError, StoreResult};
use crate::leases::Fence;
use crate::tasks::{
    NewTask, Task, TaskPage, TaskQuery, TaskStatus, TaskStore, TaskUid, TaskUpdate, TimeRange,
};
use crate::time::Timestamp;

/// The columns [`decode_task`] reads, in order.
macro_rules! task_columns {
    () => {
        "uid, index_uid, type, status, node_tasks, details, error, canceled_by, enqueued_at, \
         started_at, finished_at"
    };
}

fn decode_task(row: &Row<'_>) -> StoreResult<Task> {
    let columns = Columns::new("tasks", row);
    Ok(Task {
        uid: columns.u64(0)?,
        index_uid: columns.opt_string(1)?,
        kind: columns.parse(2)?,
        status: columns.parse(3)?,
        node_tasks: columns.json(4)?,
        details: columns.opt_json(5)?,
        error: columns.opt_json(6)?,
        canceled_by: columns.opt_u64(7)?,
        enqueued_at: columns.timestamp(8)?,
        started_at: columns.opt_timestamp(9)?,
        finished_at: columns.opt_timestamp(10)?,
    })
}

fn get_task(connection: &rusqlite::Connection, uid: i64) -> StoreResult<Option<Task>> {
    let mut statement = connection.prepare_cached(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE uid = ?1"
    ))?;
    query_optional(&mut statement, [uid], decode_task)
}

/// The clauses of a list filter: for one value, and for a JSON array of values.
type ListClauses = [&'static str; 2];
const UID: ListClauses = ["uid = ?", "uid IN (SELECT value FROM json_each(?))"];
const STATUS: ListClauses = ["status = ?", "status IN (SELECT value FROM json_each(?))"];
const TYPE: ListClauses = ["type = ?", "type IN (SELECT value FROM json_each(?))"];
const INDEX_UID: ListClauses = [
    "index_uid = ?",
    "index_uid IN (SELECT value FROM json_each(?))",
];

/// The `WHERE` clauses of a [`TaskQuery`]'s filters with their bound values (never user values
/// in the SQL text). A list of several values binds one JSON array read by `json_each`, so the
/// SQL text (and its cached statement) depends only on which filters are set and whether they
/// hold one value or more.
struct TaskFilter {
    clauses: Vec<&'static str>,
    values: Vec<Value>,
}

impl TaskFilter {
    /// `None` when a filter is an empty list, which matches nothing.
    fn new(query: &TaskQuery) -> StoreResult<Option<Self>> {
        let empty_list = query.uids.as_ref().is_some_and(Vec::is_empty)
            || query.statuses.as_ref().is_some_and(Vec::is_empty)
            || query.kinds.as_ref().is_some_and(Vec::is_empty)
            || query.index_uids.as_ref().is_some_and(Vec::is_empty);
        if empty_list {
            return Ok(None);
        }
        let mut filter = Self {
            clauses: Vec::new(),
            values: Vec::new(),
        };
        if let Some(uids) = &query.uids {
            filter.push_list(UID, uids, |&uid| Value::Integer(u64_to_sql(uid)))?;
        }
        if let Some(statuses) = &query.statuses {
            let names: Vec<&str> = statuses.iter().map(|status| status.as_str()).collect();
            filter.push_list(STATUS, &names, |&name| Value::Text(name.to_owned()))?;
        }
        if let Some(kinds) = &query.kinds {
            let names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
            filter.push_list(TYPE, &names, |&name| Value::Text(name.to_owned()))?;
        }
        if let Some(indexes) = &query.index_uids {
            filter.push_list(INDEX_UID, indexes, |index| Value::Text(index.clone()))?;
        }
        filter.push_range(&query.enqueued, "enqueued_at > ?", "enqueued_at < ?");
        filter.push_range(&query.started, "started_at > ?", "started_at < ?");
        filter.push_range(&query.finished, "finished_at > ?", "finished_at < ?");
        Ok(Some(filter))
    }

    /// One value is an equality, which walks the `(column, uid)` index in page order; several
    /// are one JSON array bound to an `IN`.
    fn push_list<T: Serialize>(
        &mut self,
        [one, many]: ListClauses,
        items: &[T],
        value: impl Fn(&T) -> Value,
    ) -> StoreResult<()> {
        if let [item] = items {
            self.clauses.push(one);
            self.values.push(value(item));
        } else {
            self.clauses.push(many);
            self.values
                .push(Value::Text(to_json("task filter", &items)?));
        }
        Ok(())
    }

    /// Exclusive bounds; a NULL time never satisfies a comparison, so unstarted or unfinished
    /// tasks fall outside any bounded window, as `TimeRange::contains` says.
    fn push_range(&mut self, range: &TimeRange, after: &'static str, before: &'static str) {
        for (clause, bound) in [(after, range.after), (before, range.before)] {
            if let Some(instant) = bound {
                self.clauses.push(clause);
                self.values.push(Value::Integer(instant.as_millis()));
            }
        }
    }

    /// `SELECT {select} FROM tasks WHERE …` with `extra` clauses after the filters.
    fn sql(&self, select: &str, extra: &[&str], tail: &str) -> String {
        let mut sql = format!("SELECT {select} FROM tasks");
        for (position, clause) in self.clauses.iter().chain(extra).enumerate() {
            sql.push_str(if position == 0 { " WHERE " } else { " AND " });
            sql.push_str(clause);
        }
        sql.push_str(tail);
        sql
    }
}

fn list_tasks(connection: &rusqlite::Connection, query: &TaskQuery) -> StoreResult<TaskPage> {
    let Some(filter) = TaskFilter::new(query)? else {
        return Ok(TaskPage {
            results: Vec::new(),
            total: 0,
            next: None,
        });
    };

    let total = if filter.clauses.is_empty() {
        count_tasks(connection)?
    } else {
        let sql = filter.sql("COUNT(*)", &[], "");
        let count: i64 = connection
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(&filter.values), |row| row.get(0))?;
        u64::try_from(count).unwrap_or(0)
    };

    // Newest first pages go down from `from`, reverse pages up; one row past the page tells
    // where the next page starts.
    let (cursor, order) = if query.reverse {
        ("uid >= ?", " ORDER BY uid ASC LIMIT ?")
    } else {
        ("uid <= ?", " ORDER BY uid DESC LIMIT ?")
    };
    let mut values = filter.values.clone();
    let mut extra = Vec::new();
    if let Some(from) = query.from {
        extra.push(cursor);
        // A cursor past i64::MAX is past every uid.
        values.push(Value::Integer(saturating_i64(from)));
    }
    values.push(Value::Integer(i64::from(query.limit) + 1));
    let sql = filter.sql(task_columns!(), &extra, order);
    let mut statement = connection.prepare_cached(&sql)?;
    let mut results = query_all(
        &mut statement,
        rusqlite::params_from_iter(&values),
        decode_task,
    )?;
    let next = if results.len() > query.limit as usize {
        results.pop().map(|task| task.uid)
    } else {
        None
    };
    Ok(TaskPage {
        results,
        total,
        next,
    })
}

fn count_tasks(connection: &rusqlite::Connection) -> StoreResult<u64> {
    let count: i64 = connection
        .prepare_cached("SELECT count FROM task_count WHERE id = 1")?
        .query_row([], |row| row.get(0))?;
    u64::try_from(count)
        .map_err(|_| StoreError::corrupt("task_count", format!("negative count {count}")))
}

impl SqliteStore {
    /// `update_task`, and with `seen`, its compare-and-set on status and node tasks.
    async fn replace_task(
        &self,
        uid: TaskUid,
        seen: Option<(TaskStatus, NodeTaskMap)>,
        update: TaskUpdate,
    ) -> StoreResult<Task> {
        let node_tasks = to_json("node tasks", &update.node_tasks)?;
        let details = to_json_opt("details", update.details.as_ref())?;
        let error = to_json_opt("error", update.error.as_ref())?;
        let canceled_by = update.canceled_by.map(u64_to_sql);
        self.write_transaction(move |transaction| {
            let stored = get_task(transaction, u64_to_sql(uid))?
                .ok_or_else(|| StoreError::not_found(format!("task {uid}")))?;
            if stored.status.is_terminal() {
                if stored.to_update() == update {
                    return Ok(stored);
                }
                return Err(StoreError::conflict(format!(
                    "task {uid} is already {} and cannot change",
                    stored.status
                )));
            }
            if seen.is_some_and(|(status, node_tasks)| {
                stored.status != status || stored.node_tasks != node_tasks
            }) {
                return Err(StoreError::conflict(format!(
                    "task {uid} changed since it was read"
                )));
            }
            transaction
                .prepare_cached(
                    "UPDATE tasks SET status = ?2, node_tasks = ?3, details = ?4, error = ?5, \
                     canceled_by = ?6, started_at = ?7, finished_at = ?8 WHERE uid = ?1",
                )?
                .execute(rusqlite::params![
                    u64_to_sql(uid),
                    update.status.as_str(),
                    node_tasks,
                    details,
                    error,
                    canceled_by,
                    update.started_at.map(Timestamp::as_millis),
                    update.finished_at.map(Timestamp::as_millis),
                ])?;
            Ok(Task {
                status: update.status,
                node_tasks: update.node_tasks,
                details: update.details,
                error: update.error,
                canceled_by: update.canceled_by,
                started_at: update.started_at,
                finished_at: update.finished_at,
                ..stored
            })
        })
        .await
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    /// The uid comes from `AUTOINCREMENT`, which never hands out a uid used before (even one
    /// whose row was pruned), also across restarts.
    async fn create_task(&self, task: NewTask) -> StoreResult<Task> {
        let node_tasks = to_json("node tasks", &task.node_tasks)?;
        let details = to_json_opt("details", task.details.as_ref())?;
        self.write(move |connection| {
            let uid: i64 = connection
                .prepare_cached(
                    "INSERT INTO tasks (index_uid, type, status, node_tasks, details, enqueued_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING uid",
                )?
                .query_row(
                    rusqlite::params![
                        task.index_uid,
                        task.kind.as_str(),
                        task.status.as_str(),
                        node_tasks,
                        details,
                        task.enqueued_at.as_millis(),
                    ],
                    |row| row.get(0),
                )?;
            let uid = u64::try_from(uid)
                .map_err(|_| StoreError::corrupt("tasks", format!("negative uid {uid}")))?;
            Ok(task.into_task(uid))
        })
        .await
    }

    async fn get_task(&self, uid: TaskUid) -> StoreResult<Option<Task>> {
        self.read(move |connection| get_task(connection, u64_to_sql(uid)))
            .await
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
        let seen = (seen.status, seen.node_tasks.clone());
        self.replace_task(uid, Some(seen), update).await
    }

    /// Filters run on the `(status, uid)`, `(type, uid)`, `(index_uid, uid)` and time indexes;
    /// the page and `total` come from one snapshot. Without filters `total` is the O(1) counter.
    async fn list_tasks(&self, query: &TaskQuery) -> StoreResult<TaskPage> {
        let query = query.clone();
        self.read(move |connection| {
            in_read_transaction(connection, |transaction| list_tasks(transaction, &query))
        })
        .await
    }

    async fn delete_task(&self, uid: TaskUid) -> StoreResult<bool> {
        let uid = u64_to_sql(uid);
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM tasks WHERE uid = ?1")?
                .execute([uid])?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn count_tasks(&self) -> StoreResult<u64> {
        self.read(|connection| count_tasks(connection)).await
    }

    /// Walks the `enqueued_at` index from the oldest task (ties by uid), so a batch costs the
    /// same however many tasks are kept.
    async fn prune_tasks(
        &self,
        enqueued_before: Timestamp,
        batch: u32,
        fence: Option<&Fence>,
    ) -> StoreResult<u64> {
        let fence = fence.cloned();
        let terminal: Vec<&str> = TaskStatus::ALL
            .iter()
            .filter(|status| status.is_terminal())
            .map(|status| status.as_str())
            .collect();
        let terminal = to_json("statuses", &terminal)?;
        // One transaction, so the fence check and the delete are one atomic step even when
        // another process writes the same file.
        self.write_transaction(move |connection| {
            if let Some(fence) = &fence {
                check_fence(connection, fence)?;
            }
            let deleted = connection
                .prepare_cached(
                    "DELETE FROM tasks WHERE uid IN (SELECT uid FROM tasks INDEXED BY tasks_enqueued_at \
                     WHERE enqueued_at < ?2 AND status IN (SELECT value FROM json_each(?1)) \
                     ORDER BY enqueued_at, uid LIMIT ?3)",
                )?
                .execute(rusqlite::params![
                    terminal,
                    enqueued_before.as_millis(),
                    batch
                ])?;
            Ok(deleted as u64)
        })
        .await
    }
}

/// The `miroir-migrate copy` export of `tasks`: every task, by uid.
pub(super) fn copy_spec() -> TableSpec {
    TableSpec {
        table: "tasks",
        columns: task_columns!(),
        key: &[("uid", KeyKind::Integer)],
        expires: false,
        decode: |row, _| Ok(CopyRow::Task(decode_task(row)?)),
    }
}

/// Writes one copied task, replacing the task with the same uid by an upsert (so the count
/// triggers see it once); its explicit uid raises the `AUTOINCREMENT` sequence.
pub(super) fn import(transaction: &Transaction<'_>, task: &Task) -> StoreResult<()> {
    let node_tasks = to_json("node tasks", &task.node_tasks)?;
    let details = to_json_opt("details", task.details.as_ref())?;
    let error = to_json_opt("error", task.error.as_ref())?;
    transaction
        .prepare_cached(concat!(
            "INSERT INTO tasks (",
            task_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (uid) DO UPDATE SET index_uid = excluded.index_uid, \
             type = excluded.type, status = excluded.status, node_tasks = excluded.node_tasks, \
             details = excluded.details, error = excluded.error, \
             canceled_by = excluded.canceled_by, enqueued_at = excluded.enqueued_at, \
             started_at = excluded.started_at, finished_at = excluded.finished_at"
        ))?
        .execute(rusqlite::params![
            u64_to_sql(task.uid),
            task.index_uid,
            task.kind.as_str(),
            task.status.as_str(),
            node_tasks,
            details,
            error,
            task.canceled_by.map(u64_to_sql),
            task.enqueued_at.as_millis(),
            task.started_at.map(Timestamp::as_millis),
            task.finished_at.map(Timestamp::as_millis),
        ])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::testing;
    use crate::tasks::TaskKind;

    fn new_task(index: &str, status: TaskStatus, enqueued_at: i64) -> NewTask {
        NewTask {
            index_uid: Some(index.to_owned()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            status,
            node_tasks: [("meili-0".to_owned(), 1)].into(),
            details: None,
            enqueued_at: Timestamp::from_millis(enqueued_at),
        }
    }

    #[tokio::test]
    async fn pruned_uids_are_never_reused_even_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.db");
        let store = testing::file(&path).await;
        let mut last = 0;
        for _ in 0..3 {
            last = store
                .create_task(new_task("a", TaskStatus::Succeeded, 1))
                .await
                .unwrap()
                .uid;
        }
        assert_eq!(
            store
                .prune_tasks(Timestamp::from_millis(2), 10, None)
                .await
                .unwrap(),
            3
        );
        assert_eq!(store.count_tasks().await.unwrap(), 0);
        let after_prune = store
            .create_task(new_task("a", TaskStatus::Succeeded, 1))
            .await
            .unwrap();
        assert_eq!(after_prune.uid, last + 1);
        store
            .prune_tasks(Timestamp::from_millis(2), 10, None)
            .await
            .unwrap();
        drop(store);

        let reopened = testing::file(&path).await;
        let after_reopen = reopened
            .create_task(new_task("a", TaskStatus::Enqueued, 1))
            .await
            .unwrap();
        assert_eq!(after_reopen.uid, after_prune.uid + 1);
        assert_eq!(reopened.count_tasks().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn prune_takes_the_oldest_terminal_tasks_first() {
        let store = testing::memory().await;
        let live = store
            .create_task(new_task("a", TaskStatus::Processing, 1))
            .await
            .unwrap();
        // Enqueued at 5, 4, 3, 2: the highest uid is the oldest.
        let mut done = Vec::new();
        for enqueued_at in (2..=5).rev() {
            done.push(
                store
                    .create_task(new_task("a", TaskStatus::Failed, enqueued_at))
                    .await
                    .unwrap()
                    .uid,
            );
        }
        assert_eq!(
            store
                .prune_tasks(Timestamp::from_millis(2), 10, None)
                .await
                .unwrap(),
            0,
            "cutoff is exclusive"
        );
        assert_eq!(
            store
                .prune_tasks(Timestamp::from_millis(10), 3, None)
                .await
                .unwrap(),
            3
        );
        assert!(
            store.get_task(live.uid).await.unwrap().is_some(),
            "never a live task"
        );
        assert!(
            store.get_task(done[0]).await.unwrap().is_some(),
            "the newest stays"
        );
        assert!(store.get_task(done[1]).await.unwrap().is_none());
        assert_eq!(store.count_tasks().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_both_ways_with_filters() {
        let store = testing::memory().await;
        let mut uids = Vec::new();
        for n in 0..7 {
            let index = if n % 2 == 0 { "even" } else { "odd" };
            uids.push(
                store
                    .create_task(new_task(index, TaskStatus::Enqueued, n))
                    .await
                    .unwrap()
                    .uid,
            );
        }
        let even: Vec<u64> = uids.iter().step_by(2).copied().collect();
        let query = TaskQuery {
            index_uids: Some(vec!["even".to_owned()]),
            limit: 2,
            ..TaskQuery::default()
        };
        let first = store.list_tasks(&query).await.unwrap();
        let page_uids =
            |page: &TaskPage| page.results.iter().map(|task| task.uid).collect::<Vec<_>>();
        assert_eq!(
            (page_uids(&first), first.total, first.next),
            (vec![even[3], even[2]], 4, Some(even[1]))
        );
        let second = store
            .list_tasks(&TaskQuery {
                from: first.next,
                ..query.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            (page_uids(&second), second.next),
            (vec![even[1], even[0]], None)
        );

        let reverse = TaskQuery {
            reverse: true,
            from: Some(even[1]),
            ..query.clone()
        };
        let page = store.list_tasks(&reverse).await.unwrap();
        assert_eq!(
            (page_uids(&page), page.total, page.next),
            (vec![even[1], even[2]], 4, Some(even[3]))
        );

        let zero = store
            .list_tasks(&TaskQuery {
                limit: 0,
                ..query.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            (zero.results.len(), zero.total, zero.next),
            (0, 4, Some(even[3]))
        );

        let both = TaskQuery {
            index_uids: Some(vec!["even".into(), "odd".into()]),
            limit: 100,
            ..TaskQuery::default()
        };
        assert_eq!(store.list_tasks(&both).await.unwrap().total, 7);
        let nothing = TaskQuery {
            statuses: Some(Vec::new()),
            ..TaskQuery::default()
        };
        assert_eq!(
            store.list_tasks(&nothing).await.unwrap(),
            TaskPage {
                results: Vec::new(),
                total: 0,
                next: None
            }
        );
        let window = TaskQuery {
            enqueued: TimeRange {
                after: Some(Timestamp::from_millis(1)),
                before: Some(Timestamp::from_millis(4)),
            },
            ..TaskQuery::default()
        };
        assert_eq!(
            page_uids(&store.list_tasks(&window).await.unwrap()),
            vec![uids[3], uids[2]]
        );
        let unstarted = TaskQuery {
            started: TimeRange {
                after: Some(Timestamp::from_millis(0)),
                before: None,
            },
            ..TaskQuery::default()
        };
        assert_eq!(store.list_tasks(&unstarted).await.unwrap().total, 0);
    }

    /// Every filter is answered from an index: no plan step scans `tasks` itself.
    #[tokio::test]
    async fn filtered_queries_never_scan_the_table() {
        let store = testing::memory().await;
        let window = TimeRange {
            after: Some(Timestamp::from_millis(1)),
            before: Some(Timestamp::from_millis(9)),
        };
        let queries = [
            TaskQuery::default(),
            TaskQuery {
                statuses: Some(vec![TaskStatus::Enqueued]),
                ..TaskQuery::default()
            },
            TaskQuery {
                statuses: Some(vec![TaskStatus::Enqueued, TaskStatus::Failed]),
                ..TaskQuery::default()
            },
            TaskQuery {
                kinds: Some(vec![TaskKind::IndexCreation, TaskKind::Export]),
                ..TaskQuery::default()
            },
            TaskQuery {
                index_uids: Some(vec!["movies".to_owned()]),
                reverse: true,
                ..TaskQuery::default()
            },
            TaskQuery {
                uids: Some(vec![1, 2, 3]),
                ..TaskQuery::default()
            },
            TaskQuery {
                enqueued: window,
                ..TaskQuery::default()
            },
            TaskQuery {
                started: window,
                ..TaskQuery::default()
            },
            TaskQuery {
                finished: window,
                ..TaskQuery::default()
            },
        ];
        store
            .read(move |connection| {
                for query in &queries {
                    let Some(filter) = TaskFilter::new(query)? else {
                        unreachable!()
                    };
                    let mut statements = vec![filter.sql(
                        task_columns!(),
                        &["uid <= ?"],
                        " ORDER BY uid DESC LIMIT ?",
                    )];
                    if !filter.clauses.is_empty() {
                        statements.push(filter.sql("COUNT(*)", &[], ""));
                    }
                    for sql in statements {
                        let mut values = filter.values.clone();
                        let mut plan = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                        values.resize(plan.parameter_count(), Value::Integer(1));
                        let steps =
                            query_all(&mut plan, rusqlite::params_from_iter(&values), |row| {
                                Columns::new("plan", row).string(3)
                            })?;
                        assert!(
                            !steps.iter().any(|step| step.starts_with("SCAN tasks")),
                            "{sql}: {steps:?}"
                        );
                    }
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_row_is_a_typed_error() {
        let store = testing::memory().await;
        let task = store
            .create_task(new_task("a", TaskStatus::Enqueued, 1))
            .await
            .unwrap();
        store
            .write(move |connection| {
                connection.execute(
                    "UPDATE tasks SET status = 'bogus' WHERE uid = ?1",
                    [u64_to_sql(task.uid)],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let error = store.get_task(task.uid).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Corrupt { table: "tasks", .. }),
            "{error}"
        );
        assert!(error.to_string().contains("status"), "{error}");
    }

    #[tokio::test]
    async fn terminal_tasks_accept_only_their_own_state() {
        let store = testing::memory().await;
        let task = store
            .create_task(new_task("a", TaskStatus::Enqueued, 1))
            .await
            .unwrap();
        let mut update = task.to_update();
        update.status = TaskStatus::Succeeded;
        update.finished_at = Some(Timestamp::from_millis(5));
        let done = store.update_task(task.uid, update.clone()).await.unwrap();
        assert_eq!(
            store.update_task(task.uid, update.clone()).await.unwrap(),
            done
        );
        update.status = TaskStatus::Failed;
        assert!(matches!(
            store.update_task(task.uid, update.clone()).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.update_task(u64::MAX, update).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
