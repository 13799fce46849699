//! `miroir-migrate copy`: copies every table of one store into another (SQLite → Redis, Redis →
//! Redis Cluster, and back), then verifies both hold the same rows.
//!
//! The copy runs with every writer stopped (see "Moving to another store" in the crate docs):
//! the source must be at this binary's schema version; the target is migrated to it first and
//! must be empty unless `--force` (which clears it). The default API keys a target's migration
//! created, untouched since, do not count: the copy deletes them, and the source's keys (its own
//! default keys among them, whose uids its clients' keys are derived from) take their place. Each table is exported page by page and
//! each page imported while the next one is read. Afterwards the task uid sequence and the job
//! claim token sequence are raised to the source's (so the target never hands out a uid or a claim
//! token the source did), and every table of both stores is digested again (count and
//! order-independent checksum, [`CopyDigest`], which covers the claim token of every job in
//! progress): any difference, or a target sequence below the source's, fails the copy. An
//! interrupted copy leaves a partial target; rerunning the same command with `--force` starts over
//! (imports replace rows by key, so nothing is duplicated).

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use miroir_store::api_keys::untouched_default_api_keys;
use miroir_store::{
    ApiKeyRecord, Connect, CopyDigest, CopyPage, CopyTable, DynStore, SqliteLocation, StoreError,
    StoreResult, StoreUrl, check_schema_version,
};

use crate::failure::Failure;
use crate::output::say;
use crate::target::Target;
use miroir_core::Exit;

/// Rows per exported page unless `--batch` says otherwise.
pub const DEFAULT_BATCH: usize = 1000;

/// What one copy moved, table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Per table, in copy order: rows copied and their digest (count, checksum) on both sides.
    pub tables: Vec<TableReport>,
    /// The task uid sequence carried over.
    pub task_sequence: u64,
    /// The job claim token sequence carried over (the last claim token the source handed out).
    pub job_claim_sequence: u64,
    /// Time spent copying (export + import), without the verification.
    pub copy_time: Duration,
    /// Time spent verifying.
    pub verify_time: Duration,
}

impl CopyReport {
    /// Rows copied over all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|table| table.rows).sum()
    }

    /// Rows copied per second of copy time.
    pub fn rows_per_second(&self) -> f64 {
        self.rows() as f64 / self.copy_time.as_secs_f64().max(f64::EPSILON)
    }
}

/// One table of a [`CopyReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table.
    pub table: CopyTable,
    /// Rows exported and imported (an unordered export may repeat a row; it is counted once).
    pub rows: u64,
    /// Distinct rows and checksum read back from the source after the copy.
    pub source: (u64, String),
    /// The same for the target.
    pub target: (u64, String),
}

impl TableReport {
    /// True when both stores hold the same rows of this table.
    pub fn matches(&self) -> bool {
        self.source == self.target
    }
}

impl fmt::Display for CopyReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "{:<24} {:>10} {:>10}  checksum",
            "table", "source", "target"
        )?;
        for table in &self.tables {
            writeln!(
                formatter,
                "{:<24} {:>10} {:>10}  {}{}",
                table.table.name(),
                table.source.0,
                table.target.0,
                table.target.1,
                if table.matches() { "" } else { "  MISMATCH" }
            )?;
        }
        write!(
            formatter,
            "copied {} rows in {:.1} s ({:.0} rows/s), verified in {:.1} s; task uid sequence {}, \
             job claim token sequence {}",
            self.rows(),
            self.copy_time.as_secs_f64(),
            self.rows_per_second(),
            self.verify_time.as_secs_f64(),
            self.task_sequence,
            self.job_claim_sequence
        )
    }
}

/// How to copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Clear a non-empty target instead of refusing it.
    pub force: bool,
    /// Rows per page.
    pub batch: usize,
    /// Draw a live progress bar (rows and rows/s per table) on stderr when it is a terminal.
    pub progress: bool,
}

