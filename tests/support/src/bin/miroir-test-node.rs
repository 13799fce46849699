//! `miroir-test-node --addr 127.0.0.1:7701 [--master-key K] [--task-delay-ms N]`: a
//! Meilisearch-compatible test node as a process (see `miroir_test_support::meilisearch`).
//!
//! Prints one line `listening on http://ADDR` to stdout once it accepts connections; plain-text
//! logs go to stderr (`RUST_LOG` filters them, default `info`). Runs until killed. Exit code 2 on
//! bad arguments, 1 if the address cannot be bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};

const USAGE: &str =
    "usage: miroir-test-node --addr HOST:PORT [--master-key KEY] [--task-delay-ms MILLISECONDS]";

/// The command line, parsed.
struct Arguments {
    address: SocketAddr,
    options: TestNodeOptions,
}

fn parse_arguments(mut arguments: impl Iterator<Item = String>) -> Result<Arguments, String> {
    let mut address = None;
    let mut options = TestNodeOptions::default();
    while let Some(flag) = arguments.next() {
        let mut value = || {
            arguments
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => {
                let text = value()?;
                address = Some(
                    text.parse::<SocketAddr>()
                        .map_err(|error| format!("--addr {text}: {error}"))?,
                );
            }
            "--master-key" => options.master_key = Some(value()?),
            "--task-delay-ms" => {
                let text = value()?;
                let millis: u64 = text
                    .parse()
                    .map_err(|error| format!("--task-delay-ms {text}: {error}"))?;
                options.task_delay = Duration::from_millis(millis);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let address = address.ok_or("--addr is required")?;
    Ok(Arguments { address, options })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let arguments = match parse_arguments(std::env::args().skip(1)) {
        Ok(arguments) => arguments,
        Err(message) => {
            tracing::error!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let node = match TestNode::start_on(arguments.address, arguments.options).await {
        Ok(node) => node,
        Err(error) => {
            tracing::error!("cannot listen on {}: {error}", arguments.address);
            return ExitCode::from(1);
        }
    };
    announce(&node.url());
    tracing::info!(url = %node.url(), "test node ready");
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

#[allow(
    clippy::print_stdout,
    reason = "the one line a parent process waits for to know the node is ready"
)]
fn announce(url: &str) {
    use std::io::Write;
    println!("listening on {url}");
    let _ = std::io::stdout().flush();
}
