//! `[[receivers]]`, `[[inhibit_rules]]` and `[notify]`: where notifications go and how
//! they are retried. Secret fields hold plain values here: the binary resolves the
//! configuration file's `env:`/`file:` references before it hands them over, and
//! `Debug` never prints them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The kind of a receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverKind {
    /// Alertmanager's webhook JSON, POSTed to `url` (signed when `secret` is set).
    Webhook,
    /// A Slack incoming webhook (`url`): a text message.
    Slack,
    /// Email over SMTP: `url` is `smtp://host:port` (STARTTLS unless `starttls =
    /// false`) or `smtps://host:port` (TLS from the first byte).
    Email,
}

/// One `[[receivers]]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Name, as rules' `receivers` give it.
    pub name: String,
    /// `webhook`, `slack` or `email`.
    pub kind: ReceiverKind,
    /// Where: an `http(s)://` URL, or `smtp://`/`smtps://host:port` for email.
    pub url: String,
    /// Webhook: the HMAC-SHA256 key signing each body (header
    /// `X-SOTP-Signature: sha256=<hex>`); `env:NAME` or `file:/path` in the file.
    #[serde(default)]
    pub secret: Option<String>,
    /// Email: sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// Email: recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Email: SMTP user (AUTH PLAIN or LOGIN).
    #[serde(default)]
    pub username: Option<String>,
    /// Email: SMTP password; `env:NAME` or `file:/path` in the file.
    #[serde(default)]
    pub password: Option<String>,
    /// Email over `smtp://`: require STARTTLS (default). `false` sends in the clear,
    /// for a relay on the same host only.
    #[serde(default = "yes")]
    pub starttls: bool,
    /// A CA certificate (PEM) trusted besides the system's, for the SMTP server or the
    /// webhook's HTTPS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Most time one delivery may take.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// Template (Jinja syntax) of an email's subject; default `[FIRING:n] rule`.
    #[serde(default)]
    pub title: Option<String>,
    /// Template of a Slack message's text or an email's body; default: one line per
    /// alert. Variables: `status`, `receiver`, `group_key`, `firing`, `resolved`,
    /// `common_labels`, `external_url`, `alerts` (each with `status`, `rule`, `severity`,
    /// `labels`, `annotations`, `value`, `message`, `started_at`, `ended_at`, `url`).
    #[serde(default)]
    pub text: Option<String>,
}

fn yes() -> bool {
    true
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ReceiverConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("secret", &hidden(&self.secret))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("title", &self.title)
            .field("text", &self.text)
            .finish()
    }
}

impl ReceiverConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let field = |f: &str| format!("receivers.{}.{f}", self.name);
        if self.name.trim().is_empty() {
            e.push(("receivers.name".into(), "a receiver needs a name".into()));
        }
        for (name, template) in [("title", &self.title), ("text", &self.text)] {
            let Some(t) = template else { continue };
            if self.kind == ReceiverKind::Webhook {
                e.push((
                    field(name),
                    "a webhook's body is Alertmanager's JSON: templates are for slack and email receivers (a rule's annotations are templates for every receiver)".into(),
                ));
            } else if name == "title" && self.kind == ReceiverKind::Slack {
                e.push((field(name), "a Slack message has only `text`".into()));
            } else if let Err(why) =
                crate::payload::Group::example().render(t, "http://sotp.example")
            {
                e.push((field(name), why));
            }
        }
        match self.kind {
            ReceiverKind::Webhook | ReceiverKind::Slack => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    e.push((field("url"), "must be an http:// or https:// URL".into()));
                }
            }
            ReceiverKind::Email => {
                if !(self.url.starts_with("smtp://") || self.url.starts_with("smtps://")) {
                    e.push((
                        field("url"),
                        "must be smtp://host:port or smtps://host:port".into(),
                    ));
                }
                if self
                    .from
                    .as_deref()
                    .is_none_or(|f| f.parse::<lettre::Address>().is_err())
                {
                    e.push((
                        field("from"),
                        "an email receiver needs a valid sender address".into(),
                    ));
                }
                if self.to.is_empty() {
                    e.push((
                        field("to"),
                        "an email receiver needs at least one recipient".into(),
                    ));
                }
                for to in &self.to {
                    if to.parse::<lettre::Address>().is_err() {
                        e.push((field("to"), format!("`{to}` is not an email address")));
                    }
                }
                if self.password.is_some() != self.username.is_some() {
                    e.push((
                        field("username"),
                        "give both username and password, or neither".into(),
                    ));
                }
            }
        }
        e
    }
}

