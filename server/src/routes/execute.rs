//! `POST /api/v1/devices/{id}/execute`: one allowlisted read-only command on a device
//! over SSH, its output parsed with the TextFSM templates. Operators and admins only,
//! rate limited per user, audited before it runs (who, device, command) and after
//! (outcome, duration, the output's first 500 characters).

use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sotp_inventory::NewAudit;
use sotp_ssh::{Platform, SshAuth, SshError, SshTarget};

use crate::{ApiError, ApiJson, ApiState, ErrorBody, Principal};

/// How much of the output the audit log keeps.
const AUDIT_OUTPUT_CHARS: usize = 500;

/// The command to run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// A read-only command allowed on the device's platform, e.g. `show version` or
    /// `sh ip int br`.
    pub command: String,
}

/// What the command printed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecuteResult {
    /// The output as text (line ends `\n`).
    pub output: String,
    /// The rows the TextFSM template found, keyed by the template's value names in lower
    /// case (as ntc-templates' `parse_output`); null when no template matches the
    /// platform and command, or none are configured.
    #[schema(value_type = Option<Vec<Object>>)]
    pub parsed: Option<serde_json::Value>,
    /// The template(s) used (`a.textfsm:b.textfsm` when merged), or null.
    pub template: Option<String>,
    /// Why the template failed on this output, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// From the connection to the end of the output, in milliseconds.
    pub duration_ms: u64,
    /// The command's exit status on an exec channel (devices without one: null).
    pub exit_status: Option<u32>,
    /// The command as sent (normalised).
    pub command: String,
}

/// Runs a read-only command on a device.
#[utoipa::path(post, path = "/api/v1/devices/{id}/execute", tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "the output, parsed where a template matches", body = ExecuteResult),
        (status = 404, description = "no such device", body = ErrorBody),
        (status = 409, description = "the device has no usable SSH settings (platform, credentials, pinned host key)", body = ErrorBody),
        (status = 422, description = "the command is not an allowed read-only command on the device's platform", body = ErrorBody),
        (status = 429, description = "over the per-user command rate ([ssh] commands_per_minute)", body = ErrorBody),
        (status = 502, description = "the device failed: unreachable, changed host key, refused login, channel refused", body = ErrorBody),
        (status = 503, description = "too many SSH sessions open", body = ErrorBody),
        (status = 504, description = "the device did not answer in time", body = ErrorBody)),
    security(("bearer" = ["devices.execute"])))]
