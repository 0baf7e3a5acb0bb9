//! Routes each request by its `Host` to the emulated host's router, applying injected
//! faults, stamping `Date` from the emulator clock and recording what was answered.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower::ServiceExt as _;

use crate::clock::lock;
use crate::faults::{FaultAction, RateLimit};
use crate::hosts::{self, HostKind};
use crate::intake;
use crate::oauth;
use crate::received::RequestRecord;
use crate::state::AppState;
use crate::test_api;

/// The connection is closed without an answer (an injected `drop` fault).
#[derive(Debug)]
pub(crate) struct DroppedByFault;

impl fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    inner: Arc<Routers>,
}

#[derive(Debug)]
struct Routers {
    state: AppState,
    app: Router,
    api: Router,
    logs: Router,
    events: Router,
    test_api: Router,
}

fn api_router(state: AppState) -> Router {
    intake::api_routes()
        .route("/oauth2/v1/token", post(oauth::token::token))
        .route("/oauth2/v1/revoke", post(oauth::token::revoke))
        .route(
            "/api/v2/api_keys/marketplace",
            post(oauth::marketplace::create_key),
        )
        .fallback(not_found_json)
        .with_state(state)
}

async fn not_found_json() -> Response {
    intake::error(intake::ErrorStyle::Json, StatusCode::NOT_FOUND, "Not found")
}

impl Dispatcher {
    pub(crate) fn new(state: AppState) -> Self {
        let routers = Routers {
            app: oauth::app::router(state.clone()),
            api: api_router(state.clone()),
            logs: intake::logs_routes()
                .fallback(not_found_json)
                .with_state(state.clone()),
            events: intake::event_intake_routes()
                .fallback(not_found_json)
                .with_state(state.clone()),
            test_api: test_api::router(state.clone()),
            state,
        };
        Self {
            inner: Arc::new(routers),
        }
    }

    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Result<Response, DroppedByFault>
    where
        B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let request = request.map(Body::new);
        let r = &self.inner;
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default();
        let content_encoding = request
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_test_api = path == "/_emulator" || path.starts_with("/_emulator/");
        let mut fault_name = None;
        let result = if is_test_api {
            if r.state.test_api_token.authorizes(request.headers()) {
                Ok(call(&r.test_api, request).await)
            } else {
                Ok(test_api::unauthorized())
            }
        } else if host.is_empty() {
            Ok(plain(
                StatusCode::BAD_REQUEST,
                "A Host header is required.\n".to_owned(),
            ))
        } else if let Some(kind) = hosts::classify(&host, &r.state.domain_name) {
            let fault = lock(&r.state.faults).take(&path);
            match fault {
                Some(FaultAction::Drop) => {
                    fault_name = Some("drop".to_owned());
                    Err(DroppedByFault)
                }
                Some(FaultAction::Status {
                    status,
                    body,
                    rate_limit,
                }) => {
                    fault_name = Some(format!("status {status}"));
                    Ok(fault_response(status, body, rate_limit.as_ref()))
                }
                Some(delay @ FaultAction::Delay { .. }) => {
                    fault_name = Some("delay".to_owned());
                    if let Some(duration) = delay.delay() {
                        tokio::time::sleep(duration).await;
                    }
                    Ok(call(r.router_for(&kind), request).await)
                }
                None => Ok(call(r.router_for(&kind), request).await),
            }
        } else {
            Ok(plain(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Misdirected request: this Datadog emulator serves app., api., http-intake.logs. and \
                     event-management-intake. of {} (and custom subdomains of the web app), not host {host:?}.\n",
                    r.state.public_domain
                ),
            ))
        };
        let status = result
            .as_ref()
            .map_or(0, |response| response.status().as_u16());
        tracing::info!(%method, %host, %path, status, fault = fault_name.as_deref(), "request");
        lock(&r.state.received).requests.push(RequestRecord {
            method,
            host,
            path,
            status,
            content_encoding,
            fault: fault_name,
            received_at: r.state.clock.unix(),
        });
        result.map(|mut response| {
            let date = httpdate::fmt_http_date(r.state.clock.now());
            if let Ok(value) = HeaderValue::from_str(&date) {
                response.headers_mut().insert(header::DATE, value);
            }
            response
        })
    }
}

impl Routers {
    fn router_for(&self, kind: &HostKind) -> &Router {
        match kind {
            HostKind::App | HostKind::CustomApp(_) => &self.app,
            HostKind::Api => &self.api,
            HostKind::LogsIntake => &self.logs,
            HostKind::EventIntake => &self.events,
        }
    }
}

async fn call(router: &Router, request: Request<Body>) -> Response {
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn fault_response(status: u16, body: Option<String>, rate_limit: Option<&RateLimit>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = body.unwrap_or_else(|| {
        serde_json::json!({ "errors": [status.canonical_reason().unwrap_or("Error")] }).to_string()
    });
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(limit) = rate_limit {
        let pairs = [
            ("x-ratelimit-limit", limit.limit.to_string()),
            ("x-ratelimit-period", limit.period.to_string()),
            ("x-ratelimit-remaining", limit.remaining.to_string()),
            ("x-ratelimit-reset", limit.reset.to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if let Some(value) = limit
            .name
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert("x-ratelimit-name", value);
        }
    }
    response
}
