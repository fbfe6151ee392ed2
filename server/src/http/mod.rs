//! The HTTP API: one router per resource, merged here with the limits every route shares.

pub mod error;
pub mod users;

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use governor::clock::{Clock, DefaultClock};
use shared::{api, errors};

use self::error::ApiError;
use crate::state::AppState;

/// All routes, with the body limit and the per-address request rate applied to the API.
pub fn router(state: AppState) -> Router {
    let api = users::router()
        .layer(middleware::from_fn_with_state(state.clone(), limit_rate))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    Router::new()
        .merge(api)
        .route(api::HEALTH_PATH, get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}

async fn not_found() -> ApiError {
    ApiError::NotFound(errors::NOT_FOUND)
}

async fn method_not_allowed() -> Response {
    let body = Json(api::ErrorResponse { error: "Method not allowed".into() });
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// 429 with `Retry-After` once an address exceeds `--http-requests-per-minute`.
async fn limit_rate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(Err(not_until)) = state.limits.http.as_ref().map(|l| l.check_key(&peer.ip())) {
        let retry_after = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::TooManyRequests { message: errors::TOO_MANY_REQUESTS, retry_after }.into_response();
    }
    next.run(request).await
}
