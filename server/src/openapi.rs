//! The parts of the OpenAPI document that belong to no single route: its title, the
//! `bearer` security scheme and the shared `Error` schema. Paths and the other schemas
//! come from the handlers and their types (`routes::all`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SOTP API",
        description = "Devices, users, tokens, audit log, logs and SQL. Authenticate with `Authorization: Bearer <token>` (an access token from /api/v1/auth/login or an API token). Each operation's `security` names the permission it needs."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Bearer)
)]
struct Base;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document before any route is added.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The served document: `doc` with the error answers every operation can give added
/// where the handler's own list leaves them out (400 bad parameters, 401 and 403 on
/// routes that need a token, 429 rate limiting, 404 on routes with an id, 413, 415 and
/// 422 on routes with a body), so that a client and a fuzzer know every status.
pub(crate) fn served(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    let error = |description: &str| {
        serde_json::json!({ "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
    };
    let Some(paths) = v.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return v;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let has_body = op.get("requestBody").is_some();
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description));
            };
            add("400", "invalid JSON or parameters");
            if !public {
                add("401", "no or bad token");
                add("403", "role not allowed");
            }
            add("429", "rate limited");
            if path.contains('{') {
                add("404", "no such object");
            }
            if has_body {
                add("413", "body too large");
                add("415", "not JSON");
            }
            if has_body || has_query {
                add("422", "invalid fields or parameters, each listed");
            }
            if path.starts_with("/api/v1/auth/") {
                add("401", "wrong credentials or token");
            }
        }
    }
    v
}
