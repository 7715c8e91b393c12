//! The router (with CORS on the REST API), and the REST endpoints: register, log in, who am I,
//! health (sessions and the account's own endpoints are in `account`).

use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_shared::UserRef;
use chat_shared::rest::{Credentials, TokenPair, UserInfo};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::account;
use crate::auth::TokenType;
use crate::error::AppError;
use crate::limits::{AttemptLimiter, Limits, PeerIp};
use crate::names;
use crate::sessions;
use crate::state::AppState;
use crate::store::StoreError;
use crate::ws;

/// A JSON body whose rejections answer in our `{"detail","code"}` shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/register/", post(register))
        .route("/api/token/", post(token))
        .route("/api/token/refresh/", post(account::refresh))
        .route("/api/logout/", post(account::logout))
        .route("/api/logout/all/", post(account::logout_all))
        .route("/api/password/", post(account::change_password))
        .route("/api/me/", get(me).delete(account::delete_account))
        .route("/api/schema.json", get(schema))
        .layer(cors(&state.config.allowed_origins));
    api.route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws/chat/", get(ws::upgrade))
        .route("/ws/chat/{user_id}/", get(ws::upgrade))
        .merge(crate::web::routes(&state.config))
        // The span names the path only: the query of `/ws/chat/?token=` is a credential.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// CORS for the REST API: pages from `--allowed-origins` may call it (preflights answered, their
