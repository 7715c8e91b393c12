//! The two error types handlers return: `AppError` for REST answers, `ChatError` for `chat.error`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chat_shared::ErrorCode;
use chat_shared::rest::ApiError;

use crate::store::StoreError;

/// A REST failure; each variant is one HTTP answer with a `{"detail","code"}` body.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    Unauthorized {
        detail: &'static str,
        code: &'static str,
    },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.into())
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
            AppError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, *code),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
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
        (status, Json(body)).into_response()
    }
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
            ChatError::Internal(_) => ErrorCode::Internal,
        }
    }
}
