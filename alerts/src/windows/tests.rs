use std::sync::Arc;

use sotp_schemas::{AlertState, MetricName};

use super::*;

const S: i64 = 1_000_000_000;

fn up(device: &str, t_s: i64, v: f64) -> MetricSample {
    MetricSample::gauge(
        UtcNanos(t_s * S),
        &DeviceId::new(device),
        &Arc::from(device),
        &Arc::from("icmp"),
        &MetricName::new("icmp.up"),
        v,
    )
}

fn down_rule() -> RuleConfig {
    RuleConfig {
        availability: Some("icmp.up".into()),
        sql: None,
        for_: Duration::from_secs(60),
        ..RuleConfig::with_sql("device down", "")
    }
}

fn config() -> AlertingConfig {
    AlertingConfig {
        allowed_lateness: Duration::from_secs(5),
        ..AlertingConfig::default()
    }
}

fn op(rules: &[RuleConfig], dir: &tempfile::TempDir) -> AlertWindows {
    AlertWindows::new(rules, config(), state_path(dir.path())).unwrap()
}

/// Samples of r1 (down from 100 s to 250 s) and r2 (always up) every 10 s, in batches
/// of one poll round, from `from_s` to `to_s`.
fn rounds(from_s: i64, to_s: i64) -> Vec<EventBatch> {
    (from_s / 10..=to_s / 10)
        .map(|k| {
            let t = k * 10 + 3;
            let r1 = if (100..250).contains(&t) { 0.0 } else { 1.0 };
            EventBatch::Metrics(vec![up("r1", t, r1), up("r2", t, 1.0)])
        })
        .collect()
}

fn states(events: &[AlertEvent]) -> Vec<(i64, AlertState, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.time.0 / S,
                e.state,
                e.labels.get("device").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_device_down_fires_after_for_and_resolves_when_it_answers_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[down_rule()], &dir);
    let mut events = Vec::new();
    for b in rounds(0, 400) {
        events.extend(op.push(b));
    }
    // Down samples at 103..243 s: windows (90,120] .. (240,270] hold a 0 as last value.
    // Active at 120, fires at 180 (for 60 s), resolves at 270 (last sample 253 is up).
    assert_eq!(
        states(&events),
        vec![
            (180, AlertState::Firing, "r1".into()),
            (270, AlertState::Resolved, "r1".into())
        ]
    );
    let (fire, resolve) = (&events[0], &events[1]);
    assert_eq!(fire.alert_id, resolve.alert_id);
    assert_eq!(fire.fingerprint, resolve.fingerprint);
    assert_eq!(fire.labels["alertname"], "device down");
    assert_eq!(fire.value, Some(0.0));
    assert_eq!(resolve.starts_at, Some(UtcNanos(180 * S)));
    assert_eq!(op.late_events(), 0);
}

#[test]
fn late_events_within_the_lateness_count_and_later_ones_are_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[down_rule()], &dir);
    for b in rounds(0, 60) {
        op.push(b);
    }
    // Newest event 63 s, lateness 5 s: windows up to 30 s are evaluated (58 s watermark).
    // A sample at 55 s is within the lateness; one at 20 s is late.
    assert!(
        op.push(EventBatch::Metrics(vec![up("r3", 55, 1.0)]))
            .is_empty()
    );
    assert_eq!(op.late_events(), 0);
    op.push(EventBatch::Metrics(vec![up("r3", 20, 0.0)]));
    assert_eq!(op.late_events(), 1);
}

#[test]
fn a_failing_rule_raises_one_health_alert_and_the_others_still_fire() {
    let dir = tempfile::tempdir().unwrap();
    // Valid at save time (plans over empty tables), fails on data: a cast of text.
    let broken = RuleConfig::with_sql(
        "broken",
        "SELECT device_id, CAST(device AS INT) AS value FROM metrics",
    );
    let mut op = op(&[broken, down_rule()], &dir);
    let mut events = Vec::new();
    for b in rounds(0, 300) {
        events.extend(op.push(b));
    }
    let health: Vec<_> = events
        .iter()
        .filter(|e| e.rule_name == RULE_HEALTH)
        .collect();
    assert_eq!(
        health.len(),
        1,
        "one health alert, not one per window: {health:?}"
    );
    assert_eq!(health[0].labels["rule"], "broken");
    assert!(
        health[0].message.contains("broken"),
        "{}",
        health[0].message
    );
    assert!(
        events
            .iter()
            .any(|e| e.rule_name == "device down" && e.state == AlertState::Firing)
    );
}

