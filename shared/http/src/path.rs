//! [`IndexPath`]: the path parameters of a route naming an index, its index uids checked before
//! the handler runs, a refusal in Meilisearch's shape.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use miroir_core::{ApiError, Code, IndexUid};
use serde::de::DeserializeOwned;

use crate::error::HttpError;

/// The path parameters of a route, deserialized as `T`, where each index uid is an
/// [`IndexUid`]: `IndexPath(uid): IndexPath` on `/indexes/{uid}…`,
/// `IndexPath((uid, id)): IndexPath<(IndexUid, String)>` on `/indexes/{uid}/documents/{id}`,
/// `IndexPath((sink, index)): IndexPath<(String, IndexUid)>` on `/_miroir/cdc/cursors/{sink}/{index}`.
///
/// What it guarantees: the handler runs only with index uids that follow Meilisearch's rule, so
/// no path value of a request (`.`, `..`, `%2E` — axum percent-decodes parameters — `a/b`, a
/// 401-byte uid) can name another resource on a node. An index uid outside the rule is refused
/// with exactly what Meilisearch answers: 400 `invalid_index_uid` naming the value (bytes that
/// are not UTF-8 shown as `�`, as Meilisearch does, for parameters named `uid` or `index`).
/// Other refusals are 400 `bad_request`, or 500 `internal` for a route whose parameters do not
/// fit `T` (a programming error). Alias names follow the index uid rule, so the same check
/// holds for a client path naming an alias.
#[derive(Clone, Debug)]
pub struct IndexPath<T = IndexUid>(pub T);

impl<T, S> FromRequestParts<S> for IndexPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(refusal(rejection, parts).into()),
        }
    }
}

/// The parameter names Miroir's routes give index uids.
const INDEX_KEYS: [&str; 2] = ["uid", "index"];

fn refusal(rejection: PathRejection, parts: &Parts) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        return ApiError::new(Code::Internal, "The route has no path parameters to read.");
    };
    match error.into_kind() {
        // `IndexUid`'s own refusal; the value is parsed again to answer with its `ApiError`.
        ErrorKind::DeserializeError { value, message, .. } => match value.parse::<IndexUid>() {
            Err(refused) => refused,
            Ok(_) => ApiError::new(Code::BadRequest, message),
        },
        ErrorKind::InvalidUtf8InPathParam { key } => {
            match raw_parameter(parts, &key).filter(|_| INDEX_KEYS.contains(&key.as_str())) {
                Some(raw) => IndexUid::invalid(&decode_lossy(raw)),
                None => ApiError::new(
                    Code::BadRequest,
                    format!("The path parameter `{key}` is not valid UTF-8."),
                ),
            }
        }
        kind @ (ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. }) => {
            tracing::error!(error = %kind, "a route's path parameters do not fit its extractor");
            ApiError::new(
                Code::Internal,
                "The route's path parameters could not be read.",
            )
        }
        other => ApiError::new(Code::BadRequest, other.to_string()),
    }
}

/// The raw (still percent-encoded) value of path parameter `key`, found by lining the request
/// path up with the matched route template.
fn raw_parameter<'a>(parts: &'a Parts, key: &str) -> Option<&'a str> {
    let template = parts.extensions.get::<MatchedPath>()?.as_str();
    let wanted = format!("{{{key}}}");
    let position = template.split('/').position(|segment| segment == wanted)?;
    parts.uri.path().split('/').nth(position)
}

/// `raw` percent-decoded, bytes that are not UTF-8 replaced by `�` (as Meilisearch shows them).
pub(crate) fn decode_lossy(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, Uri};
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    /// A router echoing what the extractors let through.
    fn router() -> Router {
        Router::new()
            .route(
                "/indexes/{uid}",
                get(|IndexPath(uid): IndexPath| async move { uid.to_string() }),
            )
            .route(
                "/indexes/{uid}/documents/{id}",
                get(
                    |IndexPath((uid, id)): IndexPath<(IndexUid, String)>| async move {
                        format!("{uid} {id}")
                    },
                ),
            )
            .route(
                "/cursors/{sink}/{index}",
                get(
                    |IndexPath((sink, index)): IndexPath<(String, IndexUid)>| async move {
                        format!("{sink} {index}")
                    },
                ),
            )
    }

    async fn call(uri: &str) -> (StatusCode, String) {
        let request = Request::get(Uri::try_from(uri).unwrap())
            .body(Body::empty())
            .unwrap();
        let response = router().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The refusal's `(code, message)`, asserting a Meilisearch-shaped 400.
    async fn refused(uri: &str) -> (String, String) {
        let (status, body) = call(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        (
            body["code"].as_str().unwrap().to_owned(),
            body["message"].as_str().unwrap().to_owned(),
        )
    }

    #[tokio::test]
    async fn valid_uids_reach_the_handler() {
        assert_eq!(
            call("/indexes/movies").await,
            (StatusCode::OK, "movies".into())
        );
        assert_eq!(
            call("/indexes/movies/documents/..").await,
            (StatusCode::OK, "movies ..".into())
        );
        assert_eq!(
            call("/cursors/webhook:main/movies").await,
            (StatusCode::OK, "webhook:main movies".into())
        );
    }

    #[tokio::test]
    async fn dot_segments_encoded_or_not_are_refused_as_meilisearch_refuses_them() {
        for (uri, uid) in [
            ("/indexes/.", "."),
            ("/indexes/..", ".."),
            ("/indexes/%2E", "."),
            ("/indexes/%2e%2E", ".."),
            ("/indexes/.%2E", ".."),
            ("/indexes/a.b", "a.b"),
            ("/indexes/a%2Fb", "a/b"),
            ("/indexes/a%20b", "a b"),
            ("/indexes/%C3%A9", "é"),
            ("/indexes/%FF", "\u{FFFD}"),
            ("/indexes/a%FFb/documents/1", "a\u{FFFD}b"),
            ("/indexes/./documents/1", "."),
            ("/cursors/kafka/..", ".."),
        ] {
            let (code, message) = refused(uri).await;
            assert_eq!(code, "invalid_index_uid", "{uri}: {message}");
            assert_eq!(message, IndexUid::invalid(uid).message, "{uri}");
        }
        let long = "a".repeat(401);
        let (code, message) = refused(&format!("/indexes/{long}")).await;
        assert_eq!(code, "invalid_index_uid");
        assert!(message.starts_with(&format!("`{long}` is not a valid index uid")));
        assert_eq!(
            call(&format!("/indexes/{}", "a".repeat(400))).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn other_parameters_are_not_index_uids() {
        let (code, _) = refused("/cursors/%FF/movies").await;
        assert_eq!(code, "bad_request");
    }

    #[test]
    fn lossy_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(decode_lossy("a%2Fb"), "a/b");
        assert_eq!(decode_lossy("%FF%"), "\u{FFFD}%");
        assert_eq!(decode_lossy("%zz%4"), "%zz%4");
    }
}
