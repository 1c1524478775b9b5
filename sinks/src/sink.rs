//! The metrics sink: consumes a topic into a table's hot tier and rolls Parquet files.
//!
//! On a partitioned bus each event has an origin (topic, partition, offset): events
//! below the table's received offset of their partition are replays of rows already in
//! the table and are skipped (counted in `sotp_sink_replayed_events_total`); offsets are
//! committed only after a flush, from the offsets written into the Parquet files.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use sotp_bus::{Rebalance, Received, Subscription};
use sotp_schemas::{
    AlertBatchBuilder, AlertEvent, CommandBatchBuilder, CommandRecord, EventBatch, LogBatchBuilder,
    LogRecord, MetricBatchBuilder, MetricSample, RollupBatchBuilder, RollupRow,
};

use crate::offsets::{self, Offsets};
use crate::recent::RecentTimes;
use crate::recent_alerts::RecentAlerts;
use crate::recent_logs::RecentLogs;
use crate::watermark::SeriesWatermark;
use tokio_util::sync::CancellationToken;

use crate::{StorageConfig, TableStore};

/// Consumes metric batches from `sub` into `table` until the bus closes, then flushes
/// everything. Rows are gathered into batches of `batch_rows` (or `batch_latency`),
/// Parquet files roll by `max_file_rows`, `max_file_age` or half of `hot_max_bytes`, and
/// the hot tier keeps `hot_window` within `hot_max_bytes`.
///
/// A flush runs beside the reading ([`BackgroundFlush`]). A failed flush keeps the rows
/// in memory and is retried; while it keeps failing the sink reads on until twice
/// `max_file_rows` rows wait, then stops reading, so back-pressure reaches the
/// collectors instead of data being lost.
pub async fn run_metrics_sink(
    sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
) {
    run_metrics_sink_with(sub, table, config, shutdown, None).await;
}

/// How a metrics sink on Kafka tells a repeated event from a new one (both dropped rows
/// are counted in `sotp_sink_repeated_rows_total` and logged).
#[derive(Debug)]
pub enum Repeats {
    /// The streaming stage's outputs (derived samples, rollups): a row not newer than its
    /// series' newest stored one is a repeat of the stage after its restart
    /// ([`crate::watermark`]).
    Watermark(SeriesWatermark),
    /// Collectors' raw samples: a sample whose (series, time) is already stored is an
    /// event the producer delivered twice ([`crate::recent`]).
    Exact(RecentTimes),
    /// Log records: a record whose (source, receive time, raw bytes) is already stored
    /// is an event the producer delivered twice ([`crate::recent_logs`]). Used by
    /// [`crate::log_sink::run_logs_sink_with`].
    Logs(RecentLogs),
    /// Alert transitions: one whose (alert, state) is already stored is the stage's
    /// output again after its restart ([`crate::recent_alerts`]).
    Alerts(RecentAlerts),
}

impl Repeats {
    /// `false` when `s` is a repeat to drop.
    fn is_new(&mut self, s: &MetricSample) -> bool {
        match self {
            Repeats::Watermark(w) => w.advance_sample(s),
            Repeats::Exact(r) => r.insert_sample(s),
            Repeats::Logs(_) | Repeats::Alerts(_) => true,
        }
    }

    /// `false` when `e` is a repeat to drop.
    fn is_new_alert(&mut self, e: &AlertEvent) -> bool {
        match self {
            Repeats::Alerts(a) => a.insert_event(e),
            Repeats::Watermark(_) | Repeats::Exact(_) | Repeats::Logs(_) => true,
        }
    }

    /// `false` when `r` is a repeat to drop.
    pub(crate) fn is_new_log(&mut self, r: &LogRecord) -> bool {
        match self {
            Repeats::Logs(l) => l.insert_record(r),
            Repeats::Watermark(_) | Repeats::Exact(_) | Repeats::Alerts(_) => true,
        }
    }

    /// `false` when `r` is a repeat to drop.
    fn is_new_rollup(&mut self, r: &RollupRow) -> bool {
        match self {
            Repeats::Watermark(w) => w.advance_rollup(r),
            Repeats::Exact(_) | Repeats::Logs(_) | Repeats::Alerts(_) => true,
        }
    }

