//! The client Miroir talks to Meilisearch nodes with: one pooled HTTP client per process, the
//! node master key on every request, a per-request timeout, and typed outcomes.
//!
//! A node call ends in exactly one of: a 2xx body ([`NodeResponse`]), a Meilisearch error the
//! node answered with ([`NodeError::Api`], relayed to clients unchanged where it is the answer),
//! or the node being unusable ([`NodeError::Unreachable`], [`NodeError::Timeout`],
//! [`NodeError::Invalid`]), which quorum and covering-set rules treat as "no answer"; or a
//! request that was never sent because its URL would not reach the node as written
//! ([`NodeError::Unsendable`]).
//!
//! Node paths are built with [`node_path`], one percent-encoded segment per value, so a value
//! never adds a `/`, `?` or `#` to the path. A dot segment (`.`, `..`) has no encoding that
//! survives: the URL parser (WHATWG, as reqwest's `url` crate implements it) collapses `..`,
//! `%2E%2E`, `.%2E` and `%2E.` alike, so `DELETE /indexes/../documents` would become
//! `DELETE /documents`, and `url`'s own `path_segments_mut().push("..")` drops the segment
//! silently. [`NodeClient::call`] therefore refuses any path the parser would change, before a
//! byte is sent; the values that reach a path ([`crate::IndexUid`], checked document ids, the
//! fixed setting names, integer task uids) can never be dot segments in the first place.
//!
//! A node's answer is read up to [`MAX_RESPONSE_BYTES`] and no further: a larger one (declared
//! by `Content-Length` or streamed past the cap) is [`NodeError::Invalid`], so a faulty or
//! hostile node cannot make Miroir buffer an unbounded body.

use std::sync::Once;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;
use crate::routing::Node;

pub use reqwest::Method;

/// The most bytes of one node answer Miroir reads (256 MiB): far above any legitimate answer
/// (Miroir asks for pages of at most 1000 documents or search windows the nodes' own
/// `maxTotalHits` bounds), small enough that one bad node cannot exhaust memory.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A node's 2xx answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// Raw body.
    pub body: Vec<u8>,
}

impl NodeResponse {
    /// The body parsed as `T`; [`NodeError::Invalid`] if it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, NodeError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| NodeError::Invalid(format!("unexpected response body: {error}")))
    }
}

/// A Meilisearch error body as a node sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NodeApiError {
    /// HTTP status of the node's answer.
    #[serde(skip)]
    pub status: u16,
    /// Message.
    pub message: String,
    /// Error code.
    pub code: String,
    /// Error type.
    #[serde(rename = "type")]
    pub error_type: String,
}

/// Why a node call did not produce a 2xx answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a Meilisearch error.
    #[error("{} ({}): {}", .0.code, .0.status, .0.message)]
    Api(NodeApiError),
    /// No connection could be made, or it broke.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer within the scatter timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer is not a Meilisearch response.
    #[error("{0}")]
    Invalid(String),
    /// Not sent: the URL parser would have changed the path (a dot segment it collapses), so
    /// the request would have reached another resource than the one named.
    #[error("not sent: {0}")]
    Unsendable(String),
}

