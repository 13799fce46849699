//! `schemathesis` against the OpenAPI document of a running `miroir` (two Meilisearch-compatible
//! test nodes that require a node master key, SQLite, a master key and an admin key, a small
//! `server.max_body_bytes`), then direct checks of what a fuzzer cannot judge:
//!
//! - every operation of `docs/openapi.json` is fuzzed (examples, coverage and fuzzing phases, 8
//!   examples per operation and a fixed seed in the test command; with `MIROIR_RELIABILITY=full`
//!   100 examples, a random seed, and the stateful phase too) with the checks
//!   `not_a_server_error`, `status_code_conformance`, `content_type_conformance`,
//!   `response_schema_conformance` and `response_headers_conformance`: no 5xx and no answer
//!   outside the documented schema. The client routes get the master key and the `/_miroir`
//!   routes the admin key (`X-Admin-Key`), through schemathesis' OpenAPI-aware auth, so both the
//!   authenticated handlers and the refusals of the auth layer are reached;
//! - every response schemathesis received (recorded as HAR) and every line `miroir` logged (at
//!   `debug`) is scanned for the master key, the admin key and the node master key; every
//!   response also for internal error text (store and transport names, `Debug` output, panics,
//!   the nodes' addresses; Rust paths in error answers), unless the request itself carried it;
//! - a body of `max_body_bytes + 1` (declared or chunked) is refused with a Meilisearch-shaped
//!   413; 100,000 nested arrays or objects are refused with a 400 on every kind of body
//!   extractor, quickly; a wide body just under the limit is answered quickly; the peak RSS of
//!   `miroir` stays bounded;
//! - after the fuzzer hammered `POST /_miroir/admin/login`, the login limiter still answers 429
//!   with `Retry-After`, even to the right key; a session opened before the run still refuses a
//!   state-changing request without its `X-CSRF-Token`, with a wrong one, or from another
//!   `Origin`, and accepts it with the right token.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use miroir_system_tests::command;
use miroir_test_support::meilisearch::{TestNode, TestNodeOptions};
use miroir_test_support::process::{
    HttpReply, Process, http, loopback_port, parse_response, wait_until, workspace_binary,
};
use serde_json::{Value, json};

use crate::{report, sized};

/// The keys: distinctive, so a leak is found by a plain substring search.
const MASTER_KEY: &str = "fuzz-master-key-4b1d9e7c2a";
const ADMIN_KEY: &str = "fuzz-admin-key-8f3c6a0e5d";
const NODE_KEY: &str = "fuzz-node-key-2e7b5d1f9c";

/// The index the checks after the fuzzer use.
const INDEX: &str = "checked";

/// `server.max_body_bytes` of the `miroir` under test.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The checks schemathesis runs on every response (all of those that judge one response
/// against the document; none is dropped).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

/// Text that must never be in a response unless the request carried it: names of the store
/// and transport crates, Rust `Debug` output, panics, OS errors.
const INTERNAL_TEXT: &[&str] = &[
    "rusqlite",
    "sqlite",
    "redis",
    "reqwest",
    "hyper",
    "tokio",
    "panicked",
    "backtrace",
    "Error {",
    "io error",
    "os error",
];

/// More internal text, looked for in error responses only: Rust paths, source locations and
/// type names (serde's `expected struct LoginRequest`). (A success may list data an earlier
/// request stored, and fuzzed strings contain `::` now and then; an error quotes at most the
/// request it answers.)
const INTERNAL_ERROR_TEXT: &[&str] = &["::", ".rs:", "expected struct", "expected enum"];

/// Bound on `miroir`'s peak resident set over the whole case (a debug build idles near 30 MiB).
const PEAK_RSS_BOUND_KIB: u64 = 512 * 1024;

/// What one fuzzing run found wrong, reported together at the end.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

