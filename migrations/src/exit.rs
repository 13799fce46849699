//! [`Exit`]: the process exit codes of `miroir-migrate`, a contract users' scripts rely on.

/// How `miroir-migrate` ended. The numbers never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (`up`), printed (`status`), or the store is at this binary's version (`check`).
    Done = 0,
    /// 1: any other failure: bad configuration or store URL, a file that is not a Miroir store,
    /// an unexpected store error. The message is on stderr.
    Failed = 1,
    /// 2: usage error (unknown subcommand or flag), reported by the argument parser.
    Usage = 2,
    /// 3: `check` only: the store is behind this binary (`miroir-migrate up` is needed).
    Behind = 3,
    /// 4: any subcommand: the store is AHEAD of this binary (migrated by a newer Miroir); nothing
    /// was changed. The message names both versions.
    Ahead = 4,
    /// 5: the store did not answer in time or refused the connection; retrying later may work.
    Unavailable = 5,
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// The `--help` text that documents the exit codes and where the store URL comes from.
pub(crate) const HELP_FOOTER: &str = "\
The store URL comes from, in order: --store URL; MIROIR_TASK_STORE_URL; the config file
(--config FILE, else MIROIR_CONFIG; its task_store section and every MIROIR_* override apply);
else the embedded default, sqlite://./.miroir/tasks.db.

Exit codes:
  0  done: up applied what was missing (or nothing was), status printed, check found the store current
  1  any other failure (bad config or store URL, not a Miroir store, ...); message on stderr
  2  usage error
  3  check: the store is behind this binary; run `miroir-migrate up`
  4  the store is AHEAD of this binary (migrated by a newer Miroir); nothing was changed
  5  the store is unavailable (did not answer in time, connection refused); retry later";
