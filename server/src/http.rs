//! The router, and the REST endpoints: register, tokens, who am I, health.

use axum::extract::{FromRequest, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_shared::rest::{AccessToken, Credentials, RefreshRequest, TokenPair, UserInfo};
use std::net::IpAddr;
use std::time::Instant;
use tower_http::trace::TraceLayer;

use crate::auth::{self, AuthUser, TokenType};
use crate::error::AppError;
use crate::limits::{Limits, PeerIp};
use crate::state::AppState;
use crate::store::StoreError;
use crate::ws;

/// A JSON body whose rejections answer in our `{"detail","code"}` shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/register/", post(register))
        .route("/api/token/", post(token))
        .route("/api/token/refresh/", post(refresh))
        .route("/api/me/", get(me))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws/chat/", get(ws::upgrade))
        .route("/ws/chat/{user_id}/", get(ws::upgrade))
        .merge(crate::web::routes())
        // The span names the path only: the query of `/ws/chat/?token=` is a credential.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

const MAX_USERNAME_CHARS: usize = 150;
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a username or password is refused, if it is.
fn check_credentials(c: &Credentials) -> Result<(), AppError> {
    let name_len = c.username.chars().count();
    if name_len == 0 || name_len > MAX_USERNAME_CHARS {
        return Err(AppError::BadRequest(format!(
            "Username must be 1 to {MAX_USERNAME_CHARS} characters."
        )));
    }
    if !c
        .username
        .chars()
        .all(|ch| ch.is_alphanumeric() || "@.+-_".contains(ch))
    {
        return Err(AppError::BadRequest(
            "Username may contain only letters, digits and @ . + - _".into(),
        ));
    }
    let password_len = c.password.chars().count();
    if password_len < MIN_PASSWORD_CHARS {
        return Err(AppError::BadRequest(format!(
            "Password must be at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if password_len > MAX_PASSWORD_CHARS {
        return Err(AppError::BadRequest(format!(
            "Password must be at most {MAX_PASSWORD_CHARS} characters."
        )));
    }
    Ok(())
}

/// Argon2 is slow on purpose; run it where it cannot stall the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// POST /api/register/: a new account.
async fn register(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    AppJson(body): AppJson<Credentials>,
) -> Result<impl IntoResponse, AppError> {
    if let Some(ip) = ip {
        let retry_after = state
            .limits
            .per_address
            .take(&ip.to_string(), Instant::now());
        retry_after.map_err(|retry_after| AppError::TooManyRequests { retry_after })?;
    }
    check_credentials(&body)?;
    let password = body.password;
    let hash = blocking(move || auth::hash_password(&password)).await??;
    let user = match state.store.create_user(&body.username, &hash).await {
        Err(StoreError::Conflict) => {
            return Err(AppError::Conflict(
                "A user with that username already exists.",
            ));
        }
        other => other?,
    };
    tracing::info!(user = user.id, "registered");
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            id: user.id,
            username: user.username,
        }),
    ))
}

/// POST /api/token/: an access and a refresh token for a username and password.
async fn token(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    AppJson(body): AppJson<Credentials>,
) -> Result<Json<TokenPair>, AppError> {
    const REFUSED: AppError = AppError::Unauthorized {
        detail: "No active account found with the given credentials",
        code: "no_active_account",
    };
    let attempt = LoginAttempt::take(&state.limits, ip, &body.username)?;
    if body.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(REFUSED);
    }
    let found = state.store.credentials(&body.username).await?;
    // Verify against a real hash even for an unknown name, so timing does not tell names apart.
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, unknown_user_hash().to_string()),
    };
    let password = body.password;
    let matches = blocking(move || auth::verify_password(&password, &hash)).await?;
    let user = user.filter(|_| matches).ok_or(REFUSED)?;
    attempt.succeeded();
    Ok(Json(TokenPair {
        access: state.keys.mint(user.id, TokenType::Access),
        refresh: state.keys.mint(user.id, TokenType::Refresh),
    }))
}

/// One login attempt, counted against the peer's address and the username until it succeeds.
struct LoginAttempt<'a> {
    limits: &'a Limits,
    address: Option<String>,
    username: String,
}

impl<'a> LoginAttempt<'a> {
    /// Counts the attempt, or refuses it with 429 when the address or the name is over its limit.
    fn take(limits: &'a Limits, ip: Option<IpAddr>, username: &str) -> Result<Self, AppError> {
        let now = Instant::now();
        // Bound the key: longer names cannot exist, so they share one bucket.
        let username: String = username.chars().take(MAX_USERNAME_CHARS + 1).collect();
        let username = username.to_lowercase();
        let address = ip.map(|ip| ip.to_string());
        let by_address = match &address {
            Some(address) => limits.per_address.take(address, now),
            None => Ok(()),
        };
        let by_name = limits.per_username.take(&username, now);
        match (by_address, by_name) {
            (Ok(()), Ok(())) => Ok(LoginAttempt {
                limits,
                address,
                username,
            }),
            (by_address, by_name) => {
                // Give back what was taken: a refused attempt is not tried, so it does not count.
                if by_address.is_ok()
                    && let Some(address) = &address
                {
                    limits.per_address.refund(address, now);
                }
                if by_name.is_ok() {
                    limits.per_username.refund(&username, now);
                }
                let retry_after = by_address.err().max(by_name.err()).unwrap_or_default();
                tracing::warn!(ip = ?ip, "login attempts over the limit");
                Err(AppError::TooManyRequests { retry_after })
            }
        }
    }

    /// A successful login does not count against anyone.
    fn succeeded(self) {
        let now = Instant::now();
        if let Some(address) = &self.address {
            self.limits.per_address.refund(address, now);
        }
        self.limits.per_username.refund(&self.username, now);
    }
}

fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password("unknown user placeholder").unwrap_or_default())
}

/// POST /api/token/refresh/: a new access token for a valid refresh token.
async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<AccessToken>, AppError> {
    const INVALID: AppError = AppError::Unauthorized {
        detail: "Token is invalid or expired",
        code: "token_not_valid",
    };
    let user_id = state
        .keys
        .verify(&body.refresh, TokenType::Refresh)
        .ok_or(INVALID)?;
    state.store.user_by_id(user_id).await?.ok_or(INVALID)?;
    Ok(Json(AccessToken {
        access: state.keys.mint(user_id, TokenType::Access),
    }))
}

/// GET /api/me/: the account the bearer token belongs to.
async fn me(AuthUser(user): AuthUser) -> Json<UserInfo> {
    Json(UserInfo {
        id: user.id,
        username: user.username,
    })
}

/// GET /healthz: 200 when the database takes writes (a small write, at most one a second), 503
/// when it cannot (unreachable, full disk, read-only).
async fn healthz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    if state.store.writable().await {
        Ok("ok")
    } else {
        Err(AppError::Unavailable("the database cannot be written"))
    }
}

/// GET /metrics: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