/// Copies `source` into `target` and verifies the result (see the module docs). The stores must
/// be at this binary's schema version (the target is migrated first). Fails without touching the
/// target when it holds rows and `force` is off (untouched default API keys aside, which are
/// replaced).
pub async fn copy_store(
    source: &DynStore,
    target: &DynStore,
    options: CopyOptions,
    out: &mut dyn Write,
) -> Result<CopyReport, Failure> {
    check_schema_version(source.schema_version().await?)?;
    let migrated = target.migrate().await?;
    if !migrated.applied.is_empty() {
        say(
            out,
            format_args!("target migrated to version {}", migrated.to),
        );
    }
    let defaults = untouched_default_api_keys(&**target).await?;
    let mut occupied = occupied_tables(target).await?;
    if defaults.is_some() {
        occupied.retain(|table| *table != CopyTable::ApiKeys);
    }
    if !occupied.is_empty() {
        if !options.force {
            return Err(Failure {
                exit: Exit::Failed,
                message: format!(
                    "the target is not empty (rows in {}); nothing was copied. Pass --force to \
                     delete every row of the target first",
                    names(&occupied)
                ),
            });
        }
        target.clear_all_rows().await?;
        say(
            out,
            format_args!("--force: cleared the target ({})", names(&occupied)),
        );
    } else if let Some(defaults) = defaults.filter(|defaults| !defaults.is_empty()) {
        delete_api_keys(target, &defaults).await?;
        say(
            out,
            format_args!(
                "deleted the target's {} default API keys: the source's keys replace them",
                defaults.len()
            ),
        );
    }

    let started = Instant::now();
    let mut copied = Vec::new();
    for table in CopyTable::ALL {
        let rows = copy_table(source, target, *table, options).await?;
        say(out, format_args!("{:<24} {rows:>10} rows", table.name()));
        copied.push((*table, rows));
    }
    let task_sequence = source.task_sequence().await?;
    target.raise_task_sequence(task_sequence).await?;
    let job_claim_sequence = source.job_claim_sequence().await?;
    target.raise_job_claim_sequence(job_claim_sequence).await?;
    let copy_time = started.elapsed();

    let started = Instant::now();
    let mut tables = Vec::new();
    for (table, rows) in copied {
        let (source_digest, target_digest) = tokio::try_join!(
            digest(source, table, options.batch),
            digest(target, table, options.batch)
        )?;
        tables.push(TableReport {
            table,
            rows,
            source: source_digest,
            target: target_digest,
        });
    }
    let report = CopyReport {
        tables,
        task_sequence,
        job_claim_sequence,
        copy_time,
        verify_time: started.elapsed(),
    };
    let target_sequence = target.task_sequence().await?;
    let target_claims = target.job_claim_sequence().await?;
    let mismatched: Vec<CopyTable> = report
        .tables
        .iter()
        .filter(|table| !table.matches())
        .map(|table| table.table)
        .collect();
    let mut behind = Vec::new();
    if target_sequence < task_sequence {
        behind.push(format!(
            ", target uid sequence {target_sequence} < {task_sequence}"
        ));
    }
    if target_claims < job_claim_sequence {
        behind.push(format!(
            ", target job claim token sequence {target_claims} < {job_claim_sequence}"
        ));
    }
    if !mismatched.is_empty() || !behind.is_empty() {
        say(out, format_args!("{report}"));
        return Err(Failure {
            exit: Exit::Failed,
            message: format!(
                "verification failed: {}{}; were writers still running? Stop them and run the \
                 same command with --force",
                if mismatched.is_empty() {
                    "tables match".to_owned()
                } else {
                    format!("the stores differ in {}", names(&mismatched))
                },
                behind.concat()
            ),
        });
    }
    Ok(report)
}

/// `miroir-migrate copy`: opens both stores, copies, prints the report.
pub(crate) async fn run(
    from: &Target,
    to: &Target,
    options: CopyOptions,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    say(out, format_args!("from: {}", from.shown));
    say(out, format_args!("to:   {}", to.shown));
    if let StoreUrl::Sqlite {
        location: SqliteLocation::File(path),
        ..
    } = &from.url
    {
        if !path.exists() {
            return Err(Failure {
                exit: Exit::Failed,
                message: format!("the store to copy from, {}, does not exist", from.shown),
            });
        }
    }
    let source = miroir_store::open_url(&from.url, Connect::Now).await?;
    // Checked before the target is even opened (opening a SQLite file creates it).
    check_schema_version(source.schema_version().await?)?;
    let target = miroir_store::open_url(&to.url, Connect::Now).await?;
    let report = copy_store(&source, &target, options, out)
        .await
        .map_err(|failure| Failure {
            message: format!(
                "{}. The target may hold part of the rows: run the same command with --force to \
                 start over",
                failure.message
            ),
            ..failure
        })?;
    say(out, format_args!("{report}"));
    say(out, format_args!("the stores match"));
    Ok(Exit::Done)
}