pub async fn execute(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Json<ExecuteResult>, ApiError> {
    let resource = format!("device/{id}");
    // Every attempt counts, refused ones too.
    if let Err(retry_after_s) = st.ssh.take(&p.actor) {
        return Err(ApiError::rate_limited(
            format!(
                "at most {} commands a minute per user ([ssh] commands_per_minute)",
                st.ssh.per_minute()
            ),
            retry_after_s,
        ));
    }
    let device = st.control.store.device(&id).await?;
    let Some(settings) = device.ssh.clone() else {
        return Err(conflict(
            "no_ssh",
            format!("device `{id}` has no ssh settings (user, key or password, platform)"),
        ));
    };
    let platform = match settings.platform.as_deref() {
        None => {
            return Err(conflict(
                "no_platform",
                format!(
                    "device `{id}` has no ssh.platform; one of: {}",
                    Platform::names().join(", ")
                ),
            ));
        }
        Some(name) => Platform::named(name).ok_or_else(|| {
            conflict(
                "unknown_platform",
                format!(
                    "device `{id}` has ssh.platform `{name}`, which SOTP does not know; one of: {}",
                    Platform::names().join(", ")
                ),
            )
        })?,
    };
    let command = match platform.check(&req.command) {
        Ok(c) => c,
        Err(refusal) => {
            // Refused attempts are audited too: they are what an audit is for.
            write_audit(
                &st,
                &p,
                &resource,
                serde_json::json!({"command": req.command, "refused": refusal.to_string()}),
                "refused",
            )
            .await?;
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "command_refused",
                refusal.to_string(),
            ));
        }
    };
    let Some(host_key) = st.ssh.host_keys.policy(settings.host_key.as_deref(), true) else {
        return Err(conflict(
            "no_host_key",
            format!(
                "device `{id}` has no pinned ssh.host_key: set it (`ssh-keygen -l -f` of the device's key), list it in [ssh] known_hosts, or enable [ssh] trust_on_first_use"
            ),
        ));
    };
    let auth = if let Some(pem) = st.control.store.device_secret(&id, "ssh.key").await? {
        SshAuth::Key {
            pem,
            passphrase: None,
        }
    } else if let Some(pw) = st.control.store.device_secret(&id, "ssh.password").await? {
        SshAuth::Password(pw)
    } else {
        return Err(conflict(
            "no_credentials",
            format!("device `{id}` has neither ssh.key nor ssh.password"),
        ));
    };
    let target = SshTarget {
        device: id.clone(),
        address: device
            .address
            .parse()
            .map_err(|e| ApiError::internal("the stored device address", e))?,
        port: u16::try_from(settings.port).unwrap_or(22),
        user: settings.user.clone(),
        auth,
        host_key: host_key.clone(),
        platform,
        legacy_algorithms: settings.legacy_algorithms,
    };
    // Audited before anything is sent: no audit entry, no command.
    write_audit(
        &st,
        &p,
        &resource,
        serde_json::json!({"command": command.as_str(), "platform": platform.name}),
        "started",
    )
    .await?;
    let started = Instant::now();
    let result = st.ssh.runner.run(&target, &command).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            let (status, code) = failure_status(&e);
            write_audit(
                &st,
                &p,
                &resource,
                serde_json::json!({"command": command.as_str(), "duration_ms": duration_ms, "error": e.to_string()}),
                code,
            )
            .await?;
            return Err(ApiError::new(status, code, format!("device `{id}`: {e}")));
        }
    };
    if out.first_use
        && st
            .control
            .store
            .pin_ssh_host_key(&id, &out.host_key)
            .await?
    {
        tracing::info!(device = %id, host_key = %out.host_key, "SSH host key pinned on first use");
        write_audit(
            &st,
            &p,
            &resource,
            serde_json::json!({"host_key": out.host_key}),
            "host_key_pinned",
        )
        .await?;
    }
    let (parsed, template, parse_error) = parse(&st, platform, command.as_str(), &out.output);
    let head: String = out.output.chars().take(AUDIT_OUTPUT_CHARS).collect();
    write_audit(
        &st,
        &p,
        &resource,
        serde_json::json!({
            "command": command.as_str(),
            "duration_ms": duration_ms,
            "exit_status": out.exit_status,
            "output_head": head,
            "output_bytes": out.output.len(),
            "template": template,
        }),
        "success",
    )
    .await?;
    Ok(Json(ExecuteResult {
        output: out.output,
        parsed,
        template,
        parse_error,
        duration_ms,
        exit_status: out.exit_status,
        command: command.to_string(),
    }))
}

/// The rows, the template names, and a template's error.
fn parse(
    st: &ApiState,
    platform: &Platform,
    command: &str,
    output: &str,
) -> (Option<serde_json::Value>, Option<String>, Option<String>) {
    let Some(lib) = &st.ssh.templates else {
        return (None, None, None);
    };
    match sotp_textfsm::parse_if_templated(lib, &platform.templates, command, output) {
        None => (None, None, None),
        Some((template, Ok(table))) => (
            serde_json::to_value(table.ordered_json()).ok(),
            Some(template),
            None,
        ),
        Some((template, Err(e))) => (None, Some(template), Some(e.to_string())),
    }
}

fn failure_status(e: &SshError) -> (StatusCode, &'static str) {
    match e {
        SshError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "device_timeout"),
        SshError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "ssh_busy"),
        SshError::HostKeyChanged { .. } => (StatusCode::BAD_GATEWAY, "host_key_changed"),
        SshError::HostKeyUnknown { .. } => (StatusCode::CONFLICT, "host_key_unknown"),
        SshError::Auth { .. } => (StatusCode::BAD_GATEWAY, "ssh_auth_failed"),
        SshError::Key(_) => (StatusCode::CONFLICT, "ssh_key_unreadable"),
        SshError::OutputTooLarge { .. } => (StatusCode::BAD_GATEWAY, "output_too_large"),
        SshError::Connect { .. } | SshError::Protocol(_) => {
            (StatusCode::BAD_GATEWAY, "device_unreachable")
        }
    }
}

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// One `device.execute` audit entry; a failure to write it fails the request (a command
/// is never run unaudited).
async fn write_audit(
    st: &ApiState,
    p: &Principal,
    resource: &str,
    detail: serde_json::Value,
    outcome: &str,
) -> Result<(), ApiError> {
    st.control
        .store
        .audit(NewAudit {
            actor: p.actor.clone(),
            source: p.source.clone(),
            action: "device.execute".into(),
            resource: resource.to_owned(),
            before: None,
            after: Some(detail),
            outcome: outcome.into(),
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot write the audit log: command not run");
            ApiError::from(e)
        })
}
