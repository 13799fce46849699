//! The `--help` footer of `miroir-migrate`: where the store URL comes from and what the exit
//! codes ([`Exit`], shared with `miroir` in `miroir-core`) mean.

#[cfg(doc)]
use miroir_core::Exit;

/// The `--help` text that documents the exit codes and where the store URL comes from.
pub(crate) const HELP_FOOTER: &str = "\
The store URL comes from, in order: --store URL; MIROIR_TASK_STORE_URL; the config file
(--config FILE, else MIROIR_CONFIG; its task_store section and every MIROIR_* override apply);
else the embedded default, sqlite://./.miroir/tasks.db.

Exit codes:
  0  done: up applied what was missing (or nothing was), status printed, check found the store
     current, copy copied and verified every table
  1  any other failure (bad config or store URL, not a Miroir store, copy into a non-empty target
     without --force, copy verification failed, ...); message on stderr
  2  usage error
  3  check: the store is behind this binary; run `miroir-migrate up`
  4  the store is AHEAD of this binary (migrated by a newer Miroir); nothing was changed
  5  the store is unavailable (did not answer in time, connection refused); retry later";