impl NodeError {
    /// True when the node gave no usable answer (as opposed to a Meilisearch error).
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, NodeError::Api(_))
    }

    /// True when the node refused Miroir's own use of `_miroir_shard` (its shard filter on an
    /// index whose `_miroir_shard` is not filterable there): not the client's error, and the
    /// node cannot answer a shard-scoped read of the index until it is repaired
    /// ([`crate::cluster::Cluster::repair_reserved`]).
    pub fn refuses_shard_filter(&self) -> bool {
        matches!(self, NodeError::Api(error) if relayed_message(&error.code, &error.message).is_none())
    }

    /// The error a client sees when this is the answer: the node's own Meilisearch error as is
    /// (without Miroir's reserved field, see [`relayed_message`]), or a 503 naming the node for
    /// an outage. The transport's own text (addresses, OS errors) is logged, never answered.
    pub fn to_api_error(&self, node: &Node) -> ApiError {
        let unavailable = |what: String| {
            tracing::warn!(node = %node.id, error = %self, "a node gave no usable answer");
            ApiError::new(
                crate::Code::MiroirNodeUnavailable,
                format!("Node `{}` {what}.", node.id),
            )
        };
        match self {
            NodeError::Api(error) => match relayed_message(&error.code, &error.message) {
                Some(message) => ApiError::relayed(
                    error.status,
                    error.code.clone(),
                    error.error_type.clone(),
                    message,
                ),
                None => {
                    tracing::warn!(
                        node = %node.id,
                        code = %error.code,
                        message = %error.message,
                        "a node refused Miroir's own use of `_miroir_shard`"
                    );
                    ApiError::new(
                        crate::Code::MiroirNodeError,
                        format!(
                            "Node `{}` refused Miroir's shard-scoped access to this index: its \
                             settings were changed on the node directly. A settings update \
                             through Miroir repairs it.",
                            node.id
                        ),
                    )
                }
            },
            NodeError::Unreachable(_) => unavailable("is unreachable".to_owned()),
            NodeError::Timeout(timeout) => {
                unavailable(format!("did not answer within {} ms", timeout.as_millis()))
            }
            NodeError::Invalid(_) => {
                unavailable("answered something that is not a Meilisearch response".to_owned())
            }
            NodeError::Unsendable(reason) => {
                tracing::error!(node = %node.id, %reason, "a node request was not sent");
                ApiError::new(
                    crate::Code::Internal,
                    "Miroir did not send a request whose path the URL parser would have \
                     changed.",
                )
            }
        }
    }
}

