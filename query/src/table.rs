//! A DataFusion table over one [`TableStore`]: the hot batches and the Parquet files of a
//! consistent snapshot, unioned, so that every row is read exactly once.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use sotp_sinks::TableStore;

/// The URL under which the cold tier's object store is registered in the session.
pub const COLD_STORE_URL: &str = "sotp-cold://store/";

/// A table that reads the hot tier and the cold Parquet files together.
///
/// Its strings are read as `Utf8View`: the Parquet reader then hands out views into the
/// pages it decoded instead of copying every value into a new buffer, and grouping and
/// comparing short strings (metric names, device ids) works on the 16-byte views. The
/// engine turns them back into `Utf8` in results ([`crate::engine`]), so no client sees
/// the difference.
#[derive(Debug)]
pub struct HotColdTable {
    store: Arc<TableStore>,
    schema: SchemaRef,
}

impl HotColdTable {
    /// Wraps a table store.
    pub fn new(store: Arc<TableStore>) -> Self {
        let schema = view_schema(store.schema());
        Self { store, schema }
    }
}

/// `schema` with its `Utf8` columns as `Utf8View`.
fn view_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The columns `projection` keeps of a hot batch, in the table's view types (`projected`):
/// only those are cast, and the views point into the batch's own buffers.
fn to_view(
    batch: &RecordBatch,
    projection: Option<&Vec<usize>>,
    projected: &SchemaRef,
) -> Result<RecordBatch> {
    let batch = match projection {
        Some(p) => batch.project(p)?,
        None => batch.clone(),
    };
    let columns = batch
        .columns()
        .iter()
        .zip(projected.fields())
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        projected.clone(),
        columns,
        &options,
    )?)
}

