//! `/indexes/{uid}/documents…`: additions, listing, fetching and deletions.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::{Answer, Shared, enqueue_with_metadata, json_body, object_body, ok, param, params};
use crate::meilisearch::documents::{WriteMethod, normalize_id};
use crate::meilisearch::error::{ApiError, describe};
use crate::meilisearch::fields::select;
use crate::meilisearch::filter;
use crate::meilisearch::settings;
use crate::meilisearch::state::{Node, validate_index_uid};
use crate::meilisearch::tasks::Operation;

/// The documents of an addition body: a JSON array of objects, or one object.
fn documents_of(body: Value) -> Result<Vec<Map<String, Value>>, ApiError> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(object) => return Ok(vec![object]),
        other => {
            return Err(ApiError::new(
                "malformed_payload",
                format!(
                    "The `json` payload must contain an array of documents or a single document, \
                     but found {}",
                    describe(&other)
                ),
            ));
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(object) => Ok(object),
            other => Err(ApiError::new(
                "malformed_payload",
                format!(
                    "The `json` payload provided contains a value that is not a document: {}",
                    describe(&other)
                ),
            )),
        })
        .collect()
}

async fn add(
    node: Shared,
    uid: String,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
    method: WriteMethod,
) -> Answer {
    let params = params(query)?;
    validate_index_uid(&uid)?;
    let documents = documents_of(json_body(body)?)?;
    let primary_key = param(&params, "primaryKey").map(str::to_owned);
    enqueue_with_metadata(
        &node,
        &uid,
        Operation::DocumentAddition {
            documents,
            primary_key,
            method,
        },
        custom_metadata(&params),
    )
}

/// The `customMetadata` query parameter of a document write, kept on its task.
fn custom_metadata(params: &[(String, String)]) -> Option<String> {
    param(params, "customMetadata").map(str::to_owned)
}

/// `POST /indexes/{uid}/documents[?primaryKey=]`: add or replace.
pub(crate) async fn add_or_replace(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    add(node, uid, query, body, WriteMethod::Replace).await
}

/// `PUT /indexes/{uid}/documents[?primaryKey=]`: add or update (shallow merge).
pub(crate) async fn add_or_update(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    add(node, uid, query, body, WriteMethod::Update).await
}

/// What a documents listing asks for.
struct Listing {
    offset: usize,
    limit: usize,
    fields: Option<Vec<String>>,
    filter: Value,
    ids: Option<Vec<String>>,
}

fn listing_number(value: Option<&Value>, name: &str, default: usize) -> Result<usize, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|number| usize::try_from(number).ok())
            .ok_or_else(|| {
                ApiError::new(
                    format!("invalid_document_{name}"),
                    format!(
                        "Invalid value type at `.{name}`: expected a positive integer, but found {}",
                        describe(value)
                    ),
                )
            }),
    }
}

fn string_list(
    value: Option<&Value>,
    code: &str,
    name: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let error = |value: &Value| {
        ApiError::new(
            code,
            format!(
                "Invalid value type at `.{name}`: expected an array of strings, but found {}",
                describe(value)
            ),
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Number(number) => Ok(number.to_string()),
                other => Err(error(other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(error(other)),
    }
}

impl Listing {
    fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        Ok(Self {
            offset: listing_number(body.get("offset"), "offset", 0)?,
            limit: listing_number(body.get("limit"), "limit", 20)?,
            fields: string_list(body.get("fields"), "invalid_document_fields", "fields")?,
            filter: body.get("filter").cloned().unwrap_or(Value::Null),
            ids: string_list(body.get("ids"), "invalid_document_ids", "ids")?,
        })
    }

    fn from_params(params: &[(String, String)]) -> Result<Self, ApiError> {
        let mut body = Map::new();
        for (name, value) in params {
            let converted = match name.as_str() {
                "offset" | "limit" => {
                    let number: u64 = value.trim().parse().map_err(|_| {
                        ApiError::new(
                            format!("invalid_document_{name}"),
                            format!(
                                "Invalid value in parameter `{name}`: could not parse `{value}` \
                                 as a positive integer"
                            ),
                        )
                    })?;
                    json!(number)
                }
                "fields" | "ids" => Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::String(item.to_owned()))
                        .collect(),
                ),
                "filter" => Value::String(value.clone()),
                _ => continue,
            };
            body.insert(name.clone(), converted);
        }
        Self::from_body(&body)
    }

    /// `{"results","offset","limit","total"}` for index `uid`, in insertion order.
    fn run(&self, node: &Node, uid: &str) -> Answer {
        validate_index_uid(uid)?;
        let state = node.lock();
        let index = state.index(uid)?;
        let filterable = settings::filterable(&index.settings);
        let filter = filter::parse(&self.filter, Some(filterable.as_slice()))
            .map_err(|message| ApiError::new("invalid_document_filter", message))?;
        let matching: Vec<&Map<String, Value>> = match &self.ids {
            Some(ids) => ids
                .iter()
                .filter_map(|id| index.documents.get(id))
                .collect(),
            None => index
                .documents
                .iter()
                .map(|(_, document)| document)
                .collect(),
        };
        let matching: Vec<&Map<String, Value>> = matching
            .into_iter()
            .filter(|document| {
                filter
                    .as_ref()
                    .is_none_or(|filter| filter.matches(document))
            })
            .collect();
        let results: Vec<Value> = matching
            .iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|document| Value::Object(select(document, self.fields.as_deref())))
            .collect();
        ok(json!({
            "results": results,
            "offset": self.offset,
            "limit": self.limit,
            "total": matching.len(),
        }))
    }
}

