//! `/api/v1/devices`: create, list, read, replace, patch and (soft) delete devices.
//! Every change is written to the audit log with its before and after state.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sotp_inventory::{DeviceFilter, DeviceInput, ManagedBy, NewAudit};

use super::ApiState;
use super::control_error::{body, into_response, params};
use super::security::Principal;

/// Appends an audit entry for a change made by `p`; a failure to audit is logged.
pub(crate) async fn audit(
    st: &ApiState,
    p: &Principal,
    action: &str,
    resource: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    outcome: &str,
) {
    let r = st
        .control
        .store
        .audit(NewAudit {
            actor: p.actor.clone(),
            source: p.source.clone(),
            action: action.into(),
            resource,
            before,
            after,
            outcome: outcome.into(),
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, action, "cannot write the audit log");
    }
}

fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

pub(crate) async fn create(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    b: Result<Json<DeviceInput>, JsonRejection>,
) -> Response {
    let input = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st
        .control
        .store
        .create_device(&input, &p.actor, ManagedBy::Api, None)
        .await
    {
        Ok(d) => {
            audit(
                &st,
                &p,
                "device.create",
                format!("device/{}", d.id),
                None,
                json(&d),
                "success",
            )
            .await;
            (StatusCode::CREATED, Json(d)).into_response()
        }
        Err(e) => {
            audit(
                &st,
                &p,
                "device.create",
                "device".into(),
                None,
                json(&input),
                "failure",
            )
            .await;
            into_response(e)
        }
    }
}

pub(crate) async fn list(
    State(st): State<ApiState>,
    q: Result<Query<DeviceFilter>, QueryRejection>,
) -> Response {
    let f = match params(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    // The serialised page, shared with concurrent and recent identical requests until
    // the next device write (the store's page cache).
    match st.control.store.list_devices_json(&f).await {
        Ok(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => into_response(e),
    }
}

pub(crate) async fn get_one(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    match st.control.store.device(&id).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => into_response(e),
    }
}

pub(crate) async fn replace(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<DeviceInput>, JsonRejection>,
) -> Response {
    let input = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    finish(
        &st,
        &p,
        "device.update",
        &id,
        st.control.store.replace_device(&id, &input, false).await,
    )
    .await
}

pub(crate) async fn patch(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let patch = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !patch.is_object() {
        return into_response(sotp_inventory::InventoryError::field(
            "body",
            "a JSON merge patch must be an object",
        ));
    }
    finish(
        &st,
        &p,
        "device.patch",
        &id,
        st.control.store.patch_device(&id, &patch).await,
    )
    .await
}

async fn finish(
    st: &ApiState,
    p: &Principal,
    action: &str,
    id: &str,
    r: Result<
        (sotp_inventory::DeviceRecord, sotp_inventory::DeviceRecord),
        sotp_inventory::InventoryError,
    >,
) -> Response {
    match r {
        Ok((before, after)) => {
            audit(
                st,
                p,
                action,
                format!("device/{id}"),
                json(&before),
                json(&after),
                "success",
            )
            .await;
            Json(after).into_response()
        }
        Err(e) => {
            audit(st, p, action, format!("device/{id}"), None, None, "failure").await;
            into_response(e)
        }
    }
}

pub(crate) async fn delete(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match st.control.store.delete_device(&id, false).await {
        Ok(before) => {
            audit(
                &st,
                &p,
                "device.delete",
                format!("device/{id}"),
                json(&before),
                None,
                "success",
            )
            .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            audit(
                &st,
                &p,
                "device.delete",
                format!("device/{id}"),
                None,
                None,
                "failure",
            )
            .await;
            into_response(e)
        }
    }
}
