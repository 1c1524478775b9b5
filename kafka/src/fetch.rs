//! What the consumers of one bus fetched from the brokers, from librdkafka's statistics
//! (`statistics.interval.ms`, off unless [`super::KafkaConfig::statistics_interval`] is
//! set): fetch requests, bytes and messages received. The Kafka benchmark prints them
//! with the bytes per request, to tell a consumer starved by small fetches from one
//! that is slow to decode. A plain subscription's documents arrive while it is read
//! (librdkafka serves them from the consumer's queue, in `recv`); a rebalancing one's
//! thread polls all the time.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

/// Sums over the bus's consumers since they started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchTotals {
    /// Fetch requests sent.
    pub requests: u64,
    /// Bytes received from the brokers (fetch responses and any other response).
    pub bytes: u64,
    /// Messages received.
    pub messages: u64,
}

/// The latest statistics of each consumer client, by client name.
#[derive(Debug, Default)]
pub(super) struct FetchStats {
    clients: Mutex<HashMap<String, FetchTotals>>,
}

/// The few fields of librdkafka's statistics document read here.
#[derive(Deserialize)]
struct Document {
    name: String,
    #[serde(default)]
    rxmsgs: u64,
    #[serde(default)]
    brokers: HashMap<String, Broker>,
}

#[derive(Deserialize)]
struct Broker {
    #[serde(default)]
    rxbytes: u64,
    #[serde(default)]
    req: HashMap<String, u64>,
}

impl FetchStats {
    /// Takes one statistics document (cumulative per client).
    pub(super) fn record(&self, json: &[u8]) {
        let doc: Document = match serde_json::from_slice(json) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "librdkafka statistics not understood");
                return;
            }
        };
        let mut t = FetchTotals {
            messages: doc.rxmsgs,
            ..FetchTotals::default()
        };
        for b in doc.brokers.values() {
            t.bytes += b.rxbytes;
            t.requests += b.req.get("Fetch").copied().unwrap_or(0);
        }
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(doc.name, t);
    }

    /// The sums over every client that reported.
    pub(super) fn totals(&self) -> FetchTotals {
        let clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .values()
            .fold(FetchTotals::default(), |a, c| FetchTotals {
                requests: a.requests + c.requests,
                bytes: a.bytes + c.bytes,
                messages: a.messages + c.messages,
            })
    }
}

#[cfg(test)]
#[test]
fn totals_sum_the_latest_document_of_each_client() {
    let stats = FetchStats::default();
    let doc = |name: &str, msgs: u64, fetches: u64, bytes: u64| {
        format!(
            r#"{{"name":"{name}","type":"consumer","rxmsgs":{msgs},"brokers":{{
              "127.0.0.1:9092/1":{{"rxbytes":{bytes},"req":{{"Fetch":{fetches},"Heartbeat":7}}}},
              "GroupCoordinator":{{"rxbytes":10,"req":{{"Heartbeat":3}}}}}}}}"#
        )
    };
    stats.record(doc("a", 100, 4, 1000).as_bytes());
    stats.record(doc("b", 50, 2, 500).as_bytes());
    // A later document of `a` replaces its earlier one (librdkafka's are cumulative).
    stats.record(doc("a", 300, 9, 3000).as_bytes());
    stats.record(b"not json");
    assert_eq!(
        stats.totals(),
        FetchTotals {
            requests: 11,
            bytes: 3000 + 10 + 500 + 10,
            messages: 350,
        }
    );
}