/// `segment` percent-encoded as one path segment: every byte but ASCII letters, digits, `-`,
/// `_`, `.` and `~` becomes `%XX`, so the result never holds `/`, `?`, `#`, `%` (but as an
/// escape), `\` or whitespace, and decodes back to `segment`. Also used for query values. The
/// segments `.` and `..` stay dot segments (see the module docs): [`NodeClient::call`] refuses
/// them.
pub fn encode_path_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The node path of `segments`: `/` before each, each encoded by [`encode_path_segment`], so
/// every value is exactly one segment: `node_path(["indexes", "a/b", "documents"])` is
/// `/indexes/a%2Fb/documents`. The one way node paths are built from values (index uids,
/// document ids, setting names); a query string, if any, is appended by the caller.
pub fn node_path<I, S>(segments: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(&encode_path_segment(segment.as_ref()));
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// Whether parsing kept the path of `path_and_query` as written at the end of `url`'s path
/// (the node address may have a path of its own). The parser never outputs a dot segment, so a
/// path holding one (`..`, `%2E`, …) is never kept.
fn path_kept(url: &reqwest::Url, path_and_query: &str) -> bool {
    let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
    url.path().ends_with(path)
}

/// A node's error message as a client may see it: without Miroir's reserved `_miroir_shard`
/// among the attributes it lists (``Available filterable attributes are: `_miroir_shard, genre`.``
/// → `` `genre` ``), and with the rules of `filterableAttributes` it names numbered as the client
/// numbers them (see [`client_rule_numbers`]). `None` when the error is about Miroir's own use
/// of the field (its shard filter, e.g. ``Attribute `_miroir_shard` is not filterable`` or
/// `_miroir_shard IN [0, 1]`), which is not the client's error and must not be shown. A message
/// naming the field in some other way is replaced by one naming only the node's `code`.
pub fn relayed_message(code: &str, message: &str) -> Option<String> {
    use crate::merge::SHARD_FIELD;
    if !message.contains(SHARD_FIELD) {
        return Some(client_rule_numbers(message));
    }
    let own_use = [
        format!("`{SHARD_FIELD}` is not"),
        format!("{SHARD_FIELD} IN"),
        format!("{SHARD_FIELD} ="),
    ];
    if own_use.iter().any(|text| message.contains(text.as_str())) {
        return None;
    }
    let mut text = message
        .replace(&format!("{SHARD_FIELD}, "), "")
        .replace(&format!(", {SHARD_FIELD}"), "")
        .replace(&format!("`{SHARD_FIELD}`, "), "")
        .replace(&format!(", `{SHARD_FIELD}`"), "");
    // A list that held only the field: the index has no such attribute of the client's.
    for (lead, none) in [
        (
            "Available filterable attribute patterns are: ",
            "This index does not have configured filterable attributes.",
        ),
        (
            "Available filterable attributes are: ",
            "This index does not have configured filterable attributes.",
        ),
        (
            "The available filterable attribute patterns are ",
            "This index does not have configured filterable attributes.",
        ),
        (
            "The available filterable attributes are ",
            "This index does not have configured filterable attributes.",
        ),
        (
            "Available facet-searchable attributes patterns are: ",
            "This index does not have configured facet-searchable attributes.",
        ),
    ] {
        text = text.replace(&format!("{lead}`{SHARD_FIELD}`."), none);
    }
    if text.contains(SHARD_FIELD) {
        text = format!("The nodes refused the request (`{code}`).");
    }
    Some(client_rule_numbers(&text))
}

/// `message` with every `rule #N` of `filterableAttributes` numbered as the client numbers its
/// rules. On the nodes Miroir's `_miroir_shard` is rule #0 ([`crate::reserved`]), so the client's
/// rule #0 is the nodes' #1: Meilisearch's filter, distinct and facet-search refusals (``field
/// `genre` matched rule #2 in `filterableAttributes` ``) name the nodes' number, one more than the
/// client's. Messages about other settings are unchanged.
pub fn client_rule_numbers(message: &str) -> String {
    const RULE: &str = "rule #";
    if !message.contains("filterableAttributes") || !message.contains(RULE) {
        return message.to_owned();
    }
    let mut numbered = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(RULE) {
        let (before, after) = rest.split_at(at + RULE.len());
        numbered.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = after.split_at(digits);
        match number.parse::<u64>() {
            Ok(node_rule) if node_rule > 0 => numbered.push_str(&(node_rule - 1).to_string()),
            _ => numbered.push_str(number),
        }
        rest = tail;
    }
    numbered.push_str(rest);
    numbered
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relayed_messages_never_name_the_shard_field() {
        let plain = "Attribute `genre` is not filterable. Available filterable attributes are: \
                     `genre, year`.";
        assert_eq!(
            relayed_message("invalid_search_filter", plain).as_deref(),
            Some(plain)
        );
        // The test node's and Meilisearch's list forms.
        let listed = "Attribute `title` is not filterable. Available filterable attributes are: \
                      `_miroir_shard, genre`.\n1:6 title = x";
        assert_eq!(
            relayed_message("invalid_search_filter", listed).as_deref(),
            Some(
                "Attribute `title` is not filterable. Available filterable attributes are: \
                 `genre`.\n1:6 title = x"
            )
        );
        let only = "Attribute `title` is not filterable. Available filterable attribute patterns \
                    are: `_miroir_shard`.";
        assert_eq!(
            relayed_message("invalid_search_filter", only).as_deref(),
            Some(
                "Attribute `title` is not filterable. This index does not have configured \
                 filterable attributes."
            )
        );
        let facets = "Invalid facet distribution, attribute `x` is not filterable. The available \
                      filterable attribute patterns are `genre, _miroir_shard`.";
        assert_eq!(
            relayed_message("invalid_search_facets", facets).as_deref(),
            Some(
                "Invalid facet distribution, attribute `x` is not filterable. The available \
                 filterable attribute patterns are `genre`."
            )
        );
        // Miroir's own filter: not the client's error.
        for own in [
            "Attribute `_miroir_shard` is not filterable. This index does not have configured \
             filterable attributes.\n1:14 _miroir_shard IN [0, 1, 5]",
            "Attribute `_miroir_shard` is not filterable. Available filterable attributes are: \
             `genre`.",
        ] {
            assert_eq!(relayed_message("invalid_search_filter", own), None, "{own}");
        }
        assert_eq!(
            relayed_message("x", "something about `_miroir_shard` we do not know").as_deref(),
            Some("The nodes refused the request (`x`).")
        );
    }

    #[test]
    fn relayed_facet_search_refusals_never_name_the_shard_field() {
        let listed = "Attribute `title` is not facet-searchable. Available facet-searchable \
                      attributes patterns are: `_miroir_shard, genre, tags`. To make it \
                      facet-searchable add it to the `filterableAttributes` index settings.";
        assert_eq!(
            relayed_message("invalid_facet_search_facet_name", listed).as_deref(),
            Some(
                "Attribute `title` is not facet-searchable. Available facet-searchable \
                 attributes patterns are: `genre, tags`. To make it facet-searchable add it to \
                 the `filterableAttributes` index settings."
            )
        );
        // Meilisearch 1.50's words when the index has no facet-searchable attribute.
        let only = "Attribute `title` is not facet-searchable. Available facet-searchable \
                    attributes patterns are: `_miroir_shard`. To make it facet-searchable add it \
                    to the `filterableAttributes` index settings.";
        assert_eq!(
            relayed_message("invalid_facet_search_facet_name", only).as_deref(),
            Some(
                "Attribute `title` is not facet-searchable. This index does not have configured \
                 facet-searchable attributes. To make it facet-searchable add it to the \
                 `filterableAttributes` index settings."
            )
        );
    }

    #[test]
    fn rules_of_filterable_attributes_are_numbered_as_the_client_numbers_them() {
        // As Meilisearch 1.50 words them, on a node where `_miroir_shard` is rule #0.
        let facet = "Attribute `genre` is not facet-searchable. Note: this attribute matches rule \
                     #1 in filterableAttributes, but this rule does not enable facetSearch.\nHint: \
                     enable facetSearch in rule #1 by adding `\"facetSearch\": true` to the \
                     rule.\nHint: prepend another rule matching genre with facetSearch: true \
                     before rule #1";
        assert_eq!(
            relayed_message("invalid_facet_search_facet_name", facet).unwrap(),
            facet.replace("rule #1", "rule #0")
        );
        let filter = "Filter operator `>` is not allowed for the attribute `genre`.\n  - Note: \
                      field `genre` matched rule #12 in `filterableAttributes`\n  - Hint: enable \
                      comparison in rule #12 by modifying the features.filter object";
        assert_eq!(
            relayed_message("invalid_search_filter", filter).unwrap(),
            filter.replace("rule #12", "rule #11")
        );
        let other = "rule #3 of something else";
        assert_eq!(relayed_message("x", other).as_deref(), Some(other));
        assert_eq!(
            client_rule_numbers("rule # in filterableAttributes, rule #0"),
            "rule # in filterableAttributes, rule #0"
        );
    }

    /// What the raw test server below answers every request with.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `status` with a chunked body of `length` bytes, or one that never ends (`None`).
        Chunked { status: u16, length: Option<usize> },
        /// 200 declaring `Content-Length: declared`, then sending 10 bytes and nothing more.
        Declared { declared: u64 },
    }

    /// A node at a local address whose every answer is `answer` (HTTP/1.1 written by hand, so a
    /// body can be endless or shorter than declared).
    async fn raw_node(answer: Answer) -> Node {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0_u8; 1024];
                    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    let chunk = [b'x'; 1024];
                    match answer {
                        Answer::Declared { declared } => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {declared}\r\n\r\n"
                            );
                            let _ = stream.write_all(head.as_bytes()).await;
                            let _ = stream.write_all(&chunk[..10]).await;
                            // Hold the connection open: a client that waits for the rest times out.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Answer::Chunked { status, length } => {
                            let head = format!(
                                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                                 transfer-encoding: chunked\r\n\r\n"
                            );
                            if stream.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let mut left = length.unwrap_or(usize::MAX);
                            while left > 0 {
                                let size = left.min(chunk.len());
                                let mut frame = format!("{size:x}\r\n").into_bytes();
                                frame.extend_from_slice(&chunk[..size]);
                                frame.extend_from_slice(b"\r\n");
                                if stream.write_all(&frame).await.is_err() {
                                    return;
                                }
                                left -= size;
                            }
                            let _ = stream.write_all(b"0\r\n\r\n").await;
                        }
                    }
                });
            }
        });
        Node {
            id: "meili-0".to_owned(),
            address: format!("http://{address}"),
            group: 0,
        }
    }

    #[tokio::test]
    async fn answers_over_the_cap_are_refused_without_reading_them_whole() {
        const CAP: usize = 64 * 1024;
        const TIMEOUT: Duration = Duration::from_secs(5);
        let client = NodeClient::new(None, TIMEOUT)
            .expect("client")
            .with_max_response_bytes(CAP);
        assert_eq!(client.max_response_bytes(), CAP);
        assert_eq!(
            NodeClient::new(None, TIMEOUT)
                .expect("client")
                .max_response_bytes(),
            MAX_RESPONSE_BYTES
        );
        let call = |answer| {
            let client = client.clone();
            async move {
                let node = raw_node(answer).await;
                let started = std::time::Instant::now();
                let outcome = client.call(&node, Method::GET, "/indexes", None).await;
                (outcome, started.elapsed())
            }
        };
        let over = |outcome: &Result<NodeResponse, NodeError>| {
            matches!(outcome, Err(NodeError::Invalid(message))
                if message == &format!("the answer is larger than {CAP} bytes, the most Miroir reads from a node"))
        };

        // Exactly the cap is read.
        let (exact, _) = call(Answer::Chunked {
            status: 200,
            length: Some(CAP),
        })
        .await;
        assert_eq!(exact.expect("at the cap").body.len(), CAP);
        // One byte more is not, nor an endless body (refused once the cap is passed, not at
        // the timeout).
        for length in [Some(CAP + 1), None] {
            let (outcome, took) = call(Answer::Chunked {
                status: 200,
                length,
            })
            .await;
            assert!(over(&outcome), "{length:?}: {outcome:?}");
            assert!(took < TIMEOUT, "{length:?}: {took:?}");
        }
        // A declared length over the cap is refused before the body is read.
        let (declared, took) = call(Answer::Declared { declared: 1 << 40 }).await;
        assert!(over(&declared), "{declared:?}");
        assert!(took < TIMEOUT, "{took:?}");
        // An error answer is capped too, and is not taken for a Meilisearch error.
        let (error, _) = call(Answer::Chunked {
            status: 400,
            length: Some(CAP + 1),
        })
        .await;
        assert!(over(&error), "{error:?}");
        // As a client sees it: the node gave no usable answer.
        let node = Node {
            id: "meili-0".to_owned(),
            address: String::new(),
            group: 0,
        };
        let seen = error.expect_err("over the cap").to_api_error(&node);
        assert_eq!(seen.code, crate::Code::MiroirNodeUnavailable);
    }

    #[test]
    fn every_value_is_one_segment() {
        assert_eq!(
            node_path(["indexes", "movies", "documents", "a b/c?d#e%f"]),
            "/indexes/movies/documents/a%20b%2Fc%3Fd%23e%25f"
        );
        assert_eq!(
            node_path(["indexes", "a\\b", "settings"]),
            "/indexes/a%5Cb/settings"
        );
        assert_eq!(node_path(["indexes", "é"]), "/indexes/%C3%A9");
        assert_eq!(node_path(["indexes", "%2E%2E"]), "/indexes/%252E%252E");
        assert_eq!(node_path(Vec::<String>::new()), "/");
        // Dot segments stay what they are: no encoding carries them (below).
        assert_eq!(
            node_path(["indexes", "..", "documents"]),
            "/indexes/../documents"
        );
    }

    /// Why `NodeClient::call` refuses dot segments rather than encoding them: the URL parser
    /// reqwest uses collapses every spelling of them, and `url`'s own segment pusher drops them.
    #[test]
    fn no_spelling_of_a_dot_segment_survives_the_url_parser() {
        for (path, parsed) in [
            ("/indexes/../documents", "/documents"),
            ("/indexes/%2E%2E/documents", "/documents"),
            ("/indexes/%2e./documents", "/documents"),
            ("/indexes/./documents", "/indexes/documents"),
            ("/indexes/%2E/documents", "/indexes/documents"),
        ] {
            let url = reqwest::Url::parse(&format!("http://node:7700{path}")).unwrap();
            assert_eq!(url.path(), parsed, "{path}");
            assert!(!path_kept(&url, path), "{path}");
        }
        let mut url = reqwest::Url::parse("http://node:7700/indexes").unwrap();
        url.path_segments_mut()
            .unwrap()
            .push("..")
            .push("documents");
        assert_eq!(url.path(), "/indexes/documents");
        // What `node_path` builds from valid values is kept, query string aside.
        for path in [
            "/indexes/movies/documents/a%20b?primaryKey=id",
            "/indexes/a-b_C/settings/filterable-attributes",
            "/tasks/12",
        ] {
            let url = reqwest::Url::parse(&format!("http://node:7700{path}")).unwrap();
            assert!(path_kept(&url, path), "{path}");
        }
    }

    /// A node that records the request line of each request it gets and answers `202
    /// {"taskUid": 1}`.
    async fn recording_node() -> (Node, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = lines.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0; 4096];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
                seen.lock()
                    .unwrap()
                    .push(text.lines().next().unwrap_or_default().to_owned());
                let body = r#"{"taskUid":1}"#;
                let answer = format!(
                    "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        let node = Node {
            id: "meili-0".to_owned(),
            address: format!("http://{address}"),
            group: 0,
        };
        (node, lines)
    }

    #[tokio::test]
    async fn a_dot_segment_never_reaches_a_node() {
        let (node, lines) = recording_node().await;
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        for path in [
            node_path(["indexes", "..", "documents"]),
            node_path(["indexes", ".", "documents"]),
            node_path(["indexes", "movies", "documents", ".."]),
            "/indexes/%2E%2E/documents".to_owned(),
            "/indexes/%2e/documents?primaryKey=id".to_owned(),
        ] {
            let error = client
                .call(&node, Method::DELETE, &path, None)
                .await
                .unwrap_err();
            assert!(matches!(error, NodeError::Unsendable(_)), "{path}: {error}");
            assert!(error.is_unavailable());
            let answered = error.to_api_error(&node);
            assert_eq!((answered.code_name(), answered.status()), ("internal", 500));
        }
        // The exact request line a valid path is sent with.
        let path = format!(
            "{}?primaryKey=id",
            node_path(["indexes", "documents", "documents", "a b"])
        );
        assert_eq!(
            client.enqueue(&node, Method::DELETE, &path, None).await,
            Ok(1)
        );
        assert_eq!(
            *lines.lock().unwrap(),
            ["DELETE /indexes/documents/documents/a%20b?primaryKey=id HTTP/1.1"]
        );
    }

    #[test]
    fn outages_name_the_node_not_the_transport() {
        let node = Node {
            id: "meili-1".to_owned(),
            address: "http://10.1.2.3:7700".to_owned(),
            group: 0,
        };
        let error = NodeError::Unreachable(
            "error sending request for url (http://10.1.2.3:7700/indexes): connection refused"
                .to_owned(),
        )
        .to_api_error(&node);
        assert_eq!(error.message, "Node `meili-1` is unreachable.");
        let error = NodeError::Api(NodeApiError {
            status: 400,
            message: "Attribute `_miroir_shard` is not filterable.\n1:14 _miroir_shard IN [0]"
                .to_owned(),
            code: "invalid_search_filter".to_owned(),
            error_type: "invalid_request".to_owned(),
        })
        .to_api_error(&node);
        assert_eq!(
            (error.code_name(), error.status()),
            ("miroir_node_error", 502)
        );
        assert!(!error.message.contains("_miroir"), "{}", error.message);
    }
}

