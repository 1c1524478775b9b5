//! Bus offsets carried inside Parquet files: what makes replays after a crash idempotent.
//!
//! Every file a flush writes holds, in its key-value metadata under [`OFFSETS_KEY`], the
//! *cumulative* map "topic/partition → next offset" of every event the table had received
//! when the flush started. The newest flush's files therefore say exactly which offsets
//! are already in Parquet. After a restart the sink reads that map back
//! ([`read_file_offsets`]) and skips every replayed event below it, so an event is written
//! once however often the bus delivers it. Kafka offsets are committed only after a flush,
//! from the same map, so nothing that is not in Parquet is ever marked consumed.

use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use crate::{ColdStore, StoreError};

/// The Parquet key-value metadata key of the offset map.
pub const OFFSETS_KEY: &str = "sotp.offsets";

/// "topic/partition" → next offset to read (one past the last event received): the
/// form of the streaming stage's checkpoints, with its helpers (the map key of one
/// partition, the pairs of one topic for a commit).
pub use sotp_bus::checkpoint::{InputOffsets as Offsets, for_topic, offset_key};

/// Raises every entry of `into` to at least the value in `from`.
pub fn merge(into: &mut Offsets, from: &Offsets) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(*v);
        *e = (*e).max(*v);
    }
}

/// Encodes the rows of one hour (`parts`, in order) as Parquet with the offset map in
/// the file's metadata.
pub(crate) fn encode_with_offsets(
    parts: &[RecordBatch],
    props: WriterProperties,
    offsets: &Offsets,
) -> Result<Bytes, StoreError> {
    crate::writer::encode_with(parts, props, |w| {
        if !offsets.is_empty() {
            let json = serde_json::to_string(offsets).unwrap_or_default();
            w.append_key_value_metadata(KeyValue::new(OFFSETS_KEY.to_string(), json));
        }
    })
}

/// Reads the offset map of one file (empty when it has none: written on the in-process
/// bus or by an older version). Only the file's footer is fetched.
pub async fn read_file_offsets(store: &ColdStore, path: &Path) -> Result<Offsets, StoreError> {
    let bad = |why: &str| StoreError::Io {
        path: path.to_string(),
        source: std::io::Error::other(format!("not a parquet file: {why}")),
    };
    // The footer: metadata, its length (u32 LE) and the magic `PAR1`.
    let size = store.store().head(path).await?.size;
    if size < 12 {
        return Err(bad("too short"));
    }
    let tail = store.store().get_range(path, size - 8..size).await?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("no PAR1 at the end"));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 12 > size {
        return Err(bad("footer longer than the file"));
    }
    let footer = store
        .store()
        .get_range(path, size - 8 - len..size - 8)
        .await?;
    let metadata = ParquetMetaDataReader::decode_metadata(&footer)?;
    let kv = metadata.file_metadata().key_value_metadata();
    let json = kv
        .and_then(|kv| kv.iter().find(|e| e.key == OFFSETS_KEY))
        .and_then(|e| e.value.clone());
    Ok(match json {
        Some(j) => serde_json::from_str(&j).map_err(|e| StoreError::Io {
            path: path.to_string(),
            source: std::io::Error::other(format!("bad {OFFSETS_KEY} metadata: {e}")),
        })?,
        None => Offsets::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos, samples_to_batch};

    use super::*;

    fn batch(n: usize) -> RecordBatch {
        let dev = DeviceId::new("d");
        let name: Arc<str> = Arc::from("d");
        let col: Arc<str> = Arc::from("test");
        let m = MetricName::new("t.x");
        let samples: Vec<MetricSample> = (0..n)
            .map(|i| MetricSample::gauge(UtcNanos(i as i64), &dev, &name, &col, &m, 0.0))
            .collect();
        samples_to_batch(&samples)
    }

    #[tokio::test]
    async fn flushed_offsets_survive_a_reopen_and_unflushed_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = ColdStore::open("", dir.path()).unwrap();
        let open = || crate::test_support::metrics_table(&store);
        let t = open().await;
        let k0 = offset_key("sotp.metrics.raw", 0);
        let k1 = offset_key("sotp.metrics.raw", 1);
        t.append_with_offsets(batch(3), &Offsets::from([(k0.clone(), 3)]));
        t.append_with_offsets(batch(2), &Offsets::from([(k1.clone(), 7)]));
        assert_eq!(t.received_offset(&k1), Some(7));
        assert!(
            t.flushed_offsets().is_empty(),
            "nothing is durable before a flush"
        );
        t.flush().await.unwrap();
        assert_eq!(
            t.flushed_offsets(),
            Offsets::from([(k0.clone(), 3), (k1.clone(), 7)])
        );
        // Received but never flushed: lost with the process, so not remembered.
        t.append_with_offsets(batch(1), &Offsets::from([(k0.clone(), 9)]));
        drop(t);
        let t = open().await;
        assert_eq!(t.received_offset(&k0), Some(3));
        assert_eq!(t.received_offset(&k1), Some(7));
        assert_eq!(t.flushed_offsets().len(), 2);
    }

    #[tokio::test]
    async fn a_file_that_is_not_parquet_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = ColdStore::open("", dir.path()).unwrap();
        let path = Path::from("metrics/x.parquet");
        for bytes in [
            &b"PAR1"[..],
            b"0123456789abcdef",
            b"PAR1\xff\xff\x00\x00PAR1",
        ] {
            store
                .store()
                .put(&path, bytes::Bytes::copy_from_slice(bytes).into())
                .await
                .unwrap();
            let e = read_file_offsets(&store, &path)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("metrics/x.parquet") && e.contains("not a parquet file"),
                "{e}"
            );
        }
    }

    #[test]
    fn merge_keeps_the_highest_offset_and_for_topic_filters() {
        let mut a = Offsets::from([(offset_key("t.a", 0), 5), (offset_key("t.a", 1), 9)]);
        merge(
            &mut a,
            &Offsets::from([(offset_key("t.a", 0), 7), (offset_key("t.b", 0), 3)]),
        );
        assert_eq!(a[&offset_key("t.a", 0)], 7);
        assert_eq!(a[&offset_key("t.a", 1)], 9);
        let mut c = for_topic(&a, "t.a");
        c.sort();
        assert_eq!(c, vec![(0, 7), (1, 9)]);
        assert_eq!(for_topic(&a, "t.b"), vec![(0, 3)]);
    }
}