#[test]
fn schemathesis_finds_no_server_error_no_schema_violation_and_no_leak() {
    let probe = Command::new("schemathesis").arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|output| output.status.success()),
        "schemathesis is missing: pip install -r tests/requirements.txt"
    );
    // Built (or found up to date) before the clock starts.
    workspace_binary("miroir-migrate", "miroir-migrate").unwrap();
    workspace_binary("miroir-edge", "miroir").unwrap();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let nodes: Vec<TestNode> = runtime.block_on(async {
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let options = TestNodeOptions {
                master_key: Some(NODE_KEY.to_owned()),
                ..TestNodeOptions::default()
            };
            nodes.push(TestNode::start(options).await.unwrap());
        }
        nodes
    });
    let log_path = dir.path().join("miroir.log");
    let (mut miroir, port) = start_miroir(dir.path(), &nodes, &log_path);
    let pid = miroir.id();
    let rss_start = memory_kib(pid, "VmRSS");
    let mut findings = Findings::default();

    seed(port, "fuzz");
    let session = login(port);

    // The fuzzer.
    let max_examples = sized(8, 100);
    let fuzz_started = Instant::now();
    let har_path = dir.path().join("schemathesis.har");
    let output = run_schemathesis(dir.path(), port, max_examples, &har_path);
    let fuzz_elapsed = fuzz_started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    findings.check(output.status.success(), || {
        format!(
            "schemathesis failed ({}):\n{}\n{}",
            output.status,
            failures_section(&stdout),
            stderr.trim()
        )
    });
    let exchanges = read_har(&har_path);
    assert!(
        !exchanges.is_empty(),
        "schemathesis recorded no response:\n{stdout}\n{stderr}"
    );
    let node_addresses: Vec<String> = nodes
        .iter()
        .map(|node| node.address().to_string())
        .collect();
    let mut by_class = [0usize; 6];
    for exchange in &exchanges {
        by_class[usize::from(exchange.status / 100).min(5)] += 1;
        scan_exchange(exchange, &node_addresses, &mut findings);
    }
    findings.check(by_class[5] == 0, || {
        format!("{} responses were 5xx", by_class[5])
    });
    let rss_after_fuzz = memory_kib(pid, "VmRSS");

    // Bodies: over the limit, deeply nested, wide (on an index the fuzzer never saw).
    seed(port, INDEX);
    let body_report = check_bodies(port, &mut findings);

    // Login limiter and CSRF, after the fuzzer hammered them.
    check_login_limiter(port, &mut findings);
    check_csrf(port, &session, &mut findings);

    // Nothing fell over, and memory stayed bounded.
    findings.check(miroir.exit_code().is_none(), || {
        "miroir exited during the run".to_owned()
    });
    let rss_end = memory_kib(pid, "VmRSS");
    let rss_peak = memory_kib(pid, "VmHWM");
    findings.check(rss_peak < PEAK_RSS_BOUND_KIB, || {
        format!("miroir's peak RSS {rss_peak} KiB is over {PEAK_RSS_BOUND_KIB} KiB")
    });

    // The log: no key, ever.
    drop(miroir);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let log_lines = log.lines().count();
    for key in [MASTER_KEY, ADMIN_KEY, NODE_KEY] {
        let hits: Vec<&str> = log.lines().filter(|line| line.contains(key)).collect();
        findings.check(hits.is_empty(), || {
            format!(
                "miroir logged a key in {} line(s), e.g. {}",
                hits.len(),
                hits[0]
            )
        });
    }

    let figures = format!(
        "schemathesis {max_examples} examples/operation: {} responses in {:.1} s (2xx {}, 4xx {}, \
         5xx {}); {log_lines} log lines scanned; {body_report}; RSS {} → {} → {} MiB, peak {} MiB; \
         whole case {:.1} s",
        exchanges.len(),
        fuzz_elapsed.as_secs_f64(),
        by_class[2],
        by_class[4],
        by_class[5],
        rss_start / 1024,
        rss_after_fuzz / 1024,
        rss_end / 1024,
        rss_peak / 1024,
        started.elapsed().as_secs_f64()
    );
    assert!(
        findings.0.is_empty(),
        "the fuzzing case found {} problem(s):\n\n{}\n\n({figures})",
        findings.0.len(),
        findings.0.join("\n\n")
    );
    report(&format!(
        "fuzz: no failure, no key or internal text in any response or log line, login limited \
         (429 + Retry-After), CSRF held; {figures}"
    ));
}

