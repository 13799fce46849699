//! The payload formats of the document writes (`POST`/`PUT /indexes/{uid}/documents`) against
//! two Meilisearch-compatible test nodes, without a server (tower `oneshot`), on a migrated store
//! of each backend (the route-test kit's `route_suite!`, as in `reads.rs`).
//!
//! A `text/csv` body (with `csvDelimiter`) reaches the nodes as the JSON objects Meilisearch 1.50
//! builds from it, and reads back as such through Miroir. Every refusal is the one Meilisearch
//! 1.50 answers (code, status and message, taken from a real server), answered before anything
//! is written: no node receives a document write. Meilisearch answers these synchronously too,
//! except that a CSV cell of the wrong type is its 400 as well (it reads CSV before enqueuing).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use miroir_http::AppState;
use miroir_store::DynStore;
use miroir_test_support::meilisearch::TestNode;
use miroir_test_support::route_kit::{Reply, assert_refusal, test_fleet};
use serde_json::{Value, json};
use tower::ServiceExt;

miroir_test_support::route_suite!(
    prefix: "documents-payloads",
    app: crate::App::new,
    cases: [
        csv_documents_read_back_as_meilisearch_builds_them,
        csv_delimiter_reads_another_separator,
        refused_payloads_answer_meilisearch_errors_and_write_nothing,
        an_idempotency_key_tells_csv_delimiters_apart,
    ],
);

const INDEX: &str = "movies";
const DOCUMENTS: &str = "/indexes/movies/documents";
const ACCEPTED: &str = "Accepted values for the Content-Type header are: `application/json`, \
                        `application/x-ndjson`, `text/csv`";

/// The document routes over two test nodes (4 shards, one replica each) on one store.
struct App {
    nodes: Vec<TestNode>,
    router: Router,
}

impl App {
    async fn new(store: DynStore) -> Self {
        let (nodes, config) = test_fleet(2, 4).await;
        let state = AppState::start(store, config, Duration::from_secs(60)).await;
        Self {
            router: miroir_handler_documents::router(state),
            nodes,
        }
    }

    /// `method uri` with `body` sent as it is, with these extra `headers`.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &'static [u8],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        Reply::read(response).await
    }

    /// Writes a CSV `body` with `method` and `query`, asserts the 202 and waits until the nodes
    /// have applied it.
    async fn write_csv(&self, method: Method, query: &str, body: &'static str) -> Reply {
        let uri = format!("{DOCUMENTS}?{query}");
        let reply = self
            .send(
                method,
                &uri,
                &[("content-type", "text/csv")],
                body.as_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        for node in &self.nodes {
            assert!(node.wait_for_tasks(Duration::from_secs(10)).await);
        }
        reply
    }

    /// Document `id`, read through Miroir.
    async fn document(&self, id: &str) -> Value {
        let reply = self
            .send(Method::GET, &format!("{DOCUMENTS}/{id}"), &[], b"")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {reply:?}");
        reply.body
    }

    /// Document writes the nodes received so far.
    fn node_writes(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| {
                node.request_count("POST", DOCUMENTS) + node.request_count("PUT", DOCUMENTS)
            })
            .sum()
    }
}

/// A refused write, its query, content type (`None`: no header) and body, then the status, code
/// and message Meilisearch answers it with.
type Refused = (
    &'static str,
    Option<&'static str>,
    &'static [u8],
    StatusCode,
    &'static str,
    String,
);

