//! Signup, login and user lookup.

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    routing::{get, post},
};
use shared::{
    api::{self, Credentials, LoginResponse, SignupResponse, UserResponse},
    errors, validate,
};

use super::error::ApiError;
use crate::{auth, client_addr::ClientAddr, state::AppState, telemetry};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(api::SIGNUP_PATH, post(signup))
        .route(api::LOGIN_PATH, post(login))
        .route(&format!("{}/{{id}}", api::USERS_PATH), get(user))
}

async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SignupResponse>), ApiError> {
    let creds = credentials(&headers, body, state.config.max_body_bytes)?;
    // Stored in its normal form (NFKC); look-alikes of existing names are refused as taken.
    let invalid = |e| {
        telemetry::count(telemetry::SIGNUPS, "outcome", "invalid");
        ApiError::BadRequest(e)
    };
    let username = validate::username(&creds.username).map_err(invalid)?;
    validate::password(&creds.password).map_err(invalid)?;
    let hash = hashing(&state, move || auth::hash_password(&creds.password)).await?.map_err(internal)?;
    let user = state.store.create_user(&username, &hash).await.inspect_err(|e| {
        if matches!(e, crate::store::StoreError::UsernameTaken) {
            telemetry::count(telemetry::SIGNUPS, "outcome", "taken");
        }
    })?;
    telemetry::count(telemetry::SIGNUPS, "outcome", "ok");
    tracing::info!(user = %user.username, id = %user.id, "signed up");
    Ok((StatusCode::CREATED, Json(SignupResponse { id: user.id, username: user.username })))
}

async fn login(
    State(state): State<AppState>,
    Extension(ClientAddr(addr)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Credentials { username, password } = credentials(&headers, body, state.config.max_body_bytes)?;
    if username.is_empty() || password.is_empty() {
        return Err(ApiError::BadRequest(errors::INVALID_BODY.into()));
    }
    let throttle = state.limits.failed_logins.as_ref();
    // Look-alike spellings are one account, so they count as one name.
    let key = validate::username_key(&username);
    // Each attempt counts as a failure before the password is checked, so concurrent guesses
    // cannot all pass the check; it is taken back unless the password turns out wrong.
    let attempt = match throttle.map(|t| t.begin(&key, addr)).transpose() {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            telemetry::count(telemetry::LOGINS, "outcome", "throttled");
            telemetry::count(telemetry::RATE_LIMITED, "kind", "login");
            return Err(ApiError::TooManyRequests { message: errors::TOO_MANY_ATTEMPTS, retry_after });
        }
    };
    if let Some((_, delay)) = attempt.as_ref().filter(|(_, delay)| !delay.is_zero()) {
        tracing::info!(user = %username, %addr, ?delay, "login slowed down after repeated failures");
        tokio::time::sleep(*delay).await;
    }
    let user = state.store.user_by_name(&username).await?;
    // Unknown users are checked against a dummy hash so both failures take equally long.
    let hash = user.as_ref().map_or_else(|| state.dummy_hash.to_string(), |u| u.password_hash.clone());
    let verified = hashing(&state, move || auth::verify_password(&password, &hash)).await?;
    let Some(user) = user.filter(|_| verified) else {
        if let Some((attempt, _)) = attempt {
            attempt.failed();
        }
        tracing::info!(user = %username, %addr, "login failed");
        telemetry::count(telemetry::LOGINS, "outcome", "failed");
        return Err(ApiError::InvalidCredentials);
    };
    drop(attempt);
    if let Some(t) = throttle {
        t.succeeded(&key, addr);
    }
    let token = state.tokens.issue(&user.id).map_err(internal)?;
    telemetry::count(telemetry::LOGINS, "outcome", "ok");
    Ok(Json(LoginResponse { token }))
}

async fn user(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<UserResponse>, ApiError> {
    match state.store.user_by_id(&id).await? {
        Some(user) => Ok(Json(UserResponse { username: user.username })),
        None => Err(ApiError::NotFound(errors::USER_NOT_FOUND)),
    }
}

/// Parses `{username, password}`, turning every way a body can be wrong into a 400, 413 or
/// 415 (a body that does not say it is JSON: what a cross-site HTML form sends).
fn credentials(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Credentials, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(limit),
        _ => ApiError::BadRequest(errors::INVALID_BODY.into()),
    })?;
    serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest(errors::INVALID_BODY.into()))
}

/// Runs CPU-bound password work off the async workers, a bounded number at a time; a 503 when
/// the line is too long.
async fn hashing<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    state.hashing.run(f).await.map_err(|busy| {
        tracing::warn!("{busy}");
        ApiError::Unavailable(busy.to_string())
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}
