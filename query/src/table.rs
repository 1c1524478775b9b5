//! A DataFusion table over one [`TableStore`]: the hot batches and the Parquet files of a
//! consistent snapshot, unioned, so that every row is read exactly once.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
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
#[derive(Debug)]
pub struct HotColdTable {
    store: Arc<TableStore>,
}

impl HotColdTable {
    /// Wraps a table store.
    pub fn new(store: Arc<TableStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl TableProvider for HotColdTable {
    fn schema(&self) -> SchemaRef {
        self.store.schema().clone()
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
        let schema = snap.schema.clone();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();

        // Hot batches spread over the session's partitions for parallelism.
        let parts = state.config().target_partitions().max(1);
        let mut partitions = vec![Vec::new(); parts.min(snap.hot.len()).max(1)];
        let n = partitions.len();
        for (i, b) in snap.hot.into_iter().enumerate() {
            partitions[i % n].push(b);
        }
        inputs.push(MemorySourceConfig::try_new_exec(
            &partitions,
            schema.clone(),
            projection.cloned(),
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
            inputs.push(
                ParquetFormat::default()
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