/// Copies one table page by page, importing a page while the next one is exported. The import
/// runs on its own task, so an export that blocks its thread (SQLite) does not stall it. Returns
/// the rows moved.
async fn copy_table(
    source: &DynStore,
    target: &DynStore,
    table: CopyTable,
    options: CopyOptions,
) -> StoreResult<u64> {
    let bar = progress_bar(table, options.progress);
    let mut rows = 0_u64;
    let mut page = source.export_rows(table, None, options.batch).await?;
    loop {
        let CopyPage { rows: batch, next } = page;
        rows += batch.len() as u64;
        let import = tokio::spawn({
            let target = target.clone();
            async move { target.import_rows(&batch).await }
        });
        let exported = match &next {
            Some(cursor) => Some(source.export_rows(table, Some(cursor), options.batch).await),
            None => None,
        };
        import
            .await
            .map_err(|error| StoreError::Backend(format!("the import task failed: {error}")))??;
        bar.set_position(rows);
        match exported {
            Some(exported) => page = exported?,
            None => break,
        }
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// A progress bar for one table on stderr (hidden when stderr is not a terminal or `enabled` is
/// off).
fn progress_bar(table: CopyTable, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<24} {pos:>10} rows  {per_sec}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(table.name());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Distinct rows and checksum of one table.
async fn digest(store: &DynStore, table: CopyTable, batch: usize) -> StoreResult<(u64, String)> {
    let mut digest = CopyDigest::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.export_rows(table, cursor.as_deref(), batch).await?;
        for row in &page.rows {
            digest.add(row);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((digest.count(), digest.checksum())),
        }
    }
}

/// Deletes `keys` from `store`.
async fn delete_api_keys(store: &DynStore, keys: &[ApiKeyRecord]) -> StoreResult<()> {
    for key in keys {
        store.delete_api_key(&key.uid).await?;
    }
    Ok(())
}

/// The tables of `store` holding at least one row.
async fn occupied_tables(store: &DynStore) -> StoreResult<Vec<CopyTable>> {
    let mut occupied = Vec::new();
    for table in CopyTable::ALL {
        let mut cursor: Option<String> = None;
        // An unordered export may return empty pages before the end.
        loop {
            let page = store.export_rows(*table, cursor.as_deref(), 1).await?;
            if !page.rows.is_empty() {
                occupied.push(*table);
                break;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(occupied)
}

fn names(tables: &[CopyTable]) -> String {
    tables
        .iter()
        .map(|table| table.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use miroir_store::{ApiKeyRecord, Timestamp};

    use super::*;

    const OPTIONS: CopyOptions = CopyOptions {
        force: false,
        batch: 2,
        progress: false,
    };

    async fn memory() -> DynStore {
        miroir_store::open("sqlite::memory:").await.unwrap()
    }

    async fn migrated() -> DynStore {
        let store = memory().await;
        store.migrate().await.unwrap();
        store
    }

    async fn keys(store: &DynStore) -> Vec<ApiKeyRecord> {
        store.list_api_keys(0, 100).await.unwrap().results
    }

    /// The default API keys a target's migration created do not make it occupied: the copy
    /// deletes them and the source's keys (its own default keys among them) take their place.
    /// A target holding any other key, or a default key changed, is refused and left alone.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_fresh_targets_default_keys_are_replaced_by_the_sources() {
        let source = migrated().await;
        let at = Timestamp::from_millis(1_700_000_000_000);
        source
            .create_api_key(ApiKeyRecord {
                uid: "d4c3f873-d0f5-4d35-b40f-2da66002f818".to_owned(),
                name: Some("mine".to_owned()),
                description: None,
                actions: vec!["search".to_owned()],
                indexes: vec!["movies".to_owned()],
                expires_at: None,
                created_at: at,
                updated_at: at,
            })
            .await
            .unwrap();
        assert_eq!(keys(&source).await.len(), 5);

        let target = memory().await;
        let mut out = Vec::new();
        copy_store(&source, &target, OPTIONS, &mut out)
            .await
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("deleted the target's 4 default API keys"),
            "{out}"
        );
        assert_eq!(keys(&target).await, keys(&source).await);

        // The target now holds the source's own key: a second copy is refused.
        let refused = copy_store(&source, &target, OPTIONS, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            refused.message.contains("not empty (rows in api_keys)"),
            "{}",
            refused.message
        );

        // A fresh target whose admin key was renamed is refused too, untouched.
        let renamed = migrated().await;
        let mut admin = keys(&renamed).await[1].clone();
        admin.name = Some("Admin".to_owned());
        admin.updated_at = admin.created_at.plus(Duration::from_millis(1));
        renamed.put_api_key(admin).await.unwrap();
        let before = keys(&renamed).await;
        let refused = copy_store(&source, &renamed, OPTIONS, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(refused.message.contains("api_keys"), "{}", refused.message);
        assert_eq!(keys(&renamed).await, before);

        // With --force it is cleared and gets the source's keys.
        let forced = CopyOptions {
            force: true,
            ..OPTIONS
        };
        copy_store(&source, &renamed, forced, &mut Vec::new())
            .await
            .unwrap();
        assert_eq!(keys(&renamed).await, keys(&source).await);
    }
}