#[test]
fn an_outage_raises_one_no_data_alert_and_resolves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[down_rule()], &dir);
    let mut events = Vec::new();
    for b in rounds(0, 200) {
        events.extend(op.push(b));
    }
    assert_eq!(op.firing("device down").len(), 1);
    // Nothing arrives for longer than the idle timeout.
    let later = Instant::now() + config().idle_timeout + Duration::from_secs(1);
    let outage = op.idle_check(later, 500 * S);
    assert_eq!(
        states(&outage),
        vec![(500, AlertState::Firing, String::new())]
    );
    assert_eq!(outage[0].rule_name, NO_DATA);
    assert!(
        op.idle_check(later + Duration::from_secs(60), 560 * S)
            .is_empty(),
        "raised once"
    );
    // Data resumes an hour later with r1 still down: no_data resolves, device down stays
    // firing (no resolve for the gap), nothing fires again.
    let mut after = Vec::new();
    for k in 0..10 {
        let t = 3600 + k * 10 + 3;
        after.extend(op.push(EventBatch::Metrics(vec![
            up("r1", t, 0.0),
            up("r2", t, 1.0),
        ])));
    }
    let rules: Vec<_> = after
        .iter()
        .map(|e| (e.rule_name.as_str(), e.state))
        .collect();
    assert_eq!(rules, vec![(NO_DATA, AlertState::Resolved)]);
    assert_eq!(op.firing("device down").len(), 1);
}

#[test]
fn a_restart_from_the_saved_state_re_fires_nothing_and_misses_nothing() {
    let all = rounds(0, 400);
    let dir = tempfile::tempdir().unwrap();
    let mut straight = op(&[down_rule()], &dir);
    let expected: Vec<_> = all.iter().flat_map(|b| straight.push(b.clone())).collect();
    assert_eq!(expected.len(), 2);
    // Stop at every point: save, load, go on.
    for cut in (1..all.len()).step_by(3) {
        let dir = tempfile::tempdir().unwrap();
        let mut first = op(&[down_rule()], &dir);
        let mut got: Vec<_> = all[..cut]
            .iter()
            .flat_map(|b| first.push(b.clone()))
            .collect();
        first.save(&InputOffsets::new()).unwrap();
        drop(first);
        let (mut second, _) =
            AlertWindows::load(&[down_rule()], config(), state_path(dir.path())).unwrap();
        got.extend(all[cut..].iter().flat_map(|b| second.push(b.clone())));
        assert_eq!(got, expected, "restart after batch {cut}");
    }
}

#[test]
fn typed_log_pattern_fires_on_matching_lines_per_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[op_rule()], &dir);
    let line = |t: i64, msg: &str| LogRecord {
        received_at: UtcNanos(t * S),
        time: None,
        source_address: "192.0.2.1".into(),
        device_id: Some(DeviceId::new("r1")),
        hostname: None,
        facility: None,
        severity: Some(3),
        app_name: None,
        procid: None,
        msgid: None,
        structured_data: Default::default(),
        vendor_mnemonic: None,
        message: msg.to_string(),
        raw: msg.as_bytes().to_vec(),
        parse_error: false,
    };
    let mut events = op.push(EventBatch::Logs(vec![
        line(1, "%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"),
        line(2, "%SYS-5-CONFIG_I: Configured"),
        line(4, "%LINK-3-UPDOWN: Interface Gi0/1, changed state to up"),
    ]));
    events.extend(op.push(EventBatch::Logs(vec![line(100, "heartbeat")])));
    assert_eq!(
        states(&events)[..1],
        [(30, AlertState::Firing, String::new())]
    );
    assert_eq!(events[0].labels["device_id"], "r1");
    assert_eq!(events[0].value, Some(2.0));
    // The same lines, and only the times of other events (a backtest reading `logs`
    // alone): the same firing, and the resolve of the first window without a match.
    let dir = tempfile::tempdir().unwrap();
    let mut replay = self::op(&[op_rule()], &dir);
    let mut again = replay.push(EventBatch::Logs(vec![
        line(1, "%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"),
        line(2, "%SYS-5-CONFIG_I: Configured"),
        line(4, "%LINK-3-UPDOWN: Interface Gi0/1, changed state to up"),
    ]));
    again.extend(replay.push_times(&[40 * S, 70 * S, 100 * S]));
    assert_eq!(
        states(&again),
        [
            (30, AlertState::Firing, String::new()),
            (60, AlertState::Resolved, String::new())
        ]
    );
}

