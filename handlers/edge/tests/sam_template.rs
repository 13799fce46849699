//! The AWS SAM template (`infra/aws/template.yaml`) routes exactly the routes the handler crates
//! define, each to the Lambda function built from the crate that defines it (bin
//! `lambda-<crate>`), over an HTTP API with payload format 2.0 (the only event format the
//! functions accept); it also has the migration function and the scheduled worker. And the
//! template passes `cfn-lint` (`pip install cfn-lint`).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;
use utoipa::openapi::OpenApi;

/// `(METHOD, path)`, path in the `{param}` syntax axum and API Gateway share.
type Route = (String, String);

/// Every handler crate, by directory name (`handlers/<name>/`, bin `lambda-<name>`), with the
/// OpenAPI document of its `routes()`, the one definition of its routes.
fn handler_crates() -> Vec<(&'static str, OpenApi)> {
    vec![
        ("tasks", miroir_handler_tasks::routes().into_openapi()),
        ("admin", miroir_handler_admin::routes().into_openapi()),
        ("aliases", miroir_handler_aliases::routes().into_openapi()),
        ("sessions", miroir_handler_sessions::routes().into_openapi()),
        ("canaries", miroir_handler_canaries::routes().into_openapi()),
        ("jobs", miroir_handler_jobs::routes().into_openapi()),
        ("tenants", miroir_handler_tenants::routes().into_openapi()),
        ("keys", miroir_handler_keys::routes().into_openapi()),
        ("rollover", miroir_handler_rollover::routes().into_openapi()),
        (
            "search-ui",
            miroir_handler_search_ui::routes().into_openapi(),
        ),
        ("leases", miroir_handler_leases::routes().into_openapi()),
        ("cdc", miroir_handler_cdc::routes().into_openapi()),
        ("indexes", miroir_handler_indexes::routes().into_openapi()),
        (
            "documents",
            miroir_handler_documents::routes().into_openapi(),
        ),
        ("search", miroir_handler_search::routes().into_openapi()),
        ("settings", miroir_handler_settings::routes().into_openapi()),
    ]
}

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The operations of an OpenAPI document.
fn routes_of(document: &OpenApi) -> BTreeSet<Route> {
    let document = serde_json::to_value(document).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if HTTP_METHODS.contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The mounted routes, each with the bin of the function that must serve it.
fn mounted_routes() -> BTreeMap<Route, String> {
    let mut owners = BTreeMap::new();
    for (name, document) in handler_crates() {
        for route in routes_of(&document) {
            let previous = owners.insert(route.clone(), format!("lambda-{name}"));
            assert!(previous.is_none(), "{route:?} is defined by two crates");
        }
    }
    owners
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template_path() -> PathBuf {
    workspace_root().join("infra/aws/template.yaml")
}

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug)]
struct Function {
    logical_id: String,
    binary: String,
    /// `(METHOD, path)` of each `HttpApi` event.
    http_routes: Vec<Route>,
    /// The `Schedule` events' expressions.
    schedules: Vec<String>,
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

/// The template's functions, checking on the way that each HttpApi event is on the template's
/// HTTP API with payload format 2.0.
fn template_functions() -> Vec<Function> {
    let template: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(template_path()).unwrap()).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let api_ids: Vec<&str> = resources
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::Serverless::HttpApi")
        .map(|(id, _)| id.as_str().unwrap())
        .collect();
    assert_eq!(api_ids.len(), 1, "one HTTP API: {api_ids:?}");
    let mut functions = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let logical_id = id.as_str().unwrap().to_owned();
        let binary = text(
            &resource["Metadata"]["BuildProperties"]["Binary"],
            &format!("{logical_id}'s Metadata.BuildProperties.Binary"),
        )
        .to_owned();
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{logical_id}"
        );
        let mut http_routes = Vec::new();
        let mut schedules = Vec::new();
        if let Some(events) = resource["Properties"]["Events"].as_mapping() {
            for (event_id, event) in events {
                let what = format!("{logical_id}.{}", event_id.as_str().unwrap());
                let properties = &event["Properties"];
                match text(&event["Type"], &what) {
                    "HttpApi" => {
                        assert_eq!(properties["ApiId"]["Ref"], api_ids[0], "{what}");
                        assert_eq!(properties["PayloadFormatVersion"], "2.0", "{what}");
                        http_routes.push((
                            text(&properties["Method"], &what).to_uppercase(),
                            text(&properties["Path"], &what).to_owned(),
                        ));
                    }
                    "Schedule" => {
                        schedules.push(text(&properties["Schedule"], &what).to_owned());
                    }
                    other => panic!("{what}: unexpected event type {other}"),
                }
            }
        }
        functions.push(Function {
            logical_id,
            binary,
            http_routes,
            schedules,
        });
    }
    functions
}

