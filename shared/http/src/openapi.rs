//! The OpenAPI document of Miroir's HTTP API, generated from the handlers' own route
//! definitions.
//!
//! Each handler crate declares its routes once, with `utoipa_axum::routes!` over
//! `#[utoipa::path]`-annotated functions, in `routes() -> OpenApiRouter<AppState>`; its
//! `router(state)` is built from that same value, so a served route is always a documented one.
//! [`document`] then adds what the shared layers do to every route: the security requirement of
//! its scope, the 401/403 of authentication, the 503 of the readiness gate, the refusals of the
//! shared extractors and of the write path (see [`add_common_refusals`]), and the Meilisearch
//! error body on every error response. A handler documents only what is its own; a status it
//! documents keeps its description.

use axum::http::Method;
use miroir_core::{Code, ErrorType};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, PathItem, Ref, RefOr, Response, Schema,
};

use crate::auth::{AuthScope, scope_of};

/// The name of the error body schema under `components.schemas`.
pub const ERROR_SCHEMA: &str = "MeilisearchError";

/// Security scheme names used in the document.
const MASTER_KEY: &str = "masterKey";
const ADMIN_BEARER: &str = "adminKeyBearer";
const ADMIN_HEADER: &str = "adminKeyHeader";
const ADMIN_SESSION: &str = "adminSessionCookie";
const CSRF_TOKEN: &str = "csrfToken";

/// The complete document for the routes in `paths` (the merged `OpenApi` of every handler's
/// `routes()`): title, version, security schemes, the error schema, and per operation the
/// shared layers' security and error responses. Deterministic for the same routes.
pub fn document(paths: OpenApi) -> OpenApi {
    let mut document = paths;
    document.info = InfoBuilder::new()
        .title("Miroir")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A fleet of Meilisearch nodes as one Meilisearch: the Meilisearch API for clients \
             (master key) and `/_miroir/*` for operators (admin key, or an admin session \
             cookie from `POST /_miroir/admin/login` plus `X-CSRF-Token` on requests that \
             change state). Every error has Meilisearch's shape.",
        ))
        .build();
    let components = document.components.take().unwrap_or_default();
    let mut components = ComponentsBuilder::from(components)
        .schema(ERROR_SCHEMA, error_schema())
        .build();
    components.add_security_scheme(
        MASTER_KEY,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        ADMIN_BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        ADMIN_HEADER,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Admin-Key"))),
    );
    components.add_security_scheme(
        ADMIN_SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::auth::ADMIN_SESSION_COOKIE,
            "The admin session cookie set by `POST /_miroir/admin/login`.",
        ))),
    );
    components.add_security_scheme(
        CSRF_TOKEN,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-CSRF-Token",
            "The `csrfToken` of the login, with the session cookie on requests that change state.",
        ))),
    );
    document.components = Some(components);
    for (path, item) in &mut document.paths.paths {
        for (method, operation) in operations(item) {
            add_shared_behaviour(&method, path, operation);
        }
    }
    document
}

/// Every operation of a path item, with its method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::PATCH, &mut item.patch),
        (Method::HEAD, &mut item.head),
        (Method::OPTIONS, &mut item.options),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|operation| (method, operation)))
}

