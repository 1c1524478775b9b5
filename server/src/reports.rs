//! Reports made on the server: each request runs in the background with its progress
//! kept here, and the finished file is stored on the configured object storage under
//! `reports/<id>.<format>` beside `reports/<id>.json` (what was asked, by whom, when, the
//! outcome), so the list survives a restart. Reports older than the retention are deleted
//! whenever the list is read or a report is made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sotp_query::{Caller, QueryEngine};
use sotp_reports::{Format, ReportKind, ReportSpec};

/// `[reports]`: reports made on the server (`POST /api/v1/reports/generate`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// A report and its file are deleted this long after they were asked for.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Where reports are kept in the object store.
const PREFIX: &str = "reports";

/// A report's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Its queries are running.
    Running,
    /// The file is stored and can be downloaded.
    Done,
    /// It failed (see `error`).
    Failed,
}

/// One report: what was asked, its progress and outcome.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportJob {
    /// The report's id.
    pub id: String,
    /// availability, performance, alerts or inventory.
    #[serde(rename = "type")]
    pub kind: String,
    /// csv, parquet, html or pdf.
    pub format: String,
    /// Start of the period (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<Utc>,
    /// End of the period (RFC 3339), excluded.
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<Utc>,
    /// The device ids it was limited to (empty: every device).
    pub devices: Vec<String>,
    /// The tags it was limited to (empty: no tag filter).
    pub tags: Vec<String>,
    /// Who asked for it.
    pub created_by: String,
    /// When it was asked for.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// running, done or failed.
    pub status: ReportStatus,
    /// Sections computed so far.
    pub sections_done: usize,
    /// Sections in all.
    pub sections_total: usize,
    /// The section being computed, while running.
    pub current: Option<String>,
    /// When it ended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Size of the file, once done.
    pub bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl ReportJob {
    fn file(&self) -> ObjectPath {
        ObjectPath::from(format!("{PREFIX}/{}.{}", self.id, self.format))
    }

    fn meta(&self) -> ObjectPath {
        meta_path(&self.id)
    }
}

fn meta_path(id: &str) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{id}.json"))
}

/// Reports of this server: running ones in memory, every one on the object store.
#[derive(Debug)]
pub struct Reports {
    store: Arc<dyn ObjectStore>,
    running: Mutex<BTreeMap<String, ReportJob>>,
    /// Kept this long after they were asked for.
    pub retention: Duration,
    /// The ICMP poll interval availability counts in, unless a request says otherwise.
    pub poll_interval: Duration,
}