/// The summarized task a node answers a write with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnqueuedTask {
    /// The node's own task uid.
    pub task_uid: u64,
}

/// A node's task object (the fields aggregation needs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTask {
    /// Node task uid.
    pub uid: u64,
    /// `enqueued | processing | succeeded | failed | canceled`.
    pub status: String,
    /// Type-specific details.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// Error of a failed task.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    /// RFC 3339 start time.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339 finish time.
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// The pooled client for every node of the fleet.
#[derive(Clone, Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    max_response_bytes: usize,
}

impl NodeClient {
    /// A client sending `Authorization: Bearer <master_key>` when a key is given, giving up on a
    /// call after `timeout`, reading at most [`MAX_RESPONSE_BYTES`] of an answer.
    pub fn new(master_key: Option<&str>, timeout: Duration) -> Result<Self, String> {
        static CRYPTO: Once = Once::new();
        CRYPTO.call_once(|| {
            // Only the first provider installed counts; a process that installed one already keeps it.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|error| format!("cannot build the node HTTP client: {error}"))?;
        let authorization = master_key
            .filter(|key| !key.is_empty())
            .map(|key| {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| "the node master key is not a valid header value".to_owned())?;
                value.set_sensitive(true);
                Ok::<_, String>(value)
            })
            .transpose()?;
        Ok(Self {
            http,
            authorization,
            timeout,
            max_response_bytes: MAX_RESPONSE_BYTES,
        })
    }

    /// This client, reading at most `bytes` of a node answer instead of [`MAX_RESPONSE_BYTES`]
    /// (a larger answer is [`NodeError::Invalid`]).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The most bytes of one answer this client reads.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Sends `method path_and_query` to `node` with an optional JSON body. Nothing is sent
    /// when the URL parser would change the path (a dot segment: see the module docs): that is
    /// [`NodeError::Unsendable`].
    pub async fn call(
        &self,
        node: &Node,
        method: Method,
        path_and_query: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<NodeResponse, NodeError> {
        let address = format!("{}{path_and_query}", node.address);
        let mut request = match reqwest::Url::parse(&address) {
            Ok(url) if !path_kept(&url, path_and_query) => {
                return Err(NodeError::Unsendable(format!(
                    "`{method} {path_and_query}` would be sent as `{method} {}`",
                    url.path()
                )));
            }
            Ok(url) => self.http.request(method, url),
            // Not a URL at all: reqwest reports it as it always did (the node is unusable).
            Err(_) => self.http.request(method, address),
        };
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(body) = json_body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status().as_u16();
        let body = self.read_body(response).await?;
        if (200..300).contains(&status) {
            return Ok(NodeResponse { status, body });
        }
        match serde_json::from_slice::<NodeApiError>(&body) {
            Ok(mut error) => {
                error.status = status;
                Err(NodeError::Api(error))
            }
            Err(_) => Err(NodeError::Invalid(format!(
                "HTTP {status} without a Meilisearch error body"
            ))),
        }
    }

    /// A GET whose 2xx body is parsed as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        node: &Node,
        path_and_query: &str,
    ) -> Result<T, NodeError> {
        self.call(node, Method::GET, path_and_query, None)
            .await?
            .json()
    }

    /// A write that the node enqueues as a task: its task uid.
    pub async fn enqueue(
        &self,
        node: &Node,
        method: Method,
        path_and_query: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<u64, NodeError> {
        let response = self.call(node, method, path_and_query, json_body).await?;
        Ok(response.json::<EnqueuedTask>()?.task_uid)
    }

    /// The node's task `uid`.
    pub async fn task(&self, node: &Node, uid: u64) -> Result<NodeTask, NodeError> {
        self.get(node, &format!("/tasks/{uid}")).await
    }

    /// The body of `response`, read chunk by chunk and abandoned (the connection dropped) as soon
    /// as it is known to exceed [`NodeClient::max_response_bytes`]: from `Content-Length` before
    /// anything is read, else when the chunks read so far pass the cap.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, NodeError> {
        let cap = self.max_response_bytes;
        let too_large = || {
            NodeError::Invalid(format!(
                "the answer is larger than {cap} bytes, the most Miroir reads from a node"
            ))
        };
        let declared = response.content_length();
        if declared.is_some_and(|length| length > u64::try_from(cap).unwrap_or(u64::MAX)) {
            return Err(too_large());
        }
        let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(cap));
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport(error))?
        {
            if chunk.len() > cap.saturating_sub(body.len()) {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport(&self, error: reqwest::Error) -> NodeError {
        if error.is_timeout() {
            NodeError::Timeout(self.timeout)
        } else {
            // The source chain says why (refused, reset, DNS) without echoing request contents.
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason = format!("{reason}: {cause}");
                source = cause.source();
            }
            NodeError::Unreachable(reason)
        }
    }
}