/// Security, the auth and readiness responses, and the error body, for one operation at `path`.
fn add_shared_behaviour(method: &Method, path: &str, operation: &mut Operation) {
    let scope = scope_of(method, path);
    let responses = &mut operation.responses.responses;
    match scope {
        AuthScope::Open => {}
        AuthScope::Client => {
            operation.security = Some(vec![SecurityRequirement::new(
                MASTER_KEY,
                Vec::<String>::new(),
            )]);
            responses.entry("401".into()).or_insert_with(|| {
                error_response("The `Authorization: Bearer` header is missing (`missing_authorization_header`).")
            });
            responses.entry("403".into()).or_insert_with(|| {
                error_response("The key is not the master key (`invalid_api_key`).")
            });
        }
        AuthScope::Admin => {
            let no_scopes = Vec::<String>::new;
            let mut session = SecurityRequirement::new(ADMIN_SESSION, no_scopes());
            if ![Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
                session = session.add(CSRF_TOKEN, no_scopes());
            }
            operation.security = Some(vec![
                SecurityRequirement::new(ADMIN_BEARER, no_scopes()),
                SecurityRequirement::new(ADMIN_HEADER, no_scopes()),
                session,
            ]);
            responses.entry("401".into()).or_insert_with(|| {
                error_response(
                    "The admin key is missing or wrong, or the session cookie is unknown, \
                     expired or logged out (`miroir_invalid_auth`).",
                )
            });
            responses.entry("403".into()).or_insert_with(|| {
                error_response(
                    "A cookie-authenticated request from another `Origin` \
                     (`miroir_origin_not_allowed`) or, changing state, without the session's \
                     `X-CSRF-Token` (`miroir_csrf_mismatch`).",
                )
            });
        }
    }
    add_common_refusals(scope, path, operation);
    let responses = &mut operation.responses.responses;
    if !crate::layers::bypasses_gate(method, path) {
        responses.entry("503".into()).or_insert_with(|| {
            let mut response = error_response(
                "The task store is unavailable (`miroir_store_unavailable`) or not at this \
                 binary's schema version (`miroir_schema_mismatch`); retry after `Retry-After` \
                 seconds.",
            );
            if let RefOr::T(response) = &mut response {
                response.headers.insert(
                    "Retry-After".into(),
                    RefOr::T(
                        HeaderBuilder::new()
                            .schema(Some(Object::with_type(Type::Integer)))
                            .description(Some("Seconds to wait before retrying."))
                            .build(),
                    ),
                );
            }
            response
        });
    }
    for (status, response) in responses.iter_mut() {
        if !status.starts_with('2') {
            if let RefOr::T(response) = response {
                if response.content.is_empty() {
                    response
                        .content
                        .insert("application/json".into(), error_content());
                }
            }
        }
    }
}

/// The refusals every operation of a given shape can answer, whatever its handler, added to the
/// operations that do not document the status themselves:
///
/// - a request body: 400 (the shared `JsonBody`/`Object` extractors: not JSON, wrong shape),
///   413 (the body limit layer) and 415 (the content type);
/// - a path or query parameter: 400 (a value the handler or a node refuses);
/// - a client route naming an index (`{uid}`): 404, since the nodes' own Meilisearch errors
///   (`index_not_found`, `document_not_found`, …) are relayed unchanged, and 400 for theirs
///   (`invalid_index_uid`, `invalid_search_filter`, …);
/// - a client write (a 202 task, through `miroir_http::write`): 409 for a reused
///   `Idempotency-Key` or a multi-target alias.
fn add_common_refusals(scope: AuthScope, path: &str, operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let has_parameters = operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter)
            if matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query))
    });
    let client = scope == AuthScope::Client;
    let names_index = client && path.starts_with("/indexes/{uid}");
    let client_write = client && operation.responses.responses.contains_key("202");
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.into())
            .or_insert_with(|| error_response(description));
    };
    if has_body {
        add(
            "400",
            "The body is not JSON (`malformed_payload`) or not of the expected shape \
             (`bad_request`, or a more specific Meilisearch code).",
        );
        add(
            "413",
            if crate::layers::is_operator_path(path) {
                "The body is over `admin.max_body_bytes` (`payload_too_large`)."
            } else {
                "The body is over `server.max_body_bytes` (`payload_too_large`)."
            },
        );
        add(
            "415",
            "The body's content type is missing or not one the route reads \
             (`missing_content_type`, `invalid_content_type`).",
        );
    }
    if names_index {
        add(
            "400",
            "A value Miroir or the nodes refuse, the nodes' errors relayed unchanged \
             (`invalid_index_uid`, `invalid_document_id`, `invalid_search_filter`, …).",
        );
        add(
            "404",
            "What the path names does not exist: the index or the document (`index_not_found`, \
             `document_not_found`, relayed from the nodes), or the setting (`not_found`).",
        );
    }
    if has_parameters {
        add(
            "400",
            "A parameter is not valid (`bad_request`, or a more specific Meilisearch code).",
        );
    }
    if client_write {
        add(
            "409",
            "The `Idempotency-Key` was used for another request \
             (`miroir_idempotency_key_reused`), or the index is a multi-target alias \
             (`miroir_multi_alias_not_writable`).",
        );
    }
}

fn error_content() -> RefOr<utoipa::openapi::Content> {
    RefOr::T(
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ERROR_SCHEMA)))
            .build(),
    )
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", {
                let RefOr::T(content) = error_content() else {
                    unreachable!("error_content is inline")
                };
                content
            })
            .build(),
    )
}

