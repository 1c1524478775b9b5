//! `/api/v1/devices`: create, list, read, replace, patch and (soft) delete devices.
//! Every change is written to the audit log with its before and after state.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sotp_inventory::{
    DeviceFilter, DeviceInput, DevicePage, InventoryError, ManagedBy, NewAudit, StoredDevice,
};

use crate::{ApiError, ApiJson, ApiQuery, ApiState, ErrorBody, Principal};

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

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// Creates a device; its secrets are sealed and never returned.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices",
    request_body = DeviceInput,
    responses(
        (status = 201, description = "created", body = StoredDevice),
        (status = 409, description = "the address is used by another device", body = ErrorBody),
        (status = 422, description = "invalid fields, each listed", body = ErrorBody)),
    security(("bearer" = ["devices.write"])))]
pub async fn create(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(input): ApiJson<DeviceInput>,
) -> Result<(StatusCode, Json<StoredDevice>), ApiError> {
    match st
        .control
        .store
        .create_device(&input, &p.actor, ManagedBy::Api, None)
        .await
    {
        Ok(d) => {
            let resource = format!("device/{}", d.id);
            audit(
                &st,
                &p,
                "device.create",
                resource,
                None,
                json(&d),
                "success",
            )
            .await;
            Ok((StatusCode::CREATED, Json(d)))
        }
        Err(e) => {
            let input = json(&input);
            audit(
                &st,
                &p,
                "device.create",
                "device".into(),
                None,
                input,
                "failure",
            )
            .await;
            Err(e.into())
        }
    }
}

/// Lists devices with filters, search, sorting and pagination.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices",
    params(DeviceFilter),
    responses((status = 200, description = "one page", body = DevicePage)),
    security(("bearer" = ["devices.read"])))]
pub async fn list(
    State(st): State<ApiState>,
    ApiQuery(f): ApiQuery<DeviceFilter>,
) -> Result<Response, ApiError> {
    // The serialised page, shared with concurrent and recent identical requests until
    // the next device write (the store's page cache).
    let body = st.control.store.list_devices_json(&f).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// One live device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "the device", body = StoredDevice),
        (status = 404, description = "no such device", body = ErrorBody)),
    security(("bearer" = ["devices.read"])))]
pub async fn get_one(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<StoredDevice>, ApiError> {
    Ok(Json(st.control.store.device(&id).await?))
}

/// Replaces a device's fields; secrets left out keep their stored value.
#[utoipa::path(put, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    request_body = DeviceInput,
    responses(
        (status = 200, description = "the device after the change", body = StoredDevice),
        (status = 404, description = "no such device", body = ErrorBody),
        (status = 409, description = "managed by the configuration file, or the address is taken", body = ErrorBody),
        (status = 422, description = "invalid fields, each listed", body = ErrorBody)),
    security(("bearer" = ["devices.write"])))]
pub async fn replace(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DeviceInput>,
) -> Result<Json<StoredDevice>, ApiError> {
    let r = st.control.store.replace_device(&id, &input, false).await;
    finish(&st, &p, "device.update", &id, r).await
}

/// Changes some fields with a JSON merge patch (RFC 7396).
#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    request_body(content = serde_json::Value, description = "a JSON merge patch of the device's input fields", content_type = "application/json"),
    responses(
        (status = 200, description = "the device after the change", body = StoredDevice),
        (status = 404, description = "no such device", body = ErrorBody),
        (status = 409, description = "managed by the configuration file, or the address is taken", body = ErrorBody),
        (status = 422, description = "invalid fields, each listed", body = ErrorBody)),
    security(("bearer" = ["devices.write"])))]
pub async fn patch(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Result<Json<StoredDevice>, ApiError> {
    if !patch.is_object() {
        return Err(InventoryError::field("body", "a JSON merge patch must be an object").into());
    }
    let r = st.control.store.patch_device(&id, &patch).await;
    finish(&st, &p, "device.patch", &id, r).await
}

async fn finish(
    st: &ApiState,
    p: &Principal,
    action: &str,
    id: &str,
    r: Result<(StoredDevice, StoredDevice), InventoryError>,
) -> Result<Json<StoredDevice>, ApiError> {
    let resource = format!("device/{id}");
    match r {
        Ok((before, after)) => {
            audit(
                st,
                p,
                action,
                resource,
                json(&before),
                json(&after),
                "success",
            )
            .await;
            Ok(Json(after))
        }
        Err(e) => {
            audit(st, p, action, resource, None, None, "failure").await;
            Err(e.into())
        }
    }
}

/// Soft-deletes a device: it disappears from lists and its address is free again.
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such device", body = ErrorBody),
        (status = 409, description = "managed by the configuration file", body = ErrorBody)),
    security(("bearer" = ["devices.write"])))]
pub async fn delete(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let resource = format!("device/{id}");
    match st.control.store.delete_device(&id, false).await {
        Ok(before) => {
            audit(
                &st,
                &p,
                "device.delete",
                resource,
                json(&before),
                None,
                "success",
            )
            .await;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            audit(&st, &p, "device.delete", resource, None, None, "failure").await;
            Err(e.into())
        }
    }
}
