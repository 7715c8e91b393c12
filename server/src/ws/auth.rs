//! `chat.auth` → `chat.auth_ok`: the connection goes on with a fresh access token of the same
//! user, so that it may outlive the token it was opened with (`--socket-expiry token`) or move to
//! a new session.

use chat_shared::{ServerMsg, Timestamp};

use crate::auth::TokenType;
use crate::error::ChatError;
use crate::sessions;
use crate::state::AppState;

use super::caller::{Caller, Outcome};

/// chat.auth: an invalid, expired or revoked token is refused and the connection stays as it
/// was; another user's token is refused and the connection closed (4001).
pub async fn renew(state: &AppState, s: &Caller, token: &str) -> Outcome {
    let token = state
        .keys
        .verify(token, TokenType::Access)
        .ok_or(ChatError::Unauthorized("invalid or expired token"))?;
    if token.user_id != s.user.id {
        // Answered first: the close follows the frames already queued.
        s.conn.revoke("token of another user");
        return Err(ChatError::Unauthorized(
            "the token is another user's; closing the connection",
        ));
    }
    let authorized = sessions::standing(state, token)
        .await?
        .ok_or(ChatError::Unauthorized("the token was revoked"))?;
    state
        .hub
        .renew(&s.conn, authorized.credentials(state.config.socket_expiry));
    s.conn.send(&ServerMsg::AuthOk {
        exp: Timestamp(authorized.token.expires_at.saturating_mul(1000)),
    });
    Ok(())
}