/// Does the `Cargo.toml` at `manifest` (relative to the workspace root) declare bin `binary`?
fn declares_bin(manifest: &str, binary: &str) -> bool {
    let manifest_text = std::fs::read_to_string(workspace_root().join(manifest)).unwrap();
    manifest_text.contains(&format!("name = \"{binary}\""))
}

#[test]
fn the_template_routes_every_mounted_route_to_the_function_of_its_crate() {
    let mounted = mounted_routes();
    let functions = template_functions();

    let mut routed: BTreeMap<Route, String> = BTreeMap::new();
    for function in &functions {
        for route in &function.http_routes {
            let previous = routed.insert(route.clone(), function.binary.clone());
            assert!(
                previous.is_none(),
                "{} {} is routed twice in the template",
                route.0,
                route.1
            );
        }
    }
    let show = |routes: Vec<(&Route, &String)>| -> String {
        routes
            .iter()
            .map(|((method, path), binary)| format!("\n  {method} {path} ({binary})"))
            .collect()
    };
    let not_routed: Vec<_> = mounted
        .iter()
        .filter(|(route, _)| !routed.contains_key(*route))
        .collect();
    let not_mounted: Vec<_> = routed
        .iter()
        .filter(|(route, _)| !mounted.contains_key(*route))
        .collect();
    assert!(
        not_routed.is_empty() && not_mounted.is_empty(),
        "the template's routes differ from the mounted routes\nmounted, not in the template:{}\nin \
         the template, not mounted:{}",
        show(not_routed),
        show(not_mounted)
    );
    let misrouted: Vec<String> = mounted
        .iter()
        .filter(|(route, binary)| routed[*route] != **binary)
        .map(|((method, path), binary)| {
            format!(
                "\n  {method} {path}: routed to {}, defined by {binary}'s crate",
                routed[&(method.clone(), path.clone())]
            )
        })
        .collect();
    assert!(
        misrouted.is_empty(),
        "routes on the wrong function:{}",
        misrouted.concat()
    );
    assert_eq!(mounted.len(), routed.len());
}

#[test]
fn every_handler_crate_has_exactly_one_function_and_the_jobs_theirs() {
    let functions = template_functions();
    let functions_of = |binary: &str| -> Vec<&Function> {
        functions
            .iter()
            .filter(|function| function.binary == binary)
            .collect()
    };
    let mut expected: Vec<String> = Vec::new();
    for (name, _) in handler_crates() {
        let binary = format!("lambda-{name}");
        assert_eq!(
            functions_of(&binary).len(),
            1,
            "handler crate {name} needs exactly one function with Binary {binary}"
        );
        assert!(
            declares_bin(&format!("handlers/{name}/Cargo.toml"), &binary),
            "handlers/{name}/Cargo.toml has no bin {binary}"
        );
        expected.push(binary);
    }

    let migrate = functions_of("lambda-migrate");
    assert_eq!(migrate.len(), 1, "one migration function (lambda-migrate)");
    assert!(
        migrate[0].http_routes.is_empty() && migrate[0].schedules.is_empty(),
        "the migration function is invoked by hand, never by an event: {:?}",
        migrate[0]
    );
    assert!(declares_bin("migrations/Cargo.toml", "lambda-migrate"));

    let worker = functions_of("lambda-worker");
    assert_eq!(worker.len(), 1, "one scheduled worker (lambda-worker)");
    assert!(
        worker[0].http_routes.is_empty(),
        "the worker serves no route"
    );
    assert_eq!(worker[0].schedules, ["rate(1 minute)"], "{:?}", worker[0]);
    assert!(declares_bin("handlers/edge/Cargo.toml", "lambda-worker"));

    expected.extend(["lambda-migrate".to_owned(), "lambda-worker".to_owned()]);
    let unexpected: Vec<String> = functions
        .iter()
        .filter(|function| !expected.contains(&function.binary))
        .map(|function| format!("{} ({})", function.logical_id, function.binary))
        .collect();
    assert!(
        unexpected.is_empty(),
        "functions of no handler crate: {unexpected:?}"
    );
}

#[test]
fn the_template_passes_cfn_lint() {
    let probe = Command::new("cfn-lint").arg("--version").output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "cfn-lint --version failed ({}); pip install cfn-lint\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("cfn-lint is not installed ({error}); pip install cfn-lint"),
    }
    let output = Command::new("cfn-lint")
        .arg("infra/aws/template.yaml")
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && printed.trim().is_empty(),
        "cfn-lint infra/aws/template.yaml exited {}:\n{printed}",
        output.status
    );
}
