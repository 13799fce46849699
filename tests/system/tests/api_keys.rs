//! API keys through two `miroir` replicas sharing one Redis, in front of test nodes: what a key
//! allows is enforced on every client route, and a key deleted or expired on one replica is
//! refused by the other at its next request.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_system_tests::{Fleet, Miroir};
use miroir_test_support::process::{HttpReply, http, wait_until};
use miroir_test_support::{shared_redis, unique_prefix};
use serde_json::{Value, json};

const MASTER: &str = "a-master-key-of-sixteen-bytes-or-more";

fn call(miroir: &Miroir, key: Option<&str>, method: &str, path: &str, body: &Value) -> HttpReply {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    http(miroir.port, method, path, &headers, &body).unwrap()
}

fn ok(miroir: &Miroir, key: &str, method: &str, path: &str, body: &Value) -> Value {
    let reply = call(miroir, Some(key), method, path, body);
    assert!(
        reply.status < 300,
        "{method} {path}: {} {}",
        reply.status,
        reply.body
    );
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

fn refused(miroir: &Miroir, key: &str, method: &str, path: &str, body: &Value) {
    let reply = call(miroir, Some(key), method, path, body);
    assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
    let error: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(error["code"], "invalid_api_key", "{error}");
}

/// Sends a write with the master key and waits for its task.
fn write(miroir: &Miroir, method: &str, path: &str, body: &Value) {
    let uid = ok(miroir, MASTER, method, path, body)["taskUid"]
        .as_u64()
        .unwrap();
    wait_until("a task", Duration::from_secs(20), || {
        let task = ok(
            miroir,
            MASTER,
            "GET",
            &format!("/tasks/{uid}"),
            &Value::Null,
        );
        task["status"] == "succeeded"
    });
}

#[test]
fn keys_are_enforced_on_every_replica() {
    let fleet = Fleet::start(2);
    let url = shared_redis().store_url(&unique_prefix("api-keys"), Duration::from_secs(2));
    let env = [("MIROIR_MASTER_KEY", MASTER)];
    let first = Miroir::start_with(&fleet, &url, 1, &env);
    let second = Miroir::start_with(&fleet, &url, 1, &env);
    for index in ["movies", "books"] {
        write(
            &first,
            "POST",
            "/indexes",
            &json!({"uid": index, "primaryKey": "id"}),
        );
        write(
            &first,
            "POST",
            &format!("/indexes/{index}/documents"),
            &json!([{"id": 1, "title": "one"}]),
        );
    }

    // Meilisearch's four default keys, then the one created.
    let keys = ok(&first, MASTER, "GET", "/keys", &Value::Null);
    assert_eq!(keys["total"], 4, "{keys}");
    let admin = keys["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == "Default Admin API Key")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = call(
        &first,
        Some(MASTER),
        "POST",
        "/keys",
        &json!({"actions": ["search", "tasks.get"], "indexes": ["mov*"], "expiresAt": null, "name": "front"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created: Value = serde_json::from_str(&created.body).unwrap();
    let search = created["key"].as_str().unwrap().to_owned();
    assert_eq!(search.len(), 64);

    // Allowed on the other replica at once; nothing else is.
    let hits = ok(
        &second,
        &search,
        "POST",
        "/indexes/movies/search",
        &json!({"q": "one"}),
    );
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1, "{hits}");
    refused(
        &second,
        &search,
        "POST",
        "/indexes/books/search",
        &json!({}),
    );
    refused(
        &second,
        &search,
        "POST",
        "/indexes/movies/documents",
        &json!([{"id": 2}]),
    );
    refused(&second, &search, "GET", "/keys", &Value::Null);
    refused(
        &second,
        &search,
        "POST",
        "/indexes",
        &json!({"uid": "movies2"}),
    );
    refused(
        &second,
        &search,
        "POST",
        "/multi-search",
        &json!({"queries": [{"indexUid": "movies"}, {"indexUid": "books"}]}),
    );
    let tasks = ok(&second, &search, "GET", "/tasks", &Value::Null);
    let indexes: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["indexUid"].as_str().unwrap())
        .collect();
    assert!(
        !indexes.is_empty() && indexes.iter().all(|index| *index == "movies"),
        "{indexes:?}"
    );

    // The default admin key writes; it may manage keys too, as in Meilisearch.
    write(
        &second,
        "POST",
        "/indexes/books/documents",
        &json!([{"id": 3}]),
    );
    ok(
        &second,
        &admin,
        "POST",
        "/indexes/books/documents",
        &json!([{"id": 4}]),
    );
    ok(&second, &admin, "GET", "/keys", &Value::Null);

    // No key, an unknown key.
    let missing = call(&second, None, "GET", "/indexes", &Value::Null);
    assert_eq!(missing.status, 401, "{}", missing.body);
    refused(&second, &"0".repeat(64), "GET", "/indexes", &Value::Null);

    // Deleted on one replica: refused by the other at its next request.
    let uid = created["uid"].as_str().unwrap();
    let deleted = call(
        &first,
        Some(MASTER),
        "DELETE",
        &format!("/keys/{uid}"),
        &Value::Null,
    );
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    refused(
        &second,
        &search,
        "POST",
        "/indexes/movies/search",
        &json!({}),
    );

    // Expired: refused from its expiry on.
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expiring = ok(
        &first,
        MASTER,
        "POST",
        "/keys",
        &json!({"actions": ["*"], "indexes": ["*"],
                "expiresAt": expiry.format(&time::format_description::well_known::Rfc3339).unwrap()}),
    );
    let expiring = expiring["key"].as_str().unwrap().to_owned();
    ok(&second, &expiring, "GET", "/indexes/movies", &Value::Null);
    std::thread::sleep(Duration::from_millis(2_200));
    refused(&second, &expiring, "GET", "/indexes/movies", &Value::Null);
}
