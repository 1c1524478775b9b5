//! Delivering one group to one receiver: HTTP POST (webhook, Slack) with reqwest, email
//! with lettre (STARTTLS or TLS, authentication).

use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::payload::Group;

/// The header carrying a webhook body's HMAC-SHA256 signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-sotp-signature";

/// A receiver ready to send.
pub struct Channel {
    config: ReceiverConfig,
    how: How,
}

enum How {
    Http(reqwest::Client),
    Email(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The signature of `body` under `key`, as the header carries it.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn read_ca(config: &ReceiverConfig) -> Result<Option<Vec<u8>>, String> {
    config
        .ca_file
        .as_ref()
        .map(|p| {
            std::fs::read(p).map_err(|e| {
                format!(
                    "receiver `{}`: cannot read ca_file {}: {e}",
                    config.name,
                    p.display()
                )
            })
        })
        .transpose()
}

impl Channel {
    /// Prepares `config` (its TLS roots, its SMTP connection settings).
    pub fn new(config: &ReceiverConfig) -> Result<Self, String> {
        let ca = read_ca(config)?;
        let how = match config.kind {
            ReceiverKind::Webhook | ReceiverKind::Slack => {
                let mut b = reqwest::Client::builder()
                    .timeout(config.timeout)
                    .user_agent(concat!("sotp/", env!("CARGO_PKG_VERSION")));
                if let Some(pem) = &ca {
                    let cert = reqwest::Certificate::from_pem(pem)
                        .map_err(|e| format!("receiver `{}`: ca_file: {e}", config.name))?;
                    b = b.add_root_certificate(cert);
                }
                How::Http(
                    b.build()
                        .map_err(|e| format!("receiver `{}`: {e}", config.name))?,
                )
            }
            ReceiverKind::Email => How::Email(smtp(config, ca.as_deref())?),
        };
        Ok(Self {
            config: config.clone(),
            how,
        })
    }

    /// `template` over `group`; a template that fails on this group (it was checked on
    /// an example when configured) gives `default`, logged: a message is never lost to
    /// its template.
    fn rendered(
        &self,
        group: &Group,
        template: &str,
        external_url: &str,
        default: String,
    ) -> String {
        match group.render(template, external_url) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(receiver = %self.config.name, error = %e, "receiver template failed; the default text is sent");
                default
            }
        }
    }

    /// The receiver's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Sends `group`; the error says what the receiver answered.
    pub async fn send(&self, group: &Group, external_url: &str) -> Result<(), String> {
        match &self.how {
            How::Http(client) => {
                let body = match self.config.kind {
                    ReceiverKind::Slack => match &self.config.text {
                        Some(t) => serde_json::to_vec(
                            &serde_json::json!({ "text": self.rendered(group, t, external_url, group.text()) }),
                        ),
                        None => serde_json::to_vec(&group.slack()),
                    },
                    _ => serde_json::to_vec(&group.webhook(external_url)),
                }
                .map_err(|e| e.to_string())?;
                let mut req = client
                    .post(&self.config.url)
                    .header("content-type", "application/json");
                if let Some(key) = &self.config.secret {
                    req = req.header(SIGNATURE_HEADER, sign(key.as_bytes(), &body));
                }
                let resp = req.body(body).send().await.map_err(|e| error_chain(&e))?;
                let status = resp.status();
                if status.is_success() {
                    return Ok(());
                }
                let text = resp.text().await.unwrap_or_default();
                Err(format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
            How::Email(transport) => {
                let from = self.config.from.as_deref().unwrap_or_default();
                let mut m = Message::builder()
                    .from(from.parse().map_err(|e| format!("from: {e}"))?)
                    .subject(match &self.config.title {
                        Some(t) => self.rendered(group, t, external_url, group.subject()),
                        None => group.subject(),
                    })
                    .header(ContentType::TEXT_PLAIN);
                for to in &self.config.to {
                    m = m.to(to.parse().map_err(|e| format!("to `{to}`: {e}"))?);
                }
                let body = match &self.config.text {
                    Some(t) => self.rendered(group, t, external_url, group.text()),
                    None => group.text(),
                };
                let message = m.body(body).map_err(|e| e.to_string())?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| error_chain(&e))
            }
        }
    }
}

impl Channel {
    /// Sends a file by email (an email receiver only): `text` as the body, the file
    /// attached as `filename` of `content_type`. Scheduled reports go out this way.
    pub async fn send_file(
        &self,
        subject: &str,
        text: &str,
        filename: &str,
        content_type: &str,
        file: Vec<u8>,
    ) -> Result<(), String> {
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let How::Email(transport) = &self.how else {
            return Err(format!(
                "receiver `{}` is not an email receiver",
                self.config.name
            ));
        };
        let from = self.config.from.as_deref().unwrap_or_default();
        let mut m = Message::builder()
            .from(from.parse().map_err(|e| format!("from: {e}"))?)
            .subject(subject);
        for to in &self.config.to {
            m = m.to(to.parse().map_err(|e| format!("to `{to}`: {e}"))?);
        }
        let kind = ContentType::parse(content_type).map_err(|e| e.to_string())?;
        let message = m
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text.to_string()))
                    .singlepart(Attachment::new(filename.to_string()).body(file, kind)),
            )
            .map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| error_chain(&e))
    }
}

/// An error with its sources (`error sending request: connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Some errors print their sources themselves: say each cause once.
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn smtp(
    config: &ReceiverConfig,
    ca: Option<&[u8]>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let bad = |why: String| format!("receiver `{}`: {why}", config.name);
    let (wrapper, rest) = match config.url.split_once("://") {
        Some(("smtps", rest)) => (true, rest),
        Some(("smtp", rest)) => (false, rest),
        _ => {
            return Err(bad(
                "url must be smtp://host:port or smtps://host:port".into()
            ));
        }
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_matches(|c| c == '[' || c == ']').to_string(),
            p.parse::<u16>()
                .map_err(|_| bad(format!("bad port in `{}`", config.url)))?,
        ),
        None => (rest.to_string(), if wrapper { 465 } else { 587 }),
    };
    let mut tls = TlsParameters::builder(host.clone());
    if let Some(pem) = ca {
        tls = tls.add_root_certificate(
            Certificate::from_pem(pem).map_err(|e| bad(format!("ca_file: {e}")))?,
        );
    }
    let params = tls.build_rustls().map_err(|e| bad(e.to_string()))?;
    let mode = match (wrapper, config.starttls) {
        (true, _) => Tls::Wrapper(params),
        (false, true) => Tls::Required(params),
        (false, false) => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(mode)
        .timeout(Some(config.timeout.max(Duration::from_secs(1))));
    if let (Some(u), Some(p)) = (&config.username, &config.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
