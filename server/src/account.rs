//! The REST endpoints of sessions and of the account itself: refresh (with rotation), logout,
//! logout everywhere, password change, deletion. Each ending is recorded by the store first, then
//! closes the sockets it covers on every instance (`Fanout::revoke`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_shared::UserRef;
use chat_shared::rest::{AccessToken, PasswordChange, PasswordConfirmation, RefreshRequest};
use serde_json::{Value, json};
use std::net::IpAddr;

use crate::auth::{TokenType, Verified};
use crate::error::AppError;
use crate::http::{AppJson, AuthUser, LoginAttempt, MAX_PASSWORD_CHARS, check_password};
use crate::limits::PeerIp;
use crate::sessions;
use crate::state::AppState;
use crate::store::Rotation;
use crate::ws::groups;

/// simplejwt's answer to a refresh token it does not take.
const INVALID_REFRESH: AppError = AppError::Unauthorized {
    detail: "Token is invalid or expired",
    code: "token_not_valid",
};

/// A valid refresh token's claims (its session may have ended: the store says).
fn verify_refresh(state: &AppState, token: &str) -> Result<Verified, AppError> {
    state
        .keys
        .verify(token, TokenType::Refresh)
        .ok_or(INVALID_REFRESH)
}

/// POST /api/token/refresh/: a new access token and, for a token of a session, its successor
/// refresh token; the presented one is retired. Presented again within
/// `--refresh-reuse-grace`, a retired token gets the same successor; later, it ends its whole
/// session (a copy was stolen, or a client kept an old one) and gets 401. A token of no session
/// (minted elsewhere), or any with `--rotate-refresh-tokens false`, gets an access token only, as
/// before sessions.
pub async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<AccessToken>, AppError> {
    let token = verify_refresh(&state, &body.refresh)?;
    let sid = match token.sid {
        Some(sid) if state.config.rotate_refresh_tokens => sid,
        // Not rotated: an access token of the same session (if any), while it stands.
        sid => {
            let authorized = sessions::standing(&state, token).await?;
            let user = authorized.ok_or(INVALID_REFRESH)?.user;
            return Ok(Json(AccessToken {
                access: state.keys.mint_in(user.id, sid, TokenType::Access),
                refresh: None,
            }));
        }
    };
    let next = state.keys.next_tokens();
    let grace = millis(state.config.refresh_reuse_grace);
    let rotation = state
        .store
        .rotate(token.user_id, sid, &token.jti, &next, grace);
    match rotation.await? {
        Rotation::Rotated(tokens) | Rotation::Replayed(tokens) => {
            let pair = state.keys.mint_pair(token.user_id, &tokens);
            Ok(Json(AccessToken {
                access: pair.access,
                refresh: Some(pair.refresh),
            }))
        }
        Rotation::Reused(revocation) => {
            tracing::warn!(
                user = token.user_id,
                session = sid,
                "a retired refresh token came back after the grace; its session is ended"
            );
            state.fanout.revoke(token.user_id, &revocation);
            Err(INVALID_REFRESH)
        }
        Rotation::Refused => Err(INVALID_REFRESH),
    }
}

/// POST /api/logout/: ends the session of the refresh token `{refresh}` and closes its sockets.
pub async fn logout(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<Value>, AppError> {
    let token = verify_refresh(&state, &body.refresh)?;
    let sid = token.sid.ok_or(AppError::Refused {
        detail: "This token belongs to no session: end every session with POST /api/logout/all/.",
        code: "no_session",
    })?;
    if let Some(revocation) = state.store.end_session(token.user_id, sid).await? {
        state.fanout.revoke(token.user_id, &revocation);
    }
    Ok(Json(json!({"detail": "Logged out."})))
}

/// POST /api/logout/all/: ends every session of the bearer's user, and every token issued to it
/// so far (minted here or elsewhere), and closes their sockets.
pub async fn logout_all(
    State(state): State<AppState>,
    AuthUser { user, .. }: AuthUser,
) -> Result<Json<Value>, AppError> {
    let revocation = state.store.end_all_sessions(user.id).await?;
    state.fanout.revoke(user.id, &revocation);
    Ok(Json(json!({"detail": "Logged out of every session."})))
}

/// POST /api/password/: `{old_password, new_password}`. Ends every other session and token of
/// the user and closes their sockets; the caller's session goes on (its tokens keep working:
/// tokens of a session are judged by their session, not by the time they were issued). A caller
/// whose token names no session is signed out with the rest.
pub async fn change_password(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    AuthUser { user, sid }: AuthUser,
    AppJson(body): AppJson<PasswordChange>,
) -> Result<Json<Value>, AppError> {
    check_password(&body.new_password)?;
    confirm_password(
        &state,
        ip,
        &user,
        body.old_password,
        "The old password is not correct.",
    )
    .await?;
    let hash = state.hasher.hash(body.new_password).await?;
    let revocation = state.store.change_password(user.id, &hash, sid).await?;
    state.fanout.revoke(user.id, &revocation);
    tracing::info!(user = user.id, "password changed");
    Ok(Json(json!({"detail": "Password changed."})))
}

/// DELETE /api/me/: `{password}`. Deletes the bearer's account: its sockets close, it can no
/// longer log in, its messages stay in the others' histories as from `deleted user`, and its
/// name is free again after `--deleted-name-hold`.
pub async fn delete_account(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    AuthUser { user, .. }: AuthUser,
    AppJson(body): AppJson<PasswordConfirmation>,
) -> Result<StatusCode, AppError> {
    confirm_password(
        &state,
        ip,
        &user,
        body.password,
        "The password is not correct.",
    )
    .await?;
    // Its groups go on without it, each with an owner; left first, under the name the members
    // know, so that a failure here deletes nothing.
    groups::leave_all(&state, &user)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    if let Some(revocation) = state.store.delete_account(user.id).await? {
        state.fanout.revoke(user.id, &revocation);
        tracing::info!(user = user.id, "account deleted");
        // A group that added it back in the meantime (a deleted account cannot be added).
        if let Err(e) = groups::leave_all(&state, &user).await {
            tracing::warn!(user = user.id, error = %e, "a deleted account is still in a group");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Checks `password` against the account's, counted like a login attempt (so a stolen access
/// token cannot be used to guess the password); `wrong` is the answer when it does not match.
async fn confirm_password(
    state: &AppState,
    ip: Option<IpAddr>,
    user: &UserRef,
    password: String,
    wrong: &'static str,
) -> Result<(), AppError> {
    let refused = AppError::Refused {
        detail: wrong,
        code: "wrong_password",
    };
    let attempt = LoginAttempt::take(&state.limits, ip, &user.username)?;
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(refused);
    }
    let hash = state.store.password_hash(user.id).await?;
    let matches = match state.hasher.verify(password, hash).await {
        Ok(matches) => matches,
        Err(e) => {
            attempt.not_tried();
            return Err(e.into());
        }
    };
    if !matches {
        return Err(refused);
    }
    attempt.succeeded();
    Ok(())
}

/// A duration in milliseconds, as the store counts.
fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
