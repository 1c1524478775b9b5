//! Settings of the Kafka bus, already validated (the `[bus]` section maps onto this).

use std::path::PathBuf;
use std::time::Duration;

use rdkafka::ClientConfig;
use sotp_schemas::{Secret, Topic};

/// librdkafka's `security.protocol`: TLS or not, SASL or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The name librdkafka and the configuration use.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Sends SASL credentials.
    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Runs over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How SOTP authenticates to the brokers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// TLS and SASL or not.
    pub protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, with SASL protocols.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password (the configuration loader has resolved any `env:`/`file:`
    /// reference already). `Debug` never shows the value.
    pub sasl_password: Option<Secret>,
    /// CA certificate file (PEM) to verify the brokers, with TLS protocols.
    pub ssl_ca_location: Option<PathBuf>,
}

/// The Kafka bus's settings.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port,host:port`.
    pub brokers: String,
    /// Prefix of every topic name (`sotp.`).
    pub topic_prefix: String,
    /// Partitions of topics SOTP creates.
    pub partitions: i32,
    /// Replication factor of topics SOTP creates.
    pub replication: i32,
    /// Events the producer buffer holds while the brokers are slow or unreachable; when
    /// full, the oldest are dropped and counted.
    pub buffer_events: usize,
    /// Folder of the disk spool that takes events when the memory buffer is full.
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold; 0 disables it.
    pub spool_max_bytes: u64,
    /// Consumer group session timeout: how soon a dead process's partitions move.
    pub session_timeout: Duration,
    /// Prefix of consumer group names (`sotp-`), so several deployments share a cluster.
    pub group_prefix: String,
    /// Where messages that cannot be decoded are set aside (one file each); `None` to
    /// only log and count them.
    pub dead_letter_dir: Option<PathBuf>,
    /// Authentication and encryption.
    pub security: Security,
    /// How often consumers report librdkafka's statistics to
    /// [`crate::KafkaBus::fetch_totals`]; `None` (the default) turns them off.
    pub statistics_interval: Option<Duration>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "sotp.".into(),
            partitions: 6,
            replication: 1,
            buffer_events: 1_000_000,
            spool_dir: None,
            spool_max_bytes: 0,
            session_timeout: Duration::from_secs(10),
            group_prefix: "sotp-".into(),
            dead_letter_dir: None,
            security: Security {
                protocol: SecurityProtocol::Plaintext,
                ..Security::default()
            },
            statistics_interval: None,
        }
    }
}

impl KafkaConfig {
    /// The full name of `topic`.
    pub fn topic(&self, topic: Topic) -> String {
        topic.full_name(&self.topic_prefix)
    }

    /// The full name of a consumer group.
    pub fn group(&self, group: &str) -> String {
        format!("{}{group}", self.group_prefix)
    }

