//! DataFusion over each micro-batch: counter deltas and 1-minute rollup groups.
//!
//! Counters: the batch's counter observations plus one carried state row per series
//! (the last observation of the previous batches, `seq = -1`) form the `counters`
//! table; the window function `counter_delta`, over a window ordered by series and
//! arrival, classifies each observation against its predecessor of the same series
//! (rate, wrap, reset, reboot, implausible, ...) with exact u64 arithmetic
//! ([`counter_delta`]); counters never pass through f64.
//!
//! Rollups: every value to roll up forms the `rollup_in` table, grouped by series and
//! minute (`min`, `max`, `sum`, `count`, first arrival); the caller merges the groups
//! into the open minutes it carries from batch to batch.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, RecordBatch, StructArray,
    UInt8Array, UInt8Builder, UInt32Array, UInt64Array,
};
use arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Float64Type, Int64Type, Schema, UInt8Type, UInt32Type,
    UInt64Type,
};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::counter::{Delta, Point, Reason, counter_delta};

/// DataFusion failed on a micro-batch (a bug: the batches are built here).
#[derive(Debug, thiserror::Error)]
#[error("streaming stage query failed: {0}")]
pub(super) struct QueryError(#[from] datafusion::error::DataFusionError);

const REASONS: [Reason; 6] = [
    Reason::Reboot,
    Reason::DiscontinuityTime,
    Reason::Reset,
    Reason::WidthChanged,
    Reason::Implausible,
    Reason::NotNewer,
];

/// The window function `counter_delta(series, time_ns, value, width, up, disc,
/// max_per_s) OVER (ORDER BY series, seq)` -> struct { per_second, reason }: each row
/// against the row before it when that row is of the same series; reason 0 with a rate,
/// 1 + the index in [`REASONS`] for a discontinuity, null without a predecessor.
///
/// One window over the whole micro-batch ordered by (series, arrival) rather than one
/// partition per series: a micro-batch holds tens of thousands of series with one or
/// two rows each, and a partition per series costs far more than the sort. The
/// evaluator reads the sorted columns once (`evaluate_all`); `LAG` of each of six
/// columns went through a `ScalarValue` per row and cost more than the whole delta.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CounterDeltaWindow {
    signature: Signature,
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("per_second", DataType::Float64, true),
        Field::new("reason", DataType::UInt8, true),
    ])
}

impl WindowUDFImpl for CounterDeltaWindow {
    fn name(&self) -> &str {
        "counter_delta"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(CounterDeltaEvaluator))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(
            args.name(),
            DataType::Struct(result_fields()),
            true,
        )))
    }
}

#[derive(Debug)]
struct CounterDeltaEvaluator;

