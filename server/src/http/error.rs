//! The API's error type: every failure becomes a status and a `{error}` body; internal
//! details go to the log, never to the client.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use shared::{api::ErrorResponse, errors};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{}", errors::INVALID_CREDENTIALS)]
    InvalidCredentials,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{}", errors::JSON_REQUIRED)]
    UnsupportedMediaType,
    #[error("{message}")]
    TooManyRequests { message: &'static str, retry_after: Duration },
    #[error("{}", errors::SERVICE_UNAVAILABLE)]
    Unavailable(String),
    #[error("{}", errors::INTERNAL)]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => Self::BadRequest(errors::USERNAME_TAKEN.into()),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Backend(detail) => Self::Internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => tracing::warn!("store unavailable: {detail}"),
            Self::Internal(detail) => tracing::error!("internal error: {detail}"),
            _ => {}
        }
        let mut response = (self.status(), Json(ErrorResponse { error: self.to_string() })).into_response();
        if let Self::TooManyRequests { retry_after, .. } = &self {
            // Round up: a client waiting the advertised time must not be refused again.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, Self::Unavailable(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u64));
        }
        response
    }
}
