//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 document of every route in [`ROUTES`],
//! built from that table so that no route can be left out, with request examples.

use serde_json::{Value, json};

use super::security::{Access, ROUTES};

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(schema: &str, example: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": r(schema), "example": example } } })
}

fn ok(status: &str, schema: Option<&str>, description: &str) -> (String, Value) {
    let mut v = json!({ "description": description });
    if let Some(s) = schema {
        v["content"] = json!({ "application/json": { "schema": r(s) } });
    }
    (status.to_string(), v)
}

fn err(status: &str, description: &str) -> (String, Value) {
    ok(status, Some("Error"), description)
}

/// Summary, request body, query parameters and success responses of one route.
type Described = (
    &'static str,
    Option<Value>,
    Vec<Value>,
    Vec<(String, Value)>,
);

fn describe(method: &str, path: &str) -> Described {
    let id_param =
        json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let int_id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } });
    let q = |name: &str, ty: &str, d: &str| json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty }, "description": d });
    let device_example = json!({
        "name": "core-1", "address": "192.0.2.1", "type": "router", "vendor": "cisco", "model": "c3560",
        "location": "dc-1", "tags": ["core"],
        "snmp": { "version": "2c", "port": 161, "community": "s3cret-community" },
        "collectors": { "icmp": { "enabled": true, "interval": "30s" } }, "active": true
    });
    match (method, path) {
        ("GET", "/health") => ("Liveness", None, vec![], vec![ok("200", None, "alive")]),
        ("GET", "/ready") => (
            "Readiness",
            None,
            vec![],
            vec![
                ok("200", None, "ready"),
                ok("503", None, "starting or stopping"),
            ],
        ),
        ("GET", "/metrics") => (
            "Prometheus metrics (text format)",
            None,
            vec![],
            vec![ok("200", None, "metrics"), err("404", "disabled")],
        ),
        ("GET", "/api/v1/openapi.json") => (
            "This document",
            None,
            vec![],
            vec![ok("200", None, "OpenAPI 3.0 document")],
        ),
        ("POST", "/api/v1/auth/login") => (
            "Log in: an access token and a refresh token",
            Some(body(
                "LoginRequest",
                json!({"username": "admin", "password": "a long password"}),
            )),
            vec![],
            vec![
                ok("200", Some("TokenResponse"), "logged in"),
                err("429", "rate limited or account locked"),
            ],
        ),
        ("POST", "/api/v1/auth/refresh") => (
            "Exchange a refresh token (single use) for new tokens",
            Some(body(
                "RefreshRequest",
                json!({"refresh_token": "sotpr_..."}),
            )),
            vec![],
            vec![ok("200", Some("TokenResponse"), "new tokens")],
        ),
        ("POST", "/api/v1/auth/logout") => (
            "End the session of this access token",
            None,
            vec![],
            vec![ok("204", None, "logged out")],
        ),
        ("POST", "/api/v1/auth/password") => (
            "Change one's own password",
            Some(body(
                "PasswordRequest",
                json!({"current_password": "old password", "new_password": "new long password"}),
            )),
            vec![],
            vec![ok("204", None, "changed")],
        ),
        ("GET", "/api/v1/auth/me") => (
            "Who am I",
            None,
            vec![],
            vec![ok("200", Some("Me"), "the caller")],
        ),
        ("POST", "/api/v1/query") => (
            "Run read-only SQL",
            Some(body(
                "QueryRequest",
                json!({"sql": "SELECT name, address FROM devices LIMIT 10"}),
            )),
            vec![q("format", "string", "json (default) or csv")],
            vec![ok("200", Some("QueryResult"), "rows")],
        ),
        ("GET", "/api/v1/devices") => (
            "List devices",
            None,
            vec![
                q("limit", "integer", "1 to 1000, default 50"),
                q("offset", "integer", "rows to skip"),
                q("active", "boolean", "only active or inactive"),
                q("type", "string", "exact type"),
                q("vendor", "string", "exact vendor"),
                q("location", "string", "exact location"),
                q("tag", "string", "devices with this tag"),
                q("q", "string", "search in name and address"),
                q("sort", "string", "field, -field for descending"),
            ],
            vec![ok("200", Some("DevicePage"), "one page")],
        ),
        ("POST", "/api/v1/devices") => (
            "Create a device",
            Some(body("DeviceInput", device_example)),
            vec![],
            vec![
                ok("201", Some("Device"), "created"),
                err("409", "address already used"),
            ],
        ),
        ("GET", "/api/v1/devices/{id}") => (
            "Read a device",
            None,
            vec![id_param],
            vec![ok("200", Some("Device"), "the device")],
        ),
        ("PUT", "/api/v1/devices/{id}") => (
            "Replace a device (secrets left out are kept)",
            Some(body("DeviceInput", device_example)),
            vec![id_param],
            vec![
                ok("200", Some("Device"), "replaced"),
                err("409", "address used, or managed by the configuration file"),
            ],
        ),
        ("PATCH", "/api/v1/devices/{id}") => (
            "Change some fields (JSON merge patch)",
            Some(
                json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}, "example": {"location": "dc-2"}}}}),
            ),
            vec![id_param],
            vec![
                ok("200", Some("Device"), "changed"),
                err("409", "managed by the configuration file"),
            ],
        ),
        ("DELETE", "/api/v1/devices/{id}") => (
            "Delete a device (soft)",
            None,
            vec![id_param],
            vec![
                ok("204", None, "deleted"),
                err("409", "managed by the configuration file"),
            ],
        ),
        ("GET", "/api/v1/users") => (
            "List users",
            None,
            vec![],
            vec![ok("200", Some("UserList"), "users")],
        ),
        ("POST", "/api/v1/users") => (
            "Create a user",
            Some(body(
                "NewUser",
                json!({"username": "alice", "password": "initial password", "role": "operator"}),
            )),
            vec![],
            vec![ok("201", Some("User"), "created"), err("409", "name taken")],
        ),
        ("PATCH", "/api/v1/users/{id}") => (
            "Disable, force a password change, change role",
            Some(body("UserPatch", json!({"disabled": true}))),
            vec![int_id],
            vec![ok("200", Some("User"), "changed")],
        ),
        ("POST", "/api/v1/users/{id}/password") => (
            "Reset a password (the user must change it)",
            Some(body(
                "PasswordReset",
                json!({"password": "temporary password"}),
            )),
            vec![int_id],
            vec![ok("204", None, "reset")],
        ),
        ("GET", "/api/v1/tokens") => (
            "List API tokens",
            None,
            vec![],
            vec![ok("200", Some("TokenList"), "tokens (never their values)")],
        ),
        ("POST", "/api/v1/tokens") => (
            "Create an API token (shown once)",
            Some(body(
                "NewToken",
                json!({"name": "grafana", "role": "readonly", "expires_in": 31536000}),
            )),
            vec![],
            vec![ok("201", Some("NewTokenResponse"), "created")],
        ),
        ("DELETE", "/api/v1/tokens/{id}") => (
            "Revoke an API token",
            None,
            vec![int_id],
            vec![ok("200", Some("ApiToken"), "revoked")],
        ),
        ("GET", "/api/v1/audit") => (
            "Read the audit log (newest first)",
            None,
            vec![
                q("actor", "string", "exact actor"),
                q("action", "string", "exact action"),
                q("resource", "string", "resource prefix"),
                q("outcome", "string", "success, failure, denied, locked"),
                q("limit", "integer", "1 to 1000, default 100"),
                q("offset", "integer", "rows to skip"),
            ],
            vec![ok("200", Some("AuditPage"), "entries")],
        ),
        ("GET", "/api/v1/logs") => (
            "Search logs (newest first); CSV with format=csv",
            None,
            vec![
                q("device", "string", "device id"),
                q(
                    "severity",
                    "integer",
                    "0 to 7: this severity or more severe",
                ),
                q("since", "string", "RFC 3339 time"),
                q("until", "string", "RFC 3339 time"),
                q("contains", "string", "text the message contains"),
                q("regex", "string", "regular expression on the message"),
                q("limit", "integer", "rows per page"),
                q("offset", "integer", "rows to skip"),
                q("format", "string", "json or csv"),
            ],
            vec![
                ok("200", None, "log rows"),
                err("400", "invalid parameters"),
                err("422", "a query limit was exceeded"),
            ],
        ),
        ("GET", "/api/v1/logs/stream") => (
            "Live tail of logs as Server-Sent Events (same filters as /api/v1/logs)",
            None,
            vec![
                q("device", "string", "device id"),
                q(
                    "severity",
                    "integer",
                    "0 to 7: this severity or more severe",
                ),
                q("contains", "string", "text the message contains"),
                q("regex", "string", "regular expression on the message"),
            ],
            vec![
                ok("200", None, "text/event-stream"),
                err("400", "invalid parameters"),
            ],
        ),
        _ => ("", None, vec![], vec![]),
    }
}