/// `GET /indexes/{uid}/documents?offset&limit&fields&filter`.
pub(crate) async fn list(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    Listing::from_params(&params(query)?)?.run(&node, &uid)
}

/// `POST /indexes/{uid}/documents/fetch {offset, limit, fields, filter, ids}`.
pub(crate) async fn fetch(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    Listing::from_body(&object_body(body)?)?.run(&node, &uid)
}

/// `GET /indexes/{uid}/documents/{id}?fields=`.
pub(crate) async fn get_one(
    State(node): State<Shared>,
    Path((uid, id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let params = params(query)?;
    validate_index_uid(&uid)?;
    let fields: Option<Vec<String>> = param(&params, "fields").map(|fields| {
        fields
            .split(',')
            .map(str::trim)
            .filter(|field| !field.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let state = node.lock();
    let document = state.index(&uid)?.documents.get(&id).ok_or_else(|| {
        ApiError::new("document_not_found", format!("Document `{id}` not found."))
    })?;
    ok(Value::Object(select(document, fields.as_deref())))
}

/// `DELETE /indexes/{uid}/documents/{id}[?customMetadata=]`.
pub(crate) async fn delete_one(
    State(node): State<Shared>,
    Path((uid, id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let params = params(query)?;
    enqueue_with_metadata(
        &node,
        &uid,
        Operation::DocumentDeletionByIds { ids: vec![id] },
        custom_metadata(&params),
    )
}

/// `POST /indexes/{uid}/documents/delete-batch[?customMetadata=] [ids]`.
pub(crate) async fn delete_batch(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let params = params(query)?;
    let ids = match json_body(body)? {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                normalize_id(item).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid value type at `[]`: expected a document id, but found {}",
                        describe(item)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid value type: expected an array, but found {}",
                describe(&other)
            )));
        }
    };
    enqueue_with_metadata(
        &node,
        &uid,
        Operation::DocumentDeletionByIds { ids },
        custom_metadata(&params),
    )
}

/// `POST /indexes/{uid}/documents/delete[?customMetadata=] {"filter"}`: the filter's syntax is
/// checked now (400 `invalid_document_filter`), its attributes when the task runs.
pub(crate) async fn delete_by_filter(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let params = params(query)?;
    let body = object_body(body)?;
    let filter = match body.get("filter") {
        None | Some(Value::Null) => {
            return Err(ApiError::new(
                "missing_document_filter",
                "Missing field `filter`",
            ));
        }
        Some(filter) => filter.clone(),
    };
    match filter::parse(&filter, None) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ApiError::new(
                "invalid_document_filter",
                "Sending an empty filter is forbidden.",
            ));
        }
        Err(message) => return Err(ApiError::new("invalid_document_filter", message)),
    }
    enqueue_with_metadata(
        &node,
        &uid,
        Operation::DocumentDeletionByFilter { filter },
        custom_metadata(&params),
    )
}

/// `DELETE /indexes/{uid}/documents[?customMetadata=]`: deletes every document.
pub(crate) async fn delete_all(
    State(node): State<Shared>,
    Path(uid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    let params = params(query)?;
    enqueue_with_metadata(
        &node,
        &uid,
        Operation::DocumentClear,
        custom_metadata(&params),
    )
}
