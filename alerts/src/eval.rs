//! Runs rule SQL over one window's events with DataFusion, and validates rules at save
//! time by planning them over empty tables of the same shapes.
//!
//! The window's tables have the schemas of the SQL tables users query (`metrics`,
//! `metrics_1m`, `logs`; `devices` with `id`, `name`, `address`, `active`), so a rule
//! that runs here runs the same over Parquet (the backtest).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use sotp_schemas::{log_schema, metric_schema, rollup_schema};

use crate::rule::{RuleConfig, RuleError};
use crate::window_table::{Rows, WindowTable};

/// The tables of one window, as record batches.
#[derive(Clone, Debug)]
pub struct WindowTables {
    /// `metrics`, grouped by metric.
    pub metrics: RecordBatch,
    /// The rows of each metric in `metrics` (offset, length); a metric missing here is
    /// read by scanning every row.
    pub metric_ranges: std::collections::HashMap<String, (usize, usize)>,
    /// `metrics_1m`.
    pub rollups: RecordBatch,
    /// `logs`.
    pub logs: RecordBatch,
    /// `devices`.
    pub devices: RecordBatch,
}

/// The schema of the evaluator's `devices` table.
pub fn devices_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("address", DataType::Utf8, false),
        Field::new("active", DataType::Boolean, false),
    ]))
}

/// A `devices` batch of (id, name, address) rows, all active.
pub fn devices_batch<'a>(rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> RecordBatch {
    let (mut ids, mut names, mut addrs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, n, a) in rows {
        ids.push(i);
        names.push(n);
        addrs.push(a);
    }
    let active = BooleanArray::from(vec![true; ids.len()]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(addrs)),
        Arc::new(active),
    ];
    RecordBatch::try_new(devices_schema(), columns).expect("devices columns match schema")
}

impl WindowTables {
    /// Empty tables (validation).
    pub fn empty() -> Self {
        Self {
            metrics: RecordBatch::new_empty(metric_schema()),
            metric_ranges: std::collections::HashMap::new(),
            rollups: RecordBatch::new_empty(rollup_schema()),
            logs: RecordBatch::new_empty(log_schema()),
            devices: RecordBatch::new_empty(devices_schema()),
        }
    }
}

/// One row of a rule's result: an instance whose condition holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The non-value columns, as text (null columns left out).
    pub labels: BTreeMap<String, String>,
    /// The `value` column, when there is one.
    pub value: Option<f64>,
}

/// A DataFusion session for windows: one partition (a window is small; evaluation runs
/// on the stage's thread).
pub struct Evaluator {
    ctx: SessionContext,
    /// `metrics`, `metrics_1m`, `logs`, `devices`: registered once, rows replaced.
    tables: [Arc<WindowTable>; 4],
    /// Optimized logical plans by SQL text: a rule is planned once, not every window.
    plans: std::sync::Mutex<std::collections::HashMap<String, LogicalPlan>>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").finish_non_exhaustive()
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(65_536);
        let ctx = SessionContext::new_with_config(config);
        let tables = [
            WindowTable::new(metric_schema(), Some("metric")),
            WindowTable::new(rollup_schema(), None),
            WindowTable::new(log_schema(), None),
            WindowTable::new(devices_schema(), None),
        ];
        for (name, t) in RULE_TABLES.iter().zip(&tables) {
            ctx.register_table(*name, t.clone())
                .expect("a fresh session takes the window tables");
        }
        Self {
            ctx,
            tables,
            plans: Default::default(),
        }
    }
}

/// Plans kept (rules and their hold SQL, shared queries); beyond, the cache restarts.
const MAX_PLANS: usize = 4096;

/// Tables a rule may read.
pub const RULE_TABLES: [&str; 4] = ["metrics", "metrics_1m", "logs", "devices"];

