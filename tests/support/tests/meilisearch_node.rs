//! The Meilisearch test node over real HTTP: shapes of tasks, indexes, documents, settings and
//! search responses, the filter grammar, task failures, authentication, faults, stop/restart, and
//! the `miroir-test-node` binary.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use miroir_test_support::process::{HttpReply, http, loopback_port};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// A tiny client over the kit's raw HTTP/1.1 helper.

async fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> HttpReply {
    let (method, path) = (method.to_owned(), path.to_owned());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        http(port, &method, &path, &headers, &body)
    })
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no HTTP answer from port {port}"))
}

/// Sends a request and returns the status and the JSON body (`null` when empty).
async fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let reply = raw(port, method, path, &[], body).await;
    let value = if reply.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&reply.body)
            .unwrap_or_else(|error| panic!("{method} {path}: not JSON ({error}): {}", reply.body))
    };
    (reply.status, value)
}

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Polls `GET /tasks/{uid}` until the task is finished; the task object.
async fn wait_task(port: u16, uid: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, task) = call(port, "GET", &format!("/tasks/{uid}"), None).await;
        assert_eq!(status, 200, "{task}");
        if task["status"] == "succeeded" || task["status"] == "failed" {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {uid} never finished: {task}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends a write, checks the 202 summarized task and waits for the task; the task object.
async fn write(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, summary) = call(port, method, path, body).await;
    assert_eq!(status, 202, "{method} {path}: {summary}");
    wait_task(port, &summary["taskUid"]).await
}

fn port_of(node: &TestNode) -> u16 {
    node.address().port()
}

fn ids(response: &Value) -> Vec<i64> {
    let list = if response["hits"].is_array() {
        &response["hits"]
    } else {
        &response["results"]
    };
    list.as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["id"].as_i64().unwrap())
        .collect()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn assert_error(response: &(u16, Value), status: u16, code: &str) {
    assert_eq!(response.0, status, "{}", response.1);
    assert_eq!(response.1["code"], code, "{}", response.1);
    assert_eq!(keys(&response.1), ["code", "link", "message", "type"]);
    assert_eq!(
        response.1["link"],
        format!("https://docs.meilisearch.com/errors#{code}")
    );
}

fn is_timestamp(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.len() == 27 && text.ends_with('Z') && text.as_bytes()[19] == b'.')
}

fn movies() -> Value {
    json!([
        {"id": 1, "title": "Carol", "genres": ["Romance", "Drama"], "year": 2015, "rating": 7.2},
        {"id": 2, "title": "Wonder Woman", "genres": ["Action", "Adventure"], "year": 2017, "rating": 7.4},
        {"id": 3, "title": "Life of Pi", "genres": ["Adventure", "Drama"], "year": 2012, "rating": 7.9},
        {"id": 4, "title": "Mad Max: Fury Road", "genres": ["Adventure", "Science Fiction"], "year": 2015, "rating": 8.1},
        {"id": 5, "title": "Moana", "genres": ["Fantasy", "Action"], "year": 2016, "rating": 7.6, "sequel": null}
    ])
}

/// A node with index `movies` (primary key `id`), filterable and sortable attributes, and the
/// five movies.
async fn movies_node() -> TestNode {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    let task = write(
        port,
        "POST",
        "/indexes",
        Some(json!({"uid": "movies", "primaryKey": "id"})),
    )
    .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let settings = json!({
        "filterableAttributes": ["genres", "year", "rating", "sequel", "title"],
        "sortableAttributes": ["year", "rating", "title"]
    });
    let task = write(port, "PATCH", "/indexes/movies/settings", Some(settings)).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let task = write(port, "POST", "/indexes/movies/documents", Some(movies())).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    node
}

