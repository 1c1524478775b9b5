//! Plans and runs read-only SQL within limits: one memory budget shared by every query
//! and a limit per query (the results held for encoding count too), a turn to run per
//! user and for the process, a time limit, a row limit and a size limit on the result.
//! Each query sees only the tables its caller may read: the session it runs in is built
//! with those tables alone, so `information_schema`, `SHOW TABLES` and `DESCRIBE` show
//! nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::common::Column;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SQLOptions, SessionContext, SessionState};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, cast};
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use sotp_sinks::{ColdStore, TableStore};

use crate::limits::{QueryPool, Turn, Turns};
use crate::{COLD_STORE_URL, HotColdTable, QueryConfig, QueryError, QueryOutput, check_statement};

/// `df` with its `Utf8View` and `BinaryView` columns cast to `Utf8` and `Binary`: the
/// tables read strings as views ([`HotColdTable`]), results keep the types clients know.
fn plain_types(df: DataFrame) -> datafusion::error::Result<DataFrame> {
    let plain = |t: &DataType| match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    if !df
        .schema()
        .fields()
        .iter()
        .any(|f| plain(f.data_type()).is_some())
    {
        return Ok(df);
    }
    let columns: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(q, f)| {
            let column = Expr::Column(Column::from((q, f)));
            match plain(f.data_type()) {
                Some(t) => cast(column, t).alias_qualified(q.cloned(), f.name()),
                None => column,
            }
        })
        .collect();
    df.select(columns)
}

/// Who runs a query: the user (for the per-user line) and the tables they may read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller<'a> {
    /// User name or `token:<name>`; none for a query of SOTP itself.
    pub user: Option<&'a str>,
    /// The tables it may read; none: every table.
    pub tables: Option<&'static [&'static str]>,
}