async fn csv_documents_read_back_as_meilisearch_builds_them(app: App) {
    // The documents a real Meilisearch 1.50 holds after this body (`GET …/documents`).
    let body = "\u{feff}id,title,price:number,ok:boolean,tag:string,n:number\r\n\
                1,Hello,1.0,true,x,1\r\n\
                2,,2,false,,3.5\r\n\
                3,\"a, \"\"quoted\"\"\nline\",  7 , true , ,1e3\r\n\
                4, ,-0,,\"\",1.5e400\r\n";
    let reply = app.write_csv(Method::POST, "primaryKey=id", body).await;
    assert_eq!(reply.body["type"], "documentAdditionOrUpdate");
    let expected = [
        json!({"id": "1", "title": "Hello", "price": 1.0, "ok": true, "tag": "x", "n": 1}),
        json!({"id": "2", "title": null, "price": 2, "ok": false, "tag": null, "n": 3.5}),
        json!({"id": "3", "title": "a, \"quoted\"\nline", "price": 7, "ok": true, "tag": " ", "n": 1000.0}),
        json!({"id": "4", "title": " ", "price": 0, "ok": null, "tag": null, "n": null}),
    ];
    for document in expected {
        let id = document["id"].as_str().unwrap();
        let read = app.document(id).await;
        assert_eq!(read, document, "{id}");
        // `1.0` stays a float and `1` an integer, as in Meilisearch.
        assert_eq!(read["price"].is_f64(), document["price"].is_f64(), "{id}");
        assert_eq!(read["n"].is_f64(), document["n"].is_f64(), "{id}");
    }
    let held: usize = app
        .nodes
        .iter()
        .map(|node| node.document_count(INDEX))
        .sum();
    assert_eq!(held, 4);
    // No node document carries a type annotation or misses its shard.
    for node in &app.nodes {
        for document in node.documents(INDEX) {
            assert!(document.get("_miroir_shard").is_some(), "{document}");
            assert!(document.get("price:number").is_none(), "{document}");
        }
    }
}

async fn csv_delimiter_reads_another_separator(app: App) {
    app.write_csv(
        Method::POST,
        "primaryKey=id&csvDelimiter=%3B",
        "id;title;year:number\n1;\"Dune; Part One\";2021\n2;Arrival;2016\n",
    )
    .await;
    assert_eq!(
        app.document("1").await,
        json!({"id": "1", "title": "Dune; Part One", "year": 2021})
    );
    // `PUT` with `;` unencoded: a CSV row names every column, so an empty cell sets `null`.
    app.write_csv(
        Method::PUT,
        "csvDelimiter=;",
        "id;year:number;genre\n2;;sf\n",
    )
    .await;
    assert_eq!(
        app.document("2").await,
        json!({"id": "2", "title": "Arrival", "year": null, "genre": "sf"})
    );
}