async fn search(port: u16, body: Value) -> (u16, Value) {
    call(port, "POST", "/indexes/movies/search", Some(body)).await
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_version_and_unknown_routes() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    assert_eq!(node.url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        call(port, "GET", "/health", None).await,
        (200, json!({"status": "available"}))
    );
    let (status, version) = call(port, "GET", "/version", None).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&version), ["commitDate", "commitSha", "pkgVersion"]);
    assert_eq!(version["pkgVersion"], "1.12.0");
    assert_error(&call(port, "GET", "/nope", None).await, 404, "not_found");
    assert_error(&call(port, "PUT", "/health", None).await, 404, "not_found");
    assert_error(
        &call(port, "GET", "/tasks/abc", None).await,
        400,
        "invalid_task_uids",
    );
    // axum's own rejections get the shape too (an undecodable path parameter).
    assert_error(
        &call(port, "GET", "/indexes/%FF", None).await,
        400,
        "bad_request",
    );
    let missing = call(port, "GET", "/tasks/999", None).await;
    assert_error(&missing, 404, "task_not_found");
    assert_eq!(missing.1["message"], "Task `999` not found.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_creation_tasks_and_documents_have_meilisearch_shapes() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);

    let (status, summary) = call(
        port,
        "POST",
        "/indexes",
        Some(json!({"uid": "movies", "primaryKey": "id"})),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        keys(&summary),
        ["enqueuedAt", "indexUid", "status", "taskUid", "type"]
    );
    assert_eq!(summary["taskUid"], 0);
    assert_eq!(summary["indexUid"], "movies");
    assert_eq!(summary["status"], "enqueued");
    assert_eq!(summary["type"], "indexCreation");
    assert!(is_timestamp(&summary["enqueuedAt"]), "{summary}");
    let task = wait_task(port, &summary["taskUid"]).await;
    assert_eq!(
        keys(&task),
        [
            "batchUid",
            "canceledBy",
            "details",
            "duration",
            "enqueuedAt",
            "error",
            "finishedAt",
            "indexUid",
            "startedAt",
            "status",
            "type",
            "uid"
        ]
    );
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["details"], json!({"primaryKey": "id"}));
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["canceledBy"], Value::Null);
    assert_eq!(task["batchUid"], 0);
    assert!(
        task["duration"].as_str().unwrap().starts_with("PT"),
        "{task}"
    );
    assert!(
        is_timestamp(&task["startedAt"]) && is_timestamp(&task["finishedAt"]),
        "{task}"
    );

    let (status, index) = call(port, "GET", "/indexes/movies", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&index),
        ["createdAt", "primaryKey", "uid", "updatedAt"]
    );
    assert_eq!(index["primaryKey"], "id");
    let missing = call(port, "GET", "/indexes/nope", None).await;
    assert_error(&missing, 404, "index_not_found");
    assert_eq!(missing.1["message"], "Index `nope` not found.");
    assert_error(
        &call(port, "POST", "/indexes", Some(json!({"uid": "bad uid"}))).await,
        400,
        "invalid_index_uid",
    );
    assert_error(
        &call(port, "POST", "/indexes", Some(json!({"primaryKey": "id"}))).await,
        400,
        "missing_index_uid",
    );
    let malformed = raw(port, "POST", "/indexes", &[], None).await;
    assert_eq!(malformed.status, 400);

    // While a task waits, its counts are null.
    node.faults().set_task_delay(Duration::from_millis(300));
    let (status, summary) = call(port, "POST", "/indexes/movies/documents", Some(movies())).await;
    assert_eq!(status, 202);
    assert_eq!(summary["type"], "documentAdditionOrUpdate");
    let (_, pending) = call(port, "GET", &format!("/tasks/{}", summary["taskUid"]), None).await;
    assert!(
        pending["status"] == "enqueued" || pending["status"] == "processing",
        "{pending}"
    );
    assert_eq!(
        pending["details"],
        json!({"receivedDocuments": 5, "indexedDocuments": null})
    );
    assert_eq!(pending["finishedAt"], Value::Null);
    assert_eq!(pending["duration"], Value::Null);
    node.faults().set_task_delay(Duration::from_millis(2));
    let task = wait_task(port, &summary["taskUid"]).await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 5, "indexedDocuments": 5})
    );

    // One document, with and without field selection; 1 and "1" are the same id.
    let (status, carol) = call(port, "GET", "/indexes/movies/documents/1", None).await;
    assert_eq!(status, 200);
    assert_eq!(carol, movies()[0]);
    let (_, title) = call(
        port,
        "GET",
        "/indexes/movies/documents/3?fields=title,year",
        None,
    )
    .await;
    assert_eq!(title, json!({"title": "Life of Pi", "year": 2012}));
    let missing = call(port, "GET", "/indexes/movies/documents/42", None).await;
    assert_error(&missing, 404, "document_not_found");
    assert_eq!(missing.1["message"], "Document `42` not found.");

    // Listing: insertion order, paging, fields, filter.
    let (status, page) = call(
        port,
        "GET",
        "/indexes/movies/documents?offset=1&limit=2",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&page), ["limit", "offset", "results", "total"]);
    assert_eq!(
        (ids(&page), &page["offset"], &page["limit"], &page["total"]),
        (vec![2, 3], &json!(1), &json!(2), &json!(5))
    );
    let (_, fields) = call(
        port,
        "GET",
        "/indexes/movies/documents?fields=id&limit=2",
        None,
    )
    .await;
    assert_eq!(fields["results"], json!([{"id": 1}, {"id": 2}]));
    let (_, all) = call(port, "GET", "/indexes/movies/documents", None).await;
    assert_eq!(all["results"], movies());
    assert_eq!(all["limit"], 20);
    assert_error(
        &call(
            port,
            "GET",
            &format!("/indexes/movies/documents?filter={}", encode("year = 2015")),
            None,
        )
        .await,
        400,
        "invalid_document_filter",
    );
    let (_, fetched) = call(
        port,
        "POST",
        "/indexes/movies/documents/fetch",
        Some(json!({"ids": ["3", 1], "fields": ["title"]})),
    )
    .await;
    assert_eq!(
        fetched["results"],
        json!([{"title": "Life of Pi"}, {"title": "Carol"}])
    );

    // Stats, inspection, index list.
    let (_, stats) = call(port, "GET", "/indexes/movies/stats", None).await;
    assert_eq!(
        keys(&stats),
        [
            "avgDocumentSize",
            "fieldDistribution",
            "isIndexing",
            "numberOfDocuments",
            "numberOfEmbeddedDocuments",
            "numberOfEmbeddings",
            "rawDocumentDbSize"
        ]
    );
    assert_eq!(stats["numberOfDocuments"], 5);
    assert_eq!(stats["isIndexing"], false);
    assert_eq!(
        stats["fieldDistribution"],
        json!({"genres": 5, "id": 5, "rating": 5, "sequel": 1, "title": 5, "year": 5})
    );
    let (_, global) = call(port, "GET", "/stats", None).await;
    assert_eq!(global["indexes"]["movies"], stats);
    assert!(is_timestamp(&global["lastUpdate"]), "{global}");
    assert_eq!(node.document_count("movies"), 5);
    assert_eq!(Value::Array(node.documents("movies")), movies());
    assert_eq!(node.document_count("nope"), 0);
    let (_, list) = call(port, "GET", "/indexes", None).await;
    assert_eq!(
        (list["total"].clone(), list["results"][0]["uid"].clone()),
        (json!(1), json!("movies"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_or_update_merges_and_add_or_replace_replaces() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    let path = "/indexes/people/documents?primaryKey=id";
    let task = write(
        port,
        "POST",
        path,
        Some(json!([{"id": 1, "name": "Ann", "age": 30}])),
    )
    .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let task = write(
        port,
        "PUT",
        path,
        Some(json!([{"id": 1, "age": 31}, {"id": "2", "name": "Bob"}])),
    )
    .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(
        node.documents("people"),
        vec![
            json!({"id": 1, "name": "Ann", "age": 31}),
            json!({"id": "2", "name": "Bob"})
        ]
    );
    let task = write(
        port,
        "POST",
        "/indexes/people/documents",
        Some(json!({"id": "1", "name": "Cy"})),
    )
    .await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": 1})
    );
    assert_eq!(
        node.documents("people"),
        vec![
            json!({"id": "1", "name": "Cy"}),
            json!({"id": "2", "name": "Bob"})
        ]
    );
    let (_, index) = call(port, "GET", "/indexes/people", None).await;
    assert_eq!(index["primaryKey"], "id");
    assert_error(
        &call(port, "POST", path, Some(json!([1, 2]))).await,
        400,
        "malformed_payload",
    );
    let malformed = raw(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        None,
    )
    .await;
    assert_eq!(malformed.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_report_their_details() {
    let node = movies_node().await;
    let port = port_of(&node);
    let task = write(port, "DELETE", "/indexes/movies/documents/1", None).await;
    assert_eq!(task["type"], "documentDeletion");
    assert_eq!(
        task["details"],
        json!({"providedIds": 1, "deletedDocuments": 1, "originalFilter": null})
    );
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents/delete-batch",
        Some(json!([2, "3", 99])),
    )
    .await;
    assert_eq!(
        task["details"],
        json!({"providedIds": 3, "deletedDocuments": 2, "originalFilter": null})
    );
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents/delete",
        Some(json!({"filter": "year = 2015"})),
    )
    .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(
        task["details"],
        json!({"providedIds": 0, "deletedDocuments": 1, "originalFilter": "\"year = 2015\""})
    );
    assert_eq!(node.document_count("movies"), 1);

    // Syntax is checked at enqueue time, attributes when the task runs.
    let bad = call(
        port,
        "POST",
        "/indexes/movies/documents/delete",
        Some(json!({"filter": "year ="})),
    )
    .await;
    assert_error(&bad, 400, "invalid_document_filter");
    assert_error(
        &call(
            port,
            "POST",
            "/indexes/movies/documents/delete",
            Some(json!({})),
        )
        .await,
        400,
        "missing_document_filter",
    );
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents/delete",
        Some(json!({"filter": "director = x"})),
    )
    .await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["error"]["code"], "invalid_document_filter");
    assert_eq!(task["details"]["deletedDocuments"], 0);

    let task = write(port, "DELETE", "/indexes/movies/documents", None).await;
    assert_eq!(task["type"], "documentDeletion");
    assert_eq!(
        task["details"],
        json!({"providedIds": 0, "deletedDocuments": 1, "originalFilter": null})
    );
    assert_eq!(node.document_count("movies"), 0);

    let task = write(port, "DELETE", "/indexes/movies", None).await;
    assert_eq!(
        (task["type"].clone(), task["details"].clone()),
        (json!("indexDeletion"), json!({"deletedDocuments": 0}))
    );
    assert_error(
        &call(port, "GET", "/indexes/movies", None).await,
        404,
        "index_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_ranks_and_pages() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    let books = json!([
        {"id": 1, "title": "the quick brown fox"},
        {"id": 2, "title": "quick brown"},
        {"id": 3, "title": "brown dog"},
        {"id": 4, "title": "quick brown"},
        {"id": 5, "title": "lazy cat"}
    ]);
    write(
        port,
        "PATCH",
        "/indexes/books/settings",
        Some(json!({"searchableAttributes": ["title"]})),
    )
    .await;
    let task = write(port, "POST", "/indexes/books/documents", Some(books)).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let query = |body: Value| call(port, "POST", "/indexes/books/search", Some(body));

    // Match and order: all words first, earlier first match next, ties by insertion.
    let (status, response) = query(json!({"q": "quick bro", "showRankingScore": true})).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        keys(&response),
        [
            "estimatedTotalHits",
            "hits",
            "limit",
            "offset",
            "processingTimeMs",
            "query"
        ]
    );
    assert_eq!(ids(&response), vec![2, 4, 1, 3]);
    assert_eq!(
        (
            response["query"].clone(),
            response["estimatedTotalHits"].clone()
        ),
        (json!("quick bro"), json!(4))
    );
    let scores: Vec<f64> = response["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["_rankingScore"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "{scores:?}"
    );
    assert!(
        scores.iter().all(|score| *score > 0.0 && *score <= 1.0),
        "{scores:?}"
    );
    assert_eq!(scores[0], scores[1]);
    assert_eq!(
        query(json!({"q": "quick bro"})).await.1["hits"][0],
        json!({"id": 2, "title": "quick brown"})
    );
    for _ in 0..3 {
        assert_eq!(
            ids(&query(json!({"q": "quick bro"})).await.1),
            vec![2, 4, 1, 3]
        );
    }

    // Offset and limit.
    let (_, page) = query(json!({"q": "quick bro", "offset": 1, "limit": 2})).await;
    assert_eq!(
        (ids(&page), page["offset"].clone(), page["limit"].clone()),
        (vec![4, 1], json!(1), json!(2))
    );

    // Exhaustive paging switches the paging fields.
    let (_, page) = query(json!({"q": "quick bro", "page": 2, "hitsPerPage": 3})).await;
    assert_eq!(
        keys(&page),
        [
            "hits",
            "hitsPerPage",
            "page",
            "processingTimeMs",
            "query",
            "totalHits",
            "totalPages"
        ]
    );
    assert_eq!(ids(&page), vec![3]);
    assert_eq!(
        (page["totalHits"].clone(), page["totalPages"].clone()),
        (json!(4), json!(2))
    );

    // Empty query: everything, score 1, insertion order; attributesToRetrieve.
    let (_, all) =
        query(json!({"showRankingScore": true, "attributesToRetrieve": ["title"]})).await;
    assert_eq!(
        all["hits"][0],
        json!({"title": "the quick brown fox", "_rankingScore": 1.0})
    );
    assert_eq!(
        (all["hits"].as_array().unwrap().len(), all["query"].clone()),
        (5, json!(""))
    );

    // GET with query parameters.
    let (status, get) = call(
        port,
        "GET",
        &format!(
            "/indexes/books/search?q={}&limit=1&showRankingScore=true",
            encode("quick bro")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{get}");
    assert_eq!(ids(&get), vec![2]);
    assert!(get["hits"][0]["_rankingScore"].is_f64());
    assert_error(
        &call(port, "GET", "/indexes/books/search?limit=x", None).await,
        400,
        "invalid_search_limit",
    );
    assert_error(&query(json!({"q": 3})).await, 400, "invalid_search_q");
    assert_error(
        &call(port, "POST", "/indexes/nope/search", Some(json!({}))).await,
        404,
        "index_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_facets_count_every_match_and_stats_numbers() {
    let node = movies_node().await;
    let port = port_of(&node);
    let (status, response) = search(
        port,
        json!({"facets": ["genres", "year", "rating"], "limit": 1}),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response["facetDistribution"]["genres"],
        json!({"Action": 2, "Adventure": 3, "Drama": 2, "Fantasy": 1, "Romance": 1, "Science Fiction": 1})
    );
    assert_eq!(
        response["facetDistribution"]["year"],
        json!({"2012": 1, "2015": 2, "2016": 1, "2017": 1})
    );
    assert_eq!(
        response["facetStats"],
        json!({"year": {"min": 2012.0, "max": 2017.0}, "rating": {"min": 7.2, "max": 8.1}})
    );
    let (_, filtered) = search(
        port,
        json!({"facets": ["genres"], "filter": "genres = drama"}),
    )
    .await;
    assert_eq!(
        filtered["facetDistribution"],
        json!({"genres": {"Adventure": 1, "Drama": 2, "Romance": 1}})
    );
    assert_eq!(filtered["facetStats"], json!({}));
    let (_, every) = search(port, json!({"facets": ["*"]})).await;
    assert_eq!(
        keys(&every["facetDistribution"]),
        ["genres", "rating", "sequel", "title", "year"]
    );
    let (_, none) = search(port, json!({})).await;
    assert!(
        none.get("facetDistribution").is_none() && none.get("facetStats").is_none(),
        "{none}"
    );
    let (_, get) = call(
        port,
        "GET",
        "/indexes/movies/search?facets=year,genres",
        None,
    )
    .await;
    assert_eq!(get["facetDistribution"]["year"]["2015"], 2);
    assert_error(
        &search(port, json!({"facets": ["id"]})).await,
        400,
        "invalid_search_facets",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_support_the_whole_grammar() {
    let node = movies_node().await;
    let port = port_of(&node);
    let cases: &[(Value, &[i64])] = &[
        (json!("genres = drama"), &[1, 3]),
        (json!("genres != drama"), &[2, 4, 5]),
        (json!("year > 2015"), &[2, 5]),
        (json!("year >= 2015"), &[1, 2, 4, 5]),
        (json!("year < 2015"), &[3]),
        (json!("year <= 2015"), &[1, 3, 4]),
        (json!("rating 7.5 TO 8"), &[3, 5]),
        (json!("genres IN [action, romance]"), &[1, 2, 5]),
        (json!("genres NOT IN [action, 'romance']"), &[3, 4]),
        (json!("sequel EXISTS"), &[5]),
        (json!("sequel NOT EXISTS"), &[1, 2, 3, 4]),
        (json!("sequel IS NULL"), &[5]),
        (json!("sequel IS NOT NULL"), &[1, 2, 3, 4]),
        (json!("genres IS EMPTY"), &[]),
        (json!("title IS NOT EMPTY"), &[1, 2, 3, 4, 5]),
        (json!("NOT genres = drama"), &[2, 4, 5]),
        (
            json!("(genres = drama OR genres = action) AND year > 2014"),
            &[1, 2, 5],
        ),
        (
            json!("genres = drama OR genres = action AND year > 2016"),
            &[1, 2, 3],
        ),
        (json!("title = 'Life of Pi'"), &[3]),
        (json!("title = \"mad max: fury road\""), &[4]),
        (json!("genres = \"Science Fiction\""), &[4]),
        (
            json!(["year > 2014", ["genres = romance", "genres = fantasy"]]),
            &[1, 5],
        ),
        (json!(""), &[1, 2, 3, 4, 5]),
    ];
    for (filter, expected) in cases {
        let (status, response) = search(port, json!({"filter": filter})).await;
        assert_eq!(status, 200, "{filter}: {response}");
        assert_eq!(ids(&response), *expected, "{filter}");
    }
    let (status, get) = call(
        port,
        "GET",
        &format!(
            "/indexes/movies/search?filter={}",
            encode("year 2015 TO 2016")
        ),
        None,
    )
    .await;
    assert_eq!((status, ids(&get)), (200, vec![1, 4, 5]));

    let refused = search(port, json!({"filter": "director = x"})).await;
    assert_error(&refused, 400, "invalid_search_filter");
    assert_eq!(
        refused.1["message"],
        "Attribute `director` is not filterable. Available filterable attributes are: \
         `genres, rating, sequel, title, year`.\n1:9 director = x"
    );
    for bad in [
        json!("year >"),
        json!("year = 1 year = 2"),
        json!("(year = 1"),
        json!(3),
        json!([[["a = 1"]]]),
    ] {
        assert_error(
            &search(port, json!({"filter": bad})).await,
            400,
            "invalid_search_filter",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_sorts_on_sortable_attributes_only() {
    let node = movies_node().await;
    let port = port_of(&node);
    let (_, by_year) = search(port, json!({"sort": ["year:desc", "title:asc"]})).await;
    assert_eq!(ids(&by_year), vec![2, 5, 1, 4, 3]);
    let (_, by_rating) = search(port, json!({"sort": ["rating:asc"]})).await;
    assert_eq!(ids(&by_rating), vec![1, 2, 5, 3, 4]);
    let (_, get) = call(
        port,
        "GET",
        "/indexes/movies/search?sort=rating:desc&limit=2",
        None,
    )
    .await;
    assert_eq!(ids(&get), vec![4, 3]);
    let refused = search(port, json!({"sort": ["genres:asc"]})).await;
    assert_error(&refused, 400, "invalid_search_sort");
    assert_eq!(
        refused.1["message"],
        "Attribute `genres` is not sortable. Available sortable attributes are: `rating, title, year`."
    );
    assert_error(
        &search(port, json!({"sort": ["year"]})).await,
        400,
        "invalid_search_sort",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_answers_each_query_with_its_index() {
    let node = movies_node().await;
    let port = port_of(&node);
    let queries = json!({"queries": [
        {"indexUid": "movies", "q": "carol"},
        {"indexUid": "movies", "filter": "year = 2015", "limit": 1}
    ]});
    let (status, response) = call(port, "POST", "/multi-search", Some(queries)).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["results"][0]["indexUid"], "movies");
    assert_eq!(ids(&response["results"][0]), vec![1]);
    assert_eq!(ids(&response["results"][1]), vec![1]);
    assert_eq!(response["results"][1]["estimatedTotalHits"], 2);
    let missing = call(
        port,
        "POST",
        "/multi-search",
        Some(json!({"queries": [{"indexUid": "nope"}]})),
    )
    .await;
    assert_error(&missing, 404, "index_not_found");
    assert_eq!(
        missing.1["message"],
        "Inside `.queries[0]`: Index `nope` not found."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_have_defaults_merge_and_reset() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    assert_error(
        &call(port, "GET", "/indexes/movies/settings", None).await,
        404,
        "index_not_found",
    );
    // A settings update creates the index, as in Meilisearch.
    let task = write(
        port,
        "PATCH",
        "/indexes/movies/settings",
        Some(json!({"filterableAttributes": ["year", "genre"]})),
    )
    .await;
    assert_eq!(
        (task["type"].clone(), task["details"].clone()),
        (
            json!("settingsUpdate"),
            json!({"filterableAttributes": ["year", "genre"]})
        )
    );
    let (status, settings) = call(port, "GET", "/indexes/movies/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(settings["filterableAttributes"], json!(["genre", "year"]));
    assert_eq!(settings["displayedAttributes"], json!(["*"]));
    assert_eq!(settings["searchableAttributes"], json!(["*"]));
    assert_eq!(settings["sortableAttributes"], json!([]));
    assert_eq!(
        settings["rankingRules"],
        json!([
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness"
        ])
    );
    assert_eq!(settings["distinctAttribute"], Value::Null);
    assert_eq!(
        settings["faceting"],
        json!({"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}})
    );
    assert_eq!(settings["pagination"], json!({"maxTotalHits": 1000}));
    assert_eq!(settings["typoTolerance"]["enabled"], true);
    assert_eq!(node.settings("movies"), Some(settings));

    let task = write(
        port,
        "PUT",
        "/indexes/movies/settings/sortable-attributes",
        Some(json!(["year"])),
    )
    .await;
    assert_eq!(task["details"], json!({"sortableAttributes": ["year"]}));
    assert_eq!(
        call(
            port,
            "GET",
            "/indexes/movies/settings/sortable-attributes",
            None
        )
        .await,
        (200, json!(["year"]))
    );
    write(
        port,
        "PATCH",
        "/indexes/movies/settings",
        Some(json!({"pagination": {"maxTotalHits": 2}})),
    )
    .await;
    assert_eq!(
        call(port, "GET", "/indexes/movies/settings/pagination", None)
            .await
            .1,
        json!({"maxTotalHits": 2})
    );
    write(
        port,
        "DELETE",
        "/indexes/movies/settings/filterable-attributes",
        None,
    )
    .await;
    assert_eq!(
        call(
            port,
            "GET",
            "/indexes/movies/settings/filterable-attributes",
            None
        )
        .await
        .1,
        json!([])
    );
    write(port, "DELETE", "/indexes/movies/settings", None).await;
    assert_eq!(
        node.settings("movies").unwrap()["sortableAttributes"],
        json!([])
    );
    assert_eq!(
        node.settings("movies").unwrap()["pagination"],
        json!({"maxTotalHits": 1000})
    );

    assert_error(
        &call(
            port,
            "PATCH",
            "/indexes/movies/settings",
            Some(json!({"filterableAttributes": "year"})),
        )
        .await,
        400,
        "invalid_settings_filterable_attributes",
    );
    assert_error(
        &call(
            port,
            "PATCH",
            "/indexes/movies/settings",
            Some(json!({"nope": 1})),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &call(port, "GET", "/indexes/movies/settings/nope", None).await,
        404,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_failed_tasks() {
    let node = movies_node().await;
    let port = port_of(&node);
    let task = write(port, "POST", "/indexes", Some(json!({"uid": "movies"}))).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(
        task["error"],
        json!({"message": "Index `movies` already exists.", "code": "index_already_exists",
               "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_already_exists"})
    );

    let task = write(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": 9}, {"title": "x"}])),
    )
    .await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["error"]["code"], "missing_document_id");
    assert_eq!(
        task["error"]["message"],
        "Document doesn't have a `id` attribute: `{\"title\":\"x\"}`."
    );
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 2, "indexedDocuments": 0})
    );
    assert_eq!(
        node.document_count("movies"),
        5,
        "a failed addition changes nothing"
    );

    let task = write(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": "a b"}])),
    )
    .await;
    assert_eq!(task["error"]["code"], "invalid_document_id");

    let task = write(
        port,
        "POST",
        "/indexes/things/documents",
        Some(json!([{"title": "x"}])),
    )
    .await;
    assert_eq!(
        task["error"]["code"],
        "index_primary_key_no_candidate_found"
    );
    let task = write(
        port,
        "POST",
        "/indexes/inferred/documents",
        Some(json!([{"movieId": 1, "title": "x"}])),
    )
    .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(
        call(port, "GET", "/indexes/inferred", None).await.1["primaryKey"],
        "movieId"
    );

    let task = write(port, "DELETE", "/indexes/nope", None).await;
    assert_eq!(
        (task["status"].clone(), task["error"]["code"].clone()),
        (json!("failed"), json!("index_not_found"))
    );

    node.faults().set_fail_tasks(true);
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": 9}])),
    )
    .await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["error"]["code"], "internal");
    assert_eq!(task["error"]["type"], "internal");
    assert_eq!(node.document_count("movies"), 5);
    node.faults().set_fail_tasks(false);
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": 9}])),
    )
    .await;
    assert_eq!(task["status"], "succeeded");
    assert_eq!(node.document_count("movies"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_list_filters_and_pages_newest_first() {
    let node = movies_node().await; // tasks 0, 1, 2
    let port = port_of(&node);
    write(port, "POST", "/indexes", Some(json!({"uid": "movies"}))).await; // 3, failed
    write(port, "POST", "/indexes", Some(json!({"uid": "books"}))).await; // 4
    let (status, page) = call(port, "GET", "/tasks?limit=2", None).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&page), ["from", "limit", "next", "results", "total"]);
    let uids: Vec<u64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["uid"].as_u64().unwrap())
        .collect();
    assert_eq!(uids, vec![4, 3]);
    assert_eq!(
        (
            page["total"].clone(),
            page["from"].clone(),
            page["next"].clone()
        ),
        (json!(5), json!(4), json!(2))
    );
    let (_, last) = call(port, "GET", "/tasks?limit=2&from=1", None).await;
    assert_eq!(
        (
            last["results"].as_array().unwrap().len(),
            last["next"].clone()
        ),
        (2, Value::Null)
    );
    let (_, failed) = call(port, "GET", "/tasks?statuses=failed", None).await;
    assert_eq!(
        (failed["total"].clone(), failed["results"][0]["uid"].clone()),
        (json!(1), json!(3))
    );
    let (_, creations) = call(
        port,
        "GET",
        "/tasks?types=indexCreation&indexUids=movies",
        None,
    )
    .await;
    assert_eq!(creations["total"], 2);
    let (_, some) = call(port, "GET", "/tasks?uids=0,2", None).await;
    assert_eq!(some["total"], 2);
    assert_error(
        &call(port, "GET", "/tasks?statuses=bogus", None).await,
        400,
        "invalid_task_statuses",
    );
    assert_error(
        &call(port, "GET", "/tasks?types=bogus", None).await,
        400,
        "invalid_task_types",
    );
    assert_error(
        &call(port, "GET", "/tasks?limit=-1", None).await,
        400,
        "invalid_task_limit",
    );
}

/// As Meilisearch 1.50: the document writes keep `customMetadata` and show it in the enqueue
/// answer, `GET /tasks/{uid}` and `GET /tasks`; the index and settings routes drop it; the task
/// list filters by enqueue date (exclusive bounds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_writes_keep_custom_metadata_and_tasks_filter_by_enqueue_date() {
    let node = movies_node().await; // tasks 0, 1, 2
    let port = port_of(&node);
    let (status, summary) = call(
        port,
        "POST",
        "/indexes/movies/documents?customMetadata=miroir-7",
        Some(json!([{"id": 100}])),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(summary["customMetadata"], "miroir-7");
    let added = wait_task(port, &summary["taskUid"]).await;
    assert_eq!(added["customMetadata"], "miroir-7");
    for (method, path, body) in [
        (
            "DELETE",
            "/indexes/movies/documents/100?customMetadata=m-one",
            None,
        ),
        (
            "POST",
            "/indexes/movies/documents/delete-batch?customMetadata=m-batch",
            Some(json!([1])),
        ),
        (
            "POST",
            "/indexes/movies/documents/delete?customMetadata=m-filter",
            Some(json!({"filter": "id = 2"})),
        ),
        (
            "DELETE",
            "/indexes/movies/documents?customMetadata=m-all",
            None,
        ),
    ] {
        let task = write(port, method, path, body).await;
        let expected = path.rsplit_once('=').unwrap().1;
        assert_eq!(task["customMetadata"], expected, "{method} {path}: {task}");
    }
    let settings = write(
        port,
        "PATCH",
        "/indexes/movies/settings?customMetadata=m-settings",
        Some(json!({"sortableAttributes": ["id"]})),
    )
    .await;
    assert_eq!(settings["status"], "succeeded");
    assert!(settings.get("customMetadata").is_none(), "{settings}");
    let (_, unmarked) = call(port, "GET", "/tasks/0", None).await;
    assert!(unmarked.get("customMetadata").is_none(), "{unmarked}");

    let (_, listed) = call(port, "GET", &format!("/tasks?uids={}", added["uid"]), None).await;
    assert_eq!(listed["results"][0]["customMetadata"], "miroir-7");
    let enqueued_at = added["enqueuedAt"].as_str().unwrap();
    let (_, after) = call(
        port,
        "GET",
        &format!(
            "/tasks?afterEnqueuedAt={}&reverse=true&limit=100",
            encode(enqueued_at)
        ),
        None,
    )
    .await;
    let uids: Vec<u64> = after["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["uid"].as_u64().unwrap())
        .collect();
    let added_uid = added["uid"].as_u64().unwrap();
    assert_eq!(uids.first(), Some(&(added_uid + 1)), "{after}");
    let (_, before) = call(
        port,
        "GET",
        &format!("/tasks?beforeEnqueuedAt={}&limit=100", encode(enqueued_at)),
        None,
    )
    .await;
    assert_eq!(before["results"][0]["uid"], added_uid - 1, "{before}");
    assert_error(
        &call(port, "GET", "/tasks?afterEnqueuedAt=yesterday", None).await,
        400,
        "invalid_task_after_enqueued_at",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_guards_every_route_but_health() {
    let options = TestNodeOptions {
        master_key: Some("secret".into()),
        ..TestNodeOptions::default()
    };
    let node = TestNode::start(options).await.unwrap();
    let port = port_of(&node);
    assert_eq!(raw(port, "GET", "/health", &[], None).await.status, 200);
    let missing = raw(port, "GET", "/indexes", &[], None).await;
    let missing = (
        missing.status,
        serde_json::from_str::<Value>(&missing.body).unwrap(),
    );
    assert_error(&missing, 401, "missing_authorization_header");
    assert_eq!(missing.1["type"], "auth");
    assert_eq!(
        missing.1["message"],
        "The Authorization header is missing. It must use the bearer authorization method."
    );
    let wrong = raw(
        port,
        "GET",
        "/indexes",
        &[("Authorization", "Bearer nope")],
        None,
    )
    .await;
    let wrong = (
        wrong.status,
        serde_json::from_str::<Value>(&wrong.body).unwrap(),
    );
    assert_error(&wrong, 403, "invalid_api_key");
    assert_eq!(wrong.1["message"], "The provided API key is invalid.");
    let write = raw(port, "POST", "/indexes", &[], Some(json!({"uid": "x"}))).await;
    assert_eq!(write.status, 401);
    assert_eq!(
        raw(
            port,
            "GET",
            "/indexes",
            &[("Authorization", "Bearer secret")],
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_refuses_connections_and_restart_keeps_the_data() {
    let mut node = movies_node().await;
    let port = port_of(&node);
    let url = node.url();
    // A pooled keep-alive connection (as reqwest keeps) is closed by the stop, not served on.
    let mut pooled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    pooled
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0_u8; 1024];
    let read = pooled.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    node.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!node.is_running());
    let after = tokio::time::timeout(Duration::from_secs(2), pooled.read(&mut buffer)).await;
    assert!(matches!(after, Ok(Ok(0)) | Ok(Err(_))), "{after:?}");
    let refused = TcpStream::connect(("127.0.0.1", port)).map_err(|error| error.kind());
    assert_eq!(refused.err(), Some(std::io::ErrorKind::ConnectionRefused));
    node.restart().await.unwrap();
    assert_eq!(node.url(), url);
    let (status, documents) = call(port, "GET", "/indexes/movies/documents", None).await;
    assert_eq!(status, 200);
    assert_eq!(documents["results"], movies());
    // Tasks enqueued after the restart are processed; uids continue.
    let task = write(port, "DELETE", "/indexes/movies/documents/1", None).await;
    assert_eq!(
        (task["status"].clone(), task["uid"].clone()),
        (json!("succeeded"), json!(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_fault_delays_every_response() {
    let node = TestNode::start(TestNodeOptions::default()).await.unwrap();
    let port = port_of(&node);
    node.faults().set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(call(port, "GET", "/health", None).await.0, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    node.faults().set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(call(port, "GET", "/health", None).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_writes_fault_refuses_writes_only() {
    let node = movies_node().await;
    let port = port_of(&node);
    node.faults().set_reject_writes(true);
    let refused = call(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": 9}])),
    )
    .await;
    assert_error(&refused, 500, "internal");
    assert_eq!(refused.1["type"], "internal");
    assert_error(
        &call(port, "DELETE", "/indexes/movies", None).await,
        500,
        "internal",
    );
    assert_eq!(search(port, json!({"q": "carol"})).await.0, 200);
    assert_eq!(
        call(
            port,
            "POST",
            "/indexes/movies/documents/fetch",
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    node.faults().set_reject_writes(false);
    let task = write(
        port,
        "POST",
        "/indexes/movies/documents",
        Some(json!([{"id": 9}])),
    )
    .await;
    assert_eq!(task["uid"], 3, "refused writes enqueued nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_counts_by_method_and_path_prefix() {
    let node = movies_node().await;
    let port = port_of(&node);
    assert_eq!(node.request_count("POST", "/indexes/movies/documents"), 1);
    assert_eq!(node.request_count("POST", "/indexes"), 2);
    assert_eq!(node.request_count("PATCH", "/indexes/movies/settings"), 1);
    search(port, json!({})).await;
    search(port, json!({})).await;
    call(port, "GET", "/indexes/movies/search?q=x", None).await;
    assert_eq!(node.request_count("post", "/indexes/movies/search"), 2);
    assert_eq!(node.request_count("GET", "/indexes/movies/search"), 1);
    assert_eq!(node.request_count("DELETE", "/"), 0);
}

// ---------------------------------------------------------------------------------------------
// The binary.

/// Kills the child when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_announces_its_address_and_serves() {
    let port = loopback_port().unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_miroir-test-node"))
            .args([
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--master-key",
                "k",
                "--task-delay-ms",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim_end(),
        format!("listening on http://127.0.0.1:{port}")
    );
    assert_eq!(http(port, "GET", "/health", &[], "").unwrap().status, 200);
    assert_eq!(http(port, "GET", "/indexes", &[], "").unwrap().status, 401);
    let created = http(
        port,
        "POST",
        "/indexes",
        &[("Authorization", "Bearer k")],
        r#"{"uid":"a"}"#,
    )
    .unwrap();
    assert_eq!(created.status, 202, "{}", created.body);
}

#[test]
fn the_binary_refuses_bad_arguments() {
    let status = Command::new(env!("CARGO_BIN_EXE_miroir-test-node"))
        .args(["--task-delay-ms", "x"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
