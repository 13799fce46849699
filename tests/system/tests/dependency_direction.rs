//! Fails when a crate breaks the dependency direction of DESIGN.md §2:
//! handlers → shared/http → shared/core → shared/store (shared/background sits beside the
//! handlers: above http, used only by `edge`), the store depends on nothing of Miroir,
//! handlers never depend on each other (only `edge` mounts them all), and only the store crate
//! talks to SQLite or Redis.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Where a crate sits in the layering, from its manifest path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Store,
    Core,
    Http,
    Background,
    Handler,
    Edge,
    MigrationJob,
    TestKit,
}

fn layer_of(manifest: &Path, root: &Path) -> Layer {
    let relative = manifest.parent().unwrap().strip_prefix(root).unwrap();
    let parts: Vec<&str> = relative.iter().map(|part| part.to_str().unwrap()).collect();
    match parts.as_slice() {
        ["shared", "store"] => Layer::Store,
        ["shared", "core"] => Layer::Core,
        ["shared", "http"] => Layer::Http,
        ["shared", "background"] => Layer::Background,
        ["handlers", "edge"] => Layer::Edge,
        ["handlers", _] => Layer::Handler,
        ["migrations"] => Layer::MigrationJob,
        ["tests", ..] => Layer::TestKit,
        other => panic!("crate at {other:?} is not in DESIGN.md §2's layout; add it to this test"),
    }
}

/// May a crate of layer `from` depend (normally, not dev) on a Miroir crate of layer `to`?
fn allowed(from: Layer, to: Layer) -> bool {
    use Layer::*;
    match from {
        Store => false,
        Core => to == Store,
        Http => matches!(to, Store | Core),
        Background | Handler => matches!(to, Store | Core | Http),
        Edge => matches!(to, Store | Core | Http | Background | Handler),
        MigrationJob => matches!(to, Store | Core),
        TestKit => true,
    }
}

/// Crates that speak a storage protocol; only the store (and the test kit) may use them.
const STORAGE_DRIVERS: &[&str] = &[
    "rusqlite",
    "libsqlite3-sys",
    "redis",
    "sqlx",
    "deadpool-redis",
    "bb8-redis",
];

#[test]
fn crates_respect_the_dependency_direction() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let root = Path::new(metadata["workspace_root"].as_str().unwrap());
    let packages = metadata["packages"].as_array().unwrap();
    let layer_by_name: std::collections::BTreeMap<&str, Layer> = packages
        .iter()
        .map(|package| {
            (
                package["name"].as_str().unwrap(),
                layer_of(Path::new(package["manifest_path"].as_str().unwrap()), root),
            )
        })
        .collect();
    assert!(
        layer_by_name.contains_key("miroir-store"),
        "the store crate is a member"
    );

    let mut violations = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        let from = layer_by_name[name];
        for dependency in package["dependencies"].as_array().unwrap() {
            if !dependency["kind"].is_null() {
                continue; // dev- and build-dependencies (test kits) are not part of the layering
            }
            let dependency_name = dependency["name"].as_str().unwrap();
            if let Some(&to) = layer_by_name.get(dependency_name) {
                if !allowed(from, to) {
                    violations.push(format!(
                        "{name} ({from:?}) depends on {dependency_name} ({to:?})"
                    ));
                }
            } else if STORAGE_DRIVERS.contains(&dependency_name)
                && !matches!(from, Layer::Store | Layer::TestKit)
            {
                violations.push(format!("{name} ({from:?}) uses {dependency_name}: only miroir-store may talk to storage"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency direction broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_rules_reject_what_design_forbids() {
    use Layer::*;
    assert!(
        !allowed(Store, Core),
        "the store depends on nothing of Miroir"
    );
    assert!(!allowed(Core, Http));
    assert!(
        !allowed(Handler, Handler),
        "handlers never depend on each other"
    );
    assert!(!allowed(Handler, Edge));
    assert!(allowed(Edge, Handler));
    assert!(allowed(Handler, Http));
}