/// Runs SQL over SOTP's tables. Cheap to clone (axum clones the API state for every
/// request): the session state, the tables, the memory pool and the lines are shared.
#[derive(Clone)]
pub struct QueryEngine {
    base: Arc<SessionState>,
    tables: Arc<RwLock<BTreeMap<String, Arc<dyn TableProvider>>>>,
    pool: Arc<dyn MemoryPool>,
    turns: Arc<Turns>,
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
        // SOTP answers in UTC: `now()` and casts to `TIMESTAMP WITH TIME ZONE`
        // (`::timestamptz`) give UTC timestamps, as a PostgreSQL session in UTC does.
        let mut session = SessionConfig::new().with_information_schema(true);
        session.options_mut().execution.time_zone = Some("UTC".into());
        let mut ctx = SessionContext::new_with_config(session);
        for f in crate::pg::functions() {
            ctx.register_udf(f);
        }
        datafusion_functions_json::register_all(&mut ctx)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let url =
            url::Url::parse(COLD_STORE_URL).map_err(|e| QueryError::Internal(e.to_string()))?;
        ctx.register_object_store(&url, cold.store().clone());
        let state = SessionStateBuilder::new_from_existing(ctx.state())
            .with_physical_optimizer_rule(Arc::new(crate::limits::YieldOften))
            .build();
        let engine = Self {
            base: Arc::new(state),
            tables: Default::default(),
            pool: Arc::new(GreedyMemoryPool::new(config.memory_budget_mb << 20)),
            turns: Arc::new(Turns::new(
                config.concurrency,
                config.per_user_concurrency,
                config.queue_timeout,
            )),
            config,
        };
        for t in tables {
            engine.register(t.name(), Arc::new(HotColdTable::new(t.clone())))?;
        }
        if tables.iter().any(|t| t.name() == "command_outputs") {
            for (name, sql) in crate::typed::VIEWS {
                engine.register_view(name, sql)?;
            }
        }
        Ok(engine)
    }

    /// Adds a view: `sql`, planned now over every table, read at query time. A role sees
    /// it when its tables name it (`Role::sql_tables`), like a table.
    pub fn register_view(&self, name: &str, sql: &str) -> Result<(), QueryError> {
        let state = SessionStateBuilder::new_from_existing(SessionState::clone(&self.base))
            .with_catalog_list(self.catalogs(None))
            .build();
        // Planning reads only the catalog in memory: nothing to wait for.
        let plan = futures::executor::block_on(state.create_logical_plan(sql))
            .map_err(|e| QueryError::Internal(format!("view {name}: {e}")))?;
        self.register(
            name,
            Arc::new(datafusion::catalog::view::ViewTable::new(
                plan,
                Some(sql.to_string()),
            )),
        )
    }

    /// Adds a table (for example `devices` from the inventory).
    pub fn register(&self, name: &str, table: Arc<dyn TableProvider>) -> Result<(), QueryError> {
        self.tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), table);
        Ok(())
    }

    /// The tables `allowed` (none: every table) with their columns, by name.
    pub fn table_schemas(
        &self,
        allowed: Option<&[&str]>,
    ) -> Vec<(String, datafusion::arrow::datatypes::SchemaRef)> {
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(name, _)| allowed.is_none_or(|a| a.contains(&name.as_str())))
            .map(|(name, t)| (name.clone(), t.schema()))
            .collect()
    }

    /// The limits in force.
    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// Memory all queries hold now, in bytes.
    pub fn memory_reserved(&self) -> usize {
        self.pool.reserved()
    }

    /// Runs one read-only statement of SOTP itself (every table, no per-user line).
    pub async fn execute(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        self.execute_for(Caller::default(), sql).await
    }

    /// Like [`QueryEngine::execute`], for a caller that may read only `tables`.
    pub async fn execute_as(
        &self,
        sql: &str,
        tables: Option<&'static [&'static str]>,
    ) -> Result<QueryOutput, QueryError> {
        self.execute_for(Caller { user: None, tables }, sql).await
    }

    /// Runs one read-only statement for `caller`: in their line, over the tables they may
    /// read (`information_schema` lists only those), within every limit.
    pub async fn execute_for(
        &self,
        caller: Caller<'_>,
        sql: &str,
    ) -> Result<QueryOutput, QueryError> {
        self.execute_with_params(caller, sql, &[]).await
    }

    /// Like [`QueryEngine::execute_for`] with the values of the statement's `$1`, `$2`,
    /// ... placeholders (a prepared statement of the PostgreSQL wire). The values are
    /// bound into the plan, never spliced into the SQL text.
    pub async fn execute_with_params(
        &self,
        caller: Caller<'_>,
        sql: &str,
        params: &[ScalarValue],
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let result = self.execute_inner(caller, sql, params).await;
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

    /// The catalogs of a query: the default schema holding only the tables `allowed`.
    fn catalogs(&self, allowed: Option<&[&str]>) -> Arc<dyn CatalogProviderList> {
        let schema = MemorySchemaProvider::new();
        for (name, table) in self.tables.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if allowed.is_none_or(|a| a.contains(&name.as_str())) {
                let _ = schema.register_table(name.clone(), table.clone());
            }
        }
        let options = self.base.config().options();
        let catalog = MemoryCatalogProvider::new();
        let _ = catalog.register_schema(&options.catalog.default_schema, Arc::new(schema));
        let list = MemoryCatalogProviderList::new();
        list.register_catalog(options.catalog.default_catalog.clone(), Arc::new(catalog));
        Arc::new(list)
    }

    /// A table the caller may not read that `sql` names, for the refusal's message.
    fn forbidden_in(&self, sql: &str, allowed: &[&str]) -> Option<String> {
        let words: Vec<String> = sql
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_ascii_lowercase)
            .collect();
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .find(|t| !allowed.contains(&t.as_str()) && words.iter().any(|w| w == *t))
            .cloned()
    }

    /// A session for `caller` over the tables it may read, whose memory is the pool
    /// returned with it: one query's share of the budget.
    fn session(
        &self,
        caller: Caller<'_>,
    ) -> Result<(SessionContext, Arc<dyn MemoryPool>), QueryError> {
        let limit_mb = self.config.memory_limit_mb;
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(self.pool.clone(), limit_mb << 20));
        let runtime = RuntimeEnvBuilder::from_runtime_env(self.base.runtime_env())
            .with_memory_pool(pool.clone())
            .build_arc()
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let state = SessionStateBuilder::new_from_existing(SessionState::clone(&self.base))
            .with_catalog_list(self.catalogs(caller.tables))
            .with_runtime_env(runtime)
            .build();
        Ok((SessionContext::new_with_state(state), pool))
    }

    /// What `sql` would return and the types of its `$n` placeholders (by position;
    /// `None` where the statement does not decide it), planned for `caller` without
    /// running it.
    pub async fn describe_for(
        &self,
        caller: Caller<'_>,
        sql: &str,
    ) -> Result<(SchemaRef, Vec<Option<DataType>>), QueryError> {
        check_statement(sql)?;
        let (ctx, _pool) = self.session(caller)?;
        let df = tokio::time::timeout(self.config.timeout, self.plan(&ctx, caller, sql, &[]))
            .await
            .map_err(|_| self.time_limit())??;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let types = df
            .logical_plan()
            .get_parameter_types()
            .map_err(|e| QueryError::from_datafusion(e, self.config.memory_limit_mb))?;
        // DataFusion types a placeholder compared with a column or a literal; one that is
        // cast (`CAST($1 AS BIGINT)`, `$1::bigint`) takes the cast's type, as PostgreSQL
        // does, so a driver sends it as such.
        let cast = cast_placeholders(df.logical_plan());
        let mut params: Vec<Option<DataType>> = Vec::new();
        for (name, t) in types {
            let t = t.or_else(|| cast.get(&name).cloned());
            let Some(i) = name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
                return Err(QueryError::Invalid(format!(
                    "placeholder `{name}`: use $1, $2, ..."
                )));
            };
            if i == 0 || i > 65_535 {
                return Err(QueryError::Invalid(format!(
                    "placeholder `{name}` out of range"
                )));
            }
            if params.len() < i {
                params.resize(i, None);
            }
            params[i - 1] = t;
        }
        Ok((schema, params))
    }

    /// Plans `sql` in `ctx`: read-only, over the caller's tables only, with `params`
    /// bound to its placeholders (none: left unbound).
    async fn plan(
        &self,
        ctx: &SessionContext,
        caller: Caller<'_>,
        sql: &str,
        params: &[ScalarValue],
    ) -> Result<DataFrame, QueryError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = match ctx.sql_with_options(sql, options).await {
            Ok(df) => df,
            Err(e) => {
                let forbidden = caller.tables.and_then(|a| self.forbidden_in(sql, a));
                return Err(match (forbidden, caller.tables) {
                    (Some(t), Some(a)) => refused(&t, a),
                    _ => QueryError::from_datafusion(e, self.config.memory_limit_mb),
                });
            }
        };
        if let Some(allowed) = caller.tables {
            check_tables(df.logical_plan(), allowed)?;
        }
        let df = plain_types(df).map_err(|e| QueryError::Internal(e.to_string()))?;
        if params.is_empty() {
            return Ok(df);
        }
        df.with_param_values(params.to_vec())
            .map_err(|e| QueryError::Invalid(format!("parameters: {e}")))
    }

    fn time_limit(&self) -> QueryError {
        QueryError::TimeLimit(humantime::format_duration(self.config.timeout).to_string())
    }

    async fn execute_inner(
        &self,
        caller: Caller<'_>,
        sql: &str,
        params: &[ScalarValue],
    ) -> Result<QueryOutput, QueryError> {
        check_statement(sql)?;
        let _turn = self.turns.take(caller.user).await?;
        let limit_mb = self.config.memory_limit_mb;
        let (ctx, pool) = self.session(caller)?;
        let (max_rows, max_bytes) = (self.config.max_rows, self.config.max_result_mb << 20);
        let run = async move {
            let df = self.plan(&ctx, caller, sql, params).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
            // The result is held until it is encoded: it counts against the query's memory.
            let held = MemoryConsumer::new("query result").register(&pool);
            let mut batches = Vec::new();
            let (mut rows, mut bytes) = (0usize, 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
                rows += batch.num_rows();
                if rows > max_rows {
                    return Err(QueryError::RowLimit(max_rows));
                }
                let size = batch.get_array_memory_size();
                bytes += size;
                if bytes > max_bytes {
                    return Err(QueryError::ResultLimit(max_bytes >> 20));
                }
                held.try_grow(size)
                    .map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
                batches.push(batch);
            }
            Ok(QueryOutput {
                schema,
                batches,
                _held: Some(Arc::new(held)),
            })
        };
        // Dropping the plan on timeout cancels every task it spawned.
        tokio::time::timeout(self.config.timeout, run)
            .await
            .map_err(|_| self.time_limit())?
    }

    /// Runs one read-only statement for `caller` and hands out its result batch by batch
    /// as it is computed, for exports: nothing is held beyond the batch in hand, so
    /// neither `max_rows` nor `max_result_mb` applies, but `export_max_rows` and
    /// `export_timeout` do, with the caller's tables, line and memory limit. Planning
    /// must finish within `timeout`.
    pub async fn stream_for(
        &self,
        caller: Caller<'_>,
        sql: &str,
    ) -> Result<BatchStream, QueryError> {
        check_statement(sql)?;
        let turn = self.turns.take(caller.user).await?;
        let (ctx, _pool) = self.session(caller)?;
        let limit_mb = self.config.memory_limit_mb;
        let planned = async {
            let df = self.plan(&ctx, caller, sql, &[]).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let stream = df
                .execute_stream()
                .await
                .map_err(|e| QueryError::from_datafusion(e, limit_mb))?;
            Ok::<_, QueryError>((schema, stream))
        };
        let (schema, inner) = tokio::time::timeout(self.config.timeout, planned)
            .await
            .map_err(|_| self.time_limit())??;
        metrics::counter!("sotp_queries_total", "outcome" => "stream").increment(1);
        Ok(BatchStream {
            schema,
            inner,
            rows: 0,
            max_rows: self.config.export_max_rows,
            limit_mb,
            timeout: self.config.export_timeout,
            deadline: Box::pin(tokio::time::sleep(self.config.export_timeout)),
            done: false,
            _turn: turn,
            _ctx: ctx,
        })
    }
}

