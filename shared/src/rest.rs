//! Bodies of the REST endpoints (`/api/register/`, `/api/token/`, `/api/token/refresh/`, `/api/me/`,
//! `/api/logout/`, `/api/password/`).

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

/// `POST /api/token/refresh/` and `POST /api/logout/` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh: String,
}

/// `POST /api/token/refresh/` answer. `refresh` is the presented token's successor (the
/// presented one is retired); absent when the token names no session (minted elsewhere), which
/// is not rotated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    pub access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

/// `POST /api/password/` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

/// `DELETE /api/me/` request body: the account's password, once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordConfirmation {
    pub password: String,
}

/// Every REST error: a human `detail` (as Django REST framework words it) and a snake_case `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub detail: String,
    pub code: String,
}