/// Why a report cannot be listed, read or made.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// No report has this id.
    #[error("no report `{0}`")]
    NotFound(String),
    /// The report is not done yet (or failed).
    #[error("report `{0}` is {1:?}, not done")]
    NotReady(String, ReportStatus),
    /// The object store failed.
    #[error("report storage: {0}")]
    Store(#[from] object_store::Error),
    /// A stored description does not decode.
    #[error("report description: {0}")]
    Json(#[from] serde_json::Error),
}

impl Reports {
    /// Reports kept in `store` for `retention`.
    pub fn new(store: Arc<dyn ObjectStore>, retention: Duration, poll_interval: Duration) -> Self {
        Self {
            store,
            running: Mutex::new(BTreeMap::new()),
            retention,
            poll_interval,
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ReportJob>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn save(&self, job: &ReportJob) -> Result<(), ReportsError> {
        let json = serde_json::to_vec_pretty(job)?;
        self.store.put(&job.meta(), PutPayload::from(json)).await?;
        Ok(())
    }

    /// Every report, newest first; stored ones past the retention are deleted first. A
    /// report stored as running that this process is not running was cut short by a
    /// restart: it shows as failed.
    pub async fn list(&self) -> Result<Vec<ReportJob>, ReportsError> {
        let metas: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(PREFIX)))
            .try_collect()
            .await?;
        let mut jobs: BTreeMap<String, ReportJob> = BTreeMap::new();
        let cutoff = Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or_default();
        // `reports/<id>.json` only: sub-folders (`reports/schedules/`) hold other state.
        let descriptions = metas.iter().filter(|m| {
            m.location
                .as_ref()
                .strip_prefix("reports/")
                .is_some_and(|name| name.ends_with(".json") && !name.contains('/'))
        });
        for m in descriptions {
            let bytes = self.store.get(&m.location).await?.bytes().await?;
            let job: ReportJob = match serde_json::from_slice(&bytes) {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(file = %m.location, error = %e, "not a report description; left out of the list");
                    continue;
                }
            };
            if job.created_at < cutoff && job.status != ReportStatus::Running {
                self.delete(&job).await?;
                tracing::info!(report = %job.id, "report past its retention deleted");
                continue;
            }
            jobs.insert(job.id.clone(), job);
        }
        let running = self.running().clone();
        for job in jobs.values_mut() {
            if job.status == ReportStatus::Running && !running.contains_key(&job.id) {
                job.status = ReportStatus::Failed;
                job.error = Some("interrupted: the server stopped while it ran".into());
            }
        }
        jobs.extend(running);
        let mut out: Vec<ReportJob> = jobs.into_values().collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    async fn delete(&self, job: &ReportJob) -> Result<(), ReportsError> {
        for path in [job.file(), job.meta()] {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// One report.
    pub async fn get(&self, id: &str) -> Result<ReportJob, ReportsError> {
        self.list()
            .await?
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(|| ReportsError::NotFound(id.to_string()))
    }

    /// A finished report's file.
    pub async fn file(&self, id: &str) -> Result<(ReportJob, bytes::Bytes), ReportsError> {
        let job = self.get(id).await?;
        if job.status != ReportStatus::Done {
            return Err(ReportsError::NotReady(id.to_string(), job.status));
        }
        let bytes = self.store.get(&job.file()).await?.bytes().await?;
        Ok((job, bytes))
    }

    /// The object store reports are kept in (scheduled reports keep their state there).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Starts `spec` in the background for `caller` (who may read only `tables`);
    /// returns the report as it starts.
    pub async fn start(
        self: &Arc<Self>,
        engine: QueryEngine,
        spec: ReportSpec,
        format: Format,
        actor: String,
        tables: &'static [&'static str],
    ) -> Result<ReportJob, ReportsError> {
        let job = self.begin(&spec, format, &actor).await?;
        let (me, started) = (self.clone(), job.clone());
        tokio::spawn(async move {
            me.finish(started, &engine, &spec, format, &actor, tables)
                .await;
        });
        Ok(job)
    }

    /// Makes `spec` now and waits for it (scheduled reports): the stored report and its
    /// file, or why it failed.
    pub async fn make(
        self: &Arc<Self>,
        engine: &QueryEngine,
        spec: &ReportSpec,
        format: Format,
        actor: &str,
        tables: &'static [&'static str],
    ) -> Result<(ReportJob, bytes::Bytes), String> {
        let job = self
            .begin(spec, format, actor)
            .await
            .map_err(|e| e.to_string())?;
        let job = self.finish(job, engine, spec, format, actor, tables).await;
        match job.status {
            ReportStatus::Done => self.file(&job.id).await.map_err(|e| e.to_string()),
            _ => Err(job.error.unwrap_or_default()),
        }
    }

    async fn begin(
        &self,
        spec: &ReportSpec,
        format: Format,
        actor: &str,
    ) -> Result<ReportJob, ReportsError> {
        let sections_total = sotp_reports::sql::queries(spec).map_or(0, |q| q.len());
        let job = ReportJob {
            id: format!("r-{}", sotp_inventory::random_token(9)),
            kind: spec.kind.as_str().into(),
            format: format.as_str().into(),
            from: spec.from,
            to: spec.to,
            devices: spec.devices.clone(),
            tags: spec.tags.clone(),
            created_by: actor.to_string(),
            created_at: Utc::now(),
            status: ReportStatus::Running,
            sections_done: 0,
            sections_total,
            current: None,
            finished_at: None,
            bytes: None,
            error: None,
        };
        self.save(&job).await?;
        self.running().insert(job.id.clone(), job.clone());
        Ok(job)
    }

    /// Runs a begun report to its end and stores its outcome.
    async fn finish(
        &self,
        started: ReportJob,
        engine: &QueryEngine,
        spec: &ReportSpec,
        format: Format,
        actor: &str,
        tables: &'static [&'static str],
    ) -> ReportJob {
        let id = started.id.clone();
        let outcome = self.run(&id, engine, spec, format, actor, tables).await;
        let mut job = self.running().remove(&id).unwrap_or(started);
        job.finished_at = Some(Utc::now());
        job.current = None;
        match outcome {
            Ok(bytes) => {
                job.status = ReportStatus::Done;
                job.sections_done = job.sections_total;
                job.bytes = Some(bytes);
                tracing::info!(report = %id, kind = %job.kind, bytes, "report done");
            }
            Err(e) => {
                job.status = ReportStatus::Failed;
                job.error = Some(e.clone());
                tracing::warn!(report = %id, error = %e, "report failed");
            }
        }
        let outcome = if job.error.is_none() { "ok" } else { "failed" };
        metrics::counter!("sotp_reports_total", "outcome" => outcome).increment(1);
        if let Err(e) = self.save(&job).await {
            tracing::error!(report = %id, error = %e, "cannot store the report's description");
        }
        job
    }

    async fn run(
        &self,
        id: &str,
        engine: &QueryEngine,
        spec: &ReportSpec,
        format: Format,
        actor: &str,
        tables: &'static [&'static str],
    ) -> Result<u64, String> {
        // Told before each section runs: the one before it is done.
        let progress = |title: &str| {
            if let Some(j) = self.running().get_mut(id) {
                if j.current.is_some() {
                    j.sections_done += 1;
                }
                j.current = Some(title.to_string());
            }
        };
        let report = sotp_reports::generate_with(spec, progress, |sql| async move {
            engine
                .execute_for(
                    Caller {
                        user: Some(actor),
                        tables: Some(tables),
                    },
                    &sql,
                )
                .await
                .map(|out| (out.schema.clone(), out.batches.clone()))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?;
        let bytes = tokio::task::spawn_blocking(move || sotp_reports::render(&report, format))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let n = bytes.len() as u64;
        let path = ObjectPath::from(format!("{PREFIX}/{id}.{}", format.as_str()));
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| format!("storing the report: {e}"))?;
        Ok(n)
    }
}

