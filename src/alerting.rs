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

/// Most stored rows one backtest reads (all tables): beyond, narrow the range.
const MAX_ROWS: usize = 5_000_000;

/// One stored row handed to the evaluator.
enum Row {
    Metric(sotp_schemas::MetricSample),
    Rollup(sotp_schemas::RollupRow),
    Log(sotp_schemas::LogRecord),
    /// The time of a sample or log line of a table the rule does not read.
    Time(i64),
}

/// A run of rows of one kind, as handed to the evaluator.
enum Run {
    Events(EventBatch),
    Times(Vec<i64>),
}

impl Row {
    /// When the live stage sees it: a sample at its time, a log line when received, a
    /// minute's rollup once the minute closed.
    fn seen_at(&self) -> i64 {
        match self {
            Row::Metric(s) => s.time.0,
            Row::Rollup(r) => r.time.0.saturating_add(60_000_000_000),
            Row::Log(l) => l.received_at.0,
            Row::Time(t) => *t,
        }
    }

    fn run(self) -> Run {
        match self {
            Row::Metric(s) => Run::Events(EventBatch::Metrics(vec![s])),
            Row::Rollup(r) => Run::Events(EventBatch::Rollups(vec![r])),
            Row::Log(l) => Run::Events(EventBatch::Logs(vec![l])),
            Row::Time(t) => Run::Times(vec![t]),
        }
    }

    /// Adds the row to `run` when it is of the same kind; gives it back otherwise.
    fn join(self, run: &mut Run) -> Option<Row> {
        match (self, run) {
            (Row::Metric(s), Run::Events(EventBatch::Metrics(v))) => v.push(s),
            (Row::Rollup(r), Run::Events(EventBatch::Rollups(v))) => v.push(r),
            (Row::Log(l), Run::Events(EventBatch::Logs(v))) => v.push(l),
            (Row::Time(t), Run::Times(v)) => v.push(t),
            (other, _) => return Some(other),
        }
        None
    }
}

/// The stored rows of the tables `rule` reads (`metrics`, `metrics_1m`, `logs`) in
/// `(start, to]`, in the order the live stage sees them.
async fn stored_rows(
    engine: &QueryEngine,
    rule: &RuleConfig,
    start: i64,
    to: i64,
) -> Result<Vec<Row>, BacktestError> {
    let failed = |e: String| BacktestError::Failed(e);
    let text = [
        rule.compiled_sql().ok(),
        rule.compiled_hold_sql().ok().flatten(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .to_ascii_lowercase();
    let reads = |table: &str| {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == table)
    };
    let (from, until) = (ns_literal(start), ns_literal(to));
    let minute_before = ns_literal(start.saturating_sub(60_000_000_000));
    let mut queries = Vec::new();
    // The tables it does not read still tell which windows held data, as on the stream.
    if !reads("metrics") {
        queries.push(format!(
            "SELECT CAST(time AS BIGINT) AS t FROM metrics WHERE time > {from} AND time <= {until}"
        ));
    }
    if !reads("logs") {
        queries.push(format!(
            "SELECT CAST(received_at AS BIGINT) AS t FROM logs WHERE received_at > {from} AND received_at <= {until}"
        ));
    }
    if reads("metrics") {
        queries.push(format!(
            "SELECT * FROM metrics WHERE time > {from} AND time <= {until}"
        ));
    }
    if reads("metrics_1m") {
        queries.push(format!(
            "SELECT * FROM metrics_1m WHERE time > {minute_before} AND time <= {until}"
        ));
    }
    if reads("logs") {
        queries.push(format!(
            "SELECT * FROM logs WHERE received_at > {from} AND received_at <= {until}"
        ));
    }
    let mut rows: Vec<Row> = Vec::new();
    for sql in queries {
        let mut stream = engine
            .stream_for(Caller::default(), &sql)
            .await
            .map_err(|e| failed(e.to_string()))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| failed(e.to_string()))?;
            let decoded: Result<Vec<Row>, sotp_schemas::SchemaError> = if sql
                .contains(" AS t FROM ")
            {
                use arrow::array::{Array, AsArray};
                let t = batch
                    .column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>();
                Ok((0..batch.num_rows())
                    .filter(|i| t.is_valid(*i))
                    .map(|i| Row::Time(t.value(i)))
                    .collect())
            } else if sql.contains("FROM metrics_1m") {
                sotp_schemas::batch_to_rollups(&batch)
                    .map(|v| v.into_iter().map(Row::Rollup).collect())
            } else if sql.contains("FROM logs") {
                sotp_schemas::batch_to_logs(&batch).map(|v| v.into_iter().map(Row::Log).collect())
            } else {
                batch_to_samples(&batch).map(|v| v.into_iter().map(Row::Metric).collect())
            };
            rows.extend(decoded.map_err(|e| failed(e.to_string()))?);
            if rows.len() > MAX_ROWS {
                return Err(BacktestError::Invalid(format!(
                    "the range holds more than {MAX_ROWS} stored rows for this rule: backtest a shorter range"
                )));
            }
        }
    }
    rows.sort_by_key(Row::seen_at);
    tracing::info!(rule = %rule.name, rows = rows.len(), "backtest: stored rows read");
    Ok(rows)
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
    let rows = stored_rows(&engine, &rule, start, to).await?;
    // In the order the live stage sees them, in runs of one kind.
    let mut events = Vec::new();
    let mut rows = rows.into_iter();
    let mut next = rows.next();
    while let Some(first) = next.take() {
        let mut run = first.run();
        let mut n = 1;
        for row in rows.by_ref() {
            match row.join(&mut run) {
                None if n + 1 < CHUNK => n += 1,
                None => break,
                Some(other) => {
                    next = Some(other);
                    break;
                }
            }
        }
        events.extend(match run {
            Run::Events(batch) => windows.push(batch),
            Run::Times(times) => windows.push_times(&times),
        });
        if next.is_none() {
            next = rows.next();
        }
    }
    events.extend(windows.finish_until(to));
    Ok(events
        .iter()
        .filter(|e| e.time.0 > from && e.rule_name == rule.name)
        .map(transition_json)
        .collect())
}

