//! Plans and runs read-only SQL with per-query limits.

use std::sync::Arc;
use std::time::Instant;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SQLOptions, SessionContext, SessionState};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use sotp_sinks::{ColdStore, TableStore};

use crate::{COLD_STORE_URL, HotColdTable, QueryConfig, QueryError, QueryOutput, check_statement};

/// Runs SQL over SOTP's tables. Cheap to clone (axum clones the API state for every
/// request): the session state, with its function registries, is shared and copied only
/// when a query runs.
#[derive(Clone)]
pub struct QueryEngine {
    base: Arc<SessionState>,
    config: QueryConfig,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// A session where each of `tables` is a SQL table of the same name, reading its hot
    /// tier and its Parquet files in `cold`.
    pub fn new(
        config: QueryConfig,
        cold: &ColdStore,
        tables: &[Arc<TableStore>],
    ) -> Result<Self, QueryError> {
        let session = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(session);
        let url =
            url::Url::parse(COLD_STORE_URL).map_err(|e| QueryError::Internal(e.to_string()))?;
        ctx.register_object_store(&url, cold.store().clone());
        let engine = Self {
            base: Arc::new(ctx.state()),
            config,
        };
        for t in tables {
            engine.register(t.name(), Arc::new(HotColdTable::new(t.clone())))?;
        }
        Ok(engine)
    }

    /// Adds a table (for example `devices` from the inventory).
    pub fn register(&self, name: &str, table: Arc<dyn TableProvider>) -> Result<(), QueryError> {
        SessionContext::new_with_state(SessionState::clone(&self.base))
            .register_table(name, table)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        Ok(())
    }

    /// The limits in force.
    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// Runs one read-only statement within the configured time, memory and row limits.
    pub async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        self.execute_as(sql, None).await
    }

    /// Like [`QueryEngine::execute`], but refuses a plan that reads a table outside
    /// `tables` (`information_schema` is always readable): how a role's SQL rights are
    /// enforced, whatever the query's shape (joins, subqueries, CTEs).
    pub async fn execute_as(
        &self,
        sql: &str,
        tables: Option<&'static [&'static str]>,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let result = self.execute_inner(sql, tables).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        metrics::counter!("sotp_queries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("sotp_query_duration_seconds").record(started.elapsed().as_secs_f64());
        match &result {
            Ok(out) => tracing::debug!(
                rows = out.rows(),
                took_ms = started.elapsed().as_millis() as u64,
                "query done"
            ),
            Err(e) => tracing::info!(code = e.code(), error = %e, "query failed"),
        }
        result
    }

    async fn execute_inner(
        &self,
        sql: &str,
        tables: Option<&'static [&'static str]>,
    ) -> Result<QueryOutput, QueryError> {
        check_statement(sql)?;
        let limit_mb = self.config.memory_limit_mb;
        // A memory pool per query, sharing the object stores and caches of the base session.
        let runtime = RuntimeEnvBuilder::from_runtime_env(self.base.runtime_env())
            .with_memory_limit(limit_mb * 1024 * 1024, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let state = SessionStateBuilder::new_from_existing(SessionState::clone(&self.base))
            .with_runtime_env(runtime)
            .build();
        let ctx = SessionContext::new_with_state(state);
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let max_rows = self.config.max_rows;
        let run = async move {
            let df = ctx
                .sql_with_options(sql, options)
                .await
                .map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
            if let Some(allowed) = tables {
                check_tables(df.logical_plan(), allowed)?;
            }
            let schema = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
            let mut batches = Vec::new();
            let mut rows = 0usize;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
                rows += batch.num_rows();
                if rows > max_rows {
                    return Err(QueryError::RowLimit(max_rows));
                }
                batches.push(batch);
            }
            Ok(QueryOutput { schema, batches })
        };
        // Dropping the plan on timeout cancels every task it spawned.
        tokio::time::timeout(self.config.timeout, run)
            .await
            .map_err(|_| {
                QueryError::TimeLimit(humantime::format_duration(self.config.timeout).to_string())
            })?
    }
}

/// Refuses a plan that scans a table outside `allowed`.
fn check_tables(plan: &LogicalPlan, allowed: &[&str]) -> Result<(), QueryError> {
    let mut refused: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.table();
            // Table functions (generate_series(), range()) read no stored data.
            let visible = scan.table_name.schema() == Some("information_schema")
                || allowed.contains(&name)
                || name.ends_with("()");
            if !visible {
                refused = Some(scan.table_name.table().to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| QueryError::Internal(e.to_string()))?;
    match refused {
        Some(t) => Err(QueryError::Refused(format!(
            "your role may not read table `{t}`; readable tables: {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}
