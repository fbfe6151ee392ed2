//! The HTTP API: one router per resource, merged here with the limits every route shares.

pub mod error;
pub mod users;

use std::time::Duration;

use axum::{
    Extension, Json, Router,
    extract::{DefaultBodyLimit, OriginalUri, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use governor::clock::{Clock, DefaultClock};
use shared::{api, errors};

use self::error::ApiError;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::{
    LatencyUnit,
    catch_panic::CatchPanicLayer,
    services::ServeDir,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{adapter::AdapterKind, client_addr::ClientAddr, state::AppState, telemetry};

/// Where the Admin UI's own files are served (`--admin-ui-dir`).
pub const ADMIN_UI_PATH: &str = "/admin-ui";

/// Longest an API request may take (a password hash takes well under a second).
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// Gives a request's head storage of its own. hyper parses the URI and header values as slices
/// of its 16 KiB connection read buffer, axum's `OriginalUri` extension clones that URI, and
/// engineioxide keeps a Socket.IO request's head for the socket's whole life: so every socket
/// kept the whole buffer (a valgrind massif profile of 1000 idle sockets: 16 KiB of each
/// socket's ~44 KiB of heap). The copies cost a few hundred bytes, once. Of a Socket.IO
/// request's extensions only [`ClientAddr`] and hyper's upgrade (which engineioxide takes)
/// stay: the socket needs no other, and axum's routing adds four (~0.4 KiB per idle socket,
/// massif).
pub fn owned_head(mut request: Request) -> Request {
    if is_socket_io(request.uri().path()) {
        let old = std::mem::take(request.extensions_mut());
        let kept = request.extensions_mut();
        if let Some(addr) = old.get::<ClientAddr>() {
            kept.insert(*addr);
        }
        if let Some(upgrade) = old.get::<hyper::upgrade::OnUpgrade>() {
            kept.insert(upgrade.clone());
        }
    }
    for value in request.headers_mut().values_mut() {
        if let Ok(mut copy) = header::HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
    if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
        if let Some(OriginalUri(original)) = request.extensions_mut().get_mut::<OriginalUri>() {
            *original = uri.clone();
        }
        *request.uri_mut() = uri;
    }
    request
}

/// Whether `path` is Socket.IO's ([`api::SOCKET_IO_PATH`] and below, as engineioxide matches it).
fn is_socket_io(path: &str) -> bool {
    path.strip_prefix(api::SOCKET_IO_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// All routes, with the body limit, the per-address request rate and a timeout applied to the
/// API, an access log line per request (at `info`; Socket.IO's own requests never reach this
/// router) and a handler panic turned into a 500. `/metrics` is here unless it has an address
/// of its own (`--metrics-addr`).
pub fn router(state: AppState) -> Router {
    let api = users::router()
        .layer(middleware::from_fn_with_state(state.clone(), limit_rate))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, API_TIMEOUT));
    let mut router =
        Router::new().merge(api).route(api::HEALTH_PATH, get(health)).route(api::READY_PATH, get(ready));
    if state.config.metrics_addr.is_none() {
        router = router.route(api::METRICS_PATH, get(metrics));
    }
    if state.config.admin_ui
        && let Some(dir) = &state.config.admin_ui_dir
    {
        // Its assets are relative: the page must be read from the folder's URL, so the bare
        // path redirects there.
        let files = ServeDir::new(dir);
        router = router.nest_service(
            ADMIN_UI_PATH,
            tower::service_fn(move |request: Request| {
                let files = files.clone();
                async move {
                    let bare =
                        request.extensions().get::<OriginalUri>().is_some_and(|u| u.path() == ADMIN_UI_PATH);
                    if bare {
                        return Ok(Redirect::permanent(&format!("{ADMIN_UI_PATH}/")).into_response());
                    }
                    files.oneshot(request).await.map(IntoResponse::into_response)
                }
            }),
        );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        // The path only: a query string is the client's and may carry anything.
                        .make_span_with(|req: &Request| {
                            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                        })
                        .on_request(())
                        .on_response(
                            DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Millis),
                        ),
                )
                .layer(CatchPanicLayer::custom(panic_response)),
        )
}

/// The metrics alone, for `--metrics-addr`.
pub fn metrics_router() -> Router {
    Router::new().route(api::METRICS_PATH, get(metrics)).fallback(not_found)
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry::render()).into_response()
}

/// A handler that panicked: a logged line and the usual 500 body, never the panic's text.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what =
        panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    tracing::error!(panic = what.unwrap_or("(no message)"), "a request handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}

/// What the store and the adapter say right now; `true` when both answer.
async fn check(state: &AppState) -> (bool, api::Health) {
    let store = state.store.ping().await.inspect_err(|e| tracing::debug!("readiness: store: {e}")).is_ok();
    let adapter = state.adapter.is_up();
    let word = |ok| if ok { "ok" } else { "unavailable" };
    let adapter_word = match state.adapter.kind() {
        AdapterKind::Local => "local",
        _ => word(adapter),
    };
    let ready = store && adapter;
    (
        ready,
        api::Health { status: word(ready).into(), store: word(store).into(), adapter: adapter_word.into() },
    )
}

/// Liveness: answers 200 while the process serves, with what its dependencies say.
async fn health(State(state): State<AppState>) -> Json<api::Health> {
    Json(check(&state).await.1)
}

/// Readiness: 503 while the store or the adapter's backend is unreachable.
async fn ready(State(state): State<AppState>) -> Response {
    let (ready, health) = check(&state).await;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound(errors::NOT_FOUND)
}

async fn method_not_allowed() -> Response {
    let body = Json(api::ErrorResponse { error: "Method not allowed".into() });
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// 429 with `Retry-After` once a client address exceeds `--http-requests-per-minute`.
async fn limit_rate(
    State(state): State<AppState>,
    Extension(ClientAddr(addr)): Extension<ClientAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(Err(not_until)) = state.limits.http.as_ref().map(|l| l.check_key(&addr)) {
        telemetry::count(telemetry::RATE_LIMITED, "kind", "http");
        let retry_after = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::TooManyRequests { message: errors::TOO_MANY_REQUESTS, retry_after }.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_json_500_without_its_message() {
        for panic in
            [Box::new("secret detail") as Box<dyn std::any::Any + Send>, Box::new(String::from("owned"))]
        {
            let response = panic_response(panic);
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
            let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body, serde_json::json!({"error": errors::INTERNAL}));
        }
    }

    #[test]
    fn a_socket_io_request_keeps_only_its_client_address() {
        let addr = ClientAddr("192.0.2.7".parse().expect("ip"));
        let request = |path: &str| {
            let mut request = Request::new(axum::body::Body::empty());
            *request.uri_mut() = path.parse().expect("uri");
            request.extensions_mut().insert(addr);
            request.extensions_mut().insert(OriginalUri(path.parse().expect("uri")));
            request
        };
        for path in ["/socket.io/?EIO=4&transport=websocket", "/socket.io"] {
            let kept = owned_head(request(path));
            assert_eq!(kept.extensions().len(), 1, "{path}");
            assert_eq!(kept.extensions().get::<ClientAddr>().map(|a| a.0), Some(addr.0));
            assert_eq!(kept.uri(), path);
        }
        for path in ["/socket.iox/", "/api/v1/users/1"] {
            assert_eq!(owned_head(request(path)).extensions().len(), 2, "{path}");
        }
    }
}