/// A rule as the API shows it: its fields, the SQL it runs and where it is managed.
fn rule_view(r: &RuleConfig, managed_by: &str) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("compiled_sql".into(), json!(r.compiled_sql().ok()));
        m.insert("managed_by".into(), json!(managed_by));
    }
    v
}

impl ConfigAlerting {
    /// The checks of `[[alert_rules]]` for one rule given through the API.
    fn check_rule(&self, rule: &Value) -> Result<RuleConfig, String> {
        let rule: RuleConfig = serde_json::from_value(rule.clone())
            .map_err(|e| format!("the rule does not parse: {e}"))?;
        Evaluator::validate(&rule).map_err(|e| e.reason)?;
        for name in rule.receivers.iter().chain(&rule.escalate_to) {
            if !self.receivers.iter().any(|r| &r.name == name) {
                return Err(format!("receivers: no [[receivers]] named `{name}`"));
            }
        }
        if rule.escalate_after.is_some() && rule.escalate_to.is_empty() {
            return Err("escalate_to: escalate_after needs escalate_to".into());
        }
        Ok(rule)
    }
}

impl sotp_server::Alerting for ConfigAlerting {
    fn rules(&self) -> Vec<Value> {
        self.rules.iter().map(|r| rule_view(r, "config")).collect()
    }

    fn check(&self, rule: &Value) -> Result<Value, String> {
        self.check_rule(rule).map(|r| rule_view(&r, "api"))
    }

    fn is_configured(&self, name: &str) -> bool {
        self.rules.iter().any(|r| r.name == name)
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

/// How often the stage reads the rules managed through the API.
pub const RULES_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the rules managed through the API from the control database (skipping, with
/// an error logged, a stored rule this version no longer reads).
async fn api_rules(
    store: &sotp_inventory::Store,
) -> Result<Vec<RuleConfig>, sotp_inventory::InventoryError> {
    let mut rules = Vec::new();
    for r in store.alert_rules().await? {
        match serde_json::from_value::<RuleConfig>(r.body) {
            Ok(rule) => rules.push(rule),
            Err(e) => {
                tracing::error!(rule = %r.name, error = %e, "stored alert rule unreadable; not run")
            }
        }
    }
    Ok(rules)
}

/// The rules managed through the API, as the streaming stage follows them: read now
/// (an unreachable database is an error: the stage would run without them), then every
/// [`RULES_POLL`] until `stop`; a change is sent whole.
pub async fn rule_feed(
    store: sotp_inventory::Store,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<tokio::sync::watch::Receiver<Vec<RuleConfig>>> {
    use anyhow::Context;
    let first = api_rules(&store)
        .await
        .context("reading the alert rules managed through the API")?;
    tracing::info!(
        rules = first.len(),
        "alert rules managed through the API loaded"
    );
    let (tx, rx) = tokio::sync::watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RULES_POLL) => {}
            }
            match api_rules(&store).await {
                Ok(rules) => {
                    tx.send_if_modified(|current| {
                        let changed = *current != rules;
                        if changed {
                            *current = rules;
                        }
                        changed
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert rules not read; the stage keeps the rules it has")
                }
            }
        }
    });
    Ok(rx)
}
