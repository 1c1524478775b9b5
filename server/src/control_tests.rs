//! The role matrix (every route times every role and no token), token attacks, and the
//! SQL table rights, through `Router::oneshot` on a real SQLite inventory.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use object_store::memory::InMemory;
use serde_json::{Value, json};
use sotp_inventory::{MasterKey, Role, Store};
use sotp_sinks::ColdStore;
use tower::ServiceExt;

use sotp_query::{InventoryKind, InventoryTable, QueryConfig, QueryEngine};

use super::*;

/// A control plane on a fresh SQLite file (kept until the process ends).
pub(super) async fn test_control() -> Control {
    let dir = tempfile::tempdir().unwrap().keep();
    let store = Store::open(
        &format!("sqlite://{}/inv.db", dir.display()),
        MasterKey::generate(),
    )
    .await
    .unwrap();
    // Every test request comes from the same (unknown) address.
    let config = AuthConfig {
        logins_per_minute: 100_000,
        ..AuthConfig::default()
    };
    Control::new(store, config)
}

pub(super) async fn api() -> ApiState {
    let cold = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let engine = QueryEngine::new(QueryConfig::default(), &cold, &[]).unwrap();
    let control = test_control().await;
    for (n, k) in [
        ("devices", InventoryKind::Devices),
        ("audit", InventoryKind::Audit),
    ] {
        engine
            .register(n, Arc::new(InventoryTable::new(control.store.clone(), k)))
            .unwrap();
    }
    ApiState::new(engine, None, Arc::new(AtomicBool::new(true)), control)
}

