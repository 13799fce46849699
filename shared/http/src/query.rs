//! [`QueryParams`]: a query string as name/value pairs, consumed parameter by parameter so
//! unknown parameters can be refused by name.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use miroir_core::{ApiError, Code};
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

/// The decoded query string of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Parses an `application/x-www-form-urlencoded` query string.
    pub fn parse(query: &str) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        }
    }

    /// The value of `name` (the last one when repeated), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// True when the query string has no parameter at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `bad_request` naming the first parameter that `P` does not declare: the route's query
    /// parameters, written once as an `IntoParams` type that also documents them in the
    /// OpenAPI document (`params(P)` in its `#[utoipa::path]`).
    pub fn reject_undeclared<P: IntoParams>(&self) -> Result<(), ApiError> {
        let declared = declared_names::<P>();
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        self.reject_unknown(&declared)
    }

    /// `bad_request` naming the first parameter not in `known`.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(name, _)| !known.contains(&name.as_str()))
        {
            None => Ok(()),
            Some((name, _)) => {
                let expected: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
                Err(ApiError::new(
                    Code::BadRequest,
                    format!(
                        "Unknown parameter `{name}`: expected one of {}",
                        expected.join(", ")
                    ),
                ))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or_default()))
    }
}

/// The names of the query parameters `P` declares, in declaration order.
pub fn declared_names<P: IntoParams>() -> Vec<String> {
    P::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|parameter| parameter.name)
        .collect()
}