/// One `[[inhibit_rules]]`: while an alert of `source` fires, alerts of `targets` (every
/// other rule when empty) with the same values of the `equal` labels are not notified.
/// The seed: a device that is down mutes its interface, SNMP and poll alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// The inhibiting rule's name.
    pub source: String,
    /// The inhibited rules' names; empty: every rule but the source.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels that must be equal (default `device_id`).
    #[serde(default = "device_id")]
    pub equal: Vec<String>,
}

fn device_id() -> Vec<String> {
    vec!["device_id".into()]
}

/// `[notify]`: retries and pacing of deliveries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Attempts per notification before it is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each next one.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// How often the outbox is checked for due notifications.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Link to this SOTP in payloads (`externalURL`), e.g. `https://sotp.example.net`.
    pub external_url: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            poll_interval: Duration::from_millis(250),
            external_url: String::new(),
        }
    }
}

impl NotifyConfig {
    /// The wait before attempt `n + 1` after `n` failed attempts (n >= 1).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1).min(20));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }

    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.max_attempts == 0 {
            e.push(("notify.max_attempts".into(), "must be at least 1".into()));
        }
        if self.poll_interval.is_zero() {
            e.push((
                "notify.poll_interval".into(),
                "must be greater than 0".into(),
            ));
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let c = NotifyConfig {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..NotifyConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn debug_never_shows_secrets_and_email_receivers_are_checked() {
        let r = ReceiverConfig {
            name: "mail".into(),
            kind: ReceiverKind::Email,
            url: "smtp://127.0.0.1:2525".into(),
            secret: None,
            from: Some("sotp@example.net".into()),
            to: vec!["not an address".into()],
            username: Some("u".into()),
            password: Some("hunter2".into()),
            starttls: true,
            ca_file: None,
            timeout: Duration::from_secs(1),
            title: None,
            text: None,
        };
        assert!(!format!("{r:?}").contains("hunter2"));
        let problems = r.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("not an address"));
    }

    #[test]
    fn templates_render_the_group_and_bad_or_misplaced_ones_are_refused() {
        let json = |v: serde_json::Value| -> ReceiverConfig { serde_json::from_value(v).unwrap() };
        let chat = json(serde_json::json!({
            "name": "chat", "kind": "slack", "url": "http://127.0.0.1:1/slack",
            "text": "{{ firing }} firing: {% for a in alerts %}{{ a.labels.device }} ({{ a.severity }}) {{ a.url }}{% endfor %}",
        }));
        assert!(chat.validate().is_empty(), "{:?}", chat.validate());
        let group = crate::payload::Group::example();
        assert_eq!(
            group
                .render(chat.text.as_deref().unwrap(), "http://sotp.test")
                .unwrap(),
            "1 firing: core-1 (critical) http://sotp.test/api/v1/alerts/a-1"
        );
        let broken = json(serde_json::json!({
            "name": "chat", "kind": "slack", "url": "http://127.0.0.1:1/slack",
            "text": "{% for a in alerts %}{{ a.labels.device }}",
        }));
        let problems = broken.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "receivers.chat.text");
        let hook = json(serde_json::json!({
            "name": "hook", "kind": "webhook", "url": "http://127.0.0.1:1/hook", "text": "x",
        }));
        assert!(hook.validate()[0].1.contains("Alertmanager's JSON"));
        let slack_title = json(serde_json::json!({
            "name": "chat", "kind": "slack", "url": "http://127.0.0.1:1/slack", "title": "x",
        }));
        assert_eq!(slack_title.validate()[0].0, "receivers.chat.title");
    }
}