async fn send(
    st: &ApiState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    // A live tail (text/event-stream) never ends: its status is the answer.
    let streaming = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        return (status, Value::Null);
    }
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// An access token of a new user with `role`.
pub(super) async fn login_as(st: &ApiState, role: Role) -> String {
    let name = format!("u-{role}-{}", sotp_inventory::random_token(4));
    st.control
        .store
        .create_user(&name, "password-123", role, false)
        .await
        .unwrap();
    let (s, v) = send(
        st,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": name, "password": "password-123"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

/// Who may call each route: A(dmin) O(perator) U (aUditor) R(eadonly), `*` = public.
/// Written independently of the handlers' `#[utoipa::path]` rules; the test checks both
/// agree on the route set.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/health", "*"),
    ("GET", "/ready", "*"),
    ("GET", "/metrics", "AOUR"),
    ("GET", "/api/v1/openapi.json", "*"),
    ("POST", "/api/v1/auth/login", "*"),
    ("POST", "/api/v1/auth/refresh", "*"),
    ("POST", "/api/v1/auth/logout", "AOUR"),
    ("POST", "/api/v1/auth/password", "AOUR"),
    ("GET", "/api/v1/auth/me", "AOUR"),
    ("POST", "/api/v1/query", "AOUR"),
    ("POST", "/api/v1/export", "AOUR"),
    ("POST", "/api/v1/reports/generate", "AOUR"),
    ("GET", "/api/v1/reports", "AOUR"),
    ("GET", "/api/v1/reports/{id}", "AOUR"),
    ("GET", "/api/v1/reports/{id}/download", "AOUR"),
    ("GET", "/api/v1/logs", "AOUR"),
    ("GET", "/api/v1/logs/stream", "AOUR"),
    ("GET", "/api/v1/devices", "AOUR"),
    ("POST", "/api/v1/devices", "AO"),
    ("GET", "/api/v1/devices/{id}", "AOUR"),
    ("GET", "/api/v1/devices/{id}/metrics", "AOUR"),
    ("POST", "/api/v1/devices/{id}/execute", "AO"),
    ("GET", "/api/v1/devices/{id}/configs", "AO"),
    ("GET", "/api/v1/devices/{id}/configs/diff", "AO"),
    ("GET", "/api/v1/devices/{id}/configs/{hash}", "AO"),
    ("PUT", "/api/v1/devices/{id}", "AO"),
    ("PATCH", "/api/v1/devices/{id}", "AO"),
    ("DELETE", "/api/v1/devices/{id}", "AO"),
    ("GET", "/api/v1/users", "A"),
    ("POST", "/api/v1/users", "A"),
    ("PATCH", "/api/v1/users/{id}", "A"),
    ("POST", "/api/v1/users/{id}/password", "A"),
    ("GET", "/api/v1/tokens", "A"),
    ("POST", "/api/v1/tokens", "A"),
    ("DELETE", "/api/v1/tokens/{id}", "A"),
    ("GET", "/api/v1/audit", "AU"),
    ("GET", "/api/v1/alerts", "AOUR"),
    ("GET", "/api/v1/alerts/{id}", "AOUR"),
    ("GET", "/api/v1/alerts/stream", "AOUR"),
    ("POST", "/api/v1/alerts/{id}/acknowledge", "AO"),
    ("POST", "/api/v1/alerts/{id}/resolve", "AO"),
    ("GET", "/api/v1/silences", "AOUR"),
    ("POST", "/api/v1/silences", "AO"),
    ("DELETE", "/api/v1/silences/{id}", "AO"),
    ("GET", "/api/v1/alert-rules", "AOUR"),
    ("POST", "/api/v1/alert-rules", "AO"),
    ("GET", "/api/v1/alert-rules/{id}", "AOUR"),
    ("PUT", "/api/v1/alert-rules/{id}", "AO"),
    ("DELETE", "/api/v1/alert-rules/{id}", "AO"),
    ("POST", "/api/v1/alert-rules/test", "AO"),
    ("GET", "/api/v1/receivers", "AOUR"),
];

#[tokio::test]
async fn every_route_times_every_role() {
    let entries = document().1.entries();
    let mut table: Vec<_> = entries
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    let mut expected: Vec<_> = EXPECTED.iter().map(|(m, p, _)| (*m, *p)).collect();
    table.sort();
    expected.sort();
    assert_eq!(
        table, expected,
        "the routes and the expected matrix list different routes"
    );

    let st = api().await;
    let mut tokens = vec![(None, 'N')];
    for (role, c) in [
        (Role::Admin, 'A'),
        (Role::Operator, 'O'),
        (Role::Auditor, 'U'),
        (Role::Readonly, 'R'),
    ] {
        tokens.push((Some(login_as(&st, role).await), c));
    }
    let mut failures = Vec::new();
    for (method, path, who) in EXPECTED {
        for (token, c) in &tokens {
            // Paths with ids point at something that does not exist: an allowed caller
            // gets past the permission check (404/422), a refused one does not.
            let uri = path.replace("{id}", "999999");
            let body = matches!(*method, "POST" | "PUT" | "PATCH").then(|| json!({}));
            // Logging out ends the session; use a fresh token for it.
            let fresh;
            let token = if *path == "/api/v1/auth/logout" && token.is_some() {
                let role = match c {
                    'A' => Role::Admin,
                    'O' => Role::Operator,
                    'U' => Role::Auditor,
                    _ => Role::Readonly,
                };
                fresh = login_as(&st, role).await;
                Some(fresh.as_str())
            } else {
                token.as_deref()
            };
            let (status, v) = send(&st, method, &uri, token, body).await;
            let allowed = *who == "*" || who.contains(*c);
            let ok = if *who == "*" {
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
            } else if token.is_none() {
                status == StatusCode::UNAUTHORIZED
            } else if allowed {
                status != StatusCode::UNAUTHORIZED
                    && status != StatusCode::FORBIDDEN
                    && status.as_u16() < 500
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !ok {
                failures.push(format!("{method} {path} as {c}: {status} {v}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    use base64::Engine;
    let st = api().await;
    let good = login_as(&st, Role::Admin).await;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let user = st
        .control
        .store
        .user_by_name(&good_user(&st).await)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| auth::Claims {
        sub: user.username.clone(),
        uid: user.id,
        sid: "x".into(),
        role: Role::Admin,
        iat: now,
        exp,
    };
    // Expired (beyond the 5 s leeway), signed with the right key.
    let (_, sid) = {
        let l = st
            .control
            .store
            .login(&user.username, "password-123", "192.0.2.1")
            .await
            .unwrap();
        (l.user, l.session.id)
    };
    let mut c = claims(now - 60);
    c.sid = sid.clone();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &c,
        &st.control.enc,
    )
    .unwrap();
    let mut c = claims(now + 600);
    c.sid = sid;
    let wrong_sig = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &c,
        &jsonwebtoken::EncodingKey::from_secret(b"not the key"),
    )
    .unwrap();
    let body = serde_json::to_value(&c).unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(body.clone())
    );
    let hs_as_none = format!(
        "{}.{}.",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(body)
    );
    for (name, t) in [
        ("expired", expired),
        ("wrong signature", wrong_sig),
        ("alg none", alg_none),
        ("no signature", hs_as_none),
        ("garbage", "abc".into()),
        ("unknown api token", "sotp_nope".into()),
    ] {
        let (s, v) = send(&st, "GET", "/api/v1/devices", Some(&t), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {v}");
    }
    let (s, _) = send(&st, "GET", "/api/v1/devices", Some(&good), None).await;
    assert_eq!(s, StatusCode::OK);

    // API tokens: work, then revoked, refused.
    let (s, t) = send(
        &st,
        "POST",
        "/api/v1/tokens",
        Some(&good),
        Some(json!({"name": "grafana", "role": "readonly", "expires_in": 3600})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let api_token = t["token"].as_str().unwrap().to_string();
    assert_eq!(
        send(&st, "GET", "/api/v1/devices", Some(&api_token), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/devices",
            Some(&api_token),
            Some(json!({"name": "x", "address": "10.0.0.1"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = send(
        &st,
        "DELETE",
        &format!("/api/v1/tokens/{}", t["id"]),
        Some(&good),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        send(&st, "GET", "/api/v1/devices", Some(&api_token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = send(&st, "GET", "/api/v1/tokens", Some(&good), None).await;
    assert!(
        !list.to_string().contains(&api_token),
        "tokens are shown once only"
    );
}

async fn good_user(st: &ApiState) -> String {
    st.control.store.users().await.unwrap()[0].username.clone()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family_and_logout_ends_the_session() {
    let st = api().await;
    st.control
        .store
        .create_user("carol", "password-123", Role::Operator, false)
        .await
        .unwrap();
    let login = json!({"username": "carol", "password": "password-123"});
    let (_, first) = send(&st, "POST", "/api/v1/auth/login", None, Some(login.clone())).await;
    let r1 = first["refresh_token"].clone();
    let (s, second) = send(
        &st,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], r1);
    let access = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        send(&st, "GET", "/api/v1/auth/me", Some(&access), None)
            .await
            .0,
        StatusCode::OK
    );
    // The old refresh token again: the family is revoked, the new tokens die too.
    let (s, v) = send(
        &st,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r1})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": second["refresh_token"]}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&st, "GET", "/api/v1/auth/me", Some(&access), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let (_, third) = send(&st, "POST", "/api/v1/auth/login", None, Some(login)).await;
    let access = third["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        send(&st, "POST", "/api/v1/auth/logout", Some(&access), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&st, "GET", "/api/v1/auth/me", Some(&access), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": third["refresh_token"]}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    let (_, audit) = send(
        &st,
        "GET",
        "/api/v1/audit?action=auth.refresh_reuse",
        Some(&login_as(&st, Role::Auditor).await),
        None,
    )
    .await;
    assert_eq!(audit["total"], 1, "{audit}");
}

#[tokio::test]
async fn sql_tables_follow_the_role() {
    let st = api().await;
    let ro = login_as(&st, Role::Readonly).await;
    let au = login_as(&st, Role::Auditor).await;
    let q = |sql: &str| Some(json!({ "sql": sql }));
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/query",
            Some(&ro),
            q("SELECT count(*) FROM devices")
        )
        .await
        .0,
        StatusCode::OK
    );
    for sql in [
        "SELECT * FROM audit",
        "SELECT d.id FROM devices d JOIN audit a ON a.actor = d.created_by",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM audit)",
        "WITH x AS (SELECT actor FROM audit) SELECT * FROM x",
    ] {
        let (s, v) = send(&st, "POST", "/api/v1/query", Some(&ro), q(sql)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{sql}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("audit"),
            "{v}"
        );
    }
    let (s, v) = send(
        &st,
        "POST",
        "/api/v1/query",
        Some(&au),
        q("SELECT action, outcome FROM audit WHERE action = 'auth.login'"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["rows"].as_array().unwrap().len() >= 2, "{v}");
}

#[tokio::test]
async fn devices_api_errors_and_config_managed() {
    let st = api().await;
    let op = login_as(&st, Role::Operator).await;
    let raw = |body: &str| {
        Request::builder()
            .method("POST")
            .uri("/api/v1/devices")
            .header("authorization", format!("Bearer {op}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let resp = router(st.clone()).oneshot(raw("{not json")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (s, v) = send(
        &st,
        "POST",
        "/api/v1/devices",
        Some(&op),
        Some(json!({"name": "", "address": "nope", "snmp": {"version": "9"}})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "address", "snmp.version"], "{v}");
    let (s, d) = send(&st, "POST", "/api/v1/devices", Some(&op), Some(json!({"name": "r1", "address": "10.0.0.1", "snmp": {"version": "2c", "community": "s3cr3t-community"}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(!d.to_string().contains("s3cr3t-community"));
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/devices",
            Some(&op),
            Some(json!({"name": "r2", "address": "10.0.0.1"}))
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let id = d["id"].as_str().unwrap();
    let (s, p) = send(
        &st,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(&op),
        Some(json!({"vendor": "cisco"})),
    )
    .await;
    assert_eq!((s, p["vendor"].as_str()), (StatusCode::OK, Some("cisco")));
    assert_eq!(
        p["snmp"]["community_set"], true,
        "a patch keeps secrets: {p}"
    );
    assert_eq!(
        send(
            &st,
            "DELETE",
            &format!("/api/v1/devices/{id}"),
            Some(&op),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &st,
            "GET",
            &format!("/api/v1/devices/{id}"),
            Some(&op),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/devices",
            Some(&op),
            Some(json!({"name": "r2", "address": "10.0.0.1"}))
        )
        .await
        .0,
        StatusCode::CREATED
    );

    st.control
        .store
        .sync_config_devices(&[(
            "core".into(),
            serde_json::from_value(json!({"name": "core", "address": "10.0.0.9"})).unwrap(),
        )])
        .await
        .unwrap();
    let (s, v) = send(
        &st,
        "PUT",
        "/api/v1/devices/core",
        Some(&op),
        Some(json!({"name": "x", "address": "10.0.0.9"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("configuration file"),
        "{v}"
    );

    let (_, page) = send(
        &st,
        "GET",
        "/api/v1/devices?limit=1&sort=-name",
        Some(&op),
        None,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["items"][0]["name"].as_str()),
        (Some(2), Some("r2"))
    );
    assert_eq!(
        send(&st, "GET", "/api/v1/devices?limit=0", Some(&op), None)
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        send(&st, "GET", "/api/v1/devices?colour=red", Some(&op), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn must_change_password_and_disabled_users() {
    let st = api().await;
    let admin = login_as(&st, Role::Admin).await;
    let (s, u) = send(
        &st,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "dave", "password": "initial-pass", "role": "readonly"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let (_, t) = send(
        &st,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "dave", "password": "initial-pass"})),
    )
    .await;
    let dave = t["access_token"].as_str().unwrap().to_string();
    let (s, v) = send(&st, "GET", "/api/v1/devices", Some(&dave), None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("password_change_required"))
    );
    let (s, v) = send(
        &st,
        "POST",
        "/api/v1/auth/password",
        Some(&dave),
        Some(json!({"current_password": "initial-pass", "new_password": "daves-own-pass"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        send(&st, "GET", "/api/v1/devices", Some(&dave), None)
            .await
            .0,
        StatusCode::OK
    );
    let (s, _) = send(
        &st,
        "PATCH",
        &format!("/api/v1/users/{}", u["id"]),
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        send(&st, "GET", "/api/v1/devices", Some(&dave), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &st,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "dave", "password": "daves-own-pass"}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}
