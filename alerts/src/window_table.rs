//! A table of the alert windows whose rows are replaced at every window: rules' plans
//! are made once and read the current rows when they run. The `metrics` table arrives
//! grouped by metric with the row range of each, so a plan filtered on `metric = '...'`
//! or `metric IN (...)` reads only those rows (the filter is still applied above).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// The rows of one window: a batch, and for `metrics` the range of rows of each metric.
#[derive(Clone, Debug)]
pub(crate) struct Rows {
    pub batch: RecordBatch,
    pub ranges: HashMap<String, (usize, usize)>,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct WindowTable {
    schema: SchemaRef,
    /// The column whose values have row ranges (`metric`), if any.
    grouped_by: Option<&'static str>,
    rows: RwLock<Rows>,
}

impl WindowTable {
    pub(crate) fn new(schema: SchemaRef, grouped_by: Option<&'static str>) -> Arc<Self> {
        Arc::new(Self {
            rows: RwLock::new(Rows {
                batch: RecordBatch::new_empty(schema.clone()),
                ranges: HashMap::new(),
            }),
            schema,
            grouped_by,
        })
    }

    /// The rows plans read from now on.
    pub(crate) fn replace(&self, rows: Rows) {
        *self.rows.write().unwrap_or_else(|e| e.into_inner()) = rows;
    }

    /// The values `filter` limits the grouped column to (`c = 'v'`, `c IN ('v', ...)`).
    fn values<'a>(&self, filter: &'a Expr) -> Option<Vec<&'a str>> {
        let column = self.grouped_by?;
        let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
        let text = |e: &'a Expr| match e {
            Expr::Literal(v, _) => v.try_as_str().flatten(),
            _ => None,
        };
        match filter {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (is_column(left), is_column(right)) {
                (true, _) => text(right).map(|v| vec![v]),
                (_, true) => text(left).map(|v| vec![v]),
                _ => None,
            },
            Expr::InList(l) if !l.negated && is_column(&l.expr) => {
                l.list.iter().map(text).collect()
            }
            _ => None,
        }
    }
}

#[async_trait]
impl TableProvider for WindowTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.values(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner()).clone();
        // Every pushed filter must hold: the rows of the values all of them allow.
        let mut allowed: Option<Vec<&str>> = None;
        for f in filters {
            if let Some(values) = self.values(f) {
                allowed = Some(match allowed {
                    None => values,
                    Some(before) => before.into_iter().filter(|v| values.contains(v)).collect(),
                });
            }
        }
        // Rows without ranges (an ungrouped batch) are read whole.
        let batches: Vec<RecordBatch> = match allowed {
            _ if rows.ranges.is_empty() => vec![rows.batch],
            None => vec![rows.batch],
            Some(values) => values
                .into_iter()
                .collect::<std::collections::BTreeSet<&str>>()
                .into_iter()
                .filter_map(|v| rows.ranges.get(v))
                .map(|(offset, len)| rows.batch.slice(*offset, *len))
                .collect(),
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
