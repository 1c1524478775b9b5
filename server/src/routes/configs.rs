//! Configuration backups of a device: the versions the SSH collector stored (secrets
//! masked, one row of `command_outputs` per change), one version's text, and the diff
//! between two versions.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sotp_query::Caller;

use super::device_metrics::literal;
use crate::{ApiError, ApiQuery, ApiState, ErrorBody, Principal};

/// One stored version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigVersion {
    /// When it was collected (RFC 3339, UTC).
    pub time: String,
    /// Its digest (SHA-256 of the masked text without the lines that change every time).
    pub config_hash: String,
    /// The digest of the version it replaced; null for the first.
    pub previous_hash: Option<String>,
    /// Its size in bytes.
    pub bytes: i64,
}

/// The versions of a device's configuration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigVersions {
    /// The device.
    pub device_id: String,
    /// Newest first.
    pub versions: Vec<ConfigVersion>,
}

/// One version with its text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigText {
    /// The version.
    #[serde(flatten)]
    pub version: ConfigVersion,
    /// The configuration, secrets replaced by `<removed>`.
    pub config: String,
}

/// Which versions to compare.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// The older version's digest; default: the version `to` replaced.
    pub from: Option<String>,
    /// The newer version's digest; default: the newest.
    pub to: Option<String>,
}

/// A diff between two versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigDiff {
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
    /// A unified diff (3 lines of context); empty when they are equal.
    pub diff: String,
}

/// Every stored version (with its text) of `id`'s configuration, newest first.
async fn versions(
    st: &ApiState,
    p: &Principal,
    id: &str,
) -> Result<Vec<(ConfigVersion, String)>, ApiError> {
    st.control.store.device(id).await?;
    let sql = format!(
        "SELECT time, config_hash, previous_hash, CAST(octet_length(output) AS BIGINT), output \
         FROM command_outputs WHERE device_id = {} AND kind = 'config' AND ok \
         AND config_hash IS NOT NULL ORDER BY time DESC LIMIT 1000",
        literal("id", id)?
    );
    let caller = Caller {
        user: Some(&p.actor),
        tables: Some(p.role.sql_tables()),
    };
    let out = st.engine.execute_for(caller, &sql).await?;
    let mut all = Vec::new();
    for b in &out.batches {
        let time = b.column(0).as_primitive::<TimestampNanosecondType>();
        let (hash, prev) = (
            b.column(1).as_string::<i32>(),
            b.column(2).as_string::<i32>(),
        );
        let bytes = b.column(3).as_primitive::<Int64Type>();
        let text = b.column(4).as_string::<i32>();
        for i in 0..b.num_rows() {
            let t = DateTime::<Utc>::from_timestamp_nanos(time.value(i));
            all.push((
                ConfigVersion {
                    time: t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    config_hash: hash.value(i).to_owned(),
                    previous_hash: (!prev.is_null(i)).then(|| prev.value(i).to_owned()),
                    bytes: bytes.value(i),
                },
                text.value(i).to_owned(),
            ));
        }
    }
    Ok(all)
}

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
}

/// The stored versions of a device's running configuration, newest first.
#[utoipa::path(get, path = "/api/v1/devices/{id}/configs", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "the versions, newest first", body = ConfigVersions),
        (status = 404, description = "no such device", body = ErrorBody)),
    security(("bearer" = ["devices.execute"])))]
pub async fn list(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ConfigVersions>, ApiError> {
    let versions = versions(&st, &p, &id).await?;
    Ok(Json(ConfigVersions {
        device_id: id,
        versions: versions.into_iter().map(|(v, _)| v).collect(),
    }))
}

/// One version of a device's running configuration, with its text (secrets masked).
#[utoipa::path(get, path = "/api/v1/devices/{id}/configs/{hash}", tag = "devices",
    params(("id" = String, Path, description = "Device id"),
           ("hash" = String, Path, description = "The version's config_hash")),
    responses(
        (status = 200, description = "the version", body = ConfigText),
        (status = 404, description = "no such device or version", body = ErrorBody)),
    security(("bearer" = ["devices.execute"])))]
pub async fn get_one(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path((id, hash)): Path<(String, String)>,
) -> Result<Json<ConfigText>, ApiError> {
    let (version, config) = versions(&st, &p, &id)
        .await?
        .into_iter()
        .find(|(v, _)| v.config_hash == hash)
        .ok_or_else(|| not_found(format!("no configuration version {hash} of device `{id}`")))?;
    Ok(Json(ConfigText { version, config }))
}

/// The difference between two versions of a device's running configuration.
#[utoipa::path(get, path = "/api/v1/devices/{id}/configs/diff", tag = "devices",
    params(("id" = String, Path, description = "Device id"), DiffParams),
    responses(
        (status = 200, description = "a unified diff", body = ConfigDiff),
        (status = 404, description = "no such device or version, or fewer than two versions", body = ErrorBody)),
    security(("bearer" = ["devices.execute"])))]
pub async fn diff(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DiffParams>,
) -> Result<Json<ConfigDiff>, ApiError> {
    let all = versions(&st, &p, &id).await?;
    let find = |hash: &str| {
        all.iter()
            .find(|(v, _)| v.config_hash == hash)
            .ok_or_else(|| not_found(format!("no configuration version {hash} of device `{id}`")))
    };
    let to = match &q.to {
        Some(h) => find(h)?,
        None => all
            .first()
            .ok_or_else(|| not_found(format!("no configuration of device `{id}` is stored")))?,
    };
    let from = match (&q.from, &to.0.previous_hash) {
        (Some(h), _) => find(h)?,
        (None, Some(h)) => find(h)?,
        (None, None) => {
            return Err(not_found(format!(
                "version {} of device `{id}` is its first: give `from`",
                to.0.config_hash
            )));
        }
    };
    let label = |v: &ConfigVersion| format!("{} {}", v.config_hash, v.time);
    Ok(Json(ConfigDiff {
        from: from.0.config_hash.clone(),
        to: to.0.config_hash.clone(),
        diff: sotp_ssh::unified_diff(&from.1, &to.1, &label(&from.0), &label(&to.0)),
    }))
}
