//! Whether a token still stands, for REST, the socket's handshake and `chat.auth` alike: a valid
//! signature and expiry (`auth`), then its session alive or, for a token of no session, issued
//! after its user last signed out everywhere (`store`).

use chat_shared::UserRef;

use crate::auth::{TokenType, Verified};
use crate::config::SocketExpiry;
use crate::conn::Credentials;
use crate::state::AppState;
use crate::store::StoreError;

/// A token that stands, and who it acts as.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub user: UserRef,
    pub token: Verified,
    /// When its session ends unless rotated, Unix milliseconds; `None` without a session.
    pub session_expires_at: Option<i64>,
}

impl Authorized {
    /// What a socket running on this token is matched and timed by, under `expiry`.
    pub fn credentials(&self, expiry: SocketExpiry) -> Credentials {
        Credentials {
            sid: self.token.sid,
            issued_at: self.token.issued_at,
            deadline: match expiry {
                SocketExpiry::Token => Some(self.token.expires_at.saturating_mul(1000)),
                SocketExpiry::Session => self.session_expires_at,
            },
        }
    }
}

/// The standing of `token` as a token of `kind`: `None` when it is invalid, expired, revoked,
/// of an ended session or of a deleted account.
pub async fn authorize(
    state: &AppState,
    token: &str,
    kind: TokenType,
) -> Result<Option<Authorized>, StoreError> {
    match state.keys.verify(token, kind) {
        Some(token) => standing(state, token).await,
        None => Ok(None),
    }
}

/// Whether a token already verified still stands.
pub async fn standing(state: &AppState, token: Verified) -> Result<Option<Authorized>, StoreError> {
    let standing = state
        .store
        .standing(token.user_id, token.sid, token.issued_at)
        .await?;
    Ok(standing.map(|standing| Authorized {
        user: standing.user,
        token,
        session_expires_at: standing.session_expires_at,
    }))
}
