//! The reliability suite: real `miroir` processes, real Redis servers and Meilisearch-compatible
//! test nodes, broken on purpose. Nothing a client was told was accepted may be lost.
//!
//! - [`crash`]: `miroir` and a direct store writer killed with `SIGKILL` while writing, on SQLite
//!   and on Redis (`appendfsync always`, the server killed too); every acknowledged task is found
//!   afterwards with the content it was acknowledged with.
//! - [`outage`]: Redis down, then hung, under load: every request is answered within a bound
//!   (a Meilisearch-shaped 503 with `Retry-After` when it needed the store), and service resumes
//!   by itself.
//! - [`nodes`]: a test node down or slow: writes follow the quorum rules, searches follow
//!   `unavailable_shard_policy`.
//! - [`contention`]: four worker processes race over one job queue, three of them under one
//!   worker name: no job is claimed twice at once, no claim token is handed out twice, none is
//!   lost, the claims of a killed worker are reclaimed.
//! - [`fuzz`]: `schemathesis` against the OpenAPI document of a running `miroir`: no 5xx, no
//!   answer outside the documented schema, oversized and deeply nested bodies refused, and no
//!   key or internal error text in any answer or log line.
//! - [`resources`]: 100 clients posting 100 MB bodies to the operator API without a key, and a
//!   client trickling its headers: refused early, peak RSS under 256 MiB, cut at the timeout.
//!
//! The test command runs a short version of each. The long version (20 crash cycles, a 10 s
//! outage, 4 × 10,000 jobs) runs with `MIROIR_RELIABILITY=full`:
//!
//! ```sh
//! MIROIR_RELIABILITY=full cargo test -p miroir-system-tests --test reliability -- --test-threads 1 --nocapture
//! ```
//!
//! Each case prints one `reliability:` line with what it measured (shown with `--nocapture`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod contention;
mod crash;
mod fuzz;
mod nodes;
mod outage;
mod resources;

/// True when `MIROIR_RELIABILITY=full` asks for the long version of the suite.
fn full() -> bool {
    std::env::var("MIROIR_RELIABILITY").is_ok_and(|value| value == "full")
}

/// `fast` in the test command, `long` with `MIROIR_RELIABILITY=full`.
fn sized<T>(fast: T, long: T) -> T {
    if full() { long } else { fast }
}

/// Prints one result line of the suite (visible with `--nocapture`).
fn report(line: &str) {
    #[allow(clippy::print_stdout)]
    {
        println!("reliability: {line}");
    }
}