fn op_rule() -> RuleConfig {
    RuleConfig {
        log_pattern: Some(crate::rule::LogPattern {
            regex: Some("UPDOWN".into()),
            severity: None,
            count: 2,
        }),
        sql: None,
        ..RuleConfig::with_sql("link flaps", "")
    }
}

#[test]
fn windows_without_any_event_after_a_restart_hold_the_firing_alert() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = op(&[down_rule()], &dir);
    let before: Vec<_> = rounds(0, 200)
        .into_iter()
        .flat_map(|b| first.push(b))
        .collect();
    assert_eq!(
        states(&before),
        vec![(180, AlertState::Firing, "r1".into())]
    );
    first.save(&InputOffsets::new()).unwrap();
    drop(first);
    // The process was down from 203 s to 300 s (the in-process bus lost those polls);
    // r1 is still down when polls resume.
    let (mut second, _) =
        AlertWindows::load(&[down_rule()], config(), state_path(dir.path())).unwrap();
    let mut after = Vec::new();
    for k in 30..40 {
        let t = k * 10 + 3;
        after.extend(second.push(EventBatch::Metrics(vec![
            up("r1", t, 0.0),
            up("r2", t, 1.0),
        ])));
    }
    assert!(after.is_empty(), "the gap resolved or re-fired: {after:?}");
    assert_eq!(second.firing("device down").len(), 1);
}

#[test]
fn threshold_rules_evaluated_together_give_the_rows_of_their_own_sql() {
    // A threshold rule (one shared query for all such rules) and a SQL rule with the
    // threshold's compiled SQL, on the same samples: the same transitions.
    let threshold = RuleConfig {
        threshold: Some(crate::rule::Threshold {
            metric: "icmp.up".into(),
            op: crate::rule::Op::Lt,
            value: 0.5,
            recover: None,
        }),
        sql: None,
        for_: Duration::from_secs(30),
        ..RuleConfig::with_sql("typed", "")
    };
    let sql = RuleConfig {
        for_: Duration::from_secs(30),
        ..RuleConfig::with_sql("sql", &threshold.compiled_sql().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[threshold, sql], &dir);
    let events: Vec<_> = rounds(0, 400)
        .into_iter()
        .flat_map(|b| op.push(b))
        .collect();
    let of = |rule: &str| -> Vec<_> {
        let mine: Vec<_> = events
            .iter()
            .filter(|e| e.rule_name == rule)
            .cloned()
            .collect();
        states(&mine)
    };
    assert_eq!(of("typed").len(), 2, "{events:?}");
    assert_eq!(of("typed"), of("sql"));
}

#[test]
fn an_api_rule_added_mid_stream_starts_at_its_first_whole_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[], &dir);
    let all = rounds(0, 400);
    // Newest event 113 s when the rule arrives: r1 has been down since 103 s.
    for b in &all[..12] {
        assert!(op.push(b.clone()).is_empty());
    }
    assert!(op.set_api_rules(&[down_rule()]).is_empty());
    assert_eq!(op.rule_names(), vec![("device down".to_string(), true)]);
    let events: Vec<_> = all[12..].iter().flat_map(|b| op.push(b.clone())).collect();
    // First window (120, 150]: active at 150, fires at 210 (for 60 s), resolves at 270.
    assert_eq!(
        states(&events),
        vec![
            (210, AlertState::Firing, "r1".into()),
            (270, AlertState::Resolved, "r1".into())
        ]
    );
}

#[test]
fn an_api_rule_replaced_keeps_its_instances_and_a_deleted_one_resolves_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[], &dir);
    op.set_api_rules(&[down_rule()]);
    let all = rounds(0, 400);
    let fired: Vec<_> = all[..20].iter().flat_map(|b| op.push(b.clone())).collect();
    assert_eq!(states(&fired), vec![(180, AlertState::Firing, "r1".into())]);
    // Same name, another severity: still firing, nothing notified again.
    let mut louder = down_rule();
    louder.severity = crate::rule::Severity::Critical;
    assert!(op.set_api_rules(std::slice::from_ref(&louder)).is_empty());
    assert_eq!(op.firing("device down").len(), 1);
    let gone = op.set_api_rules(&[]);
    assert_eq!(
        states(&gone),
        vec![(193, AlertState::Resolved, "r1".into())]
    );
    assert_eq!(gone[0].alert_id, fired[0].alert_id);
    assert_eq!(gone[0].severity, "critical");
    assert!(op.rule_names().is_empty());
    assert!(all[20..].iter().all(|b| op.push(b.clone()).is_empty()));
}

