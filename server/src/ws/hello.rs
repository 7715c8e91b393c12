//! `chat.hello` → `chat.welcome`: what this server is, which additions it implements and its
//! limits, so that a client need not find them by trial. Saying hello is optional.

use chat_shared::{Limits, ServerMsg};

use crate::config::Config;
use crate::error::ChatError;
use crate::state::AppState;

use super::caller::{Caller, Outcome};

/// The protocol's version: 1 is the original document, 2 this server's with its additions.
pub const PROTOCOL_VERSION: i64 = 2;

/// The additions this server implements, as `chat.welcome` names them (docs/protocol.md,
/// "Hello"); the end-to-end tests exercise each one by this name.
pub const FEATURES: &[&str] = &[
    "history_paging",
    "delivered",
    "groups",
    "typing_conversation",
    "receipts",
    "mute",
    "lifecycle",
    "sync",
    "presence",
    "auth",
    "search",
];

/// Longest `client` and `version` a hello may carry, in characters.
const MAX_NAME_CHARS: usize = 100;

/// chat.hello: the caller's own connection gets `chat.welcome`.
pub async fn hello(state: &AppState, s: &Caller, client: &str, version: &str) -> Outcome {
    if client.chars().count() > MAX_NAME_CHARS || version.chars().count() > MAX_NAME_CHARS {
        return Err(ChatError::InvalidField(format!(
            "`client` and `version` are at most {MAX_NAME_CHARS} characters"
        )));
    }
    s.conn.greet();
    s.conn.send(&ServerMsg::Welcome {
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        protocol_version: PROTOCOL_VERSION,
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        user: s.user.clone(),
        limits: limits(&state.config),
        seq: state.store.newest_seq().await?,
        presence_visible: state.store.presence_visible(s.user.id).await?,
    });
    Ok(())
}

fn limits(config: &Config) -> Limits {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Limits {
        max_message_chars: n(config.max_message_chars as u64),
        max_frame_bytes: n(config.max_frame_bytes as u64),
        history_limit: config.history_limit,
        history_page_bytes: n(config.history_page_bytes),
        max_group_members: i64::from(config.max_group_members),
        max_connections_per_user: i64::from(config.max_connections_per_user),
        rate_limit_per_second: i64::from(config.rate_limit_per_second),
        rate_limit_burst: i64::from(config.rate_limit_burst),
        typing_interval_ms: n(config.typing_interval.as_millis() as u64),
        max_client_id_chars: chat_shared::MAX_CLIENT_ID_CHARS as i64,
        max_emoji_chars: chat_shared::MAX_EMOJI_CHARS as i64,
        max_reactions: chat_shared::MAX_REACTIONS as i64,
    }
}
