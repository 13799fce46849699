//! Running the real `miroir-migrate` binary in a clean environment.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// Both streams, for assertion messages and "no secret anywhere" checks.
    pub fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// The binary with no inherited environment (so no `MIROIR_*` of the machine leaks in).
pub fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_miroir-migrate"));
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary to completion.
pub fn migrate(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let started = Instant::now();
    let output = command(cwd, args, env).output().unwrap();
    outcome(output, started.elapsed())
}

/// Starts `count` copies at once and waits for all of them.
pub fn migrate_concurrently(count: usize, cwd: &Path, args: &[&str]) -> Vec<Outcome> {
    let started = Instant::now();
    let children: Vec<Child> = (0..count)
        .map(|_| command(cwd, args, &[]).spawn().unwrap())
        .collect();
    children
        .into_iter()
        .map(|child| outcome(child.wait_with_output().unwrap(), started.elapsed()))
        .collect()
}

fn outcome(output: Output, elapsed: Duration) -> Outcome {
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed,
    }
}

/// Racing `up`s on a fresh store: every process exits 0 and each step was applied by exactly
/// one of them.
pub fn assert_all_up_with_one_applier(outcomes: &[Outcome]) {
    for outcome in outcomes {
        assert_eq!(outcome.code, 0, "{}", outcome.all());
    }
    for step in miroir_store::schema::MIGRATIONS {
        let label = format!("{:04} {}", step.version, step.name);
        let appliers = outcomes
            .iter()
            .filter(|outcome| {
                outcome
                    .stdout
                    .lines()
                    .any(|line| line.contains("applied") && line.contains(&label))
            })
            .count();
        assert_eq!(
            appliers, 1,
            "step {label} is applied by exactly one process: {outcomes:#?}"
        );
    }
}

/// `sqlite://` + an absolute path = `sqlite:///abs/path`.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}
