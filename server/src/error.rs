//! The two error types handlers return: `AppError` for REST answers, `ChatError` for `chat.error`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chat_shared::rest::ApiError;
use chat_shared::{ErrorCode, ServerMsg};
use std::time::Duration;

use crate::conn::ConnHandle;
use crate::hasher::HashError;
use crate::metrics::Metrics;
use crate::store::{Refusal, StoreError};

/// The request type of a chat message, in its `chat.error`s.
pub const MESSAGE: &str = "chat.message";

/// A conversation that does not exist or that the caller is not in (the two are not told apart).
pub const NO_CONVERSATION: ChatError = ChatError::NotFound("no such conversation");

/// A REST failure; each variant is one HTTP answer with a `{"detail","code"}` body.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// A 400 with a `code` of its own (a wrong password, say).
    #[error("{detail}")]
    Refused {
        detail: &'static str,
        code: &'static str,
    },
    #[error("{detail}")]
    Unauthorized {
        detail: &'static str,
        code: &'static str,
    },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too busy to take the request now (every password hasher and its queue); try again after
    /// `retry_after`.
    #[error("The server is busy; try again in {} s.", retry_after_secs(*.retry_after))]
    Busy { retry_after: Duration },
    /// Too many attempts; `retry_after` is when the next one may succeed.
    #[error("Too many attempts; try again in {} s.", retry_after_secs(*.retry_after))]
    TooManyRequests { retry_after: Duration },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<Refusal> for ChatError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound(what) => ChatError::NotFound(what),
            Refusal::Forbidden(what) => ChatError::Forbidden(what),
            Refusal::Invalid(what) => ChatError::InvalidField(what),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AppError::Busy {
                retry_after: crate::hasher::RETRY_AFTER,
            },
            HashError::Failed(_) => AppError::Internal(e.into()),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            AppError::Refused { code, .. } => (StatusCode::BAD_REQUEST, *code),
            AppError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, *code),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            AppError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let detail = match &self {
            AppError::Internal(_) => "Internal server error.".to_string(),
            other => other.to_string(),
        };
        let body = ApiError {
            detail,
            code: code.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after } | AppError::Busy { retry_after } = self {
            response.headers_mut().insert(
                RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        response
    }
}

/// Whole seconds to wait, rounded up, at least one.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// Why a WebSocket request was refused; sent back as `chat.error`, the connection stays open.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidContent(String),
    #[error("{0}")]
    InvalidReceiver(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    /// A `chat.auth` token that is invalid, expired, revoked or another user's.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("internal error; nothing was changed")]
    Internal(#[from] StoreError),
}

impl ChatError {
    /// The `code` of the `chat.error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            ChatError::InvalidField(_) => ErrorCode::InvalidField,
            ChatError::InvalidContent(_) => ErrorCode::InvalidContent,
            ChatError::InvalidReceiver(_) => ErrorCode::InvalidReceiver,
            ChatError::NotFound(_) => ErrorCode::NotFound,
            ChatError::Forbidden(_) => ErrorCode::Forbidden,
            ChatError::Unauthorized(_) => ErrorCode::Unauthorized,
            ChatError::Unavailable(_) | ChatError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Answers the failed request of type `kind` with `chat.error` on `conn`, counted (and
    /// logged when it is the server's fault).
    pub fn report(&self, metrics: &Metrics, conn: &ConnHandle, kind: &str) {
        if let ChatError::Internal(cause) = self {
            tracing::error!(error = %cause, request = %kind, "request failed");
        }
        metrics.error(self.code());
        conn.send(&ServerMsg::Error {
            code: self.code(),
            message: self.to_string(),
            request_type: Some(kind.to_string()),
        });
    }
}