impl PartitionEvaluator for CounterDeltaEvaluator {
    fn evaluate_all(&mut self, a: &[ArrayRef], n: usize) -> DfResult<ArrayRef> {
        let series = a[0].as_primitive::<UInt32Type>();
        let time = a[1].as_primitive::<Int64Type>();
        let value = a[2].as_primitive::<UInt64Type>();
        let width = a[3].as_primitive::<UInt8Type>();
        let (up, disc) = (
            a[4].as_primitive::<UInt64Type>(),
            a[5].as_primitive::<UInt64Type>(),
        );
        let max = a[6].as_primitive::<Float64Type>();
        let opt = |arr: &UInt64Array, i: usize| arr.is_valid(i).then(|| arr.value(i));
        let point = |i: usize| Point {
            time_ns: time.value(i),
            value: value.value(i),
            width: width.value(i),
            uptime_ticks: opt(up, i),
            discontinuity_ticks: opt(disc, i),
        };
        let mut per_second = Float64Builder::with_capacity(n);
        let mut reason = UInt8Builder::with_capacity(n);
        for i in 0..n {
            if i == 0 || series.value(i - 1) != series.value(i) {
                per_second.append_null();
                reason.append_null();
                continue;
            }
            let max = max.is_valid(i).then(|| max.value(i));
            match counter_delta(&point(i - 1), &point(i), max) {
                Delta::Rate { per_second: r, .. } => {
                    per_second.append_value(r);
                    reason.append_value(0);
                }
                Delta::Discontinuity(why) => {
                    per_second.append_null();
                    let code = REASONS.iter().position(|r| *r == why).unwrap_or(0) + 1;
                    reason.append_value(code as u8);
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![Arc::new(per_second.finish()), Arc::new(reason.finish())];
        Ok(Arc::new(StructArray::new(result_fields(), columns, None)))
    }
}

/// The counter observations of one micro-batch, column by column.
#[derive(Debug, Default)]
pub(super) struct CounterRows {
    series: Vec<u32>,
    seq: Vec<i64>,
    time: Vec<i64>,
    value: Vec<u64>,
    width: Vec<u8>,
    up: Vec<Option<u64>>,
    disc: Vec<Option<u64>>,
    max: Vec<Option<f64>>,
}

impl CounterRows {
    /// Room for `n` rows.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            series: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            time: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            width: Vec::with_capacity(n),
            up: Vec::with_capacity(n),
            disc: Vec::with_capacity(n),
            max: Vec::with_capacity(n),
        }
    }

    /// Adds an observation of series `series`; `seq` is its arrival index in the batch
    /// (-1 for the carried state row), `max` the most it can grow per second.
    pub(super) fn push(&mut self, series: u32, seq: i64, p: &Point, max: Option<f64>) {
        self.series.push(series);
        self.seq.push(seq);
        self.time.push(p.time_ns);
        self.value.push(p.value);
        self.width.push(p.width);
        self.up.push(p.uptime_ticks);
        self.disc.push(p.discontinuity_ticks);
        self.max.push(max);
    }

    fn into_batch(self) -> DfResult<RecordBatch> {
        let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
        let schema = Schema::new(vec![
            f("series", DataType::UInt32, false),
            f("seq", DataType::Int64, false),
            f("time_ns", DataType::Int64, false),
            f("value", DataType::UInt64, false),
            f("width", DataType::UInt8, false),
            f("up", DataType::UInt64, true),
            f("disc", DataType::UInt64, true),
            f("max_per_s", DataType::Float64, true),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(self.series)),
            Arc::new(Int64Array::from(self.seq)),
            Arc::new(Int64Array::from(self.time)),
            Arc::new(UInt64Array::from(self.value)),
            Arc::new(UInt8Array::from(self.width)),
            Arc::new(UInt64Array::from(self.up)),
            Arc::new(UInt64Array::from(self.disc)),
            Arc::new(Float64Array::from(self.max)),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
    }
}

/// The values to roll up in one micro-batch.
#[derive(Debug, Default)]
pub(super) struct RollupRows {
    series: Vec<u32>,
    seq: Vec<i64>,
    minute: Vec<i64>,
    value: Vec<f64>,
}

impl RollupRows {
    /// Room for `n` rows.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            series: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            minute: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
        }
    }

    /// Adds a finite value of series `series` in minute `minute` (arrival index `seq`).
    pub(super) fn push(&mut self, series: u32, seq: i64, minute: i64, value: f64) {
        self.series.push(series);
        self.seq.push(seq);
        self.minute.push(minute);
        self.value.push(value);
    }
}

/// One (series, minute) group of a micro-batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Group {
    /// Series index.
    pub series: u32,
    /// Minute start, ns.
    pub minute: i64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum.
    pub sum: f64,
    /// Values.
    pub count: u64,
    /// Arrival index of its first value.
    pub first: i64,
}

const DELTAS: &str = "SELECT seq, d FROM (
    SELECT seq, counter_delta(series, time_ns, value, width, up, disc, max_per_s)
        OVER (ORDER BY series, seq) AS d
    FROM counters)
WHERE seq >= 0";

const GROUPS: &str =
    "SELECT series, minute, min(value), max(value), sum(value), count(value), min(seq)
FROM rollup_in GROUP BY series, minute";

