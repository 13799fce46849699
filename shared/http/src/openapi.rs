//! The OpenAPI document of Miroir's HTTP API, generated from the handlers' own route
//! definitions.
//!
//! Each handler crate declares its routes once, with `utoipa_axum::routes!` over
//! `#[utoipa::path]`-annotated functions, in `routes() -> OpenApiRouter<AppState>`; its
//! `router(state)` is built from that same value, so a served route is always a documented one.
//! [`document`] then adds what the shared layers do to every route: the security requirement of
//! its scope, the 401/403 of authentication, the 503 of the readiness gate, and the Meilisearch
//! error body on every error response.

use axum::http::Method;
use miroir_core::{Code, ErrorType};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
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

/// `{message, code, type, link}`, with every code and type Miroir can answer.
fn error_schema() -> Schema {
    let string = |values: Option<Vec<&'static str>>| {
        let builder = ObjectBuilder::new().schema_type(SchemaType::new(Type::String));
        match values {
            Some(values) => builder.enum_values(Some(values)).build(),
            None => builder.build(),
        }
    };
    let types = ErrorType::ALL.iter().map(|kind| kind.as_str()).collect();
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .description(Some(
                "Meilisearch's error shape; `link` is https://docs.meilisearch.com/errors#<code>.",
            ))
            .property("message", string(None))
            .property(
                "code",
                string(Some(Code::ALL.iter().map(|code| code.name()).collect())),
            )
            .property("type", string(Some(types)))
            .property("link", string(None))
            .required("message")
            .required("code")
            .required("type")
            .required("link")
            .build(),
    )
}