/// Migrates a SQLite store in `dir` and starts `miroir` over `nodes` with every key set, its
/// JSON log lines (at `debug`) in `log_path`; ready.
fn start_miroir(dir: &Path, nodes: &[TestNode], log_path: &Path) -> (Process, u16) {
    let store_url = format!("sqlite://{}", dir.join("tasks.db").display());
    let migrate = Command::new(workspace_binary("miroir-migrate", "miroir-migrate").unwrap())
        .args(["up", "--store", &store_url])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(migrate.success());
    let nodes_yaml: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| format!("{{id: meili-{index}, address: \"{}\"}}", node.url()))
        .collect();
    let port = loopback_port().unwrap();
    let log = File::create(log_path).unwrap();
    let mut command = command("miroir-edge", "miroir");
    let process = Process::spawn(
        command
            .env("MIROIR_TASK_STORE_URL", &store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_NODES", format!("[{}]", nodes_yaml.join(", ")))
            // RF 2 on two nodes: each node holds every shard, so searches send the shard filter.
            .env("MIROIR_SHARDS", "8")
            .env("MIROIR_REPLICATION_FACTOR", "2")
            .env("MIROIR_SCATTER__NODE_TIMEOUT_MS", "2000")
            .env("MIROIR_SERVER__MAX_BODY_BYTES", MAX_BODY_BYTES.to_string())
            // The same cap on operator routes, so the depth checks below reach their parser.
            .env("MIROIR_ADMIN__MAX_BODY_BYTES", MAX_BODY_BYTES.to_string())
            .env("MIROIR_MASTER_KEY", MASTER_KEY)
            .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY)
            .env("MIROIR_NODE_MASTER_KEY", NODE_KEY)
            .env("MIROIR_LOG", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
    .unwrap();
    wait_until("miroir to be ready", Duration::from_secs(30), || {
        http(port, "GET", "/_miroir/ready", &[], "").is_some_and(|reply| reply.status == 200)
    });
    (process, port)
}

fn call(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpReply {
    http(port, method, path, headers, body).unwrap_or_else(|| panic!("{method} {path}: no answer"))
}

/// A client request with the master key.
fn client(port: u16, method: &str, path: &str, body: &Value) -> HttpReply {
    let authorization = format!("Bearer {MASTER_KEY}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    call(
        port,
        method,
        path,
        &[("Authorization", &authorization)],
        &body,
    )
}

/// Index `uid` with a few documents: one for the fuzzer to meet (it may delete it), one for the
/// checks after it.
fn seed(port: u16, uid: &str) {
    let reply = client(
        port,
        "POST",
        "/indexes",
        &json!({"uid": uid, "primaryKey": "id"}),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let documents: Vec<Value> = (0..20)
        .map(|id| json!({"id": id, "title": format!("movie {id}"), "genre": "drama"}))
        .collect();
    let reply = client(
        port,
        "POST",
        &format!("/indexes/{uid}/documents"),
        &json!(documents),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let uid = serde_json::from_str::<Value>(&reply.body).unwrap()["taskUid"]
        .as_u64()
        .unwrap();
    wait_until("the seed documents", Duration::from_secs(20), || {
        let task = client(port, "GET", &format!("/tasks/{uid}"), &Value::Null);
        let task: Value = serde_json::from_str(&task.body).unwrap_or(Value::Null);
        task["status"] == "succeeded"
    });
}

/// An admin session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf_token: String,
}

/// Logs in with the admin key (before the fuzzer can trip the limiter).
fn login(port: u16) -> Session {
    let body = json!({"adminKey": ADMIN_KEY}).to_string();
    let reply = call(port, "POST", "/_miroir/admin/login", &[], &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply
        .header("set-cookie")
        .and_then(|value| value.split(';').next())
        .unwrap()
        .to_owned();
    let answer: Value = serde_json::from_str(&reply.body).unwrap();
    Session {
        cookie,
        csrf_token: answer["csrfToken"].as_str().unwrap().to_owned(),
    }
}

/// Runs schemathesis over the committed document against `miroir` on `port`.
fn run_schemathesis(
    dir: &Path,
    port: u16,
    max_examples: usize,
    har_path: &Path,
) -> std::process::Output {
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    // OpenAPI-aware auth: each operation gets the credentials of its own security scheme.
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.openapi.masterKey]\nbearer = \"{MASTER_KEY}\"\n\n\
             [auth.openapi.adminKeyHeader]\napi_key = \"{ADMIN_KEY}\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new("schemathesis");
    command
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(&document)
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args(["--checks", CHECKS])
        .args([
            "--phases",
            sized(
                "examples,coverage,fuzzing",
                "examples,coverage,fuzzing,stateful",
            ),
        ])
        .args(["--max-examples", &max_examples.to_string()])
        // Two workers, so generated writes race each other on the same index uids: a
        // `DELETE /indexes/{uid}` against a document write or a settings reset, two creations.
        // No node may then hold an index without `_miroir_shard` (a search would answer 503
        // `miroir_shard_unavailable`): see `miroir_core::catalog`.
        .args(["--workers", "2"])
        .args(["--request-timeout", "20"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "har"])
        .arg("--report-har-path")
        .arg(har_path)
        // Recorded as sent: sanitizing would hide a leaked key in the responses.
        .args(["--output-sanitize", "false"])
        .current_dir(dir)
        .stdin(Stdio::null());
    if !crate::full() {
        command.args(["--seed", "20261128"]);
    }
    command.output().expect("schemathesis runs")
}

/// The part of schemathesis' output that names the failures (all of it if there is none).
fn failures_section(stdout: &str) -> String {
    let start = stdout
        .find("FAILURES")
        .map_or(0, |at| stdout[..at].rfind('\n').map_or(0, |line| line + 1));
    let section = &stdout[start..];
    const LIMIT: usize = 30_000;
    if section.len() > LIMIT {
        let mut end = LIMIT;
        while !section.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}\n… ({} more bytes)",
            &section[..end],
            section.len() - end
        )
    } else {
        section.to_owned()
    }
}

/// One request and response from the HAR file.
struct Exchange {
    method: String,
    url: String,
    request_body: String,
    request_headers: String,
    status: u16,
    response_headers: String,
    response_body: String,
}

fn read_har(path: &Path) -> Vec<Exchange> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let har: Value = serde_json::from_str(&text).unwrap();
    let headers = |value: &Value| {
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|header| {
                format!(
                    "{}: {}\n",
                    header["name"].as_str().unwrap_or_default(),
                    header["value"].as_str().unwrap_or_default()
                )
            })
            .collect::<String>()
    };
    har["log"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let request = &entry["request"];
            let response = &entry["response"];
            let content = &response["content"];
            let text = content["text"].as_str().unwrap_or_default();
            let response_body = if content["encoding"] == "base64" {
                String::from_utf8_lossy(&base64_decode(text)).into_owned()
            } else {
                text.to_owned()
            };
            Exchange {
                method: request["method"].as_str().unwrap_or_default().to_owned(),
                url: request["url"].as_str().unwrap_or_default().to_owned(),
                request_body: request["postData"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                request_headers: headers(&request["headers"]),
                status: u16::try_from(response["status"].as_u64().unwrap_or(0)).unwrap_or(0),
                response_headers: headers(&response["headers"]),
                response_body,
            }
        })
        .collect()
}