/// A DataFusion session for the stage's micro-batches (one partition: a micro-batch is
/// small and the stage runs on one core).
pub(super) struct Engine {
    ctx: SessionContext,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(65_536);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udwf(WindowUDF::from(CounterDeltaWindow {
            signature: Signature::exact(
                vec![
                    DataType::UInt32,
                    DataType::Int64,
                    DataType::UInt64,
                    DataType::UInt8,
                    DataType::UInt64,
                    DataType::UInt64,
                    DataType::Float64,
                ],
                Volatility::Immutable,
            ),
        }));
        Self { ctx }
    }
}

/// Outcome of one counter observation: `None` without a predecessor.
pub(super) type Outcome = Option<Result<f64, Reason>>;

impl Engine {
    fn run(&self, table: &str, batch: RecordBatch, sql: &str) -> DfResult<Vec<RecordBatch>> {
        self.ctx.deregister_table(table)?;
        self.ctx.register_batch(table, batch)?;
        // One partition, in-memory operators only: nothing is spawned, so the plan runs
        // on this thread, inside or outside an async runtime. `unconstrained`: DataFusion's
        // operators yield cooperatively on tokio's task budget, and a budget used up by the
        // calling task (a drain of many queued deliveries) defers their wake-up until the
        // task returns to the scheduler, which a blocked thread never does: a deadlock.
        let out = futures::executor::block_on(tokio::task::unconstrained(async {
            let df = self.ctx.sql(sql).await?;
            df.collect().await
        }));
        self.ctx.deregister_table(table)?;
        out
    }

    /// The outcome of every batch row (`seq >= 0`), indexed by `seq` (`n` rows).
    pub(super) fn deltas(&self, rows: CounterRows, n: usize) -> Result<Vec<Outcome>, QueryError> {
        let mut out: Vec<Outcome> = vec![None; n];
        if rows.seq.is_empty() {
            return Ok(out);
        }
        for b in self.run("counters", rows.into_batch()?, DELTAS)? {
            let seq = b.column(0).as_primitive::<Int64Type>();
            let d = b.column(1).as_struct();
            let rate = d.column(0).as_primitive::<Float64Type>();
            let reason = d.column(1).as_primitive::<UInt8Type>();
            for i in 0..b.num_rows() {
                let slot = &mut out[seq.value(i) as usize];
                *slot = match reason.is_valid(i).then(|| reason.value(i)) {
                    None => None,
                    Some(0) => Some(Ok(rate.value(i))),
                    Some(c) => Some(Err(REASONS[usize::from(c) - 1])),
                };
            }
        }
        Ok(out)
    }

    /// The (series, minute) groups, in order of their first value's arrival.
    pub(super) fn groups(&self, rows: RollupRows) -> Result<Vec<Group>, QueryError> {
        if rows.seq.is_empty() {
            return Ok(Vec::new());
        }
        let schema = Schema::new(vec![
            Field::new("series", DataType::UInt32, false),
            Field::new("seq", DataType::Int64, false),
            Field::new("minute", DataType::Int64, false),
            Field::new("value", DataType::Float64, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(rows.series)),
            Arc::new(Int64Array::from(rows.seq)),
            Arc::new(Int64Array::from(rows.minute)),
            Arc::new(Float64Array::from(rows.value)),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), cols)
            .map_err(datafusion::error::DataFusionError::from)?;
        let mut groups = Vec::new();
        for b in self.run("rollup_in", batch, GROUPS)? {
            let c = b.columns();
            let (series, minute) = (
                c[0].as_primitive::<UInt32Type>(),
                c[1].as_primitive::<Int64Type>(),
            );
            let (min, max, sum) = (
                c[2].as_primitive::<Float64Type>(),
                c[3].as_primitive::<Float64Type>(),
                c[4].as_primitive::<Float64Type>(),
            );
            let (count, first) = (
                c[5].as_primitive::<Int64Type>(),
                c[6].as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                groups.push(Group {
                    series: series.value(i),
                    minute: minute.value(i),
                    min: min.value(i),
                    max: max.value(i),
                    sum: sum.value(i),
                    count: count.value(i) as u64,
                    first: first.value(i),
                });
            }
        }
        groups.sort_unstable_by_key(|g| g.first);
        Ok(groups)
    }
}