/// A query's result as it is computed ([`QueryEngine::stream_for`]). It holds the
/// query's turn and memory until dropped; dropping it cancels the query. It ends after
/// the first error: past `export_max_rows` rows, past `export_timeout`, or a failure.
pub struct BatchStream {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    rows: usize,
    max_rows: usize,
    limit_mb: usize,
    timeout: std::time::Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    done: bool,
    _turn: Turn,
    _ctx: SessionContext,
}

impl std::fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl BatchStream {
    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows handed out so far.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl futures::Stream for BatchStream {
    type Item = Result<RecordBatch, QueryError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            let limit = humantime::format_duration(self.timeout).to_string();
            return Poll::Ready(Some(Err(QueryError::TimeLimit(limit))));
        }
        let item = match self.inner.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => None,
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows();
                if self.rows > self.max_rows {
                    Some(Err(QueryError::RowLimit(self.max_rows)))
                } else {
                    Some(Ok(batch))
                }
            }
            Poll::Ready(Some(Err(e))) => Some(Err(QueryError::from_datafusion(e, self.limit_mb))),
        };
        self.done = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}

fn refused(table: &str, allowed: &[&str]) -> QueryError {
    QueryError::Refused(format!(
        "your role may not read table `{table}`; readable tables: {}",
        allowed.join(", ")
    ))
}

/// The type each placeholder is cast to, where the plan casts one.
fn cast_placeholders(plan: &LogicalPlan) -> std::collections::HashMap<String, DataType> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::{Cast, Expr, TryCast};
    let mut found = std::collections::HashMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                    && let Expr::Placeholder(p) = expr.as_ref()
                {
                    found
                        .entry(p.id.clone())
                        .or_insert_with(|| field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// Refuses a plan that scans a table outside `allowed`.
fn check_tables(plan: &LogicalPlan, allowed: &[&str]) -> Result<(), QueryError> {
    let mut refused_table: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.table();
            // Table functions (generate_series(), range()) read no stored data.
            let visible = scan.table_name.schema() == Some("information_schema")
                || allowed.contains(&name)
                || name.ends_with("()");
            if !visible {
                refused_table = Some(scan.table_name.table().to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| QueryError::Internal(e.to_string()))?;
    match refused_table {
        Some(t) => Err(refused(&t, allowed)),
        None => Ok(()),
    }
}
