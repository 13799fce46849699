//! The official Python `meilisearch` SDK (PyPI), unmodified, against `miroir` in front of three
//! test nodes: `tests/sdk/python_sdk.py` must pass. Needs `python3` with the `meilisearch`
//! package (`pip install meilisearch`; `.ci/run` installs it).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use miroir_system_tests::{Fleet, Miroir};

#[test]
fn the_python_sdk_works_unmodified() {
    let probe = Command::new("python3")
        .args(["-c", "import meilisearch"])
        .status()
        .expect("python3 is on the PATH");
    assert!(
        probe.success(),
        "the Python `meilisearch` SDK is missing: pip install meilisearch"
    );
    let fleet = Fleet::start(3);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let master_key = "python-sdk-master-key-0123456789";
    let miroir = Miroir::start_with(&fleet, &url, 2, &[("MIROIR_MASTER_KEY", master_key)]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python_sdk.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", miroir.port))
        .arg(master_key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python sdk failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
