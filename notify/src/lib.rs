//! Alert notifications: the alert book in the control database ([`book`]: every
//! transition from the `alerts` topic, once), the outbox drained by the [`dispatch`]er
//! (once per receiver, retried with backoff, every attempt kept), receivers
//! ([`send`]: Alertmanager-compatible webhooks signed with HMAC-SHA256, Slack, email
//! over SMTP with STARTTLS or TLS) and their payloads ([`payload`]).

pub mod book;
pub mod config;
pub mod dispatch;
pub mod payload;
pub mod send;

use std::collections::BTreeMap;
use std::sync::Arc;

use sotp_bus::Subscription;
use sotp_inventory::Store;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{InhibitRule, NotifyConfig, ReceiverConfig, ReceiverKind};
pub use dispatch::Dispatcher;
pub use send::{Channel, SIGNATURE_HEADER, sign};

/// Starts the book on `alerts` (a subscription to the `alerts` topic) and the
/// dispatcher; both stop with `stop`.
pub fn start(
    alerts: Box<dyn Subscription>,
    store: Store,
    receivers: &[ReceiverConfig],
    inhibit: Vec<InhibitRule>,
    config: NotifyConfig,
    stop: CancellationToken,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut channels = BTreeMap::new();
    for r in receivers {
        channels.insert(r.name.clone(), Channel::new(r)?);
    }
    let wake = Arc::new(Notify::new());
    let book = tokio::spawn(book::run_book(
        alerts,
        store.clone(),
        Arc::new(inhibit),
        wake.clone(),
        stop.clone(),
    ));
    let dispatcher = Dispatcher {
        store,
        channels,
        config,
    };
    let dispatch = tokio::spawn(dispatcher.run(wake, stop));
    Ok(vec![book, dispatch])
}