/// `{message, code, type, link}`. `type` is one of Meilisearch's four; `code` is open: a node's
/// Meilisearch error is relayed with its own code, and Meilisearch has many more codes (and adds
/// some in new versions) than Miroir answers with itself, so the schema names Miroir's own codes
/// in its description instead of closing the set.
fn error_schema() -> Schema {
    let string = |values: Option<Vec<&'static str>>| {
        let builder = ObjectBuilder::new().schema_type(SchemaType::new(Type::String));
        match values {
            Some(values) => builder.enum_values(Some(values)).build(),
            None => builder.build(),
        }
    };
    let types = ErrorType::ALL.iter().map(|kind| kind.as_str()).collect();
    let own_codes: Vec<String> = Code::ALL
        .iter()
        .map(|code| format!("`{}`", code.name()))
        .collect();
    let code = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some(CODE_PATTERN))
        .description(Some(format!(
            "A Meilisearch error code in snake case. Errors of the nodes are relayed with their \
             own code (any Meilisearch code, e.g. `invalid_search_filter`); Miroir's own answers \
             use one of: {}.",
            own_codes.join(", ")
        )))
        .build();
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .description(Some(
                "Meilisearch's error shape; `link` is https://docs.meilisearch.com/errors#<code>.",
            ))
            .property("message", string(None))
            .property("code", code)
            .property("type", string(Some(types)))
            .property("link", string(None))
            .required("message")
            .required("code")
            .required("type")
            .required("link")
            .build(),
    )
}

/// The shape of every error code, Meilisearch's and Miroir's.
const CODE_PATTERN: &str = "^[a-z][a-z0-9_]*$";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{PathItem, PathsBuilder};

    use super::*;

    /// The generated document of one operation `method path` with what `build` gives it.
    fn one(method: Method, path: &str, build: OperationBuilder) -> Value {
        let kind = match method {
            Method::GET => utoipa::openapi::HttpMethod::Get,
            Method::POST => utoipa::openapi::HttpMethod::Post,
            Method::PATCH => utoipa::openapi::HttpMethod::Patch,
            _ => utoipa::openapi::HttpMethod::Delete,
        };
        let paths = PathsBuilder::new()
            .path(path, PathItem::new(kind, build.build()))
            .build();
        let document = document(utoipa::openapi::OpenApiBuilder::new().paths(paths).build());
        let value = serde_json::to_value(document).unwrap();
        value["paths"][path][method.as_str().to_lowercase()]["responses"].clone()
    }

    fn statuses(responses: &Value) -> Vec<&str> {
        responses
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn the_error_code_is_open_and_names_every_own_code() {
        let Schema::Object(schema) = error_schema() else {
            unreachable!("an object schema")
        };
        let schema = serde_json::to_value(&schema).unwrap();
        let code = &schema["properties"]["code"];
        assert!(code.get("enum").is_none(), "{code}");
        assert_eq!(code["pattern"], CODE_PATTERN);
        let description = code["description"].as_str().unwrap();
        for own in Code::ALL {
            let name = own.name();
            assert!(description.contains(&format!("`{name}`")), "{name}");
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(
            schema["properties"]["type"]["enum"],
            serde_json::json!(["invalid_request", "internal", "auth", "system"])
        );
    }

    #[test]
    fn common_refusals_follow_the_shape_of_the_operation() {
        let path_uid = || {
            ParameterBuilder::new()
                .name("uid")
                .parameter_in(ParameterIn::Path)
                .build()
        };
        // A client write naming an index, with a body.
        let write = one(
            Method::PATCH,
            "/indexes/{uid}/settings",
            OperationBuilder::new()
                .parameter(path_uid())
                .request_body(Some(RequestBodyBuilder::new().build()))
                .response("202", Response::new("A task.")),
        );
        assert_eq!(
            statuses(&write),
            [
                "202", "400", "401", "403", "404", "409", "413", "415", "503"
            ]
        );
        // A client read naming an index, without a body.
        let read = one(
            Method::GET,
            "/indexes/{uid}/stats",
            OperationBuilder::new()
                .parameter(path_uid())
                .response("200", Response::new("Stats.")),
        );
        assert_eq!(statuses(&read), ["200", "400", "401", "403", "404", "503"]);
        // An operator route without parameters or body: only the shared layers.
        let leases = one(
            Method::GET,
            "/_miroir/leases",
            OperationBuilder::new().response("200", Response::new("Leases.")),
        );
        assert_eq!(statuses(&leases), ["200", "401", "403", "503"]);
        // A handler's own description of a status is kept.
        let own = one(
            Method::POST,
            "/_miroir/jobs",
            OperationBuilder::new()
                .request_body(Some(RequestBodyBuilder::new().build()))
                .response("201", Response::new("Queued."))
                .response("400", Response::new("A bad job type.")),
        );
        assert_eq!(own["400"]["description"], "A bad job type.");
        assert_eq!(
            own["415"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/MeilisearchError"
        );
    }
}
