//! Human output of the commands, on stdout.

use std::io::Write;

/// One line of human output. A closed stdout does not change the exit code.
pub(crate) fn say(out: &mut dyn Write, line: std::fmt::Arguments<'_>) {
    let _ = writeln!(out, "{line}");
}
