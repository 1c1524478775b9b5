//! The `devices` and `audit` SQL tables: DataFusion tables over the inventory store,
//! read fresh at every scan, so that metrics join with the current inventory.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use sotp_inventory::Store;

/// Which inventory relation a table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InventoryKind {
    /// Live devices, without secrets.
    Devices,
    /// The audit log.
    Audit,
}

/// A SQL table over the inventory.
#[derive(Debug)]
pub struct InventoryTable {
    store: Store,
    kind: InventoryKind,
    schema: SchemaRef,
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

impl InventoryTable {
    /// A table of `kind` over `store`.
    pub fn new(store: Store, kind: InventoryKind) -> Self {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        let o = |n: &str| Field::new(n, DataType::Utf8, true);
        let schema = match kind {
            InventoryKind::Devices => Schema::new(vec![
                s("id"),
                s("name"),
                s("address"),
                s("type"),
                s("vendor"),
                s("model"),
                s("location"),
                Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    false,
                ),
                o("snmp_version"),
                Field::new("active", DataType::Boolean, false),
                s("managed_by"),
                s("created_by"),
                Field::new("created_at", ts(), false),
                Field::new("updated_at", ts(), false),
            ]),
            InventoryKind::Audit => Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("time", ts(), false),
                s("actor"),
                s("source"),
                s("action"),
                s("resource"),
                o("before"),
                o("after"),
                s("outcome"),
            ]),
        };
        Self {
            store,
            kind,
            schema: Arc::new(schema),
        }
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let ext = |e: sotp_inventory::InventoryError| DataFusionError::External(Box::new(e));
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .unwrap_or(0)
        };
        let text = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
        let time = |v: Vec<i64>| {
            Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")) as ArrayRef
        };
        let cols: Vec<ArrayRef> = match self.kind {
            InventoryKind::Devices => {
                let d = self.store.all_devices().await.map_err(ext)?;
                let mut tags = ListBuilder::new(StringBuilder::new());
                for x in &d {
                    for t in &x.tags {
                        tags.values().append_value(t);
                    }
                    tags.append(true);
                }
                vec![
                    text(d.iter().map(|x| x.id.clone()).collect()),
                    text(d.iter().map(|x| x.name.clone()).collect()),
                    text(d.iter().map(|x| x.address.clone()).collect()),
                    text(d.iter().map(|x| x.device_type.clone()).collect()),
                    text(d.iter().map(|x| x.vendor.clone()).collect()),
                    text(d.iter().map(|x| x.model.clone()).collect()),
                    text(d.iter().map(|x| x.location.clone()).collect()),
                    Arc::new(tags.finish()),
                    Arc::new(StringArray::from(
                        d.iter()
                            .map(|x| x.snmp.as_ref().map(|s| s.version.clone()))
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(BooleanArray::from(
                        d.iter().map(|x| x.active).collect::<Vec<_>>(),
                    )),
                    text(
                        d.iter()
                            .map(|x| {
                                serde_json::to_value(x.managed_by)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default()
                            })
                            .collect(),
                    ),
                    text(d.iter().map(|x| x.created_by.clone()).collect()),
                    time(d.iter().map(|x| ms(&x.created_at)).collect()),
                    time(d.iter().map(|x| ms(&x.updated_at)).collect()),
                ]
            }
            InventoryKind::Audit => {
                let a = self.store.audit_all().await.map_err(ext)?;
                let js = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
                vec![
                    Arc::new(Int64Array::from(a.iter().map(|x| x.id).collect::<Vec<_>>())),
                    time(a.iter().map(|x| ms(&x.time)).collect()),
                    text(a.iter().map(|x| x.actor.clone()).collect()),
                    text(a.iter().map(|x| x.source.clone()).collect()),
                    text(a.iter().map(|x| x.action.clone()).collect()),
                    text(a.iter().map(|x| x.resource.clone()).collect()),
                    Arc::new(StringArray::from(
                        a.iter().map(|x| js(&x.before)).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        a.iter().map(|x| js(&x.after)).collect::<Vec<_>>(),
                    )),
                    text(a.iter().map(|x| x.outcome.clone()).collect()),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }
}

#[async_trait]
impl TableProvider for InventoryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch().await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
