//! `miroir-migrate`: the migration job's binary, a thin wrapper over [`miroir_migrate::run`].
//! See `miroir-migrate --help` (and the library docs) for commands and exit codes.

use miroir_core::ProcessEnv;

fn main() -> std::process::ExitCode {
    let exit = miroir_migrate::run(
        std::env::args_os(),
        &ProcessEnv,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    exit.into()
}