#[test]
fn api_rules_and_their_instances_survive_a_restart_before_the_feed_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = op(&[], &dir);
    first.set_api_rules(&[down_rule()]);
    let all = rounds(0, 400);
    let fired: Vec<_> = all[..20]
        .iter()
        .flat_map(|b| first.push(b.clone()))
        .collect();
    assert_eq!(fired.len(), 1);
    first.save(&InputOffsets::new()).unwrap();
    drop(first);
    let (second, _) = AlertWindows::load(&[], config(), state_path(dir.path())).unwrap();
    let (_tx, feed) = watch::channel(vec![down_rule()]);
    let mut second = second.with_rule_feed(feed);
    assert_eq!(second.firing("device down").len(), 1);
    let rest: Vec<_> = all[20..]
        .iter()
        .flat_map(|b| second.push(b.clone()))
        .collect();
    assert_eq!(
        states(&rest),
        vec![(270, AlertState::Resolved, "r1".into())]
    );
    assert_eq!(rest[0].alert_id, fired[0].alert_id);
}

#[test]
fn an_api_rule_taking_a_configured_rules_name_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(&[down_rule()], &dir);
    let mut twin = down_rule();
    twin.for_ = Duration::ZERO;
    op.set_api_rules(&[twin]);
    assert_eq!(op.rule_names(), vec![("device down".to_string(), false)]);
}

fn cpu(device: &str, t_s: i64, v: f64) -> MetricSample {
    MetricSample::gauge(
        UtcNanos(t_s * S),
        &DeviceId::new(device),
        &Arc::from(device),
        &Arc::from("snmp"),
        &MetricName::new("cpu.util_ratio"),
        v,
    )
}

/// CPU of r1 every 10 s: 0.95 from 100 s, 0.85 from 160 s, 0.7 from 220 s.
fn cpu_rounds() -> Vec<EventBatch> {
    (0..40)
        .map(|k| {
            let t = k * 10 + 3;
            let v = match t {
                100..160 => 0.95,
                160..220 => 0.85,
                220.. => 0.7,
                _ => 0.5,
            };
            EventBatch::Metrics(vec![cpu("r1", t, v)])
        })
        .collect()
}

fn hot(recover: Option<f64>) -> RuleConfig {
    RuleConfig {
        threshold: Some(crate::rule::Threshold {
            metric: "cpu.util_ratio".into(),
            op: crate::rule::Op::Gt,
            value: 0.9,
            recover,
        }),
        sql: None,
        ..RuleConfig::with_sql("cpu hot", "")
    }
}

fn run_all(rules: &[RuleConfig], batches: &[EventBatch]) -> Vec<AlertEvent> {
    let dir = tempfile::tempdir().unwrap();
    let mut op = op(rules, &dir);
    batches.iter().flat_map(|b| op.push(b.clone())).collect()
}

#[test]
fn a_recover_bound_holds_a_firing_alert_until_the_value_crosses_it() {
    // Windows (90,120] .. : 0.95 first last-value at 120, 0.85 at 180, 0.7 at 240.
    let without = run_all(&[hot(None)], &cpu_rounds());
    assert_eq!(
        states(&without),
        vec![
            (120, AlertState::Firing, "r1".into()),
            (180, AlertState::Resolved, "r1".into())
        ]
    );
    let with = run_all(&[hot(Some(0.8))], &cpu_rounds());
    assert_eq!(
        states(&with),
        vec![
            (120, AlertState::Firing, "r1".into()),
            (240, AlertState::Resolved, "r1".into())
        ]
    );
    // The hold never fires by itself: 0.85 from the start raises nothing.
    let warm: Vec<EventBatch> = (0..20)
        .map(|k| EventBatch::Metrics(vec![cpu("r1", k * 10 + 3, 0.85)]))
        .collect();
    assert!(run_all(&[hot(Some(0.8))], &warm).is_empty());
}