    /// Reads the other writers' files it has not read yet (after an assignment).
    async fn catch_up(&mut self, table: &TableStore) -> Result<usize, crate::StoreError> {
        match self {
            Repeats::Watermark(w) => w.catch_up(table).await,
            Repeats::Exact(r) => r.catch_up(table).await,
            Repeats::Logs(l) => l.catch_up(table).await,
            Repeats::Alerts(a) => a.catch_up(table).await,
        }
    }

    /// The log line of dropped repeats.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Repeats::Watermark(_) | Repeats::Alerts(_) => {
                "repeated stream outputs already in the table dropped"
            }
            Repeats::Exact(_) | Repeats::Logs(_) => {
                "events delivered twice to the topic dropped (already in the table)"
            }
        }
    }
}

/// [`run_metrics_sink`] with a filter of repeated events (on Kafka, see [`Repeats`]).
pub async fn run_metrics_sink_with(
    sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
    repeats: Option<Repeats>,
) {
    run_sink::<MetricBatchBuilder>(sub, table, config, shutdown, repeats).await;
}

/// What a sink takes from its topic: the kind of events, the Arrow builder of their
/// rows, and their repeat test. The sink loop ([`run_sink`]) is the same for all.
pub(crate) trait SinkRows: Send + 'static {
    /// One event (a row).
    type Event;
    /// Logged when a delivery holds another kind of events.
    const OTHER_KIND: &'static str;

    /// A builder for batches of `batch_rows` rows.
    fn for_batches_of(batch_rows: usize) -> Self;
    /// The events of a batch, or the batch back when it holds another kind.
    fn events(batch: EventBatch) -> Result<Vec<Self::Event>, EventBatch>;
    /// Appends one row.
    fn push_event(&mut self, e: &Self::Event);
    /// Rows appended since the last batch.
    fn rows(&self) -> usize;
    /// The rows appended so far, as one batch (the builder starts again).
    fn take_batch(&mut self) -> RecordBatch;
    /// `false` when `e` is a repeat to drop.
    fn is_new(repeats: &mut Repeats, e: &Self::Event) -> bool;
}

impl SinkRows for MetricBatchBuilder {
    type Event = MetricSample;
    const OTHER_KIND: &'static str = "non-metric events on a metrics topic ignored";

    fn for_batches_of(batch_rows: usize) -> Self {
        Self::with_capacity(batch_rows)
    }

    fn events(batch: EventBatch) -> Result<Vec<MetricSample>, EventBatch> {
        match batch {
            EventBatch::Metrics(samples) => Ok(samples),
            other => Err(other),
        }
    }

    fn push_event(&mut self, e: &MetricSample) {
        self.push(e);
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        self.finish()
    }

    fn is_new(repeats: &mut Repeats, e: &MetricSample) -> bool {
        repeats.is_new(e)
    }
}

impl SinkRows for CommandBatchBuilder {
    type Event = CommandRecord;
    const OTHER_KIND: &'static str = "non-command events on the commands topic ignored";

    fn for_batches_of(_batch_rows: usize) -> Self {
        Self::default()
    }

    fn events(batch: EventBatch) -> Result<Vec<CommandRecord>, EventBatch> {
        match batch {
            EventBatch::Commands(events) => Ok(events),
            other => Err(other),
        }
    }

    fn push_event(&mut self, e: &CommandRecord) {
        self.push(e);
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        self.finish()
    }

    fn is_new(_repeats: &mut Repeats, _e: &CommandRecord) -> bool {
        true
    }
}

impl SinkRows for AlertBatchBuilder {
    type Event = AlertEvent;
    const OTHER_KIND: &'static str = "non-alert events on the alerts topic ignored";

    fn for_batches_of(_batch_rows: usize) -> Self {
        Self::default()
    }

    fn events(batch: EventBatch) -> Result<Vec<AlertEvent>, EventBatch> {
        match batch {
            EventBatch::Alerts(events) => Ok(events),
            other => Err(other),
        }
    }

    fn push_event(&mut self, e: &AlertEvent) {
        self.push(e);
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        self.finish()
    }

    fn is_new(repeats: &mut Repeats, e: &AlertEvent) -> bool {
        repeats.is_new_alert(e)
    }
}

impl SinkRows for RollupBatchBuilder {
    type Event = RollupRow;
    const OTHER_KIND: &'static str = "non-rollup events on the rollups topic ignored";