impl Evaluator {
    /// Makes `tables` the window the next [`Evaluator::run`] calls read.
    pub fn load(&self, tables: &WindowTables) -> Result<(), String> {
        let rows = |batch: &RecordBatch| Rows {
            batch: batch.clone(),
            ranges: Default::default(),
        };
        self.tables[0].replace(Rows {
            batch: tables.metrics.clone(),
            ranges: tables.metric_ranges.clone(),
        });
        self.tables[1].replace(rows(&tables.rollups));
        self.tables[2].replace(rows(&tables.logs));
        self.tables[3].replace(rows(&tables.devices));
        Ok(())
    }

    /// Runs `sql` (read-only) over the loaded window: its rows as hits.
    pub fn run(&self, sql: &str) -> Result<Vec<Hit>, String> {
        let (_, batches) = self.collect(sql)?;
        let mut hits = Vec::new();
        for b in &batches {
            hits.extend(hits_of(b)?);
        }
        Ok(hits)
    }

    fn collect(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
        // One partition and in-memory tables: nothing is spawned, the plan runs on this
        // thread; `unconstrained` for the reason given in the counter stage's engine.
        futures::executor::block_on(tokio::task::unconstrained(async {
            let state = self.ctx.state();
            let cached = self
                .plans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(sql)
                .cloned();
            let plan = match cached {
                Some(plan) => plan,
                None => {
                    let options = SQLOptions::new()
                        .with_allow_ddl(false)
                        .with_allow_dml(false)
                        .with_allow_statements(false);
                    let df = self
                        .ctx
                        .sql_with_options(sql, options)
                        .await
                        .map_err(|e| e.to_string())?;
                    let plan = state
                        .optimize(df.logical_plan())
                        .map_err(|e| e.to_string())?;
                    let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
                    if plans.len() >= MAX_PLANS {
                        plans.clear();
                    }
                    plans.insert(sql.to_string(), plan.clone());
                    plan
                }
            };
            let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
            let physical = state
                .query_planner()
                .create_physical_plan(&plan, &state)
                .await
                .map_err(|e| e.to_string())?;
            let batches = datafusion::physical_plan::collect(physical, self.ctx.task_ctx())
                .await
                .map_err(|e| e.to_string())?;
            Ok((schema, batches))
        }))
    }

    /// Checks a rule as it is saved: its form, then its SQL planned and run over empty
    /// tables (only `metrics`, `metrics_1m`, `logs` and `devices` exist; read-only), and
    /// the shape of its result (a numeric `value`, other columns that read as text).
    /// Returns the SQL it runs.
    pub fn validate(rule: &RuleConfig) -> Result<String, RuleError> {
        let sql = rule.compiled_sql()?;
        let refuse = |reason: String| RuleError {
            rule: rule.name.clone(),
            reason,
        };
        let ev = Evaluator::default();
        ev.load(&WindowTables::empty()).map_err(refuse)?;
        let (schema, _) = ev
            .collect(&sql)
            .map_err(|e| refuse(format!("the SQL is refused: {e}")))?;
        shape(&schema).map_err(refuse)?;
        if schema.fields().is_empty() {
            return Err(refuse("the SQL returns no columns".into()));
        }
        if let Some(hold) = rule.compiled_hold_sql()? {
            let (held, _) = ev
                .collect(&hold)
                .map_err(|e| refuse(format!("hold_sql is refused: {e}")))?;
            let labels = |s: &Schema| -> Vec<String> {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != "value")
                    .collect()
            };
            if labels(&held) != labels(&schema) {
                return Err(refuse(format!(
                    "hold_sql must return the label columns of the rule's SQL ({:?}), not {:?}",
                    labels(&schema),
                    labels(&held)
                )));
            }
        }
        Ok(sql)
    }
}

fn shape(schema: &Schema) -> Result<(), String> {
    for f in schema.fields() {
        if f.name() == "value" {
            if !f.data_type().is_numeric() {
                return Err(format!(
                    "the `value` column must be numeric, not {}",
                    f.data_type()
                ));
            }
        } else if !can_cast_types(f.data_type(), &DataType::Utf8) {
            return Err(format!(
                "column `{}` ({}) cannot be a label: labels are text",
                f.name(),
                f.data_type()
            ));
        }
    }
    Ok(())
}

