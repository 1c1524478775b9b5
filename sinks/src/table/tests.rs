use std::sync::Arc;

use object_store::memory::InMemory;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos, samples_to_batch};

use super::*;

const HOUR: i64 = 3_600_000_000_000;

fn batch(first: u64, n: u64, hour_spread: bool) -> RecordBatch {
    let col: Arc<str> = Arc::from("test");
    let samples: Vec<MetricSample> = (first..first + n)
        .map(|i| {
            let dev = DeviceId::new(format!("d{}", i % 5));
            let t = 1_764_190_000_000_000_000
                + if hour_spread {
                    (i as i64 % 3) * HOUR
                } else {
                    0
                }
                + i as i64;
            MetricSample::gauge(
                UtcNanos(t),
                &dev,
                &Arc::from(dev.as_str()),
                &col,
                &MetricName::new("t.v"),
                i as f64,
            )
        })
        .collect();
    samples_to_batch(&samples)
}

async fn open(store: &ColdStore) -> Arc<TableStore> {
    crate::test_support::metrics_table(store).await
}

/// Reads a snapshot the way a query does: hot batches plus the listed Parquet files.
async fn values(snap: &TableSnapshot) -> Vec<u64> {
    let mut out = Vec::new();
    let mut push = |b: &RecordBatch| {
        let v = b
            .column_by_name("value")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        out.extend(v.values().iter().map(|x| *x as u64));
    };
    for b in &snap.hot {
        push(b);
    }
    for f in &snap.cold {
        let bytes = snap
            .store
            .store()
            .get(&f.path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for b in ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
        {
            push(&b.unwrap());
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test]
async fn flush_writes_sorted_hourly_files_and_restart_reads_them_back() {
    let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let t = open(&store).await;
    t.append(batch(0, 30, true));
    t.append(batch(30, 30, true));
    let r = t.flush().await.unwrap();
    assert_eq!((r.files, r.rows), (3, 60));
    assert_eq!(values(&t.snapshot()).await, (0..60).collect::<Vec<_>>());
    // Evicting everything moves readers to the files, still exactly once.
    assert_eq!(t.evict(Duration::ZERO), 60);
    let snap = t.snapshot();
    assert!(snap.hot.is_empty());
    assert_eq!(snap.cold.len(), 3);
    assert_eq!(values(&snap).await, (0..60).collect::<Vec<_>>());

    // A restart lists the files and continues the sequence after them.
    let t2 = open(&store).await;
    t2.append(batch(60, 5, false));
    assert_eq!(values(&t2.snapshot()).await, (0..65).collect::<Vec<_>>());
    t2.flush().await.unwrap();
    let names: Vec<String> = t2
        .snapshot()
        .cold
        .iter()
        .map(|f| f.path.to_string())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("metrics/date=")),
        "{names:?}"
    );

    // Within a file, rows are sorted by series then time.
    let f = &t.snapshot().cold[0];
    let bytes = store
        .store()
        .get(&f.path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let dev = b
        .column_by_name("device_id")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let devs: Vec<&str> = dev.iter().flatten().collect();
    let mut sorted = devs.clone();
    sorted.sort_unstable();
    assert_eq!(devs, sorted);
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8),
    Flush,
    Evict,
    /// Evicts (with a long window) down to this many bytes.
    EvictTo(u16),
    Query,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..20).prop_map(Op::Append),
        2 => Just(Op::Flush),
        2 => Just(Op::Evict),
        2 => (0u16..4096).prop_map(Op::EvictTo),
        3 => Just(Op::Query),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// However flushes and evictions interleave with writes and reads, a read sees every
    /// written row exactly once — also after a restart on the same files.
    #[test]
    fn every_row_is_seen_exactly_once(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
            let t = open(&store).await;
            let mut written = 0u64;
            for op in ops {
                match op {
                    Op::Append(n) => {
                        t.append(batch(written, u64::from(n), n % 2 == 0));
                        written += u64::from(n);
                    }
                    Op::Flush => { t.flush().await.unwrap(); }
                    Op::Evict => { t.evict(Duration::ZERO); }
                    Op::EvictTo(b) => { t.evict_beyond(Duration::from_secs(3600), usize::from(b)); }
                    Op::Query => {
                        prop_assert_eq!(values(&t.snapshot()).await, (0..written).collect::<Vec<_>>());
                    }
                }
            }
            prop_assert_eq!(values(&t.snapshot()).await, (0..written).collect::<Vec<_>>());
            t.flush().await.unwrap();
            let restarted = open(&store).await;
            prop_assert_eq!(values(&restarted.snapshot()).await, (0..written).collect::<Vec<_>>());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn over_its_byte_bound_the_hot_tier_drops_whole_flushed_ranges_oldest_first() {
    let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let t = open(&store).await;
    let hour = Duration::from_secs(3600);
    for i in 0..3 {
        t.append(batch(i * 10, 10, false));
    }
    t.flush().await.unwrap();
    let (first_range, _) = t.hot_bytes();
    for i in 3..6 {
        t.append(batch(i * 10, 10, false));
    }
    t.flush().await.unwrap();
    t.append(batch(60, 10, false));
    let (all, unflushed) = t.hot_bytes();
    assert!(unflushed > 0 && unflushed < all);
    // Within the window and the bound: nothing leaves.
    assert_eq!(t.evict_beyond(hour, all), 0);
    // One byte over: the oldest flushed range leaves whole, not a batch of it.
    assert_eq!(t.evict_beyond(hour, all - 1), 30);
    assert_eq!(t.hot_bytes().0, all - first_range);
    assert_eq!(values(&t.snapshot()).await, (0..70).collect::<Vec<_>>());
    // A bound of zero: every flushed range leaves; the unflushed rows stay.
    assert_eq!(t.evict_beyond(hour, 0), 30);
    assert_eq!(t.hot_bytes(), (unflushed, unflushed));
    assert_eq!(t.snapshot().hot_rows(), 10);
    assert_eq!(values(&t.snapshot()).await, (0..70).collect::<Vec<_>>());
}

#[tokio::test]
async fn offsets_are_the_max_over_every_writers_newest_map() {
    use crate::offsets::offset_key;
    let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let (a, b) = (open(&store).await, open(&store).await);
    assert_ne!(a.writer(), b.writer());
    let (p0, p1) = (offset_key("t", 0), offset_key("t", 1));
    a.append_with_offsets(
        batch(0, 3, false),
        &Offsets::from([(p0.clone(), 10), (p1.clone(), 5)]),
    );
    a.flush().await.unwrap();
    b.append_with_offsets(batch(3, 3, false), &Offsets::from([(p1.clone(), 20)]));
    b.flush().await.unwrap();
    // Not flushed: never durable, so never in anyone's map.
    b.append_with_offsets(batch(6, 1, false), &Offsets::from([(p1.clone(), 25)]));

    let c = open(&store).await;
    assert_eq!(
        (c.received_offset(&p0), c.received_offset(&p1)),
        (Some(10), Some(20))
    );
    assert_eq!(
        c.flushed_offsets(),
        Offsets::from([(p0.clone(), 10), (p1.clone(), 20)])
    );
    assert_eq!(values(&c.snapshot()).await, (0..6).collect::<Vec<_>>());

    // A writes again (it took p1 over): C sees it only once it catches up.
    a.append_with_offsets(
        batch(7, 2, false),
        &Offsets::from([(p0.clone(), 30), (p1.clone(), 40)]),
    );
    a.flush().await.unwrap();
    assert_eq!(c.received_offset(&p0), Some(10));
    assert_eq!(c.catch_up().await.unwrap(), 1, "only A's map is new");
    assert_eq!(
        (c.received_offset(&p0), c.received_offset(&p1)),
        (Some(30), Some(40))
    );
    assert_eq!(c.catch_up().await.unwrap(), 0, "nothing new: nothing read");
    assert_eq!(
        values(&c.snapshot()).await,
        [0, 1, 2, 3, 4, 5, 7, 8].to_vec(),
        "B's unflushed row is in no file"
    );
    // C's own files carry the merged map: a reader that only sees C's newest files
    // still knows everything below it is in Parquet.
    c.append_with_offsets(batch(9, 1, false), &Offsets::from([(p0.clone(), 31)]));
    c.flush().await.unwrap();
    c.evict(Duration::ZERO);
    let own = c
        .snapshot()
        .cold
        .into_iter()
        .find(|f| f.key.writer == Some(c.writer()))
        .unwrap();
    let map = crate::offsets::read_file_offsets(&store, &own.path)
        .await
        .unwrap();
    assert_eq!(map, Offsets::from([(p0, 31), (p1, 40)]));
}

/// A writer killed between the two puts of a flush spanning two hours: the file it did
/// write is not read and its map does not count, so the replay of those events is taken
/// in again, and every row is seen once.
#[tokio::test]
async fn a_flush_cut_between_its_files_is_not_read() {
    use crate::offsets::offset_key;
    let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let p0 = offset_key("t", 0);
    let a = open(&store).await;
    a.append_with_offsets(batch(0, 3, false), &Offsets::from([(p0.clone(), 3)]));
    a.flush().await.unwrap();
    // Rows 3..9 spread over three hours: one flush, three files.
    a.append_with_offsets(batch(3, 6, true), &Offsets::from([(p0.clone(), 9)]));
    let report = a.flush().await.unwrap();
    assert_eq!(report.files, 3);
    let second: Vec<ColdFile> = a
        .read()
        .files
        .iter()
        .filter(|f| f.key.files == 3)
        .cloned()
        .collect();
    assert_eq!(second.len(), 3);
    // The kill: the last put never happened.
    store.store().delete(&second[2].path).await.unwrap();

    let b = open(&store).await;
    assert_eq!(
        b.received_offset(&p0),
        Some(3),
        "the cut flush's map does not count"
    );
    assert_eq!(values(&b.snapshot()).await, vec![0, 1, 2]);
    // The bus replays events 3..9 (offsets 3..8): taken in once.
    b.append_with_offsets(batch(3, 6, true), &Offsets::from([(p0.clone(), 9)]));
    b.flush().await.unwrap();
    b.evict(Duration::ZERO);
    let c = open(&store).await;
    assert_eq!(values(&c.snapshot()).await, (0..9).collect::<Vec<_>>());
    assert_eq!(c.received_offset(&p0), Some(9));
}

#[tokio::test]
async fn the_files_of_a_cut_flush_are_deleted_after_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let store = ColdStore::local(dir.path()).unwrap();
    let a = open(&store).await;
    a.append(batch(0, 3, false));
    a.flush().await.unwrap();
    // Two flushes spanning three hours each; the last put of both never happened.
    for first in [3, 9] {
        a.append(batch(first, 6, true));
        a.flush().await.unwrap();
    }
    let on_disk = |f: &ColdFile| dir.path().join(f.path.as_ref());
    let cut: Vec<ColdFile> = a
        .read()
        .files
        .iter()
        .filter(|f| f.key.files == 3)
        .cloned()
        .collect();
    assert_eq!(cut.len(), 6);
    let (old, fresh): (Vec<_>, Vec<_>) = cut.iter().partition(|f| f.key.seq_start == 1);
    std::fs::remove_file(on_disk(old[2])).unwrap();
    std::fs::remove_file(on_disk(fresh[2])).unwrap();
    // The first flush was cut two hours ago, the second just now.
    let two_hours_ago = std::time::SystemTime::now() - 2 * CUT_FLUSH_AGE;
    for f in &old[..2] {
        let file = std::fs::File::options()
            .write(true)
            .open(on_disk(f))
            .unwrap();
        file.set_modified(two_hours_ago).unwrap();
    }

    let b = open(&store).await;
    assert!(
        old[..2].iter().all(|f| !on_disk(f).exists()),
        "old cut flush deleted"
    );
    assert!(
        fresh[..2].iter().all(|f| on_disk(f).exists()),
        "a recent one is kept"
    );
    assert_eq!(values(&b.snapshot()).await, vec![0, 1, 2]);
}

/// The fault of a writer frozen for an hour between two puts of a flush (which cannot
/// be waited for in a test): while armed, the first file of a flush spanning hours is
/// deleted when its next file is put, as a reader deletes a cut flush's files.
#[derive(Debug)]
struct DeletesFirstFile {
    inner: InMemory,
    armed: std::sync::atomic::AtomicBool,
    first: std::sync::Mutex<Option<Path>>,
}

impl std::fmt::Display for DeletesFirstFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeletesFirstFile({})", self.inner)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for DeletesFirstFile {
    async fn put_opts(
        &self,
        location: &Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if self.armed.load(std::sync::atomic::Ordering::SeqCst)
            && paths::TablePaths::new("metrics")
                .parse(location)
                .is_some_and(|k| k.files > 1)
        {
            let first = self.first.lock().unwrap().replace(location.clone());
            if let Some(first) = first {
                self.inner.delete(&first).await?;
                self.armed.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_flush_whose_first_file_vanished_before_its_last_put_fails_and_is_retried_whole() {
    let faulty = Arc::new(DeletesFirstFile {
        inner: InMemory::new(),
        armed: std::sync::atomic::AtomicBool::new(true),
        first: std::sync::Mutex::new(None),
    });
    let store = ColdStore::from_store(faulty.clone(), "memory");
    let a = open(&store).await;
    a.append(batch(0, 6, true));
    let err = a.flush().await.expect_err("a file of the flush is missing");
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(!faulty.armed.load(std::sync::atomic::Ordering::SeqCst));
    // The retry writes the whole flush again; a new reader sees every row.
    assert_eq!(a.flush().await.unwrap().files, 3);
    let b = open(&store).await;
    assert_eq!(values(&b.snapshot()).await, (0..6).collect::<Vec<_>>());
}

#[derive(Clone, Debug)]
enum TwoOp {
    Append(bool, u8),
    Flush(bool),
    Evict(bool),
    RefreshAndQuery(bool),
}

fn two_op() -> impl Strategy<Value = TwoOp> {
    prop_oneof![
        4 => (any::<bool>(), 1u8..20).prop_map(|(w, n)| TwoOp::Append(w, n)),
        2 => any::<bool>().prop_map(TwoOp::Flush),
        2 => any::<bool>().prop_map(TwoOp::Evict),
        3 => any::<bool>().prop_map(TwoOp::RefreshAndQuery),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Two writers on one storage: each one's reads see its own rows exactly once and
    /// every row the other has flushed exactly once, whatever the interleaving; a new
    /// reader sees every flushed row of both once.
    #[test]
    fn two_writers_never_hide_or_double_a_row(ops in proptest::collection::vec(two_op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
            let t = [open(&store).await, open(&store).await];
            let mut next = 0u64;
            // Per writer: rows written, rows flushed.
            let mut written: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
            let mut flushed: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
            for op in ops {
                match op {
                    TwoOp::Append(w, n) => {
                        t[usize::from(w)].append(batch(next, u64::from(n), n % 2 == 0));
                        written[usize::from(w)].extend(next..next + u64::from(n));
                        next += u64::from(n);
                    }
                    TwoOp::Flush(w) => {
                        t[usize::from(w)].flush().await.unwrap();
                        flushed[usize::from(w)] = written[usize::from(w)].clone();
                    }
                    TwoOp::Evict(w) => { t[usize::from(w)].evict(Duration::ZERO); }
                    TwoOp::RefreshAndQuery(w) => {
                        let (me, other) = (usize::from(w), usize::from(!w));
                        t[me].refresh().await.unwrap();
                        let mut want: Vec<u64> = written[me].iter().chain(&flushed[other]).copied().collect();
                        want.sort_unstable();
                        prop_assert_eq!(values(&t[me].snapshot()).await, want);
                    }
                }
            }
            let reader = open(&store).await;
            let mut want: Vec<u64> = flushed.concat();
            want.sort_unstable();
            prop_assert_eq!(values(&reader.snapshot()).await, want);
            Ok(())
        })?;
    }
}