    fn for_batches_of(_batch_rows: usize) -> Self {
        Self::default()
    }

    fn events(batch: EventBatch) -> Result<Vec<RollupRow>, EventBatch> {
        match batch {
            EventBatch::Rollups(rows) => Ok(rows),
            other => Err(other),
        }
    }

    fn push_event(&mut self, e: &RollupRow) {
        self.push(e);
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        self.finish()
    }

    fn is_new(repeats: &mut Repeats, e: &RollupRow) -> bool {
        repeats.is_new_rollup(e)
    }
}

impl SinkRows for LogBatchBuilder {
    type Event = LogRecord;
    const OTHER_KIND: &'static str = "non-log events on the logs topic ignored";

    fn for_batches_of(batch_rows: usize) -> Self {
        // Log rows are large: the builder grows past this when batches are bigger.
        Self::with_capacity(batch_rows.min(8192))
    }

    fn events(batch: EventBatch) -> Result<Vec<LogRecord>, EventBatch> {
        match batch {
            EventBatch::Logs(records) => Ok(records),
            other => Err(other),
        }
    }

    fn push_event(&mut self, e: &LogRecord) {
        self.push(e);
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn take_batch(&mut self) -> RecordBatch {
        self.finish()
    }

    fn is_new(repeats: &mut Repeats, e: &LogRecord) -> bool {
        repeats.is_new_log(e)
    }
}

/// The loop of every sink: consumes batches of `B`'s events from `sub` into `table`
/// until the bus closes, then flushes everything (see [`run_metrics_sink`]). On a
/// partitioned bus, replays below the table's offsets are skipped and `repeats` drops
/// events delivered twice; offsets are committed only for what the files hold.
pub(crate) async fn run_sink<B: SinkRows>(
    mut sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
    mut repeats: Option<Repeats>,
) {
    let mut builder = B::for_batches_of(config.batch_rows);
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_delay = Duration::from_secs(1);
    // Offsets of the rows in `builder`, appended with them.
    let mut pending = Offsets::new();
    let mut keys: Vec<String> = Vec::new();
    let mut flushing = BackgroundFlush::default();
    loop {
        flushing.bound(sub.as_mut(), &table, &config).await;
        tokio::select! {
            d = sub.recv_or_rebalance() => match d {
                Some(Received::Rebalance(r)) => {
                    if builder.rows() > 0 {
                        table.append_with_offsets(builder.take_batch(), &std::mem::take(&mut pending));
                    }
                    // The flush in progress holds part of the rows: let it finish, then
                    // the hand-over flushes the rest.
                    flushing.wait().await;
                    on_rebalance(sub.as_mut(), &table, r, repeats.as_mut(), &mut retry_delay, &shutdown).await;
                }
                Some(Received::Events(d)) => match B::events(d.batch) {
                    Ok(events) => {
                        let (mut replayed, mut repeated) = (0u64, 0u64);
                        for (i, e) in events.iter().enumerate() {
                            if let Some(o) = d.origins.get(i)
                                && !take_in(&mut pending, &mut keys, &table, o)
                            {
                                replayed += 1;
                                continue;
                            }
                            if let Some(r) = repeats.as_mut()
                                && !B::is_new(r, e)
                            {
                                repeated += 1;
                                continue;
                            }
                            builder.push_event(e);
                            if builder.rows() >= config.batch_rows {
                                table.append_with_offsets(builder.take_batch(), &std::mem::take(&mut pending));
                            }
                        }
                        if replayed > 0 {
                            metrics::counter!("sotp_sink_replayed_events_total", "table" => table.name().to_string()).increment(replayed);
                            tracing::info!(table = table.name(), events = replayed, "replayed events already in the table skipped");
                        }
                        if repeated > 0 {
                            metrics::counter!("sotp_sink_repeated_rows_total", "table" => table.name().to_string()).increment(repeated);
                            let message = repeats.as_ref().map_or("", Repeats::message);
                            tracing::info!(table = table.name(), rows = repeated, "{message}");
                        }
                    }
                    Err(other) => tracing::warn!(table = table.name(), events = other.len(), "{}", B::OTHER_KIND),
                },
                None => break,
            },
            _ = tick.tick() => {
                if builder.rows() > 0 {
                    table.append_with_offsets(builder.take_batch(), &std::mem::take(&mut pending));
                }
                flushing.tick(sub.as_mut(), &table, &config, &shutdown);
                table.evict_beyond(config.hot_window, config.hot_max_bytes);
            }
        }
    }
    if builder.rows() > 0 {
        table.append_with_offsets(builder.take_batch(), &pending);
    }
    flushing.wait().await;
    final_flush(&table).await;
    // Offsets are committed only for what the files hold.
    commit(sub.as_mut(), &table);
}

/// The Parquet flush of a sink, run beside its reading, so ingest goes on during the
/// encode of a file. While one runs (or keeps failing and retrying), at most about twice
/// `max_file_rows` rows wait in memory; then the sink waits for it instead of reading on
/// (back-pressure). Offsets are committed once a flush has finished: only for what the
/// files hold.
#[derive(Debug, Default)]
pub(crate) struct BackgroundFlush(Option<tokio::task::JoinHandle<()>>);

impl BackgroundFlush {
    /// Before reading on: waits for the running flush (then commits) when twice
    /// `max_file_rows` rows, or `hot_max_bytes`, already wait.
    pub(crate) async fn bound(
        &mut self,
        sub: &mut dyn Subscription,
        table: &TableStore,
        config: &StorageConfig,
    ) {
        if self.0.is_some()
            && (table.pending().0 >= 2 * config.max_file_rows
                || table.hot_bytes().1 >= config.hot_max_bytes)
        {
            self.wait().await;
            commit(sub, table);
        }
    }

