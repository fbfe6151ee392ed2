//! The HTTP API: one router per resource, merged here with the limits every route shares.

pub mod error;
pub mod users;

use axum::{
    Extension, Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use governor::clock::{Clock, DefaultClock};
use shared::{api, errors};

use self::error::ApiError;
use crate::{adapter::AdapterKind, client_addr::ClientAddr, state::AppState};

/// All routes, with the body limit and the per-address request rate applied to the API.
pub fn router(state: AppState) -> Router {
    let api = users::router()
        .layer(middleware::from_fn_with_state(state.clone(), limit_rate))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    Router::new()
        .merge(api)
        .route(api::HEALTH_PATH, get(health))
        .route(api::READY_PATH, get(ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
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
        let retry_after = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::TooManyRequests { message: errors::TOO_MANY_REQUESTS, retry_after }.into_response();
    }
    next.run(request).await
}