    /// librdkafka settings every client shares: brokers and security.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("security.protocol", self.security.protocol.as_str())
            .set("log_level", "4");
        if let Some(m) = &self.security.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &self.security.sasl_username {
            c.set("sasl.username", u);
        }
        // A sealed value is reported by `validate` before any client is made.
        if let Some(p) = self
            .security
            .sasl_password
            .as_ref()
            .and_then(|p| p.expose().ok())
        {
            c.set("sasl.password", p);
        }
        if let Some(ca) = &self.security.ssl_ca_location {
            c.set("ssl.ca.location", ca.display().to_string());
        }
        c
    }

    /// Consumer settings: group, manual commits, session timeout.
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let session = self.session_timeout.as_millis().max(1000);
        let mut c = self.client();
        c.set("group.id", self.group(group))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", session.to_string())
            .set("heartbeat.interval.ms", (session / 6).max(100).to_string())
            .set("enable.partition.eof", "false")
            // A fetch waits at most this long for data. librdkafka's 500 ms default held
            // every stage behind a waiting fetch while others had data (measured on tansu:
            // end to end 134-141k samples/s at 500 ms, 182-396k at 50 ms); idle, a member
            // asks 20 times a second, which costs a broker nothing.
            .set("fetch.wait.max.ms", "50")
            // Once librdkafka holds `queued.min.messages` (100,000) fetched messages it
            // stops fetching for this long. At the default 1,000 ms a consumer that
            // empties that queue in under a second idles for the rest: catching up on a
            // full topic ran at 126-183k messages/s on tansu, at 10 ms 690-850k
            // (`kafka_bus consume`, docs/BENCHMARKS.md).
            .set("fetch.queue.backoff.ms", "10");
        if let Some(every) = self.statistics_interval {
            c.set(
                "statistics.interval.ms",
                every.as_millis().clamp(1, i32::MAX as u128).to_string(),
            );
        }
        c
    }

    /// Problems with these settings, as (field, reason) pairs for `[bus]`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.brokers.split(',').any(|b| {
            b.trim()
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        }) {
            e.push((
                "bus.brokers".into(),
                format!("`{}` is not a list of host:port", self.brokers),
            ));
        }
        let legal = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !legal(&self.topic_prefix) || self.topic_prefix.len() > 200 {
            e.push((
                "bus.topic_prefix".into(),
                format!(
                    "`{}`: topic names may only hold letters, digits, `.`, `_` and `-`",
                    self.topic_prefix
                ),
            ));
        }
        if !legal(&self.group_prefix) {
            e.push((
                "bus.group_prefix".into(),
                format!(
                    "`{}`: use letters, digits, `.`, `_` and `-`",
                    self.group_prefix
                ),
            ));
        }
        if !(1..=10_000).contains(&self.partitions) {
            e.push((
                "bus.partitions".into(),
                format!("must be between 1 and 10000, got {}", self.partitions),
            ));
        }
        if !(1..=100).contains(&self.replication) {
            e.push((
                "bus.replication".into(),
                format!("must be between 1 and 100, got {}", self.replication),
            ));
        }
        if self.buffer_events == 0 {
            e.push(("bus.buffer_events".into(), "must be at least 1".into()));
        }
        let sec = &self.security;
        if sec.protocol.is_sasl() {
            match sec.sasl_mechanism.as_deref() {
                Some("PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") => {}
                other => e.push((
                    "bus.sasl_mechanism".into(),
                    format!(
                        "`{}`: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                        other.unwrap_or("")
                    ),
                )),
            }
            if sec.sasl_username.is_none() || sec.sasl_password.is_none() {
                e.push((
                    "bus.sasl_username".into(),
                    "SASL needs sasl_username and sasl_password".into(),
                ));
            }
        } else if sec.sasl_mechanism.is_some()
            || sec.sasl_username.is_some()
            || sec.sasl_password.is_some()
        {
            // librdkafka ignores SASL settings under these protocols: the client would
            // connect unauthenticated while the configuration says otherwise.
            e.push((
                "bus.security_protocol".into(),
                format!(
                    "`{}` sends no SASL credentials, yet sasl_mechanism, sasl_username or sasl_password is set: use sasl_plaintext or sasl_ssl",
                    sec.protocol
                ),
            ));
        }
        if sec.sasl_password.as_ref().is_some_and(|p| p.is_sealed()) {
            e.push((
                "bus.sasl_password".into(),
                "a sealed value (enc:...) cannot be used here: give the password, env:NAME or file:/path".into(),
            ));
        }
        if sec.ssl_ca_location.is_some() && !sec.protocol.is_tls() {
            e.push((
                "bus.ssl_ca_location".into(),
                format!(
                    "only used with ssl or sasl_ssl, but security_protocol = `{}`",
                    sec.protocol
                ),
            ));
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(c: &KafkaConfig) -> Vec<String> {
        c.validate().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn defaults_are_valid_and_topics_carry_the_prefix() {
        let c = KafkaConfig::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.topic(Topic::MetricsRaw), "sotp.metrics.raw");
        assert_eq!(c.group("sink"), "sotp-sink");
    }

    #[test]
    fn consumers_keep_fetching_while_their_queue_drains_and_report_statistics_only_when_asked() {
        let c = KafkaConfig::default();
        let consumer = c.consumer("g");
        // librdkafka's 1,000 ms default idles a consumer that empties its queue of
        // 100,000 messages in under a second (catching up ran 3-4x slower).
        let backoff: u64 = consumer
            .get("fetch.queue.backoff.ms")
            .and_then(|v| v.parse().ok())
            .expect("fetch.queue.backoff.ms set");
        assert!(backoff <= 50, "{backoff} ms");
        assert_eq!(consumer.get("statistics.interval.ms"), None);
        let asked = KafkaConfig {
            statistics_interval: Some(Duration::from_millis(500)),
            ..KafkaConfig::default()
        };
        assert_eq!(
            asked.consumer("g").get("statistics.interval.ms"),
            Some("500")
        );
    }

    #[test]
    fn every_problem_is_named() {
        let c = KafkaConfig {
            brokers: "host-without-port,ok:9092".into(),
            topic_prefix: "bad prefix".into(),
            partitions: 0,
            replication: 0,
            buffer_events: 0,
            security: Security {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some("GSSAPI".into()),
                ..Security::default()
            },
            ..KafkaConfig::default()
        };
        assert_eq!(
            fields(&c),
            [
                "bus.brokers",
                "bus.topic_prefix",
                "bus.partitions",
                "bus.replication",
                "bus.buffer_events",
                "bus.sasl_mechanism",
                "bus.sasl_username"
            ]
        );
    }

    #[test]
    fn sasl_scram_settings_reach_librdkafka() {
        let c = KafkaConfig {
            security: Security {
                protocol: SecurityProtocol::SaslSsl,
                sasl_mechanism: Some("SCRAM-SHA-512".into()),
                sasl_username: Some("u".into()),
                sasl_password: Some(Secret::new("p")),
                ssl_ca_location: Some("/etc/ca.pem".into()),
            },
            ..KafkaConfig::default()
        };
        assert!(c.validate().is_empty());
        let cc = c.client();
        assert_eq!(cc.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(cc.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cc.get("ssl.ca.location"), Some("/etc/ca.pem"));
        // librdkafka accepts the combination (built with TLS and SASL support); it reads
        // the CA file at creation, so leave it out here.
        let no_ca = KafkaConfig {
            security: Security {
                ssl_ca_location: None,
                ..c.security.clone()
            },
            ..c.clone()
        };
        let p: Result<rdkafka::producer::BaseProducer, _> = no_ca.client().create();
        assert!(p.is_ok(), "{:?}", p.err());
    }

    #[test]
    fn sasl_password_reaches_the_client_but_never_debug_and_sealed_is_refused() {
        let with = |password: &str| KafkaConfig {
            security: Security {
                protocol: SecurityProtocol::SaslPlaintext,
                sasl_mechanism: Some("SCRAM-SHA-256".into()),
                sasl_username: Some("sotp".into()),
                sasl_password: Some(Secret::new(password)),
                ssl_ca_location: None,
            },
            ..KafkaConfig::default()
        };
        let literal = with("literal-secret-value");
        assert!(literal.validate().is_empty(), "{:?}", literal.validate());
        assert_eq!(
            literal.client().get("sasl.password"),
            Some("literal-secret-value")
        );
        assert!(!format!("{literal:?}").contains("literal-secret-value"));

        let sealed = with("enc:v1:abc");
        assert_eq!(fields(&sealed), ["bus.sasl_password"]);
        assert_eq!(sealed.client().get("sasl.password"), None);
    }

    #[test]
    fn settings_a_protocol_would_ignore_are_refused() {
        // librdkafka connects unauthenticated under `plaintext` even with a user set.
        let sasl_without_sasl = KafkaConfig {
            security: Security {
                protocol: SecurityProtocol::Plaintext,
                sasl_mechanism: Some("SCRAM-SHA-512".into()),
                sasl_username: Some("u".into()),
                sasl_password: Some(Secret::new("p")),
                ssl_ca_location: None,
            },
            ..KafkaConfig::default()
        };
        assert_eq!(fields(&sasl_without_sasl), ["bus.security_protocol"]);
        let ca_without_tls = KafkaConfig {
            security: Security {
                protocol: SecurityProtocol::SaslPlaintext,
                ssl_ca_location: Some("/etc/ca.pem".into()),
                ..sasl_without_sasl.security.clone()
            },
            ..KafkaConfig::default()
        };
        assert_eq!(fields(&ca_without_tls), ["bus.ssl_ca_location"]);
    }
}
