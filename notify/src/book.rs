//! The alert book: reads the `alerts` topic into the control database (each transition
//! once, however often it is delivered) and queues its notifications in the outbox, one
//! per receiver, marked suppressed when a silence matches or an inhibiting alert fires.
//! Offsets are committed only after the database has the transitions, so a crash
//! replays them and the unique keys drop what was already stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sotp_bus::{CommitOffsets, Subscription};
use sotp_inventory::{NewNotification, Store, now_ms};
use sotp_schemas::{AlertEvent, AlertState, EventBatch};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::InhibitRule;

/// What suppresses the notifications of `e` now, if anything: a silence (`silence:<id>`)
/// or a firing alert of an inhibiting rule (`inhibited:<alert id>`).
async fn suppressed_by(
    store: &Store,
    inhibit: &[InhibitRule],
    e: &AlertEvent,
) -> Result<Option<String>, sotp_inventory::InventoryError> {
    let now = now_ms();
    for s in store.silences(now).await? {
        if s.silences(&e.labels, now) {
            return Ok(Some(format!("silence:{}", s.id)));
        }
    }
    for rule in inhibit {
        let targeted = rule.source != e.rule_name
            && (rule.targets.is_empty() || rule.targets.contains(&e.rule_name));
        if !targeted {
            continue;
        }
        for source in store.firing_alerts(&rule.source).await? {
            let same = rule
                .equal
                .iter()
                .all(|k| e.labels.contains_key(k) && e.labels.get(k) == source.labels.get(k));
            if same {
                return Ok(Some(format!("inhibited:{}", source.id)));
            }
        }
    }
    Ok(None)
}

/// Stores one transition and queues its notifications. A resolved notification is
/// suppressed when its firing one was (nobody was told it fired).
pub async fn record(
    store: &Store,
    inhibit: &[InhibitRule],
    e: &AlertEvent,
) -> Result<bool, sotp_inventory::InventoryError> {
    let Some(alert_id) = store.record_alert_event(e).await? else {
        return Ok(false);
    };
    let suppressed = match e.state {
        AlertState::Firing => suppressed_by(store, inhibit, e).await?,
        AlertState::Resolved => {
            let told: BTreeMap<String, bool> = store
                .notifications_of(&alert_id)
                .await?
                .into_iter()
                .filter(|n| n.payload_status == "firing")
                .map(|n| (n.receiver, n.state != "suppressed"))
                .collect();
            match told.values().any(|t| *t) || told.is_empty() {
                true => None,
                false => Some("firing notification suppressed".to_string()),
            }
        }
    };
    let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = now_ms();
    let mut queued: Vec<NewNotification> = Vec::new();
    for r in &e.receivers {
        // The first notification of a group waits `group_wait` for more of the group;
        // after a delivery, the group's next one waits until `group_interval` passed.
        let first = now.saturating_add(match e.state {
            AlertState::Firing => ms(e.group_wait_s),
            AlertState::Resolved => 0,
        });
        let not_before = match e.group_interval_s {
            0 => first,
            gi => match store.last_group_send(r, &e.group_key).await? {
                Some(sent) if sent.saturating_add(ms(gi)) > now => sent.saturating_add(ms(gi)),
                _ => first,
            },
        };
        queued.push(NewNotification {
            alert_id: alert_id.clone(),
            transition: match (e.state, e.labels.contains_key("flapping")) {
                (AlertState::Firing, true) => "flapping".into(),
                (s, _) => s.as_str().into(),
            },
            payload_status: e.state.as_str().into(),
            receiver: r.clone(),
            group_key: e.group_key.clone(),
            not_before,
            suppressed_by: suppressed.clone(),
        });
    }
    store.queue_notifications(&queued).await?;
    metrics::counter!("sotp_alert_transitions_total", "state" => e.state.as_str()).increment(1);
    Ok(true)
}

fn commit_offsets(d: &sotp_bus::Delivery) -> CommitOffsets {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for o in &d.origins {
        let n = next.entry(o.partition).or_insert(0);
        *n = (*n).max(o.offset + 1);
    }
    next.into_iter().collect()
}

/// Reads `sub` (the `alerts` topic) into the book until the bus closes or `stop`;
/// wakes the dispatcher after each batch.
pub async fn run_book(
    mut sub: Box<dyn Subscription>,
    store: Store,
    inhibit: Arc<Vec<InhibitRule>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let d = tokio::select! {
            d = sub.recv() => d,
            () = stop.cancelled() => break,
        };
        let Some(d) = d else { break };
        let EventBatch::Alerts(events) = &d.batch else {
            continue;
        };
        for e in events {
            // A database that is down delays the book, never loses a transition: the
            // offsets stay uncommitted until every event of the delivery is stored.
            let mut wait = Duration::from_millis(200);
            loop {
                match record(&store, &inhibit, e).await {
                    Ok(_) => break,
                    Err(err) => {
                        tracing::error!(error = %err, alert = %e.alert_id, "alert transition not stored; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = stop.cancelled() => return,
                        }
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
        if let Err(e) = sub.commit(&commit_offsets(&d)) {
            tracing::warn!(error = %e, "alerts offsets not committed; a replay is dropped by the book's unique keys");
        }
        wake.notify_one();
    }
}
