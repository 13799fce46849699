//! [`Exit`]: the process exit codes of Miroir's binaries, a contract users' scripts rely on.
//!
//! `miroir-migrate` uses all of them; `miroir` and the Lambda handlers use `Done`, `Failed`,
//! `Usage` and `Ahead` (a store migrated by a newer Miroir is refused with the same code).

/// How a Miroir process ended. The numbers never change.
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