/// The whole document.
pub(crate) fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, access) in ROUTES {
        let (summary, request, params, responses) = describe(method, path);
        let mut resp: serde_json::Map<String, Value> = responses.into_iter().collect();
        let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": r("Error")}}});
        if !params.is_empty() {
            resp.insert("422".into(), error("invalid parameter values, each listed"));
        }
        if path.starts_with("/api/v1/auth/") {
            resp.insert("401".into(), error("wrong credentials or token"));
        }
        resp.insert("400".into(), json!({"description": "invalid JSON or parameters", "content": {"application/json": {"schema": r("Error")}}}));
        if request.is_some() {
            resp.insert("413".into(), json!({"description": "body too large", "content": {"application/json": {"schema": r("Error")}}}));
            resp.insert("415".into(), json!({"description": "not JSON", "content": {"application/json": {"schema": r("Error")}}}));
            resp.insert("422".into(), json!({"description": "invalid fields, each listed", "content": {"application/json": {"schema": r("Error")}}}));
        }
        let mut op = json!({ "summary": summary, "operationId": format!("{}_{}", method.to_lowercase(), path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")), "parameters": params });
        if let Some(b) = request {
            op["requestBody"] = b;
        }
        if matches!(access, Access::Public) {
            op["security"] = json!([]);
        } else {
            resp.insert("401".into(), json!({"description": "no or bad token", "content": {"application/json": {"schema": r("Error")}}}));
            resp.insert("403".into(), json!({"description": "role not allowed", "content": {"application/json": {"schema": r("Error")}}}));
            resp.insert("429".into(), json!({"description": "rate limited", "content": {"application/json": {"schema": r("Error")}}}));
        }
        if path.contains("{id}") {
            resp.insert("404".into(), json!({"description": "no such object", "content": {"application/json": {"schema": r("Error")}}}));
        }
        op["responses"] = Value::Object(resp);
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "SOTP API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Devices, users, tokens, audit log and SQL. Authenticate with `Authorization: Bearer <token>` (an access token from /api/v1/auth/login or an API token)." },
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }, "schemas": schemas() },
    })
}

fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let ns = || json!({ "type": "string", "nullable": true });
    let snmp_in = json!({ "type": "object", "additionalProperties": false, "required": ["version"], "properties": {
        "version": {"type": "string", "enum": ["1", "2c", "3"]}, "port": {"type": "integer", "nullable": true},
        "community": ns(), "user": ns(), "auth_protocol": ns(), "auth_key": ns(), "priv_protocol": ns(), "priv_key": ns(),
        "context": ns(), "interval": ns() } });
    let ssh_in = json!({ "type": "object", "additionalProperties": false, "required": ["user"], "properties": {
        "port": {"type": "integer", "nullable": true}, "user": s("string"), "key": ns(), "password": ns() } });
    let collectors = json!({ "type": "object", "additionalProperties": { "type": "object", "additionalProperties": false,
        "properties": { "enabled": s("boolean"), "interval": ns() } } });
    let user = json!({ "type": "object", "required": ["id", "username", "role", "disabled", "must_change_password", "created_at"], "properties": {
        "id": s("integer"), "username": s("string"), "role": r("Role"), "disabled": s("boolean"),
        "must_change_password": s("boolean"), "created_at": s("string") } });
    let token = json!({ "type": "object", "required": ["id", "name", "role", "created_by", "created_at"], "properties": {
        "id": s("integer"), "name": s("string"), "role": r("Role"), "created_by": s("string"), "created_at": s("string"),
        "expires_at": ns(), "revoked_at": ns() } });
    let mut new_token = token.clone();
    new_token["properties"]["token"] = s("string");
    json!({
        "Role": { "type": "string", "enum": ["admin", "operator", "auditor", "readonly"] },
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
            "code": s("string"), "message": s("string"),
            "fields": { "type": "array", "items": { "type": "object", "properties": { "field": s("string"), "reason": s("string") } } } } } } },
        "LoginRequest": { "type": "object", "additionalProperties": false, "required": ["username", "password"], "properties": { "username": s("string"), "password": s("string") } },
        "RefreshRequest": { "type": "object", "additionalProperties": false, "required": ["refresh_token"], "properties": { "refresh_token": s("string") } },
        "PasswordRequest": { "type": "object", "additionalProperties": false, "required": ["current_password", "new_password"], "properties": { "current_password": s("string"), "new_password": s("string") } },
        "TokenResponse": { "type": "object", "required": ["access_token", "refresh_token", "expires_in", "token_type"], "properties": {
            "access_token": s("string"), "refresh_token": s("string"), "expires_in": s("integer"), "token_type": s("string") } },
        "Me": { "type": "object", "properties": { "actor": s("string"), "role": r("Role"), "user_id": {"type": "integer", "nullable": true} } },
        "QueryRequest": { "type": "object", "additionalProperties": false, "required": ["sql"], "properties": { "sql": s("string") } },
        "QueryResult": { "type": "object", "required": ["columns", "rows"], "properties": {
            "columns": { "type": "array", "items": { "type": "object", "properties": { "name": s("string"), "type": s("string") } } },
            "rows": { "type": "array", "items": { "type": "array", "items": {} } } } },
        "DeviceInput": { "type": "object", "additionalProperties": false, "required": ["name", "address"], "properties": {
            "name": s("string"), "address": s("string"), "type": s("string"), "vendor": s("string"), "model": s("string"),
            "location": s("string"), "tags": { "type": "array", "items": s("string") },
            "snmp": snmp_in, "ssh": ssh_in, "collectors": collectors, "active": s("boolean") } },
        "Device": { "type": "object", "required": ["id", "name", "address", "type", "vendor", "model", "location", "tags", "collectors", "active", "managed_by", "created_by", "created_at", "updated_at"], "properties": {
            "id": s("string"), "name": s("string"), "address": s("string"), "type": s("string"), "vendor": s("string"),
            "model": s("string"), "location": s("string"), "tags": { "type": "array", "items": s("string") },
            "snmp": { "type": "object", "nullable": true, "properties": { "version": s("string"), "port": s("integer"), "user": ns(), "auth_protocol": ns(), "priv_protocol": ns(),
                "context": ns(), "interval": ns(), "community_set": s("boolean"), "auth_key_set": s("boolean"), "priv_key_set": s("boolean") } },
            "ssh": { "type": "object", "nullable": true, "properties": { "port": s("integer"), "user": s("string"), "key_set": s("boolean"), "password_set": s("boolean") } },
            "collectors": collectors, "active": s("boolean"), "managed_by": { "type": "string", "enum": ["api", "config"] },
            "created_by": s("string"), "created_at": s("string"), "updated_at": s("string"), "deleted_at": ns() } },
        "DevicePage": { "type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
            "items": { "type": "array", "items": r("Device") }, "total": s("integer"), "limit": s("integer"), "offset": s("integer") } },
        "User": user,
        "UserList": { "type": "object", "properties": { "items": { "type": "array", "items": r("User") } } },
        "NewUser": { "type": "object", "additionalProperties": false, "required": ["username", "password", "role"], "properties": {
            "username": s("string"), "password": s("string"), "role": r("Role"), "must_change_password": {"type": "boolean", "nullable": true} } },
        "UserPatch": { "type": "object", "additionalProperties": false, "properties": {
            "disabled": {"type": "boolean", "nullable": true}, "must_change_password": {"type": "boolean", "nullable": true}, "role": r("Role") } },
        "PasswordReset": { "type": "object", "additionalProperties": false, "required": ["password"], "properties": { "password": s("string") } },
        "ApiToken": token,
        "TokenList": { "type": "object", "properties": { "items": { "type": "array", "items": r("ApiToken") } } },
        "NewToken": { "type": "object", "additionalProperties": false, "required": ["name", "role"], "properties": {
            "name": s("string"), "role": r("Role"), "expires_in": {"type": "integer", "nullable": true} } },
        "NewTokenResponse": new_token,
        "AuditPage": { "type": "object", "required": ["items", "total"], "properties": { "total": s("integer"), "items": { "type": "array", "items": { "type": "object", "properties": {
            "id": s("integer"), "time": s("string"), "actor": s("string"), "source": s("string"), "action": s("string"),
            "resource": s("string"), "before": { "nullable": true }, "after": { "nullable": true }, "outcome": s("string") } } } } },
    })
}

pub(crate) async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let doc = super::document();
        for (method, path, _) in super::ROUTES {
            let op = &doc["paths"][*path][method.to_lowercase()];
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} is not described in openapi.rs"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
}
