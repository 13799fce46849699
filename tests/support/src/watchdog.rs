//! Cleanup that happens even when the test process is killed: a `sh` child blocked reading a pipe
//! whose only writer is this process. When the process dies the OS closes the pipe, `read` returns
//! and the shell runs its cleanup command. No polling, no signals, no unsafe code.

use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::HarnessError;

/// A shell that runs `<command> "$1"` once this process is gone, unless disarmed first.
#[derive(Debug)]
pub(crate) struct Watchdog {
    shell: Child,
    /// Our end is close-on-exec (std opens pipes that way), so no other child inherits it.
    _pipe: Option<ChildStdin>,
}

impl Watchdog {
    /// Spawns the watchdog. `command` is a shell command line applied to `argument`, e.g.
    /// `kill -9` and a pid.
    pub(crate) fn spawn(command: &str, argument: &str) -> Result<Self, HarnessError> {
        let script = format!(r#"read _ignored; {command} "$1" >/dev/null 2>&1"#);
        let mut shell = Command::new("sh")
            .args(["-c", &script, "miroir-test-watchdog", argument])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| HarnessError::new(format!("cannot spawn a watchdog (sh): {error}")))?;
        let _pipe = shell.stdin.take();
        Ok(Self { shell, _pipe })
    }

    /// Stops the watchdog without running its command.
    pub(crate) fn disarm(&mut self) {
        reap(&mut self.shell);
    }

    /// Runs the command now, as if this process had died, and waits for it.
    #[cfg(test)]
    pub(crate) fn fire(&mut self) {
        self._pipe = None;
        let _ = self.shell.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// Kills a child if it still runs and waits for it (a no-op on an already reaped child).
pub(crate) fn reap(child: &mut Child) {
    // `kill` fails only if the child already exited, which `wait` handles.
    let _ = child.kill();
    let _ = child.wait();
}

/// A port of `interface` that was free a moment ago.
///
/// Drawn below Linux's ephemeral range (32768–60999), never by `bind(0)`: an ephemeral port can
/// be handed to an outgoing connection or to another `bind(0)` between this check and the
/// caller's own bind, and a server started on a taken port exits while its readiness probe
/// reaches whoever holds the port. Each test process walks its own stretch of ports (by pid),
/// one port per call, skipping ports in use.
pub(crate) fn free_port(interface: &str) -> Result<u16, HarnessError> {
    const FIRST: u32 = 20_000;
    const STRETCH: u32 = 160;
    const STRETCHES: u32 = 75;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = FIRST + std::process::id() % STRETCHES * STRETCH;
    for _ in 0..STRETCH * STRETCHES {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % (STRETCH * STRETCHES);
        let port = FIRST + (start - FIRST + offset) % (STRETCH * STRETCHES);
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if TcpListener::bind((interface, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(HarnessError::new(format!(
        "cannot find a free port on {interface} from {FIRST} to {}",
        FIRST + STRETCH * STRETCHES
    )))
}