async fn refused_payloads_answer_meilisearch_errors_and_write_nothing(app: App) {
    // The index exists with its primary key, so every refusal below is the payload's own.
    app.write_csv(Method::POST, "primaryKey=id", "id\n0\n")
        .await;
    let before = app.node_writes();
    let invalid_delimiter = |found: &str| {
        format!(
            "Invalid value in parameter `csvDelimiter`: expected a string of one character, but \
             found {found}"
        )
    };
    let cases: Vec<Refused> = vec![
        (
            "csvDelimiter=ab",
            Some("text/csv"),
            b"id\n1\n",
            StatusCode::BAD_REQUEST,
            "invalid_document_csv_delimiter",
            invalid_delimiter("the following string of 2 characters: `ab`"),
        ),
        (
            "csvDelimiter=",
            Some("text/csv"),
            b"id\n1\n",
            StatusCode::BAD_REQUEST,
            "invalid_document_csv_delimiter",
            invalid_delimiter("an empty string"),
        ),
        (
            // Checked before the content type.
            "csvDelimiter=%C3%A9",
            Some("application/json"),
            b"[]",
            StatusCode::BAD_REQUEST,
            "invalid_document_csv_delimiter",
            "csv delimiter must be an ascii character. Found: `é`".to_owned(),
        ),
        (
            "csvDelimiter=%3B",
            Some("application/json"),
            b"[{\"id\": 1}]",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            "The Content-Type `application/json` does not support the use of a csv delimiter. \
             The csv delimiter can only be used with the Content-Type `text/csv`."
                .to_owned(),
        ),
        (
            "csvDelimiter=%3B",
            Some("application/x-ndjson"),
            b"{\"id\": 1}\n",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            "The Content-Type `application/x-ndjson` does not support the use of a csv \
             delimiter. The csv delimiter can only be used with the Content-Type `text/csv`."
                .to_owned(),
        ),
        (
            "",
            Some("Text/Plain; charset=utf-8"),
            b"id\n1\n",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            format!("The Content-Type `text/plain` is invalid. {ACCEPTED}"),
        ),
        (
            "",
            Some("garbage; x=y"),
            b"id\n1\n",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            format!("The Content-Type `garbage; x=y` is invalid. {ACCEPTED}"),
        ),
        (
            "csvDelimiter=%3B",
            None,
            b"id\n1\n",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing_content_type",
            format!("A Content-Type header is missing. {ACCEPTED}"),
        ),
        (
            "",
            Some("text/csv"),
            b"",
            StatusCode::BAD_REQUEST,
            "missing_payload",
            "A csv payload is missing.".to_owned(),
        ),
        (
            "",
            Some("application/json"),
            b"",
            StatusCode::BAD_REQUEST,
            "missing_payload",
            "A json payload is missing.".to_owned(),
        ),
        (
            "",
            Some("text/csv"),
            b"id,a,b\n1,x\n",
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "The `csv` payload provided is malformed: `CSV error: record 1 (line: 2, byte: 7): \
             found record with 2 fields, but the previous record has 3 fields`."
                .to_owned(),
        ),
        (
            "",
            Some("text/csv"),
            b"id,n:number\n1,2\n2, 12abc \n",
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "The `csv` payload provided is malformed: `Error parsing number \" 12abc \" at line \
             2: invalid float literal`."
                .to_owned(),
        ),
        (
            "",
            Some("text/csv; charset=utf-8"),
            b"id,ok:boolean\n1,yes\n",
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "The `csv` payload provided is malformed: `Error parsing boolean \"yes\" at line 1: \
             provided string was not `true` or `false``."
                .to_owned(),
        ),
        (
            "",
            Some("text/csv"),
            b"id,a\n1,\xff\xfe\n",
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "The `csv` payload provided is malformed: `CSV parse error: record 1 (line 2, field: \
             1, byte: 5): invalid utf-8: invalid UTF-8 in field 1 near byte index 0`."
                .to_owned(),
        ),
        (
            // Meilisearch enqueues this one and fails its task with the same error; Miroir
            // checks ids before anything is written.
            "",
            Some("text/csv"),
            b"id,a\n,x\n",
            StatusCode::BAD_REQUEST,
            "invalid_document_id",
            "Document identifier `null` is invalid. A document identifier can be of type integer \
             or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and \
             underscores (_), and can not be more than 511 bytes."
                .to_owned(),
        ),
    ];
    for (query, content_type, body, status, code, message) in cases {
        let what = format!(
            "{query} {content_type:?} {:?}",
            String::from_utf8_lossy(body)
        );
        for method in [Method::POST, Method::PUT] {
            let headers: Vec<(&str, &str)> = content_type
                .map(|value| ("content-type", value))
                .into_iter()
                .collect();
            let reply = app
                .send(method, &format!("{DOCUMENTS}?{query}"), &headers, body)
                .await;
            assert_refusal(&reply, status, code, &message, &what);
        }
    }
    assert_eq!(app.node_writes(), before, "a refused write reached a node");
}

async fn an_idempotency_key_tells_csv_delimiters_apart(app: App) {
    // Read alike with either delimiter, but sent as two different requests.
    let body: &'static [u8] = b"id\n1\n";
    let send = |query: &'static str| {
        let app = &app;
        async move {
            app.send(
                Method::POST,
                &format!("{DOCUMENTS}?primaryKey=id{query}"),
                &[("content-type", "text/csv"), ("idempotency-key", "csv-1")],
                body,
            )
            .await
        }
    };
    let first = send("&csvDelimiter=%3B").await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    let again = send("&csvDelimiter=%3B").await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{again:?}");
    assert_eq!(again.body["taskUid"], first.body["taskUid"]);
    // The same bytes with another `csvDelimiter` are another request for the key.
    let other = send("").await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{other:?}");
    assert_eq!(other.body["code"], "miroir_idempotency_key_reused");
}
