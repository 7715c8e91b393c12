//! `chat.set_presence`: whether the users who share a conversation with the caller see the
//! caller's presence. The presence itself is kept by `crate::presence`.

use chat_shared::ServerMsg;

use crate::state::AppState;

use super::caller::{Caller, Outcome};

/// chat.set_presence: stores the choice, tells the caller's contacts (hiding reads as offline
/// with no `last_seen`; showing, as the caller's presence now) and answers `chat.presence_set`
/// on every connection of the caller.
pub async fn set_presence(state: &AppState, s: &Caller, visible: bool) -> Outcome {
    let change = state.store.set_presence_visible(s.user.id, visible).await?;
    crate::presence::announce(state, change.into_iter().collect()).await;
    state
        .fanout
        .deliver(&[s.user.id], &ServerMsg::PresenceSet { visible }, None);
    Ok(())
}
