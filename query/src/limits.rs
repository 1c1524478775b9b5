//! What keeps queries from hurting the process or each other: one memory budget for
//! every query together with a limit per query ([`QueryPool`]), and turns to run
//! ([`Turns`]: at most `concurrency` queries at once, at most `per_user_concurrency` of
//! one user, the rest waiting in line up to `queue_timeout`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::QueryError;

/// One query's share of the shared pool: it may hold at most `limit` bytes, and only
/// while the shared pool has them.
#[derive(Debug)]
pub(crate) struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryPool {
    pub(crate) fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query pool: {} of {} MiB",
            self.used.load(Ordering::Relaxed) >> 20,
            self.limit >> 20
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "sotp-query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.shared.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query needs more than its limit of {} MiB ({} MiB held, {} MiB more asked)",
                self.limit >> 20,
                before >> 20,
                additional.div_ceil(1 << 20)
            )));
        }
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// Permits to run: one of the process's and one of the user's.
#[derive(Debug)]
pub(crate) struct Turn {
    _user: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

/// The line queries wait in.
#[derive(Debug)]
pub(crate) struct Turns {
    global: Arc<Semaphore>,
    per_user: usize,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
    wait: Duration,
}

impl Turns {
    pub(crate) fn new(concurrency: usize, per_user: usize, wait: Duration) -> Self {
        Self {
            global: Arc::new(Semaphore::new(concurrency.max(1))),
            per_user: per_user.max(1),
            users: Mutex::new(HashMap::new()),
            wait,
        }
    }

    /// Waits for `user`'s turn (none: a query of SOTP itself, which waits only for the
    /// process's line); refused after the configured wait.
    pub(crate) async fn take(&self, user: Option<&str>) -> Result<Turn, QueryError> {
        let busy = |whose: &str| {
            metrics::counter!("sotp_queries_refused_busy_total").increment(1);
            QueryError::Busy(format!(
                "{whose} queries are already running and none finished within {}; retry later",
                humantime::format_duration(self.wait)
            ))
        };
        let user_permit = match user {
            Some(u) => {
                let sem = {
                    let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
                    // Forget users with nothing running, so the map stays small.
                    if users.len() > 1024 {
                        users.retain(|_, s| s.available_permits() < self.per_user);
                    }
                    users
                        .entry(u.to_string())
                        .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
                        .clone()
                };
                let p = tokio::time::timeout(self.wait, sem.acquire_owned())
                    .await
                    .map_err(|_| busy("your"))?
                    .map_err(|_| busy("your"))?;
                Some(p)
            }
            None => None,
        };
        let global = tokio::time::timeout(self.wait, self.global.clone().acquire_owned())
            .await
            .map_err(|_| busy("too many"))?
            .map_err(|_| busy("too many"))?;
        Ok(Turn {
            _user: user_permit,
            _global: global,
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn a_query_stays_within_its_limit_and_all_queries_within_the_budget() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let a: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(shared.clone(), 60));
        let b: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(shared.clone(), 60));
        let ra = MemoryConsumer::new("a").register(&a);
        let rb = MemoryConsumer::new("b").register(&b);
        ra.try_grow(50).unwrap();
        assert!(ra.try_grow(20).is_err(), "over the query's own limit");
        assert!(rb.try_grow(60).is_err(), "over the shared budget");
        rb.try_grow(50).unwrap();
        assert_eq!(shared.reserved(), 100);
        drop(ra);
        assert_eq!(shared.reserved(), 50);
        assert_eq!(a.reserved(), 0);
    }

    #[tokio::test]
    async fn one_user_waits_for_their_own_turn_and_others_still_run() {
        let turns = Turns::new(3, 1, Duration::from_millis(50));
        let first = turns.take(Some("eve")).await.unwrap();
        assert!(matches!(
            turns.take(Some("eve")).await,
            Err(QueryError::Busy(_))
        ));
        let other = turns.take(Some("admin")).await.unwrap();
        let system = turns.take(None).await.unwrap();
        assert!(matches!(turns.take(None).await, Err(QueryError::Busy(_))));
        drop(first);
        let again = turns.take(Some("eve")).await.unwrap();
        assert!(
            matches!(turns.take(Some("bob")).await, Err(QueryError::Busy(_))),
            "the process's line is full"
        );
        drop(other);
        assert!(turns.take(Some("bob")).await.is_ok());
        drop((again, system));
    }
}

/// Makes every operator of a plan give its thread back often, so that a query past its
/// time limit is really cancelled and other work (other queries, the HTTP server,
/// ingest) keeps running beside it.
///
/// Cancelling a query drops its stream, which takes effect only when its tasks yield.
/// DataFusion's own `EnsureCooperative` makes sources yield, but an operator that
/// multiplies rows from memory (a cross join of two `range()`s) returns batch after
/// batch without yielding: a `SELECT sum(a.value * b.value) FROM range(100000) a,
/// range(100000) b` with a 5 s limit ran 81 s, holding both runtime threads. Wrapped in
/// [`CooperativeExec`], each operator spends one unit of the task's budget per batch
/// and yields when it runs out (every 128 batches).
#[derive(Debug, Default)]
pub(crate) struct YieldOften;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for YieldOften {
    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::physical_plan::coop::CooperativeExec;
        plan.transform_up(|node| {
            if node.name() == "CooperativeExec" || node.children().is_empty() {
                // Leaves: DataFusion's own rule makes sources cooperative.
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(CooperativeExec::new(node))
                as Arc<dyn datafusion::physical_plan::ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "yield_often"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