/// Standard base64 (HAR's `encoding: base64`), padding and line breaks ignored.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |byte: u8| match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    bytes
}

/// Keys and internal text in one response (internal text only when the request did not carry it:
/// errors may quote the client's own input).
fn scan_exchange(exchange: &Exchange, node_addresses: &[String], findings: &mut Findings) {
    let response = format!("{}\n{}", exchange.response_headers, exchange.response_body);
    let sent = format!(
        "{}\n{}\n{}",
        exchange.url, exchange.request_headers, exchange.request_body
    );
    let what = || {
        let mut body = exchange.response_body.clone();
        if body.len() > 600 {
            let mut end = 600;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
            body.push('…');
        }
        format!(
            "{} {} → {}: {body}",
            exchange.method, exchange.url, exchange.status
        )
    };
    for (name, key) in [
        ("the master key", MASTER_KEY),
        ("the admin key", ADMIN_KEY),
        ("the node master key", NODE_KEY),
    ] {
        findings.check(!response.contains(key), || {
            format!("a response carries {name}: {}", what())
        });
    }
    for address in node_addresses {
        findings.check(!response.contains(address.as_str()), || {
            format!("a response names a node's address {address}: {}", what())
        });
    }
    // The document itself is static text that may name backends (`redis`, `sqlite`).
    let static_document = exchange.url.ends_with("/_miroir/openapi.json");
    let error_only = if exchange.status >= 400 {
        INTERNAL_ERROR_TEXT
    } else {
        &[]
    };
    if !static_document {
        for text in INTERNAL_TEXT.iter().chain(error_only) {
            findings.check(!response.contains(text) || sent.contains(text), || {
                format!("a response carries internal text `{text}`: {}", what())
            });
        }
    }
}

