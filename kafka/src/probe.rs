//! The start-up probe: do the brokers answer, and do they accept this client?
//!
//! librdkafka reports a refused SASL authentication or a failed TLS handshake only through
//! its error callback and keeps retrying; a metadata request then just times out with
//! "broker transport failure", which names neither cause. The probe listens to the
//! callback, so that start-up fails at once with the broker's own reason (unknown user,
//! wrong password, untrusted certificate) and the `[bus]` settings to look at.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, NoCustomPartitioner, Producer, ProducerContext};

use super::{KafkaConfig, KafkaError};

/// How long start-up waits for the brokers before it reports them unreachable.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One metadata attempt; between attempts the error callback is served.
const STEP: Duration = Duration::from_millis(250);

/// What kind of refusal an error callback reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// SASL: unknown user, wrong password, mechanism not offered.
    Authentication,
    /// TLS: handshake failed, certificate not trusted or not for this address.
    Tls,
}

impl Refusal {
    /// The refusal an error code stands for, if it is one (not a transient failure).
    fn of(code: RDKafkaErrorCode) -> Option<Refusal> {
        match code {
            RDKafkaErrorCode::Authentication
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::UnsupportedSASLMechanism
            | RDKafkaErrorCode::IllegalSASLState => Some(Refusal::Authentication),
            RDKafkaErrorCode::SSL => Some(Refusal::Tls),
            _ => None,
        }
    }

    /// Which settings to check.
    fn hint(self) -> &'static str {
        match self {
            Refusal::Authentication => {
                "check [bus] sasl_mechanism, sasl_username and sasl_password (SOTP__BUS__SASL_PASSWORD)"
            }
            Refusal::Tls => {
                "check [bus] ssl_ca_location (the CA that signed the brokers' certificates) and that the certificates name the addresses in [bus] brokers"
            }
        }
    }
}

/// A client context that keeps the first refusal librdkafka reports.
#[derive(Default)]
struct ProbeContext {
    refused: Mutex<Option<(Refusal, String)>>,
}

impl ClientContext for ProbeContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        if let Some(kind) = error.rdkafka_error_code().and_then(Refusal::of) {
            let mut first = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| (kind, reason.to_string()));
        } else {
            tracing::debug!(%error, reason, "librdkafka error while probing the brokers");
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Waits until the brokers answer a metadata request; fails as soon as they refuse this
/// client (authentication or TLS), or after [`CONNECT_TIMEOUT`] when they never answer.
pub(super) async fn probe(config: &KafkaConfig) -> Result<Metadata, KafkaError> {
    let client: BaseProducer<ProbeContext, NoCustomPartitioner> = config
        .client()
        .create_with_context(ProbeContext::default())
        .map_err(KafkaError::Client)?;
    let brokers = config.brokers.clone();
    let security = describe(config);
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let attempt = client.client().fetch_metadata(None, STEP);
            // Serves the error callback (a producer's callbacks run in `poll`).
            client.poll(Duration::ZERO);
            let refused = client.context().refused.lock().map(|r| r.clone());
            if let Ok(Some((kind, reason))) = refused {
                return Err(KafkaError::Refused {
                    brokers,
                    security,
                    reason,
                    hint: kind.hint(),
                });
            }
            match attempt {
                Ok(metadata) => return Ok(metadata),
                Err(source) if Instant::now() >= deadline => {
                    return Err(KafkaError::Unreachable { brokers, source });
                }
                Err(_) => {}
            }
        }
    })
    .await
    .map_err(|e| KafkaError::Topic {
        topic: String::new(),
        reason: e.to_string(),
    })?
}

/// The security settings in words, for error messages (never the password).
fn describe(config: &KafkaConfig) -> String {
    let s = &config.security;
    let mut out = format!("security_protocol = {}", s.protocol);
    if let Some(m) = &s.sasl_mechanism {
        out.push_str(&format!(", sasl_mechanism = {m}"));
    }
    if let Some(u) = &s.sasl_username {
        out.push_str(&format!(", sasl_username = `{u}`"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_apart_from_transient_failures() {
        assert_eq!(
            Refusal::of(RDKafkaErrorCode::Authentication),
            Some(Refusal::Authentication)
        );
        assert_eq!(Refusal::of(RDKafkaErrorCode::SSL), Some(Refusal::Tls));
        assert_eq!(Refusal::of(RDKafkaErrorCode::BrokerTransportFailure), None);
        assert_eq!(Refusal::of(RDKafkaErrorCode::AllBrokersDown), None);
    }

    #[test]
    fn the_description_names_the_user_but_never_the_password() {
        let c = KafkaConfig {
            security: crate::Security {
                protocol: crate::SecurityProtocol::SaslSsl,
                sasl_mechanism: Some("SCRAM-SHA-512".into()),
                sasl_username: Some("sotp".into()),
                sasl_password: Some(sotp_schemas::Secret::new("hunter2-secret")),
                ssl_ca_location: None,
            },
            ..KafkaConfig::default()
        };
        let d = describe(&c);
        assert_eq!(
            d,
            "security_protocol = sasl_ssl, sasl_mechanism = SCRAM-SHA-512, sasl_username = `sotp`"
        );
        assert!(!format!("{c:?}").contains("hunter2-secret"));
    }
}