    /// On each tick: commits after a finished flush, and starts one when a file's worth
    /// of rows (or `max_file_age`) waits and none runs.
    pub(crate) fn tick(
        &mut self,
        sub: &mut dyn Subscription,
        table: &Arc<TableStore>,
        config: &StorageConfig,
        shutdown: &CancellationToken,
    ) {
        if self.0.as_ref().is_some_and(|f| f.is_finished()) {
            self.0 = None;
            commit(sub, table);
        }
        let (rows, age) = table.pending();
        if self.0.is_none()
            && (rows >= config.max_file_rows
                || age.is_some_and(|a| a >= config.max_file_age)
                || table.hot_bytes().1 >= config.hot_max_bytes / 2)
        {
            let (table, shutdown) = (table.clone(), shutdown.clone());
            self.0 = Some(tokio::spawn(async move {
                flush_until_ok(&table, &mut Duration::from_secs(1), &shutdown).await;
            }));
        }
    }

    /// Waits for the running flush, if any (before a hand-over, at the end). The caller
    /// commits.
    pub(crate) async fn wait(&mut self) {
        if let Some(f) = self.0.take()
            && let Err(e) = f.await
        {
            tracing::error!(error = %e, "a background flush failed");
        }
    }
}

/// Acts on a rebalance, once every row received before it is appended to `table`:
/// - revoking: flush, commit, then acknowledge, so the next owner starts after what this
///   sink wrote;
/// - assigned: read the other writers' new files and offset maps (retrying while the
///   storage fails) before any event of the new partitions, so their replays are skipped
///   and the repeat filter knows the series stored elsewhere.
pub(crate) async fn on_rebalance(
    sub: &mut dyn Subscription,
    table: &TableStore,
    rebalance: Rebalance,
    mut repeats: Option<&mut Repeats>,
    retry_delay: &mut Duration,
    shutdown: &CancellationToken,
) {
    match rebalance {
        Rebalance::Revoking { partitions, ack } => {
            flush_until_ok(table, retry_delay, shutdown).await;
            commit(sub, table);
            tracing::info!(
                table = table.name(),
                topic = sub.topic_name().unwrap_or(""),
                ?partitions,
                "revoked partitions flushed and committed"
            );
            ack.done();
        }
        Rebalance::Assigned { partitions } => loop {
            let caught = match table.catch_up().await {
                Ok(maps) => match repeats.as_deref_mut() {
                    Some(r) => r.catch_up(table).await.map(|files| (maps, files)),
                    None => Ok((maps, 0)),
                },
                Err(e) => Err(e),
            };
            match caught {
                Ok((maps, files)) => {
                    tracing::info!(
                        table = table.name(),
                        topic = sub.topic_name().unwrap_or(""),
                        ?partitions,
                        offset_maps = maps,
                        files_read = files,
                        "assigned partitions: other writers' offsets and series caught up"
                    );
                    return;
                }
                Err(e) => {
                    tracing::error!(table = table.name(), error = %e, retry_in_s = retry_delay.as_secs(),
                        "cannot read the other writers' files before consuming assigned partitions; retrying");
                    if shutdown.is_cancelled() {
                        return;
                    }
                    tokio::time::sleep(*retry_delay).await;
                    *retry_delay = (*retry_delay * 2).min(Duration::from_secs(60));
                }
            }
        },
    }
}

/// Writes everything still in memory once the bus is closed, retrying a few times.
pub(crate) async fn final_flush(table: &TableStore) {
    for attempt in 1..=5 {
        match table.flush().await {
            Ok(r) => {
                tracing::info!(
                    table = table.name(),
                    rows = r.rows,
                    files = r.files,
                    "final flush done"
                );
                return;
            }
            Err(e) => {
                tracing::error!(table = table.name(), attempt, error = %e, "final flush failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let (rows, _) = table.pending();
    tracing::error!(
        table = table.name(),
        rows,
        "rows could not be written to parquet and are lost at exit"
    );
}

/// Takes in the event at `o` unless the table holds it already (a replay: `false`),
/// recording its offset in `pending`. No allocation once the partition was seen: this
/// runs for every event a sink reads from Kafka.
pub(crate) fn take_in(
    pending: &mut Offsets,
    keys: &mut Vec<String>,
    table: &TableStore,
    o: &sotp_bus::Origin,
) -> bool {
    let key = partition_key(keys, &o.topic, o.partition);
    let seen = pending
        .get(key)
        .copied()
        .or_else(|| table.received_offset(key));
    if seen.is_some_and(|next| o.offset < next) {
        return false;
    }
    match pending.get_mut(key) {
        Some(next) => *next = o.offset + 1,
        None => {
            pending.insert(key.to_string(), o.offset + 1);
        }
    }
    true
}

/// The offsets key (`topic/partition`) of one partition, allocated once per partition.
fn partition_key<'a>(keys: &'a mut Vec<String>, topic: &str, partition: i32) -> &'a str {
    let is = |k: &String| {
        k.strip_prefix(topic)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|p| p.parse::<i32>() == Ok(partition))
    };
    match keys.iter().position(is) {
        Some(i) => &keys[i],
        None => {
            keys.push(offsets::offset_key(topic, partition));
            keys.last().map_or("", String::as_str)
        }
    }
}

/// Commits what is in Parquet for this subscription's topic.
pub(crate) fn commit(sub: &mut dyn Subscription, table: &TableStore) {
    let Some(topic) = sub.topic_name().map(str::to_string) else {
        return;
    };
    let offsets = offsets::for_topic(&table.flushed_offsets(), &topic);
    if let Err(e) = sub.commit(&offsets) {
        tracing::warn!(topic, error = %e, "offset commit failed; it is retried after the next flush");
    }
}

pub(crate) async fn flush_until_ok(
    table: &TableStore,
    delay: &mut Duration,
    shutdown: &CancellationToken,
) {
    loop {
        match table.flush().await {
            Ok(_) => {
                *delay = Duration::from_secs(1);
                return;
            }
            Err(e) => {
                metrics::counter!("sotp_flush_errors_total", "table" => table.name().to_string())
                    .increment(1);
                tracing::error!(table = table.name(), error = %e, retry_in_s = delay.as_secs(), "flush failed; rows stay in memory");
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::time::sleep(*delay).await;
                *delay = (*delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_key_is_made_once_and_never_confused() {
        let mut keys = Vec::new();
        assert_eq!(partition_key(&mut keys, "sotp.logs", 1), "sotp.logs/1");
        assert_eq!(partition_key(&mut keys, "sotp.logs", 10), "sotp.logs/10");
        assert_eq!(partition_key(&mut keys, "sotp.log", 1), "sotp.log/1");
        assert_eq!(partition_key(&mut keys, "sotp.logs", 1), "sotp.logs/1");
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(keys.iter().all(|k| {
            let (t, p) = k.rsplit_once('/').unwrap();
            offsets::offset_key(t, p.parse().unwrap()) == *k
        }));
    }
}