/// The request's report type.
pub fn kind(s: &str) -> Result<ReportKind, String> {
    s.parse::<ReportKind>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, status: ReportStatus, age_days: i64) -> ReportJob {
        let at = Utc::now() - chrono::Duration::days(age_days);
        ReportJob {
            id: id.into(),
            kind: "availability".into(),
            format: "csv".into(),
            from: at,
            to: at,
            devices: Vec::new(),
            tags: Vec::new(),
            created_by: "admin".into(),
            created_at: at,
            status,
            sections_done: 0,
            sections_total: 4,
            current: None,
            finished_at: None,
            bytes: None,
            error: None,
        }
    }

    #[tokio::test]
    async fn a_restart_marks_unfinished_reports_failed_the_retention_deletes_old_ones_and_other_files_are_left_out()
     {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let reports = Reports::new(
            store.clone(),
            Duration::from_secs(30 * 86_400),
            Duration::from_secs(30),
        );
        for j in [
            job("r-cut", ReportStatus::Running, 0),
            job("r-new", ReportStatus::Done, 29),
            job("r-old", ReportStatus::Done, 31),
        ] {
            reports.save(&j).await.unwrap();
            store
                .put(&j.file(), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let state = ObjectPath::from("reports/schedules/monthly.json");
        store
            .put(&state, PutPayload::from_static(b"{\"last_run\": \"x\"}"))
            .await
            .unwrap();
        store
            .put(
                &ObjectPath::from("reports/broken.json"),
                PutPayload::from_static(b"{"),
            )
            .await
            .unwrap();
        let list = reports.list().await.unwrap();
        let ids: Vec<_> = list.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["r-cut", "r-new"], "newest first, the old one gone");
        assert_eq!(list[0].status, ReportStatus::Failed);
        assert!(list[0].error.as_deref().unwrap().contains("interrupted"));
        let old = job("r-old", ReportStatus::Done, 31);
        for path in [old.file(), old.meta()] {
            assert!(matches!(
                store.get(&path).await,
                Err(object_store::Error::NotFound { .. })
            ));
        }
        assert!(matches!(
            reports.file("r-cut").await,
            Err(ReportsError::NotReady(_, ReportStatus::Failed))
        ));
        assert!(matches!(
            reports.get("r-none").await,
            Err(ReportsError::NotFound(_))
        ));
    }
}
