//! The dispatcher: drains the outbox. Each due notification is sent once per receiver,
//! with the other pending notifications of its group and receiver, retried with
//! exponential backoff up to `max_attempts`, every attempt recorded. A receiver that
//! succeeded is never sent the message again because another failed: each (alert,
//! transition, receiver) is its own row. A crash between a send and its record sends
//! that one message again after the restart (at least once per receiver; the payload's
//! `fingerprint` and `startsAt` let a receiver drop the repeat).
//!
//! It also turns time into notifications: escalations (a rule's `escalate_after`),
//! repeats of alerts still firing unacknowledged (a rule's `repeat_interval`) and
//! acknowledgements that expired (the alert fires again and is notified again). The
//! policies travel with each alert (its event on `alerts`), so rules managed through the
//! API and the configuration's are treated alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use sotp_inventory::{Alert, NewNotification, Notification, Store, now_ms};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::NotifyConfig;
use crate::payload::{Group, Item};
use crate::send::Channel;

/// Drains the outbox (see the module documentation).
#[derive(Debug)]
pub struct Dispatcher {
    /// The control database.
    pub store: Store,
    /// Receivers by name.
    pub channels: BTreeMap<String, Channel>,
    /// Retries and pacing.
    pub config: NotifyConfig,
}

/// Groups sent at the same time in one pass of the outbox.
const SENDS_AT_ONCE: usize = 8;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn again(alert: &Alert, transition: String, receivers: &[String]) -> Vec<NewNotification> {
    receivers
        .iter()
        .map(|r| NewNotification {
            alert_id: alert.id.clone(),
            transition: transition.clone(),
            payload_status: "firing".into(),
            receiver: r.clone(),
            group_key: alert.group_key.clone(),
            not_before: 0,
            suppressed_by: None,
        })
        .collect()
}

impl Dispatcher {
    /// Runs until `stop`; `wake` shortens the wait after the book queued something.
    pub async fn run(self, wake: Arc<Notify>, stop: CancellationToken) {
        while !stop.is_cancelled() {
            if let Err(e) = self.once().await {
                tracing::error!(error = %e, "notification outbox not processed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = wake.notified() => {}
                () = stop.cancelled() => {}
            }
        }
    }

    /// One pass: expired acknowledgements, escalations, then every due group.
    pub async fn once(&self) -> Result<usize, sotp_inventory::InventoryError> {
        let now = now_ms();
        for a in self.store.expire_acknowledgements(now).await? {
            tracing::info!(alert = %a.id, rule = %a.rule, "acknowledgement expired: the alert fires again");
            self.store
                .queue_notifications(&again(&a, format!("ack_expired@{now}"), &a.receivers))
                .await?;
        }
        for (a, to) in self.store.take_escalations(now).await? {
            tracing::info!(alert = %a.id, rule = %a.rule, to = ?to, "unacknowledged alert escalated");
            self.store
                .queue_notifications(&again(&a, "escalated".into(), &to))
                .await?;
        }
        for a in self.store.take_repeats(now).await? {
            tracing::info!(alert = %a.id, rule = %a.rule, "alert still firing unacknowledged: notified again");
            self.store
                .queue_notifications(&again(&a, format!("repeat@{now}"), &a.receivers))
                .await?;
        }
        let due = self.store.due_notifications(now, 1000).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut groups: BTreeMap<(String, String), Vec<Notification>> = BTreeMap::new();
        for n in due {
            groups
                .entry((n.receiver.clone(), n.group_key.clone()))
                .or_default()
                .push(n);
        }
        // Notifications of a due group still in their group wait go along.
        for n in self.store.waiting_notifications().await? {
            if let Some(members) = groups.get_mut(&(n.receiver.clone(), n.group_key.clone()))
                && !members.iter().any(|m| m.id == n.id)
            {
                members.push(n);
            }
        }
        let ids: Vec<String> = groups
            .values()
            .flatten()
            .map(|n| n.alert_id.clone())
            .collect();
        let alerts: BTreeMap<String, Alert> = self
            .store
            .alerts_by_id(&ids)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let n = groups.len();
        // A few at a time: a slow receiver does not hold the others, and a storm does not
        // open hundreds of connections to one receiver at once.
        let results: Vec<_> =
            futures::stream::iter(groups.into_iter().map(|((receiver, key), members)| {
                self.send_group(receiver, key, members, &alerts)
            }))
            .buffer_unordered(SENDS_AT_ONCE)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    async fn send_group(
        &self,
        receiver: String,
        key: String,
        members: Vec<Notification>,
        alerts: &BTreeMap<String, Alert>,
    ) -> Result<(), sotp_inventory::InventoryError> {
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let attempts = members.iter().map(|m| m.attempts).max().unwrap_or(0);
        let Some(channel) = self.channels.get(&receiver) else {
            let why = format!("no receiver named `{receiver}` in [[receivers]]");
            tracing::error!(receiver, "{why}");
            return self.store.record_attempt(&ids, Some(&why), 0, None).await;
        };
        let items = members
            .iter()
            .filter_map(|m| {
                alerts.get(&m.alert_id).map(|a| Item {
                    status: m.payload_status.clone(),
                    alert: a.clone(),
                })
            })
            .collect();
        let group = Group {
            receiver: receiver.clone(),
            key,
            items,
        };
        let started = Instant::now();
        let result = channel.send(&group, &self.config.external_url).await;
        let took = ms(started.elapsed());
        match &result {
            Ok(()) => {
                metrics::counter!("sotp_notifications_total", "receiver" => receiver.clone(), "outcome" => "sent").increment(ids.len() as u64);
                tracing::info!(
                    receiver,
                    alerts = ids.len(),
                    status = group.status(),
                    "notification sent"
                );
                self.store.record_attempt(&ids, None, took, None).await
            }
            Err(e) => {
                let failed = u32::try_from(attempts + 1).unwrap_or(u32::MAX);
                let retry = (failed < self.config.max_attempts)
                    .then(|| now_ms() + ms(self.config.backoff(failed)));
                metrics::counter!("sotp_notifications_total", "receiver" => receiver.clone(), "outcome" => "failed").increment(ids.len() as u64);
                match retry {
                    Some(_) => {
                        tracing::warn!(receiver, error = %e, attempt = failed, "notification not delivered; will retry")
                    }
                    None => {
                        tracing::error!(receiver, error = %e, attempts = failed, "notification not delivered; attempts exhausted")
                    }
                }
                self.store.record_attempt(&ids, Some(e), took, retry).await
            }
        }
    }
}
