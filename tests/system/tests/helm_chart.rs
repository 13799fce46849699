//! The Helm chart `charts/miroir`, checked with the real Helm engine: `tests/chart/test_chart.py`
//! lints it, exercises every `values.schema.json` and template rule and inspects the rendered
//! manifests; then the config files the chart renders must load in Miroir's own config loader.
//! Needs `python3` with the PyPI packages `helm-python-sdk` (import `helm_python`, the Helm v4
//! engine; no `helm` binary or cluster) and `pyyaml`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use miroir_system_tests::command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fails with the pip command when `module` is missing.
fn require_python_module(module: &str, package: &str) {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .expect("python3 is on the PATH");
    assert!(
        probe.success(),
        "the Python module `{module}` is missing: pip install {package}"
    );
}

fn chart_script(args: &[&Path]) -> Output {
    require_python_module("helm_python", "helm-python-sdk");
    require_python_module("yaml", "pyyaml");
    require_python_module("kubernetes_validate", "kubernetes-validate");
    require_python_module("checkov", "checkov");
    let root = repo_root();
    Command::new("python3")
        .arg(root.join("tests/chart/test_chart.py"))
        .arg(root.join("charts/miroir"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_helm_chart_lints_validates_and_renders() {
    let output = chart_script(&[]);
    assert_success("tests/chart/test_chart.py", &output);
}

/// The chart's config files (default and production values) pass Miroir's config loader: no
/// unknown key, valid nodes, replication factor within every group. `miroir-migrate` reads the
/// file like `miroir` does when the store URL comes from the file's `task_store` section, here
/// pointed at a scratch SQLite store.
#[test]
fn the_charts_config_files_load_in_miroir() {
    let dir = tempfile::tempdir().unwrap();
    let output = chart_script(&[Path::new("--write-configs"), dir.path()]);
    assert_success("test_chart.py --write-configs", &output);
    for label in ["default", "production"] {
        let config = dir.path().join(format!("{label}.yaml"));
        let store = format!(
            "sqlite://{}",
            dir.path().join(format!("{label}.db")).display()
        );
        let output = command("miroir-migrate", "miroir-migrate")
            .arg("up")
            .env("MIROIR_CONFIG", &config)
            .env("MIROIR_TASK_STORE__BACKEND", "sqlite")
            .env("MIROIR_TASK_STORE__URL", &store)
            .output()
            .unwrap();
        assert_success(
            &format!(
                "miroir-migrate up with the chart's {label} config {}",
                config.display()
            ),
            &output,
        );
    }
}
