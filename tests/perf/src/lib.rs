//! What the benchmark programs of `miroir-perf` share: their error type, a child process killed
//! on drop, a freshly migrated SQLite store, loopback HTTP ([`net`]) and `wrk` runs ([`wrk`]).

pub mod net;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Any error, as text for the final message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Result of the benchmarks' fallible steps.
pub type Result<T> = std::result::Result<T, Error>;

/// A child process killed (and reaped) when dropped, on success and on error alike.
#[derive(Debug)]
pub struct ChildGuard {
    /// What it is, for messages.
    name: String,
    /// The process.
    child: Child,
}

impl ChildGuard {
    /// Spawns `command` with stdin closed, stdout discarded (`miroir` logs there) and stderr
    /// inherited; `name` appears in messages.
    pub fn spawn(name: impl Into<String>, command: &mut Command) -> Result<Self> {
        let name = name.into();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start {name}: {error}"))?;
        Ok(Self { name, child })
    }

    /// What it is, as given to [`ChildGuard::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating-system process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// An error if the process has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("{} exited early ({status})", self.name).into()),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `migrate up` (the `miroir-migrate` binary) on a new SQLite store under `dir`; returns
/// the store URL.
pub fn migrate_store(dir: &Path, migrate_binary: &Path) -> Result<String> {
    let url = format!("sqlite://{}", dir.join("tasks.db").display());
    migrate(migrate_binary, &url)?;
    Ok(url)
}

/// Runs `migrate up --store url` with the `miroir-migrate` binary at `binary`.
pub fn migrate(binary: &Path, url: &str) -> Result<()> {
    let output = Command::new(binary)
        .args(["up", "--store", url])
        .env_remove("MIROIR_CONFIG")
        .output()
        .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} up --store {url} failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// The release binaries a benchmark runs, as its `--miroir` and `--migrate` options (flatten
/// into the program's arguments with `#[command(flatten)]`).
#[derive(Clone, Debug, clap::Args)]
pub struct Binaries {
    /// The `miroir` binary.
    #[arg(long, value_name = "PATH", default_value = "target/release/miroir")]
    pub miroir: PathBuf,
    /// The `miroir-migrate` binary.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/miroir-migrate"
    )]
    pub migrate: PathBuf,
}

impl Binaries {
    /// An error naming the package to build when either binary is missing.
    pub fn check(&self) -> Result<()> {
        for (binary, package) in [
            (&self.miroir, "miroir-edge"),
            (&self.migrate, "miroir-migrate"),
        ] {
            if !binary.is_file() {
                return Err(format!(
                    "{} not found: build it with `cargo build --release -p {package}` or pass \
                     its path",
                    binary.display()
                )
                .into());
            }
        }
        Ok(())
    }
}
