//! The API's view of alerting ([`sotp_server::Alerting`]): the configured rules with the
//! SQL they run, the receivers without their secrets, and the backtest, which feeds
//! stored samples (hot tier and Parquet, in time order) through the live evaluator's
//! windows and lifecycle ([`AlertWindows`]) and returns the transitions it made.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sotp_alerts::{AlertWindows, AlertingConfig, Evaluator, RuleConfig};
use sotp_notify::ReceiverConfig;
use sotp_query::{Caller, QueryEngine};
use sotp_schemas::{AlertEvent, EventBatch, batch_to_samples};
use sotp_server::BacktestError;

/// Samples handed to the evaluator at a time during a backtest.
const CHUNK: usize = 20_000;

/// Rules and receivers from the configuration.
#[derive(Debug)]
pub struct ConfigAlerting {
    rules: Vec<RuleConfig>,
    receivers: Vec<ReceiverConfig>,
    alerting: AlertingConfig,
}

impl ConfigAlerting {
    /// The configuration's alerting.
    pub fn new(config: &crate::config::Config) -> Arc<Self> {
        Arc::new(Self {
            rules: config.alert_rules.clone(),
            receivers: config.receivers.clone(),
            alerting: config.alerting.clone(),
        })
    }
}

/// A transition as the backtest reports it.
pub fn transition_json(e: &AlertEvent) -> Value {
    json!({
        "time": e.time.to_string(),
        "state": e.state.as_str(),
        "alert_id": e.alert_id,
        "labels": e.labels,
        "value": e.value,
        "message": e.message,
    })
}

fn ns_literal(ns: i64) -> String {
    format!("arrow_cast({ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))')")
}

async fn backtest(
    engine: QueryEngine,
    rule: RuleConfig,
    alerting: AlertingConfig,
    from: i64,
    to: i64,
) -> Result<Vec<Value>, BacktestError> {
    let failed = |e: sotp_query::QueryError| BacktestError::Failed(e.to_string());
    let dir = std::env::temp_dir().join("sotp-backtest-unsaved");
    let mut windows = AlertWindows::new(
        std::slice::from_ref(&rule),
        alerting,
        dir.join("state.json"),
    )
    .map_err(|e| BacktestError::Invalid(e.reason))?;
    let devices = engine
        .execute("SELECT id, name, address FROM devices WHERE active")
        .await
        .map_err(failed)?;
    windows.set_devices(devices.batches.iter().flat_map(|b| {
        use arrow::array::AsArray;
        let col = |i: usize| b.column(i).as_string::<i32>().clone();
        let (ids, names, addrs) = (col(0), col(1), col(2));
        (0..b.num_rows())
            .map(|r| {
                (
                    ids.value(r).to_string(),
                    names.value(r).to_string(),
                    addrs.value(r).to_string(),
                )
            })
            .collect::<Vec<_>>()
    }));
    let start = from.saturating_sub(i64::try_from(rule.range().as_nanos()).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT * FROM metrics WHERE time > {} AND time <= {} ORDER BY time",
        ns_literal(start),
        ns_literal(to)
    );
    let mut stream = engine
        .stream_for(Caller::default(), &sql)
        .await
        .map_err(failed)?;
    let mut events = Vec::new();
    let mut pending = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        pending.extend(batch_to_samples(&batch).map_err(|e| BacktestError::Failed(e.to_string()))?);
        if pending.len() >= CHUNK {
            events.extend(windows.push(EventBatch::Metrics(std::mem::take(&mut pending))));
        }
    }
    events.extend(windows.push(EventBatch::Metrics(pending)));
    events.extend(windows.finish_until(to));
    Ok(events
        .iter()
        .filter(|e| e.time.0 > from && e.rule_name == rule.name)
        .map(transition_json)
        .collect())
}

impl sotp_server::Alerting for ConfigAlerting {
    fn rules(&self) -> Vec<Value> {
        self.rules
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("compiled_sql".into(), json!(r.compiled_sql().ok()));
                    m.insert("managed_by".into(), json!("config"));
                }
                v
            })
            .collect()
    }

    fn receivers(&self) -> Vec<Value> {
        self.receivers
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "kind": r.kind,
                    "url": r.url,
                    "signed": r.secret.is_some(),
                    "from": r.from,
                    "to": r.to,
                    "authenticated": r.username.is_some(),
                    "managed_by": "config",
                })
            })
            .collect()
    }

    fn backtest(
        &self,
        engine: QueryEngine,
        rule: Value,
        from: i64,
        to: i64,
    ) -> BoxFuture<'static, Result<Vec<Value>, BacktestError>> {
        let alerting = self.alerting.clone();
        Box::pin(async move {
            let rule: RuleConfig = serde_json::from_value(rule)
                .map_err(|e| BacktestError::Invalid(format!("the rule does not parse: {e}")))?;
            Evaluator::validate(&rule).map_err(|e| BacktestError::Invalid(e.reason))?;
            backtest(engine, rule, alerting, from, to).await
        })
    }
}