fn hits_of(b: &RecordBatch) -> Result<Vec<Hit>, String> {
    let schema = b.schema();
    shape(&schema)?;
    let mut labels: Vec<(String, ArrayRef)> = Vec::new();
    let mut value: Option<ArrayRef> = None;
    for (f, col) in schema.fields().iter().zip(b.columns()) {
        if f.name() == "value" {
            value = Some(cast(col, &DataType::Float64).map_err(|e| e.to_string())?);
        } else {
            labels.push((
                f.name().clone(),
                cast(col, &DataType::Utf8).map_err(|e| e.to_string())?,
            ));
        }
    }
    Ok((0..b.num_rows())
        .map(|row| Hit {
            labels: labels
                .iter()
                .filter(|(_, c)| c.is_valid(row))
                .map(|(n, c)| (n.clone(), c.as_string::<i32>().value(row).to_string()))
                .collect(),
            value: value.as_ref().and_then(|v| {
                let v = v.as_primitive::<Float64Type>();
                v.is_valid(row).then(|| v.value(row))
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos, samples_to_batch};

    fn sample(device: &str, metric: &str, t: i64, v: f64) -> MetricSample {
        MetricSample::gauge(
            UtcNanos(t),
            &DeviceId::new(device),
            &Arc::from(device),
            &Arc::from("test"),
            &MetricName::new(metric),
            v,
        )
    }

    #[test]
    fn hold_sql_with_other_label_columns_than_the_rule_is_refused() {
        let mut r = RuleConfig::with_sql(
            "hot",
            "SELECT device_id, instance, max(value) AS value FROM metrics GROUP BY device_id, instance HAVING max(value) > 0.9",
        );
        r.hold_sql = Some(
            "SELECT device_id, max(value) AS value FROM metrics GROUP BY device_id HAVING max(value) > 0.8".into(),
        );
        let why = Evaluator::validate(&r).unwrap_err().reason;
        assert!(why.contains("label columns"), "{why}");
        r.hold_sql = Some("SELECT device_id, instance, 1.0 AS value FROM nowhere".into());
        let why = Evaluator::validate(&r).unwrap_err().reason;
        assert!(why.contains("hold_sql is refused"), "{why}");
        r.hold_sql = Some(
            "SELECT device_id, instance, max(value) AS value FROM metrics GROUP BY device_id, instance HAVING max(value) > 0.8".into(),
        );
        assert!(Evaluator::validate(&r).is_ok());
    }

    #[test]
    fn rows_become_hits_with_labels_and_value() {
        let ev = Evaluator::default();
        let mut t = WindowTables::empty();
        t.metrics = samples_to_batch(&[
            sample("r1", "icmp.up", 1, 1.0),
            sample("r1", "icmp.up", 2, 0.0),
            sample("r2", "icmp.up", 1, 1.0),
        ]);
        ev.load(&t).unwrap();
        let rule = RuleConfig {
            availability: Some("icmp.up".into()),
            sql: None,
            ..RuleConfig::with_sql("down", "")
        };
        let hits = ev.run(&Evaluator::validate(&rule).unwrap()).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].labels["device"], "r1");
        assert_eq!(hits[0].labels["device_id"], "r1");
        assert!(
            !hits[0].labels.contains_key("instance"),
            "null columns are not labels"
        );
        assert_eq!(hits[0].value, Some(0.0));
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let bad = |sql: &str| {
            Evaluator::validate(&RuleConfig::with_sql("r", sql))
                .unwrap_err()
                .reason
        };
        assert!(bad("SELECT * FROM nowhere").contains("nowhere"));
        assert!(bad("SELECT device_id, nope FROM metrics").contains("nope"));
        assert!(bad("DELETE FROM metrics").contains("refused"));
        assert!(bad("CREATE TABLE x (a INT)").contains("refused"));
        assert!(bad("SELECT device_id, message AS value FROM logs").contains("numeric"));
        assert!(
            bad("SELECT device_id FROM logs WHERE regexp_like(message, '(')").contains("refused")
        );
        Evaluator::validate(&RuleConfig::with_sql(
            "ok",
            "SELECT device_id, count(*) AS value FROM logs GROUP BY device_id",
        ))
        .unwrap();
    }
}
