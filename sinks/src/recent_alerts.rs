//! Exact de-duplication of alert transitions: how the `alerts` sink drops what the
//! streaming stage publishes again after it restarted from its last checkpoint.
//!
//! A transition is identified by its alert (`alert_id`: one firing of one instance, a
//! hash of its fingerprint and start, the same when the stage computes it again) and the
//! state it moved into: one alert fires once and resolves once. The sink keeps the
//! (alert, state) pairs stored within [`LOOKBACK_HOURS`] hours of the newest transition
//! and drops one it already holds, counted in `sotp_sink_repeated_rows_total`. On start,
//! and on every partition assignment, the pairs are read back from the table's newest
//! Parquet files of other writers, like the metrics' watermarks.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use sotp_schemas::{AlertEvent, AlertState};

use crate::watermark::{FilesRead, LOOKBACK_HOURS, read_back_columns};
use crate::{StoreError, TableStore};

const LOOKBACK_NS: i64 = LOOKBACK_HOURS * 3600 * 1_000_000_000;

/// Stored transitions, by (alert id, state), with their time.
#[derive(Debug, Default)]
pub struct RecentAlerts {
    seen: HashMap<(String, &'static str), i64>,
    newest: i64,
    /// Size after the last pruning: the next prune waits until it doubles.
    pruned_at: usize,
    files: FilesRead,
}

impl RecentAlerts {
    /// Records the transition; `false` when it is already stored (a repeat to drop).
    pub fn insert_event(&mut self, e: &AlertEvent) -> bool {
        self.insert(e.alert_id.clone(), e.state.as_str(), e.time.0)
    }

    fn insert(&mut self, alert_id: String, state: &'static str, time: i64) -> bool {
        self.newest = self.newest.max(time);
        let new = self.seen.insert((alert_id, state), time).is_none();
        if self.seen.len() > 2 * self.pruned_at.max(1024) {
            let oldest = self.newest.saturating_sub(LOOKBACK_NS);
            self.seen.retain(|_, t| *t >= oldest);
            self.pruned_at = self.seen.len();
        }
        new
    }

    /// Transitions known.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when none is known.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Reads the stored transitions of the last [`LOOKBACK_HOURS`] hours (of any writer).
    pub async fn load(table: &TableStore) -> Result<Self, StoreError> {
        let mut r = Self::default();
        r.catch_up(table).await?;
        tracing::info!(
            table = table.name(),
            transitions = r.len(),
            "alert transitions read back"
        );
        Ok(r)
    }

    /// Reads the other writers' files not read yet. Returns the files read.
    pub async fn catch_up(&mut self, table: &TableStore) -> Result<usize, StoreError> {
        let mut files = std::mem::take(&mut self.files);
        let mut rows = Vec::new();
        let n = read_back_columns(table, &mut files, &["time", "alert_id", "state"], |b| {
            rows_of(b, &mut rows)
        })
        .await;
        self.files = files;
        for (alert_id, state, time) in rows {
            self.insert(alert_id, state, time);
        }
        n
    }
}

fn rows_of(b: &RecordBatch, out: &mut Vec<(String, &'static str, i64)>) {
    let (Some(time), Some(id), Some(state)) = (
        b.column_by_name("time")
            .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>()),
        b.column_by_name("alert_id")
            .and_then(|c| c.as_string_opt::<i32>()),
        b.column_by_name("state")
            .and_then(|c| c.as_string_opt::<i32>()),
    ) else {
        return;
    };
    for i in 0..b.num_rows() {
        if id.is_null(i) || state.is_null(i) {
            continue;
        }
        let state = match state.value(i) {
            s if s == AlertState::Firing.as_str() => AlertState::Firing.as_str(),
            s if s == AlertState::Resolved.as_str() => AlertState::Resolved.as_str(),
            _ => continue,
        };
        out.push((id.value(i).to_owned(), state, time.value(i)));
    }
}

#[cfg(test)]
mod tests;
