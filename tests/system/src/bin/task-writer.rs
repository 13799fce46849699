//! `task-writer`: creates tasks straight in a task store, one after another, for the
//! reliability suite's crash test, which kills it (and the store's server) with `SIGKILL`.
//!
//! Each task is `documentAdditionOrUpdate` on `--index`, already `succeeded` (so no background
//! worker touches it), with details `{"writer": <name>, "seq": n}`. After the store acknowledged
//! a task, one line `ack <uid> <seq> <enqueuedAt ms>` is written to stdout and flushed: a line
//! the test read is a task the store promised to keep. A failed call (the store is down) is
//! reported on stderr and retried with the next sequence number after 20 ms.
//!
//! ```sh
//! task-writer --store sqlite:///tmp/tasks.db --index crash --name direct
//! ```

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use miroir_store::{NewTask, NodeTaskMap, TaskKind, TaskStatus, Timestamp};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "task-writer", about = "Creates tasks in a store until killed")]
struct Args {
    /// Store URL (`sqlite://…`, `redis://…`).
    #[arg(long)]
    store: String,
    /// Index the tasks name.
    #[arg(long)]
    index: String,
    /// Written into each task's details, to tell writers apart.
    #[arg(long, default_value = "direct")]
    name: String,
    /// First sequence number (a restarted writer continues where the last one stopped).
    #[arg(long, default_value_t = 0)]
    start: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let store = match miroir_store::open(&args.store).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("task-writer: cannot open {}: {error}", args.store);
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    for seq in args.start.. {
        let task = NewTask {
            index_uid: Some(args.index.clone()),
            kind: TaskKind::DocumentAdditionOrUpdate,
            status: TaskStatus::Succeeded,
            node_tasks: NodeTaskMap::new(),
            details: Some(serde_json::json!({"writer": args.name, "seq": seq})),
            enqueued_at: Timestamp::now(),
        };
        match store.create_task(task).await {
            Ok(task) => {
                let line = format!("ack {} {seq} {}\n", task.uid, task.enqueued_at.as_millis());
                if stdout
                    .write_all(line.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    // The reader is gone: nobody can learn of further acknowledgements.
                    return std::process::ExitCode::FAILURE;
                }
            }
            Err(error) => {
                eprintln!("task-writer: task {seq} not created: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
