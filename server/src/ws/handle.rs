//! One function per client message: validate → check membership → store → deliver.

use chat_shared::{ClientMsg, MessageStatus, ServerMsg, UserRef};

use crate::error::ChatError;
use crate::hub::ConnHandle;
use crate::state::AppState;
use crate::store::{NewMessage, StatusChanges};

/// The caller: who they are and the connection they spoke on.
pub struct Session {
    pub user: UserRef,
    pub conn: ConnHandle,
}

type Outcome = Result<(), ChatError>;

/// Handles one text frame; every failure becomes a `chat.error` on this connection.
pub async fn dispatch(state: &AppState, session: &Session, text: &str) {
    let (kind, msg) = match ClientMsg::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            state.metrics.frame_in("invalid");
            state.metrics.error(&code_name(e.code));
            return session.conn.send(&e.into());
        }
    };
    state.metrics.frame_in(&kind);
    if let Err(e) = handle(state, session, msg).await {
        if let ChatError::Internal(cause) = &e {
            tracing::error!(error = %cause, request = %kind, "request failed");
        }
        state.metrics.error(&code_name(e.code()));
        session.conn.send(&ServerMsg::Error {
            code: e.code(),
            message: e.to_string(),
            request_type: Some(kind),
        });
    }
}

/// The wire name of an error code, for metric labels.
fn code_name(code: chat_shared::ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn handle(state: &AppState, s: &Session, msg: ClientMsg) -> Outcome {
    match msg {
        ClientMsg::Message {
            conversation_id,
            content,
        } => send_message(state, s, conversation_id, &content).await,
        ClientMsg::Typing {
            receiver_id,
            is_typing,
        } => typing(state, s, receiver_id, is_typing).await,
        ClientMsg::Read { conversation_id } => read(state, s, conversation_id).await,
        ClientMsg::Delivered { message_id } => delivered(state, s, message_id).await,
        ClientMsg::SearchUser { keyword } => search_user(state, s, &keyword).await,
        ClientMsg::StartConversation { receiver_id } => {
            start_conversation(state, s, receiver_id).await
        }
        ClientMsg::GetConversations {} => get_conversations(state, s).await,
        ClientMsg::GetMessages {
            conversation_id,
            before_id,
            limit,
        } => get_messages(state, s, conversation_id, before_id, limit).await,
        // `ClientMsg::parse` answers unknown types itself; nothing reaches here.
        ClientMsg::Unknown => Ok(()),
    }
}

const NO_CONVERSATION: ChatError = ChatError::NotFound("no such conversation");

/// chat.message: stored first, then sent to every connection of every participant.
async fn send_message(
    state: &AppState,
    s: &Session,
    conversation_id: i64,
    content: &str,
) -> Outcome {
    if content.trim().is_empty() {
        return Err(ChatError::InvalidContent("message content is empty".into()));
    }
    let max = state.config.max_message_chars;
    if content.chars().count() > max {
        return Err(ChatError::InvalidContent(format!(
            "message content is longer than {max} characters"
        )));
    }
    let participants = state
        .store
        .participants(conversation_id, s.user.id)
        .await?
        .ok_or(NO_CONVERSATION)?;
    // Stored by the writer, which delivers it (the echo included) once committed.
    let message = NewMessage {
        conversation_id,
        sender: s.user.clone(),
        content: content.to_string(),
    };
    if !state
        .writer
        .submit(message, participants, s.conn.clone())
        .await
    {
        return Err(ChatError::Unavailable(
            "the server is shutting down; message not stored",
        ));
    }
    Ok(())
}

/// chat.typing: relayed to the receiver's connections when the two share a conversation.
async fn typing(state: &AppState, s: &Session, receiver_id: i64, is_typing: bool) -> Outcome {
    if receiver_id == s.user.id {
        return Err(ChatError::InvalidReceiver("cannot send typing to yourself"));
    }
    if !state
        .store
        .share_conversation(s.user.id, receiver_id)
        .await?
    {
        return Err(ChatError::NotFound("no conversation with that user"));
    }
    let frame = ServerMsg::Typing {
        sender_id: s.user.id,
        is_typing,
    };
    state.hub.deliver(&[receiver_id], &frame, None);
    Ok(())
}

/// chat.read: moves the reader's marker; others and the reader's other connections are told,
/// and senders learn which of their messages are now seen.
async fn read(state: &AppState, s: &Session, conversation_id: i64) -> Outcome {
    let outcome = state
        .store
        .mark_read(conversation_id, s.user.id)
        .await?
        .ok_or(NO_CONVERSATION)?;
    let frame = ServerMsg::Read {
        conversation_id,
        reader_id: s.user.id,
    };
    state
        .hub
        .deliver(&outcome.participants, &frame, Some(s.conn.id));
    notify_status(state, &outcome.seen, MessageStatus::Seen);
    Ok(())
}

/// chat.delivered: moves the delivery marker; senders learn what is now delivered.
async fn delivered(state: &AppState, s: &Session, message_id: i64) -> Outcome {
    let delivered = state
        .store
        .mark_delivered(message_id, s.user.id)
        .await?
        .ok_or(ChatError::NotFound("no such message"))?;
    notify_status(state, &delivered, MessageStatus::Delivered);
    Ok(())
}

fn notify_status(state: &AppState, changes: &StatusChanges, status: MessageStatus) {
    for &(message_id, sender_id) in changes {
        let frame = ServerMsg::MessageStatus { message_id, status };
        state.hub.deliver(&[sender_id], &frame, None);
    }
}

/// chat.search_user: other users whose name contains the keyword.
async fn search_user(state: &AppState, s: &Session, keyword: &str) -> Outcome {
    let keyword = keyword.trim();
    let results = if keyword.is_empty() {
        Vec::new()
    } else {
        state.store.search_users(s.user.id, keyword).await?
    };
    s.conn.send(&ServerMsg::SearchResults { results });
    Ok(())
}

/// chat.start_conversation: the pair's one conversation, created when missing.
async fn start_conversation(state: &AppState, s: &Session, receiver_id: i64) -> Outcome {
    if receiver_id == s.user.id {
        return Err(ChatError::InvalidReceiver(
            "cannot start a conversation with yourself",
        ));
    }
    let other = state
        .store
        .user_by_id(receiver_id)
        .await?
        .ok_or(ChatError::NotFound("no such user"))?;
    let conversation = state
        .store
        .find_or_create_conversation(&s.user, &other)
        .await?;
    s.conn
        .send(&ServerMsg::ConversationStarted { conversation });
    Ok(())
}

/// chat.get_conversations: the caller's conversations, most recent activity first.
async fn get_conversations(state: &AppState, s: &Session) -> Outcome {
    let conversations = state.store.conversations(s.user.id).await?;
    s.conn.send(&ServerMsg::Conversations { conversations });
    Ok(())
}

/// chat.get_messages: a page of history, oldest first.
async fn get_messages(
    state: &AppState,
    s: &Session,
    conversation_id: i64,
    before_id: Option<i64>,
    limit: Option<i64>,
) -> Outcome {
    let max = state.config.history_limit;
    let limit = match limit {
        None => max,
        Some(n) if n >= 1 => n.min(max),
        Some(_) => return Err(ChatError::InvalidField("`limit` must be at least 1".into())),
    };
    let (messages, has_more) = state
        .store
        .messages(conversation_id, s.user.id, before_id, limit)
        .await?
        .ok_or(NO_CONVERSATION)?;
    s.conn.send(&ServerMsg::Messages {
        messages,
        conversation_id: Some(conversation_id),
        has_more: Some(has_more),
    });
    Ok(())
}
