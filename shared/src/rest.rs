//! Bodies of the REST endpoints (`/api/register/`, `/api/token/`, `/api/token/refresh/`, `/api/me/`).

use serde::{Deserialize, Serialize};

/// `POST /api/register/` and `POST /api/token/` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A user account: the answer of `POST /api/register/` and `GET /api/me/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
}

/// `POST /api/token/` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

/// `POST /api/token/refresh/` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh: String,
}

/// `POST /api/token/refresh/` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    pub access: String,
}

/// Every REST error: a human `detail` (as Django REST framework words it) and a snake_case `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub detail: String,
    pub code: String,
}
