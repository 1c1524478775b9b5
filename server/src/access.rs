//! The HTTP side of access control: the route table (every route with its rule, read
//! from the generated OpenAPI document, so a route cannot exist without its document
//! entry and its role), the middleware that enforces it on every request, security
//! headers and CORS.
//!
//! Each operation of the document names its rule in `security`: no requirement
//! (`security(())`) for a public route, scheme `bearer` with one permission as its scope
//! (`security(("bearer" = ["devices.write"]))`) otherwise, `metrics` for `/metrics`
//! (public unless `[auth] public_metrics = false`). The middleware refuses a route that
//! is not in the table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sotp_inventory::Permission;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::OpenApi;

use crate::ApiState;
use crate::auth::{AuthError, Credential};
use crate::auth_config::AuthConfig;
use crate::error::ApiError;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// `/metrics`: public unless `[auth] public_metrics = false`.
    Metrics,
    /// A token whose role has this permission.
    Needs(Permission),
}

/// The scope naming [`Access::Metrics`] in the document.
pub(crate) const METRICS_SCOPE: &str = "metrics";

/// Every route of the API with its rule, keyed by (method, path template).
#[derive(Clone, Debug, Default)]
pub struct RouteTable(HashMap<(Method, String), Access>);

impl RouteTable {
    /// The table of `doc`, or every operation whose rule is missing or malformed.
    pub fn from_openapi(doc: &OpenApi) -> Result<Self, Vec<String>> {
        let mut table = HashMap::new();
        let mut problems = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                let what = format!("{method} {path}");
                match access_of(op.security.as_deref()) {
                    Ok(a) => {
                        table.insert((method, path.clone()), a);
                    }
                    Err(why) => problems.push(format!("{what}: {why}")),
                }
            }
        }
        if problems.is_empty() {
            Ok(Self(table))
        } else {
            Err(problems)
        }
    }

    /// The rule of a route, or `None` when the route is not in the table.
    pub fn get(&self, method: &Method, path: &str) -> Option<Access> {
        self.0.get(&(method.clone(), path.to_string())).copied()
    }

    /// Every (method, path, rule), sorted.
    pub fn entries(&self) -> Vec<(Method, String, Access)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .map(|((m, p), a)| (m.clone(), p.clone(), *a))
            .collect();
        v.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        v
    }
}

fn operations(
    item: &utoipa::openapi::PathItem,
) -> Vec<(Method, &utoipa::openapi::path::Operation)> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::HEAD, &item.head),
        (Method::OPTIONS, &item.options),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

fn access_of(
    security: Option<&[utoipa::openapi::security::SecurityRequirement]>,
) -> Result<Access, String> {
    let Some(reqs) = security else {
        return Err("no `security` in its #[utoipa::path]: say who may call it".into());
    };
    let json = serde_json::to_value(reqs).map_err(|e| e.to_string())?;
    let reqs = json.as_array().cloned().unwrap_or_default();
    match reqs.as_slice() {
        [only] if only.as_object().is_some_and(|o| o.is_empty()) => Ok(Access::Public),
        [only] => {
            let scopes = only
                .get("bearer")
                .and_then(|s| s.as_array())
                .ok_or("the only requirement must be scheme `bearer`")?;
            match scopes.as_slice() {
                [s] if s.as_str() == Some(METRICS_SCOPE) => Ok(Access::Metrics),
                [s] => s.as_str().unwrap_or_default().parse().map(Access::Needs),
                _ => Err("`bearer` must name exactly one permission".into()),
            }
        }
        _ => Err("exactly one security requirement expected".into()),
    }
}

/// The client's address (the TCP peer; proxies' headers are not trusted).
pub(crate) fn client_ip(ext: &axum::http::Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// The bearer token of a request, if any.
fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The middleware on every route: rate limit, authentication, permission.
pub(crate) async fn require(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let control = &st.control;
    let permission = match st.routes.get(req.method(), &path) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Metrics) if control.config.public_metrics => return next.run(req).await,
        Some(Access::Metrics) => Permission::Query,
        Some(Access::Needs(p)) => p,
        None => {
            tracing::error!(%path, method = %req.method(), "route missing from the permission table");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "route has no permission entry",
            )
            .into_response();
        }
    };
    let ip = client_ip(req.extensions());
    // Forget addresses whose buckets are full again, so the limiter's memory stays small.
    if control
        .checks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(4096)
    {
        control.general.retain_recent();
    }
    if control.general.check_key(&ip).is_err() {
        return ApiError::from(AuthError::RateLimited).into_response();
    }
    let Some(token) = bearer(&req) else {
        return ApiError::from(AuthError::Unauthenticated(
            "missing `Authorization: Bearer <token>`; log in at POST /api/v1/auth/login".into(),
        ))
        .into_response();
    };
    // A user who must change the password may still do that, or log out.
    let change_allowed = path == "/api/v1/auth/password" || path == "/api/v1/auth/logout";
    let principal = match control
        .authenticate(Credential::Bearer(&token), ip, change_allowed)
        .await
    {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !principal.role.allows(permission) {
        return ApiError::from(AuthError::Forbidden(format!(
            "role {} may not {} {path}",
            principal.role,
            req.method()
        )))
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Security headers on every response.
pub(crate) fn header_layers() -> [SetResponseHeaderLayer<HeaderValue>; 5] {
    let h = |n: &'static str, v: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(n),
            HeaderValue::from_static(v),
        )
    };
    [
        h("x-content-type-options", "nosniff"),
        h("x-frame-options", "DENY"),
        h("referrer-policy", "no-referrer"),
        h(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        h("cache-control", "no-store"),
    ]
}

/// CORS for the configured origins (none: no cross-origin access).
pub(crate) fn cors(config: &AuthConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};

    use super::*;

    fn doc_with(security: Option<Vec<SecurityRequirement>>) -> OpenApi {
        let mut op = OperationBuilder::new().summary(Some("x"));
        if let Some(s) = security {
            op = op.securities(Some(s));
        }
        OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(
                PathsBuilder::new()
                    .path("/x", PathItem::new(HttpMethod::Get, op.build()))
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_route_without_a_valid_rule_is_refused_at_build_time() {
        let missing = RouteTable::from_openapi(&doc_with(None)).unwrap_err();
        assert!(missing[0].contains("GET /x"), "{missing:?}");
        let unknown = RouteTable::from_openapi(&doc_with(Some(vec![SecurityRequirement::new(
            "bearer",
            ["devices.delete_everything"],
        )])))
        .unwrap_err();
        assert!(unknown[0].contains("unknown permission"), "{unknown:?}");
        let public =
            RouteTable::from_openapi(&doc_with(Some(vec![SecurityRequirement::default()])))
                .unwrap();
        assert_eq!(public.get(&Method::GET, "/x"), Some(Access::Public));
        assert_eq!(public.get(&Method::POST, "/x"), None);
    }

    #[test]
    fn every_route_is_documented_with_a_summary_and_its_error_answers() {
        let (doc, table) = crate::document();
        let served = crate::openapi::served(&doc);
        assert!(table.entries().len() >= 26, "{:?}", table.entries());
        for (method, path, access) in table.entries() {
            let op = &served["paths"][&path][method.as_str().to_lowercase()];
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary (the handler's doc comment)"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("400"), "{method} {path}");
            if access != Access::Public {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(responses.contains_key("403"), "{method} {path}");
            }
        }
    }
}
