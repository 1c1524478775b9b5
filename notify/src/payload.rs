//! What receivers are sent: Alertmanager's webhook JSON (version 4), a Slack message and
//! an email, from one group of notifications (the same receiver and group key).

use std::collections::BTreeMap;

use serde::Serialize;
use sotp_inventory::Alert;

/// One alert of a group with the status its notification carries (the alert may have
/// moved on since: a resolved notification of an alert resolved later still says so).
#[derive(Clone, Debug)]
pub struct Item {
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert.
    pub alert: Alert,
}

/// The notifications sent together.
#[derive(Clone, Debug)]
pub struct Group {
    /// The receiver's name.
    pub receiver: String,
    /// The group key.
    pub key: String,
    /// The alerts.
    pub items: Vec<Item>,
}

/// Alertmanager's "zero" time, its `endsAt` of a firing alert.
const OPEN_END: &str = "0001-01-01T00:00:00Z";

/// One alert in the webhook body.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing.
    pub ends_at: String,
    /// Link to the alert in the API.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The instance's fingerprint.
    pub fingerprint: String,
}

/// The webhook body: Alertmanager's format, version 4.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// Always `4`.
    pub version: &'static str,
    /// The group key.
    pub group_key: String,
    /// Alerts left out (never: every alert of the group is sent).
    pub truncated_alerts: u32,
    /// `firing` when any alert of the group fires, else `resolved`.
    pub status: String,
    /// The receiver's name.
    pub receiver: String,
    /// The labels every alert of the group shares that make the group.
    pub group_labels: BTreeMap<String, String>,
    /// Labels common to every alert.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations common to every alert.
    pub common_annotations: BTreeMap<String, String>,
    /// Link to this SOTP.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
}

fn common(maps: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Group {
    /// `firing` when any alert of the group fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        match self.items.iter().any(|i| i.status == "firing") {
            true => "firing",
            false => "resolved",
        }
    }

    /// The webhook body.
    pub fn webhook(&self, external_url: &str) -> WebhookBody {
        let labels: Vec<&BTreeMap<String, String>> =
            self.items.iter().map(|i| &i.alert.labels).collect();
        let annotations: Vec<&BTreeMap<String, String>> =
            self.items.iter().map(|i| &i.alert.annotations).collect();
        let common_labels = common(&labels);
        let group_labels = common_labels
            .iter()
            .filter(|(k, _)| *k == "alertname")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        WebhookBody {
            version: "4",
            group_key: self.key.clone(),
            truncated_alerts: 0,
            status: self.status().into(),
            receiver: self.receiver.clone(),
            group_labels,
            common_labels,
            common_annotations: common(&annotations),
            external_url: external_url.into(),
            alerts: self
                .items
                .iter()
                .map(|i| WebhookAlert {
                    status: i.status.clone(),
                    labels: i.alert.labels.clone(),
                    annotations: i.alert.annotations.clone(),
                    starts_at: i.alert.started_at.clone(),
                    ends_at: match i.status.as_str() {
                        "resolved" => i
                            .alert
                            .ended_at
                            .clone()
                            .unwrap_or_else(|| i.alert.updated_at.clone()),
                        _ => OPEN_END.into(),
                    },
                    generator_url: format!("{external_url}/api/v1/alerts/{}", i.alert.id),
                    fingerprint: i.alert.fingerprint.clone(),
                })
                .collect(),
        }
    }

    /// `[FIRING:2] device down` (the counts of the group's statuses, then its rule).
    pub fn subject(&self) -> String {
        let firing = self.items.iter().filter(|i| i.status == "firing").count();
        let rule = self
            .items
            .first()
            .map(|i| i.alert.rule.as_str())
            .unwrap_or("");
        match firing {
            0 => format!("[RESOLVED] {rule}"),
            n => format!("[FIRING:{n}] {rule}"),
        }
    }

    /// One line per alert: status, severity, summary, labels.
    pub fn text(&self) -> String {
        let mut out = self.subject();
        out.push('\n');
        for i in &self.items {
            let labels: Vec<String> = i
                .alert
                .labels
                .iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!(
                "\n- {} [{}] {} ({}) since {}",
                i.status,
                i.alert.severity,
                i.alert.message,
                labels.join(", "),
                i.alert.started_at
            ));
        }
        out.push('\n');
        out
    }

    /// A Slack incoming-webhook message.
    pub fn slack(&self) -> serde_json::Value {
        serde_json::json!({ "text": self.text() })
    }

    /// What a receiver template sees (see `ReceiverConfig::text`).
    pub fn context(&self, external_url: &str) -> serde_json::Value {
        let firing = self.items.iter().filter(|i| i.status == "firing").count();
        let labels: Vec<&BTreeMap<String, String>> =
            self.items.iter().map(|i| &i.alert.labels).collect();
        let alerts: Vec<serde_json::Value> = self
            .items
            .iter()
            .map(|i| {
                serde_json::json!({
                    "status": i.status,
                    "rule": i.alert.rule,
                    "severity": i.alert.severity,
                    "labels": i.alert.labels,
                    "annotations": i.alert.annotations,
                    "value": i.alert.value,
                    "message": i.alert.message,
                    "started_at": i.alert.started_at,
                    "ended_at": i.alert.ended_at,
                    "url": format!("{external_url}/api/v1/alerts/{}", i.alert.id),
                })
            })
            .collect();
        serde_json::json!({
            "status": self.status(),
            "receiver": self.receiver,
            "group_key": self.key,
            "firing": firing,
            "resolved": self.items.len() - firing,
            "common_labels": common(&labels),
            "external_url": external_url,
            "alerts": alerts,
        })
    }

    /// `template` (Jinja syntax) rendered over this group; the error names the line.
    pub fn render(&self, template: &str, external_url: &str) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.render_str(template, self.context(external_url))
            .map_err(|e| format!("template: {e}"))
    }

    /// A group of one firing alert, for checking templates when they are configured.
    pub fn example() -> Group {
        let alert = Alert {
            id: "a-1".into(),
            rule: "device down".into(),
            state: "firing".into(),
            severity: "critical".into(),
            labels: BTreeMap::from([
                ("alertname".to_string(), "device down".to_string()),
                ("device".to_string(), "core-1".to_string()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), "core-1 is down".to_string())]),
            value: Some(0.0),
            message: "core-1 is down".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: None,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            acked_by: None,
            ack_comment: None,
            ack_until: None,
            fingerprint: "0".into(),
            receivers: vec!["example".into()],
            group_key: "device down".into(),
            started_ms: 0,
            ended_ms: None,
            escalated: false,
        };
        Group {
            receiver: "example".into(),
            key: "device down".into(),
            items: vec![Item {
                status: "firing".into(),
                alert,
            }],
        }
    }
}
