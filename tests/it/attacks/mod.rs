//! Attacks from the security review (issue 13), each tried on a running `sotp run` the way
//! an operator or readonly login would try it. Every test here failed on the code before
//! its fix.

mod secret_references;
mod sessions;

use serde_json::{Value, json};

use crate::common::Server;

/// Creates a user with `role` (no forced password change) and returns its id.
pub(crate) fn create_user(server: &Server, name: &str, password: &str, role: &str) -> i64 {
    let (status, v) = server.api(
        "POST",
        "/api/v1/users",
        Some(
            &json!({"username": name, "password": password, "role": role,
                     "must_change_password": false}),
        ),
    );
    assert_eq!(status, 201, "create user {name}: {v}");
    v["id"].as_i64().unwrap()
}

/// The field names of a 422 validation answer.
pub(crate) fn invalid_fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
