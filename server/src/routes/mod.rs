//! Every route of the HTTP API, one module per area. [`all`] registers each handler
//! with its `#[utoipa::path]` document; nothing else adds routes.

pub mod admin;
pub mod alerts;
pub mod configs;
pub mod device_metrics;
pub mod devices;
pub mod execute;
pub mod export;
pub mod logs;
pub mod reports;
pub mod session;
pub mod sql;
pub mod status;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;

/// The router of every route together with its OpenAPI document.
pub fn all() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(status::health))
        .routes(routes!(status::ready))
        .routes(routes!(status::metrics))
        .routes(routes!(status::openapi_json))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::change_password))
        .routes(routes!(session::me))
        .routes(routes!(sql::query))
        .routes(routes!(export::export))
        .routes(routes!(reports::generate))
        .routes(routes!(reports::list))
        .routes(routes!(reports::get_one))
        .routes(routes!(reports::download))
        .routes(routes!(logs::search))
        .routes(routes!(logs::stream))
        .routes(routes!(devices::list, devices::create))
        .routes(routes!(
            devices::get_one,
            devices::replace,
            devices::patch,
            devices::delete
        ))
        .routes(routes!(device_metrics::series))
        .routes(routes!(execute::execute))
        .routes(routes!(configs::list))
        .routes(routes!(configs::diff))
        .routes(routes!(configs::get_one))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::update_user))
        .routes(routes!(admin::reset_password))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_audit))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::stream))
        .routes(routes!(alerts::get_one))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::list_silences, alerts::create_silence))
        .routes(routes!(alerts::expire_silence))
        .routes(routes!(alerts::list_rules, alerts::create_rule))
        .routes(routes!(
            alerts::get_rule,
            alerts::update_rule,
            alerts::delete_rule
        ))
        .routes(routes!(alerts::backtest))
        .routes(routes!(alerts::list_receivers))
}