#[test]
fn hold_sql_gives_an_sql_rule_the_same_hysteresis_as_a_typed_recover() {
    let typed = hot(Some(0.8));
    let sql = RuleConfig {
        hold_sql: typed.compiled_hold_sql().unwrap(),
        ..RuleConfig::with_sql("cpu hot", &typed.compiled_sql().unwrap())
    };
    assert!(sql.hold_sql.as_deref().unwrap().contains("0.8"));
    assert_eq!(
        states(&run_all(&[sql], &cpu_rounds())),
        states(&run_all(&[typed], &cpu_rounds()))
    );
}

fn inventory(ids: &[&str]) -> EventBatch {
    EventBatch::Inventory(
        ids.iter()
            .map(|id| sotp_schemas::InventoryChange {
                id: (*id).to_string(),
                device: Some(sotp_schemas::DeviceRecord {
                    id: (*id).to_string(),
                    name: (*id).to_string(),
                    address: "192.0.2.1".parse().unwrap(),
                    tags: Vec::new(),
                    icmp: sotp_schemas::PollRecord {
                        enabled: true,
                        interval_ms: None,
                    },
                    snmp: None,
                    ssh: None,
                }),
            })
            .collect(),
    )
}

/// Every device of `ids` answers (1) or not (0) from 100 s to 250 s; up otherwise.
fn fleet(ids: &[&str], down: &[&str]) -> Vec<EventBatch> {
    (0..40)
        .map(|k| {
            let t = k * 10 + 3;
            EventBatch::Metrics(
                ids.iter()
                    .map(|d| {
                        let out = down.contains(d) && (100..250).contains(&t);
                        up(d, t, if out { 0.0 } else { 1.0 })
                    })
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn every_device_down_at_once_is_one_alert_about_the_outage_and_some_are_one_each() {
    let ids = ["r1", "r2", "r3"];
    let run = |down: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let mut op = op(&[down_rule()], &dir);
        op.push(inventory(&ids));
        fleet(&ids, down)
            .into_iter()
            .flat_map(|b| op.push(b))
            .collect::<Vec<_>>()
    };
    let all = run(&ids);
    assert_eq!(
        all.len(),
        2,
        "one firing and one resolve: {:?}",
        states(&all)
    );
    assert_eq!(all[0].labels["scope"], "every device");
    assert_eq!(all[0].value, Some(3.0));
    assert_eq!(
        (all[0].state, all[1].state),
        (AlertState::Firing, AlertState::Resolved)
    );
    let some = run(&["r1", "r2"]);
    let devices: std::collections::BTreeSet<String> =
        some.iter().map(|e| e.labels["device"].clone()).collect();
    assert_eq!(devices, ["r1", "r2"].map(String::from).into());
    assert_eq!(some.len(), 4);
}

fn series(device: &str, metric: &str, instance: Option<&str>, t_s: i64, v: f64) -> MetricSample {
    let mut s = MetricSample::gauge(
        UtcNanos(t_s * S),
        &DeviceId::new(device),
        &Arc::from(device),
        &Arc::from("snmp"),
        &MetricName::new(metric),
        v,
    );
    s.instance = instance.map(Arc::from);
    s
}

/// r1's uptime stalls from 100 s, creeps at 0.5/s from 160 s, runs at 1/s from 220 s;
/// its interface Gi0/1 is 95 % busy from 100 s, 85 % from 160 s, 50 % otherwise; r2
/// stays normal.
fn mixed_rounds() -> Vec<EventBatch> {
    let mut uptime = [0.0f64; 2];
    (0..40)
        .map(|k| {
            let t = k * 10 + 3;
            let mut batch = Vec::new();
            for (d, dev) in ["r1", "r2"].iter().enumerate() {
                let (step, util) = match (d, t) {
                    (0, 100..160) => (0.0, 0.95),
                    (0, 160..220) => (5.0, 0.85),
                    _ => (10.0, 0.5),
                };
                uptime[d] += step;
                batch.push(series(dev, "sys.uptime_s", None, t, uptime[d]));
                batch.push(series(dev, "if.in_util_ratio", Some("Gi0/1"), t, util));
                batch.push(series(dev, "if.out_util_ratio", Some("Gi0/1"), t, 0.2));
            }
            EventBatch::Metrics(batch)
        })
        .collect()
}

#[test]
fn shared_queries_give_every_typed_form_the_transitions_of_its_own_sql() {
    // Each typed rule (evaluated by one shared query per kind) beside a SQL rule with its
    // compiled SQL and hold SQL, on the same samples: the same transitions, and every
    // typed rule fires and resolves (the comparison is not vacuous).
    let typed: Vec<RuleConfig> = [
        serde_json::json!({"name": "stalled", "rate_of_change": {"metric": "sys.uptime_s", "op": "<", "value": 0.3}}),
        serde_json::json!({"name": "stalled held", "rate_of_change": {"metric": "sys.uptime_s", "op": "<", "value": 0.3, "recover": 0.6}}),
        serde_json::json!({"name": "busy", "utilization": {"above": 0.9}}),
        serde_json::json!({"name": "busy held", "utilization": {"above": 0.9, "recover": 0.8}}),
        serde_json::json!({"name": "util high", "threshold": {"metric": "if.in_util_ratio", "op": ">=", "value": 0.9, "recover": 0.8}}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    let mut rules = typed.clone();
    for t in &typed {
        rules.push(RuleConfig {
            hold_sql: t.compiled_hold_sql().unwrap(),
            ..RuleConfig::with_sql(&format!("{} sql", t.name), &t.compiled_sql().unwrap())
        });
    }
    let events = run_all(&rules, &mixed_rounds());
    let of = |rule: &str| -> Vec<(i64, AlertState, String)> {
        events
            .iter()
            .filter(|e| e.rule_name == rule)
            .map(|e| {
                let who = format!(
                    "{}/{}",
                    e.labels["device_id"],
                    e.labels.get("instance").cloned().unwrap_or_default()
                );
                (e.time.0 / S, e.state, who)
            })
            .collect()
    };
    for t in &typed {
        let mine = of(&t.name);
        assert_eq!(mine.len(), 2, "{}: {mine:?}", t.name);
        assert_eq!(mine, of(&format!("{} sql", t.name)), "{}", t.name);
    }
    // Hysteresis made a difference: the held rules resolve later.
    assert!(of("stalled held")[1].0 > of("stalled")[1].0);
    assert!(of("busy held")[1].0 > of("busy")[1].0);
}

#[test]
fn a_rate_of_change_is_per_second_between_samples_whatever_the_window_holds() {
    // Polls every 30 s at a phase of 7 s, uptime +1/s, and 2-minute windows every 30 s:
    // each window holds 3 or 4 polls (60 or 90 s apart). Divided by the window's 120 s,
    // the rate would read 0.5 or 0.75 and a "< 0.6" rule would fire and resolve by turns;
    // per second between the samples it is 1 in every window. Dev r2 is polled once
    // (one sample in every window): no rate, never judged.
    let rules: Vec<RuleConfig> = [
        serde_json::json!({"name": "stalled", "rate_of_change": {"metric": "sys.uptime_s", "op": "<", "value": 0.6}, "range": "2m"}),
        serde_json::json!({"name": "fast", "rate_of_change": {"metric": "sys.uptime_s", "op": ">", "value": 0.99}, "range": "2m"}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    let mut all = rules.clone();
    for r in &rules {
        all.push(RuleConfig {
            range: r.range,
            ..RuleConfig::with_sql(&format!("{} sql", r.name), &r.compiled_sql().unwrap())
        });
    }
    let rounds: Vec<EventBatch> = (0..20)
        .map(|k| {
            let t = k * 30 + 7;
            let mut batch = vec![series("r1", "sys.uptime_s", None, t, 1000.0 + t as f64)];
            if k == 0 {
                batch.push(series("r2", "sys.uptime_s", None, t, 5.0));
            }
            EventBatch::Metrics(batch)
        })
        .collect();
    let events = run_all(&all, &rounds);
    let of = |rule: &str| -> Vec<(i64, AlertState, String)> {
        events
            .iter()
            .filter(|e| e.rule_name == rule)
            .map(|e| (e.time.0 / S, e.state, e.labels["device_id"].clone()))
            .collect()
    };
    assert_eq!(of("stalled"), vec![], "a steady counter read as stalled");
    assert_eq!(of("stalled sql"), vec![]);
    // The same rate read the other way fires once, for r1 only, and stays firing.
    let fast = of("fast");
    assert!(!fast.is_empty(), "{events:?}");
    assert!(fast.iter().all(|(_, _, d)| d == "r1"), "{fast:?}");
    assert!(
        fast.iter().all(|(_, s, _)| *s != AlertState::Resolved),
        "{fast:?}"
    );
    assert_eq!(fast, of("fast sql"), "{events:?}");
}