/// origin echoed in `Access-Control-Allow-Origin`); other origins get no CORS header, so browsers
/// keep the answers from their pages. Never credentials: tokens travel in `Authorization`, which
/// a page sets itself, and no cookie is ever read.
fn cors(origins: &[String]) -> CorsLayer {
    let origins = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        // A 429 or 503 says when to come back.
        .expose_headers([RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// GET /api/schema.json: the JSON Schema of every frame, made once from the protocol's types.
async fn schema() -> impl IntoResponse {
    static SCHEMA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = SCHEMA.get_or_init(|| chat_shared::schema::document().to_string());
    (
        [(axum::http::header::CONTENT_TYPE, "application/schema+json")],
        body.as_str(),
    )
}

const MIN_PASSWORD_CHARS: usize = 8;
pub(crate) const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a username or password is refused, if it is.
fn check_credentials(c: &Credentials) -> Result<(), AppError> {
    names::check(&c.username).map_err(|refusal| AppError::BadRequest(refusal.to_string()))?;
    check_password(&c.password)
}

/// Why a new password is refused, if it is.
pub(crate) fn check_password(password: &str) -> Result<(), AppError> {
    let password_len = password.chars().count();
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

/// POST /api/register/: a new account, unless a taken name is like its name (see [`names`]).
async fn register(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    AppJson(body): AppJson<Credentials>,
) -> Result<impl IntoResponse, AppError> {
    let address = ip.map(|ip| ip.to_string());
    if let Some(address) = &address {
        let retry_after = state.limits.per_address.take(address, Instant::now());
        retry_after.map_err(|retry_after| AppError::TooManyRequests { retry_after })?;
    }
    check_credentials(&body)?;
    let hash = match state.hasher.hash(body.password).await {
        Ok(hash) => hash,
        Err(e) => {
            // Not tried (the hashers were busy, or failed): it does not count as an attempt.
            if let Some(address) = &address {
                state.limits.per_address.refund(address, Instant::now());
            }
            return Err(e.into());
        }
    };
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

/// POST /api/token/: an access and a refresh token for a username (found by its fold: any
/// letter case or width) and password.
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
    // An unknown name is checked against a placeholder, so timing does not tell names apart.
    let (user, hash) = found.unzip();
    let matches = match state.hasher.verify(body.password, hash).await {
        Ok(matches) => matches,
        Err(e) => {
            attempt.not_tried();
            return Err(e.into());
        }
    };
    let user = user.filter(|_| matches).ok_or(REFUSED)?;
    attempt.succeeded();
    // Every login is a session of its own, which the tokens name.
    let tokens = state.keys.next_tokens();
    let session = state.store.create_session(user.id, &tokens).await?;
    let session = session.ok_or(REFUSED)?;
    Ok(Json(state.keys.mint_pair(user.id, &session)))
}

/// One login attempt (or password confirmation), counted against the peer's address as a login
/// (kept, success or not) and as a failure, and against the username as a failure, until it
/// succeeds.
pub(crate) struct LoginAttempt<'a> {
    limits: &'a Limits,
    address: Option<String>,
    username: String,
}

impl<'a> LoginAttempt<'a> {
    /// Counts the attempt, or refuses it with 429 when the address or the name is over a limit.
    pub(crate) fn take(
        limits: &'a Limits,
        ip: Option<IpAddr>,
        username: &str,
    ) -> Result<Self, AppError> {
        let now = Instant::now();
        // Bound the key: longer names cannot exist, so they share one bucket. Folded, as login
        // finds the account: `ALICE` and `ａｌｉｃｅ` try alice's password.
        let username: String = username.chars().take(names::MAX_CHARS + 1).collect();
        let attempt = LoginAttempt {
            limits,
            address: ip.map(|ip| ip.to_string()),
            username: names::fold(&username),
        };
        let mut taken = Vec::new();
        let mut retry_after = None;
        for (limiter, key) in attempt.counters(true) {
            match limiter.take(key, now) {
                Ok(()) => taken.push((limiter, key)),
                Err(wait) => retry_after = retry_after.max(Some(wait)),
            }
        }
        let Some(retry_after) = retry_after else {
            return Ok(attempt);
        };
        // Give back what was taken: a refused attempt is not tried, so it does not count.
        for (limiter, key) in taken {
            limiter.refund(key, now);
        }
        tracing::warn!(ip = ?ip, "login attempts over the limit");
        Err(AppError::TooManyRequests { retry_after })
    }

    /// The limiters this attempt counts against, and its key in each; with `logins`, the
    /// address's login allowance too, which keeps successful logins.
    fn counters(&self, logins: bool) -> Vec<(&'a AttemptLimiter, &str)> {
        let mut counters = vec![(&self.limits.per_username, self.username.as_str())];
        if let Some(address) = &self.address {
            counters.push((&self.limits.per_address, address.as_str()));
            if logins {
                counters.push((&self.limits.logins_per_address, address.as_str()));
            }
        }
        counters
    }

    /// A successful login counts only toward the address's login allowance.
    pub(crate) fn succeeded(self) {
        let now = Instant::now();
        for (limiter, key) in self.counters(false) {
            limiter.refund(key, now);
        }
    }

    /// An attempt the server could not make (every hasher busy) counts toward nothing.
    pub(crate) fn not_tried(self) {
        let now = Instant::now();
        for (limiter, key) in self.counters(true) {
            limiter.refund(key, now);
        }
    }
}

/// GET /api/me/: the account the bearer token belongs to.
async fn me(AuthUser { user, .. }: AuthUser) -> Json<UserInfo> {
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

/// The user an `Authorization: Bearer <access token>` header names, and the session of the token.
pub struct AuthUser {
    pub user: UserRef,
    /// `None` for a token minted elsewhere.
    pub sid: Option<i64>,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        const INVALID: AppError = AppError::Unauthorized {
            detail: "Given token not valid for any token type",
            code: "token_not_valid",
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(AppError::Unauthorized {
                detail: "Authentication credentials were not provided.",
                code: "not_authenticated",
            })?;
        let token = header.strip_prefix("Bearer ").ok_or(INVALID)?;
        let authorized = sessions::authorize(state, token.trim(), TokenType::Access).await?;
        let authorized = authorized.ok_or(INVALID)?;
        Ok(AuthUser {
            user: authorized.user,
            sid: authorized.token.sid,
        })
    }
}
