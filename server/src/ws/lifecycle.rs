//! Edits, deletes and reactions: each checks what it can without the database, asks the store
//! (which applies who-may-do-what in one transaction), then sends the message as it now is to
//! every member.

use chat_shared::ServerMsg;

use crate::error::ChatError;
use crate::state::AppState;
use crate::store::{Audience, Change};

use super::caller::{Caller, Outcome};
use super::handle::check_content;
use super::sync::{self, Push};

/// chat.edit: the sender's new content.
pub async fn edit(state: &AppState, s: &Caller, message_id: i64, content: String) -> Outcome {
    check_content(state, &content)?;
    let mentions = chat_shared::mention::candidates(&content);
    apply(state, s, message_id, Change::Edit { content, mentions }).await
}

/// chat.delete: the message becomes a tombstone.
pub async fn delete(state: &AppState, s: &Caller, message_id: i64) -> Outcome {
    apply(state, s, message_id, Change::Delete).await
}

/// chat.react: the caller's reaction added or taken back.
pub async fn react(
    state: &AppState,
    s: &Caller,
    message_id: i64,
    emoji: String,
    add: bool,
) -> Outcome {
    if let Some(problem) = chat_shared::emoji_problem(&emoji) {
        return Err(ChatError::InvalidField(problem.into()));
    }
    apply(state, s, message_id, Change::React { emoji, add }).await
}

/// Makes the change and tells every member, with the message as it is after it; a change
/// that changes nothing tells no one.
async fn apply(state: &AppState, s: &Caller, message_id: i64, change: Change) -> Outcome {
    let Some(changed) = state
        .store
        .change_message(s.user.id, message_id, change)
        .await??
    else {
        return Ok(());
    };
    // Read after the commit: the frame shows this change and any that followed it.
    let Some(message) = state
        .store
        .messages_by_id(&[message_id])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let audience = Audience::Members(message.conversation_id);
    let frame = ServerMsg::MessageUpdated { message };
    sync::push(state, vec![Push::frame(audience, changed.members, frame)]).await
}