/// A response read from a raw exchange, with how long it took.
struct Timed {
    reply: Option<HttpReply>,
    elapsed: Duration,
}

/// Sends `head` (request line and headers, without the blank line) then `body` on a fresh
/// connection, writing from another thread so that an early answer (413 before the body is read)
/// is read, not lost to a blocked write; reads until the server closes.
fn exchange(port: u16, head: &str, body: Vec<u8>) -> Timed {
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!("{head}Host: localhost\r\nConnection: close\r\n\r\n");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let elapsed = start.elapsed();
    let _ = sender.join();
    let reply = parse_response(&String::from_utf8_lossy(&response));
    Timed { reply, elapsed }
}

/// A JSON `method path` with `body`, `Content-Length` declared, and `headers`.
fn send_json(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Timed {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    exchange(port, &head, body.to_vec())
}

/// The same body sent chunked (no declared length): the limit is found while streaming.
fn send_chunked(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Timed {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let mut chunked = Vec::with_capacity(body.len() + 1024);
    for chunk in body.chunks(16 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    exchange(port, &head, chunked)
}

/// A Meilisearch error body with `code`.
fn is_error(reply: &HttpReply, status: u16, codes: &[&str]) -> bool {
    let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    reply.status == status
        && body["code"]
            .as_str()
            .is_some_and(|code| codes.contains(&code))
        && body["type"].is_string()
        && body["message"].is_string()
        && body["link"]
            .as_str()
            .is_some_and(|link| link.starts_with("https://docs.meilisearch.com/errors#"))
}

/// A route of the body checks: method, path and the headers that authenticate it.
type Route<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// A bound on answering a refused or small body: generous for a debug build on 2 cores.
const QUICK: Duration = Duration::from_secs(3);

/// Oversized, deeply nested and wide bodies on routes of every kind of body extractor; the
/// figures for the report.
fn check_bodies(port: u16, findings: &mut Findings) -> String {
    let master = format!("Bearer {MASTER_KEY}");
    let client: &[(&str, &str)] = &[("Authorization", master.as_str())];
    let admin: &[(&str, &str)] = &[("X-Admin-Key", ADMIN_KEY)];
    // Routes reading their body with the shared JSON extractor (client and admin) and with the
    // documents' own parser.
    let routes: [Route<'_>; 7] = [
        ("POST", "/indexes", client),
        ("POST", "/indexes/checked/documents", client),
        ("POST", "/indexes/checked/search", client),
        ("POST", "/multi-search", client),
        ("PATCH", "/indexes/checked/settings", client),
        ("POST", "/_miroir/aliases", admin),
        ("POST", "/_miroir/jobs", admin),
    ];
    let mut slowest = Duration::ZERO;
    let mut note = |timed: &Timed| slowest = slowest.max(timed.elapsed);

    // One byte over the limit, declared and chunked: 413 payload_too_large.
    let mut over = vec![b' '; MAX_BODY_BYTES + 1];
    over[0] = b'[';
    over[MAX_BODY_BYTES] = b']';
    for (method, path, headers) in routes {
        for (how, timed) in [
            ("declared", send_json(port, method, path, headers, &over)),
            ("chunked", send_chunked(port, method, path, headers, &over)),
        ] {
            note(&timed);
            findings.check(
                timed
                    .reply
                    .as_ref()
                    .is_some_and(|reply| is_error(reply, 413, &["payload_too_large"])),
                || {
                    format!(
                        "{method} {path} with {} bytes ({how}): expected 413 payload_too_large, \
                         got {:?}",
                        over.len(),
                        timed.reply
                    )
                },
            );
        }
    }
    // Ten times the limit, declared: refused before it is read.
    let huge = vec![b'['; MAX_BODY_BYTES * 10];
    let timed = send_json(port, "POST", "/indexes/checked/search", client, &huge);
    note(&timed);
    findings.check(
        timed
            .reply
            .as_ref()
            .is_some_and(|reply| is_error(reply, 413, &["payload_too_large"])),
        || {
            format!(
                "a body of 10 × the limit: expected 413, got {:?}",
                timed.reply
            )
        },
    );

    // 100,000 nested arrays, and objects: under the limit, refused by the parser's depth limit.
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5));
    for (shape, body) in [("arrays", &arrays), ("objects", &objects)] {
        assert!(body.len() <= MAX_BODY_BYTES, "{shape}: {}", body.len());
        for (method, path, headers) in routes {
            let timed = send_json(port, method, path, headers, body.as_bytes());
            note(&timed);
            findings.check(
                timed.elapsed < QUICK
                    && timed.reply.as_ref().is_some_and(|reply| {
                        is_error(reply, 400, &["malformed_payload", "bad_request"])
                    }),
                || {
                    format!(
                        "{method} {path} with nested {shape} ({} bytes): expected a quick 400, \
                         got {:?} after {:?}",
                        body.len(),
                        timed.reply,
                        timed.elapsed
                    )
                },
            );
        }
    }
    let login = send_json(port, "POST", "/_miroir/admin/login", &[], arrays.as_bytes());
    note(&login);
    findings.check(
        login.elapsed < QUICK
            && login.reply.as_ref().is_some_and(|reply| {
                is_error(reply, 400, &["malformed_payload", "bad_request"])
                    || is_error(reply, 429, &["miroir_too_many_requests"])
            }),
        || {
            format!(
                "login with nested arrays: expected 400 or 429, got {:?}",
                login.reply
            )
        },
    );

    // Wide but allowed: an object with ~20,000 keys (refused: unknown fields) and a document
    // batch just under the limit (accepted).
    let mut wide = String::from("{");
    let mut key = 0;
    while wide.len() < MAX_BODY_BYTES - 64 {
        let _ = write!(wide, "\"k{key}\":{key},");
        key += 1;
    }
    wide.push_str("\"uid\":\"wide\"}");
    let wide = wide.into_bytes();
    let timed = send_json(port, "POST", "/indexes", client, &wide);
    note(&timed);
    findings.check(
        timed.elapsed < QUICK
            && timed
                .reply
                .as_ref()
                .is_some_and(|reply| reply.status == 400),
        || {
            format!(
                "POST /indexes with {key} keys: expected a quick 400, got {:?} after {:?}",
                timed.reply, timed.elapsed
            )
        },
    );
    let mut documents = Vec::new();
    let mut length = 2;
    while length < MAX_BODY_BYTES - 200 {
        let document = json!({"id": documents.len(), "title": format!("wide {}", documents.len())});
        length += document.to_string().len() + 1;
        documents.push(document);
    }
    let batch = serde_json::to_vec(&documents).unwrap();
    assert!(batch.len() <= MAX_BODY_BYTES, "{}", batch.len());
    let timed = send_json(port, "POST", "/indexes/checked/documents", client, &batch);
    note(&timed);
    findings.check(
        timed.elapsed < QUICK
            && timed
                .reply
                .as_ref()
                .is_some_and(|reply| reply.status == 202),
        || {
            format!(
                "a batch of {} documents ({} bytes): expected a quick 202, got {:?} after {:?}",
                documents.len(),
                batch.len(),
                timed.reply,
                timed.elapsed
            )
        },
    );
    format!(
        "bodies over {} KiB → 413, {depth} nested arrays → 400, {key} keys → 400, {} documents \
         → 202 (slowest {} ms)",
        MAX_BODY_BYTES / 1024,
        documents.len(),
        slowest.as_millis()
    )
}

/// The login limiter after the fuzzer: wrong keys until 429, then the right key is refused too,
/// with `Retry-After`.
fn check_login_limiter(port: u16, findings: &mut Findings) {
    let wrong = json!({"adminKey": "not-the-admin-key"}).to_string();
    let mut limited = None;
    for _ in 0..12 {
        let reply = call(port, "POST", "/_miroir/admin/login", &[], &wrong);
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        findings.check(is_error(&reply, 401, &["miroir_invalid_auth"]), || {
            format!("a wrong admin key: expected 401 or 429, got {reply:?}")
        });
    }
    findings.check(limited.is_some(), || {
        "12 wrong admin logins in a row were never refused with 429".to_owned()
    });
    let right = json!({"adminKey": ADMIN_KEY}).to_string();
    let reply = call(port, "POST", "/_miroir/admin/login", &[], &right);
    let retry_after = reply
        .header("retry-after")
        .and_then(|value| value.parse::<u64>().ok());
    findings.check(
        is_error(&reply, 429, &["miroir_too_many_requests"])
            && retry_after.is_some_and(|seconds| seconds >= 1)
            && reply.header("set-cookie").is_none(),
        || {
            format!(
                "the right admin key while limited: expected 429 with Retry-After and no \
                 session, got {reply:?}"
            )
        },
    );
}

/// A session opened before the fuzzer: mutations without or with a wrong `X-CSRF-Token`, or
/// from another `Origin`, are refused; with the token they pass.
fn check_csrf(port: u16, session: &Session, findings: &mut Findings) {
    let cookie = session.cookie.as_str();
    let reply = call(
        port,
        "GET",
        "/_miroir/admin/session",
        &[("Cookie", cookie)],
        "",
    );
    findings.check(reply.status == 200, || {
        format!("the session opened before the fuzzer is gone: {reply:?}")
    });
    let alias = json!({"name": "csrf-alias", "target": INDEX}).to_string();
    let wrong_token = "0".repeat(64);
    for (what, headers) in [
        ("no X-CSRF-Token", vec![("Cookie", cookie)]),
        (
            "a wrong X-CSRF-Token",
            vec![("Cookie", cookie), ("X-CSRF-Token", wrong_token.as_str())],
        ),
    ] {
        let reply = call(port, "POST", "/_miroir/aliases", &headers, &alias);
        findings.check(is_error(&reply, 403, &["miroir_csrf_mismatch"]), || {
            format!("a cookie-authenticated POST with {what}: expected 403, got {reply:?}")
        });
    }
    let reply = call(
        port,
        "POST",
        "/_miroir/aliases",
        &[
            ("Cookie", cookie),
            ("X-CSRF-Token", session.csrf_token.as_str()),
            ("Origin", "https://attacker.example"),
        ],
        &alias,
    );
    findings.check(
        is_error(&reply, 403, &["miroir_origin_not_allowed"]),
        || format!("a cookie-authenticated POST from another origin: expected 403, got {reply:?}"),
    );
    let reply = call(
        port,
        "POST",
        "/_miroir/aliases",
        &[
            ("Cookie", cookie),
            ("X-CSRF-Token", session.csrf_token.as_str()),
        ],
        &alias,
    );
    findings.check(reply.status == 201, || {
        format!("a cookie-authenticated POST with the CSRF token: expected 201, got {reply:?}")
    });
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`); 0 when unreadable.
pub(crate) fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
