//! The live stream of alert transitions (`GET /api/v1/alerts/stream`): what is stored
//! after the stream opened arrives as `event: alert` with its sequence number.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures::StreamExt;
use sotp_inventory::Role;
use sotp_schemas::{AlertEvent, AlertState, UtcNanos};
use tower::ServiceExt;

use super::control_tests::{api, login_as};
use super::*;

fn firing(fingerprint: &str) -> AlertEvent {
    AlertEvent {
        time: UtcNanos::now(),
        rule_id: "device down".into(),
        rule_name: "device down".into(),
        device_id: None,
        state: AlertState::Firing,
        severity: "critical".into(),
        value: Some(0.0),
        message: "r1 does not answer".into(),
        labels: BTreeMap::from([("device".to_string(), "r1".to_string())]),
        fingerprint: fingerprint.into(),
        alert_id: format!("{fingerprint}-1"),
        starts_at: Some(UtcNanos::now()),
        annotations: BTreeMap::new(),
        receivers: Vec::new(),
        group_key: "device down".into(),
        group_wait_s: 0,
        group_interval_s: 0,
        repeat_interval_s: 0,
        escalate_after_s: None,
        escalate_to: Vec::new(),
    }
}

#[tokio::test]
async fn the_stream_sends_transitions_stored_after_it_opened() {
    let st = api().await;
    let token = login_as(&st, Role::Readonly).await;
    // Stored before: not sent (the stream starts at now).
    st.control
        .store
        .record_alert_event(&firing("before"))
        .await
        .unwrap();
    let req = Request::get("/api/v1/alerts/stream")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    st.control
        .store
        .record_alert_event(&firing("after"))
        .await
        .unwrap();
    let mut body = resp.into_body().into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !text.contains("event: alert") || !text.ends_with("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("an alert event within 20 s")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("after-1"), "{text}");
    assert!(!text.contains("before-1"), "{text}");
    assert!(text.contains("\"state\":\"firing\""), "{text}");
}