#[async_trait]
impl TableProvider for HotColdTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // One snapshot per scan: hot batches and cold files that do not overlap.
        let snap = self.store.snapshot();
        let schema = self.schema.clone();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();

        // Hot batches spread over the session's partitions for parallelism.
        let parts = state.config().target_partitions().max(1);
        let mut partitions = vec![Vec::new(); parts.min(snap.hot.len()).max(1)];
        let n = partitions.len();
        // Projected first: a query pays the cast to views only for the columns it reads.
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        for (i, b) in snap.hot.iter().enumerate() {
            partitions[i % n].push(to_view(b, projection, &projected)?);
        }
        inputs.push(MemorySourceConfig::try_new_exec(
            &partitions,
            projected,
            None,
        )?);

        if !snap.cold.is_empty() {
            let mut groups: Vec<Vec<PartitionedFile>> =
                vec![Vec::new(); parts.min(snap.cold.len())];
            let g = groups.len();
            for (i, f) in snap.cold.iter().enumerate() {
                groups[i % g].push(PartitionedFile::new(f.path.to_string(), f.size));
            }
            let source = Arc::new(ParquetSource::new(schema.clone()));
            let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(COLD_STORE_URL)?, source)
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            // The session's Parquet options (page index, metadata size hint), with the
            // filters evaluated inside the reader: a column is decoded only for the rows
            // that passed the filters on the others (late materialisation).
            let mut options = state.table_options().parquet.clone();
            options.global.pushdown_filters = true;
            options.global.reorder_filters = true;
            inputs.push(
                ParquetFormat::default()
                    .with_options(options)
                    .create_physical_plan(state, config)
                    .await?,
            );
        }
        UnionExec::try_new(inputs)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // DataFusion applies the filters above the scan and pushes them into the Parquet
        // reader for row-group and page pruning.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, UInt64Type};
    use sotp_schemas::{DeviceId, MetricBatchBuilder, MetricName, MetricSample, UtcNanos};
    use sotp_sinks::writer::Layout;
    use sotp_sinks::{ColdStore, TableStore};

    use crate::{QueryConfig, QueryEngine};

    const T0: i64 = 1_767_225_600_000_000_000;

    /// Counters of `devices` devices on two metrics at `polls` polls from `first`, with
    /// values above 2^53 so that an `f64` on the way would show.
    fn samples(devices: usize, first: i64, polls: i64) -> Vec<MetricSample> {
        let mut out = Vec::new();
        for d in 0..devices {
            let id = DeviceId::new(format!("d{d}"));
            let name: Arc<str> = Arc::from(format!("edge-{d}"));
            for (m, metric) in ["if.in_octets", "if.out_ucast_pkts"].iter().enumerate() {
                for k in first..first + polls {
                    let c = (1u64 << 60) + (d as u64) * 1_000_003 + (m as u64) * 17 + k as u64;
                    let mut s = MetricSample::gauge(
                        UtcNanos(T0 + k * 30_000_000_000),
                        &id,
                        &name,
                        &Arc::from("snmp"),
                        &MetricName::new(metric),
                        c as f64,
                    );
                    s.instance = Some(Arc::from("Gi0/1"));
                    s.counter = Some(c);
                    out.push(s);
                }
            }
        }
        out
    }

    fn batch(samples: &[MetricSample]) -> arrow::array::RecordBatch {
        let mut b = MetricBatchBuilder::with_capacity(samples.len());
        for s in samples {
            b.push(s);
        }
        b.finish()
    }

    /// One table with rows in Parquet (polls 0..100) and rows in the hot tier (100..130):
    /// string columns are read as views inside and come back as `Utf8`, the filters reach
    /// the Parquet reader (late materialisation), and every answer matches the rows
    /// generated, counted here, whichever tier holds them.
    #[tokio::test]
    async fn hot_and_cold_rows_answer_alike_with_filters_in_the_reader_and_utf8_results() {
        let dir = tempfile::tempdir().unwrap();
        let cold = ColdStore::local(dir.path()).unwrap();
        let table = TableStore::open(
            "metrics",
            sotp_schemas::metric_schema(),
            Layout::metrics(),
            cold.clone(),
            64,
            1,
        )
        .await
        .unwrap();
        let (old, new) = (samples(5, 0, 100), samples(5, 100, 30));
        table.append(batch(&old));
        table.flush().await.unwrap();
        table.evict(std::time::Duration::ZERO);
        table.append(batch(&new));
        let snap = table.snapshot();
        assert!(
            !snap.cold.is_empty() && !snap.hot.is_empty(),
            "rows in both tiers"
        );
        let engine = QueryEngine::new(QueryConfig::default(), &cold, &[table]).unwrap();

        // Per series: rows, first and last counter, computed from the samples.
        let mut expected: BTreeMap<(String, String), (i64, u64, u64)> = BTreeMap::new();
        for s in old.iter().chain(&new) {
            let c = s.counter.unwrap();
            let e = expected
                .entry((
                    s.device_id.as_str().to_string(),
                    s.metric.as_str().to_string(),
                ))
                .or_insert((0, u64::MAX, 0));
            *e = (e.0 + 1, e.1.min(c), e.2.max(c));
        }
        let out = engine
            .execute(
                "SELECT device_id, metric, count(*) AS n, min(counter) AS lo, max(counter) AS hi \
                 FROM metrics GROUP BY device_id, metric ORDER BY device_id, metric",
            )
            .await
            .unwrap();
        assert_eq!(out.schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(out.schema.field(1).data_type(), &DataType::Utf8);
        let mut got = BTreeMap::new();
        for b in &out.batches {
            let (d, m) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            let n = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
            let (lo, hi) = (
                b.column(3).as_primitive::<UInt64Type>(),
                b.column(4).as_primitive::<UInt64Type>(),
            );
            for i in 0..b.num_rows() {
                got.insert(
                    (d.value(i).to_string(), m.value(i).to_string()),
                    (n.value(i), lo.value(i), hi.value(i)),
                );
            }
        }
        assert_eq!(got, expected);

        // No column read at all (the hot batches projected to none keep their rows).
        let out = engine
            .execute("SELECT count(*) FROM metrics")
            .await
            .unwrap();
        let n = out.batches[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(n.value(0) as usize, old.len() + new.len());

        // A selective filter on strings and a counter, spanning both tiers.
        let lo = (1u64 << 60) + 2 * 1_000_003 + 90;
        let sql = format!(
            "SELECT time, device, counter FROM metrics \
             WHERE device_id = 'd2' AND metric = 'if.in_octets' AND counter >= {lo} ORDER BY time"
        );
        let want: Vec<(String, u64)> = old
            .iter()
            .chain(&new)
            .filter(|s| s.device_id.as_str() == "d2" && s.metric.as_str() == "if.in_octets")
            .filter(|s| s.counter.unwrap() >= lo)
            .map(|s| (s.device.to_string(), s.counter.unwrap()))
            .collect();
        assert_eq!(want.len(), 40, "10 cold rows and 30 hot ones");
        let out = engine.execute(&sql).await.unwrap();
        assert_eq!(out.schema.field(1).data_type(), &DataType::Utf8);
        let got: Vec<(String, u64)> = out
            .batches
            .iter()
            .flat_map(|b| {
                let (d, c) = (
                    b.column(1).as_string::<i32>().clone(),
                    b.column(2).as_primitive::<UInt64Type>().clone(),
                );
                (0..b.num_rows()).map(move |i| (d.value(i).to_string(), c.value(i)))
            })
            .collect();
        assert_eq!(got, want);

        // The Parquet scan evaluates the filter itself: the path above is the rewritten one.
        let plan = engine.execute(&format!("EXPLAIN {sql}")).await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan.batches)
            .unwrap()
            .to_string();
        let scan = text
            .lines()
            .find(|l| l.contains("file_type=parquet"))
            .expect("a Parquet scan in the plan");
        assert!(
            scan.contains("predicate=") && scan.contains("device_id"),
            "{scan}"
        );
        // ... and no filter is left above it (the hot tier keeps its own).
        let filters = text.lines().filter(|l| l.contains("FilterExec")).count();
        assert_eq!(filters, 1, "{text}");
    }
}
