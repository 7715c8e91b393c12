//! One function per client message: validate → check membership → store → deliver. Chat
//! messages go through the connection's [`Pipeline`] to the writer task; receipts wait in it
//! to be applied together (see `receipts`).

use std::collections::VecDeque;
use std::time::Instant;

use chat_shared::{ClientMsg, ServerMsg};

use crate::error::{ChatError, MESSAGE, NO_CONVERSATION};
use crate::state::AppState;
use crate::store::{Audience, NewMessage, Page, SearchScope};
use crate::writer::Submitted;

use super::auth;
use super::caller::{Caller, Outcome};
use super::groups;
use super::hello;
use super::lifecycle;
use super::presence;
use super::receipts::{DELIVERED, READ, Receipts, TypingTo};
use super::search;
use super::sync::{self, Push};

/// Most chat messages of one connection in the writer's hands at once.
const PIPELINE: usize = 32;

/// A connection's requests taken and not yet done: chat messages handed to the writer and not
/// yet stored, oldest first, and receipts waiting to be applied. A client that sends many
/// messages does not wait for a commit between them (they are stored in the same group); any
/// other request (but a receipt) waits until they are done and the receipts applied, so that
/// it sees them.
#[derive(Default)]
pub struct Pipeline {
    waiting: VecDeque<Submitted>,
    receipts: Receipts,
}

/// Whether frames of type `kind` are receipts or typing, with their own allowance.
pub fn is_receipt(kind: &str) -> bool {
    matches!(kind, "chat.delivered" | "chat.read" | "chat.typing")
}

impl Pipeline {
    /// Whether no chat message is in the writer's hands.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether receipts wait to be applied.
    pub fn has_receipts(&self) -> bool {
        !self.receipts.is_empty()
    }

    /// Applies the receipts waiting, together: all deliveries in one transaction, then each
    /// conversation read once. Failures are answered on the connection, each with the request
    /// type of the receipt that failed.
    pub async fn apply_receipts(&mut self, state: &AppState, caller: &Caller) {
        let (delivered, read_conversations) = self.receipts.take();
        if !delivered.is_empty() {
            match state
                .store
                .mark_delivered_batch(&delivered, caller.user.id)
                .await
            {
                Ok(batch) => {
                    let told = sync::push(state, sync::statuses(&batch.changes)).await;
                    report(state, caller, DELIVERED, told);
                    for _ in batch.unknown {
                        let unknown = Err(ChatError::NotFound("no such message"));
                        report(state, caller, DELIVERED, unknown);
                    }
                }
                Err(e) => report(state, caller, DELIVERED, Err(e.into())),
            }
        }
        // After the deliveries: a read moves the delivery marker too, and never back.
        for conversation_id in read_conversations {
            let outcome = read(state, caller, conversation_id).await;
            report(state, caller, READ, outcome);
        }
    }

    /// The oldest message's outcome, once the writer is done with it. Cancel-safe: nothing is
    /// taken from the pipeline until the outcome is there.
    pub async fn next(&mut self) -> Option<Outcome> {
        let outcome = self.waiting.front_mut()?.await;
        self.waiting.pop_front();
        Some(outcome)
    }

    /// Waits for every message in the pipeline and applies the receipts; failures are
    /// answered on the connection.
    pub async fn finish(&mut self, state: &AppState, caller: &Caller) {
        self.finish_messages(state, caller).await;
        self.apply_receipts(state, caller).await;
    }

    async fn finish_messages(&mut self, state: &AppState, caller: &Caller) {
        while let Some(outcome) = self.next().await {
            report(state, caller, MESSAGE, outcome);
        }
    }
}

/// Handles one text frame; every failure becomes a `chat.error` on this connection. A chat
/// message is only handed to the writer (its outcome comes through `pipeline`); anything else
/// is answered before this returns.
pub async fn dispatch(state: &AppState, caller: &Caller, pipeline: &mut Pipeline, text: &str) {
    let (kind, msg) = match ClientMsg::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            state.metrics.frame_in("invalid");
            state.metrics.error(e.code);
            return caller.conn.send(&e.into());
        }
    };
    state.metrics.frame_in(&kind);
    if let ClientMsg::Message {
        conversation_id,
        content,
        reply_to,
        client_id,
    } = msg
    {
        if pipeline.waiting.len() >= PIPELINE
            && let Some(outcome) = pipeline.next().await
        {
            report(state, caller, MESSAGE, outcome);
        }
        let sent = send_message(state, caller, conversation_id, content, reply_to, client_id);
        match sent.await {
            Ok(submitted) => pipeline.waiting.push_back(submitted),
            Err(e) => {
                // Answered after the messages sent before it are answered, in their order.
                pipeline.finish_messages(state, caller).await;
                report(state, caller, MESSAGE, Err(e));
            }
        }
        return;
    }
    let batch = state.config.receipt_batch as usize;
    match msg {
        ClientMsg::Delivered { message_id } => pipeline.receipts.delivered(message_id),
        ClientMsg::Read { conversation_id } => pipeline.receipts.read(conversation_id),
        ClientMsg::Typing {
            receiver_id,
            conversation_id,
            is_typing,
        } => {
            let to = match (receiver_id, conversation_id) {
                (Some(receiver), None) => TypingTo::User(receiver),
                (None, Some(conversation)) => TypingTo::Conversation(conversation),
                _ => {
                    let wrong = ChatError::InvalidField(
                        "`chat.typing` takes one of `receiver_id` and `conversation_id`".into(),
                    );
                    return report(state, caller, &kind, Err(wrong));
                }
            };
            let now = Instant::now();
            let interval = state.config.typing_interval;
            if !pipeline.receipts.typing_due(to, is_typing, now, interval) {
                return;
            }
            pipeline.finish(state, caller).await;
            let outcome = match to {
                TypingTo::User(receiver) => typing(state, caller, receiver, is_typing).await,
                TypingTo::Conversation(conversation) => {
                    groups::typing_in(state, caller, conversation, is_typing).await
                }
            };
            if outcome.is_ok() {
                pipeline.receipts.typing_relayed(to, is_typing, now);
            }
            report(state, caller, &kind, outcome);
        }
        msg => {
            pipeline.finish(state, caller).await;
            let outcome = handle(state, caller, msg).await;
            report(state, caller, &kind, outcome);
        }
    }
    if pipeline.receipts.len() >= batch {
        pipeline.apply_receipts(state, caller).await;
    }
}

/// Answers a failed request of type `kind` with `chat.error` on its connection.
pub fn report(state: &AppState, caller: &Caller, kind: &str, outcome: Outcome) {
    if let Err(e) = outcome {
        e.report(&state.metrics, &caller.conn, kind);
    }
}

async fn handle(state: &AppState, s: &Caller, msg: ClientMsg) -> Outcome {
    match msg {
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
        msg @ (ClientMsg::CreateGroup { .. }
        | ClientMsg::AddMembers { .. }
        | ClientMsg::RemoveMember { .. }
        | ClientMsg::RenameGroup { .. }
        | ClientMsg::SetRole { .. }
        | ClientMsg::Leave { .. }) => groups::change(state, s, msg).await,
        ClientMsg::GetReceipts { message_id } => groups::receipts(state, s, message_id).await,
        ClientMsg::Mute {
            conversation_id,
            muted,
        } => groups::mute(state, s, conversation_id, muted).await,
        ClientMsg::Hello { client, version } => hello::hello(state, s, &client, &version).await,
        ClientMsg::Sync { since } => sync::sync(state, s, since).await,
        ClientMsg::SetPresence { visible } => presence::set_presence(state, s, visible).await,
        ClientMsg::Auth { token } => auth::renew(state, s, &token).await,
        ClientMsg::SearchMessages {
            query,
            conversation_id,
            from_user_id,
            before_id,
            limit,
        } => {
            let scope = SearchScope {
                conversation_id,
                from_user_id,
                before_id,
            };
            search::messages(state, s, query, scope, limit).await
        }
        ClientMsg::Edit {
            message_id,
            content,
        } => lifecycle::edit(state, s, message_id, content).await,
        ClientMsg::Delete { message_id } => lifecycle::delete(state, s, message_id).await,
        ClientMsg::React {
            message_id,
            emoji,
            add,
        } => lifecycle::react(state, s, message_id, emoji, add).await,
        // `dispatch` hands messages to the writer and receipts and typing to the pipeline's
        // receipts, and `ClientMsg::parse` answers unknown types itself: none reaches here.
        ClientMsg::Message { .. }
        | ClientMsg::Typing { .. }
        | ClientMsg::Read { .. }
        | ClientMsg::Delivered { .. }
        | ClientMsg::Unknown => Ok(()),
    }
}

/// chat.message: checked, then handed to the writer, which stores it and sends it to every
/// connection of every participant (or, for a retried `client_id`, answers the sender alone).
async fn send_message(
    state: &AppState,
    s: &Caller,
    conversation_id: i64,
    content: String,
    reply_to: Option<i64>,
    client_id: Option<String>,
) -> Result<Submitted, ChatError> {
    check_content(state, &content)?;
    if let Some(problem) = client_id
        .as_deref()
        .and_then(chat_shared::client_id_problem)
    {
        return Err(ChatError::InvalidField(problem.into()));
    }
    // The message answered must be in the same conversation; whether the sender is in it is
    // the writer's check, so a stranger learns nothing from either answer.
    let reply_to = match reply_to {
        None => None,
        Some(id) => Some(
            state
                .store
                .reply_target(conversation_id, id)
                .await?
                .ok_or(ChatError::NotFound("no such message to reply to"))?,
        ),
    };
    // Stored by the writer (which checks that the sender is in the conversation), then
    // delivered to everyone in it, the echo included.
    let message = NewMessage {
        reply_to,
        client_id,
        ..NewMessage::new(conversation_id, s.user.clone(), content)
    };
    state.writer.submit(message, &s.conn).await
}

/// The content rules of `chat.message` and `chat.edit`: not blank, at most
/// `--max-message-chars` characters, no NUL.
pub fn check_content(state: &AppState, content: &str) -> Result<(), ChatError> {
    if content.trim().is_empty() {
        return Err(ChatError::InvalidContent("message content is empty".into()));
    }
    let max = state.config.max_message_chars;
    if content.chars().count() > max {
        return Err(ChatError::InvalidContent(format!(
            "message content is longer than {max} characters"
        )));
    }
    if content.contains('\0') {
        return Err(ChatError::InvalidContent(
            "message content contains a NUL character".into(),
        ));
    }
    Ok(())
}

/// chat.typing with `receiver_id`: relayed to the receiver's connections when the two share a
/// conversation, naming it.
async fn typing(state: &AppState, s: &Caller, receiver_id: i64, is_typing: bool) -> Outcome {
    if receiver_id == s.user.id {
        return Err(ChatError::InvalidReceiver("cannot send typing to yourself"));
    }
    let conversation_id = state
        .store
        .direct_conversation(s.user.id, receiver_id)
        .await?
        .ok_or(ChatError::NotFound("no conversation with that user"))?;
    let frame = ServerMsg::Typing {
        sender_id: s.user.id,
        conversation_id: Some(conversation_id),
        is_typing,
    };
    state.fanout.deliver(&[receiver_id], &frame, None);
    Ok(())
}

/// chat.read: moves the reader's marker; others and the reader's other connections are told,
/// and senders learn which of their messages are now seen.
async fn read(state: &AppState, s: &Caller, conversation_id: i64) -> Outcome {
    let outcome = state
        .store
        .mark_read(conversation_id, s.user.id)
        .await?
        .ok_or(NO_CONVERSATION)?;
    let frame = ServerMsg::Read {
        conversation_id,
        reader_id: s.user.id,
    };
    // In a group, a read is the reader's own news (their other connections); the senders
    // learn what it changed for them, and anyone may ask with chat.get_receipts.
    let (told, audience) = if outcome.group {
        let audience = Audience::User {
            user_id: s.user.id,
            about: Some(conversation_id),
        };
        (vec![s.user.id], audience)
    } else {
        (outcome.participants, Audience::Members(conversation_id))
    };
    let mut pushes = vec![Push {
        except: Some(s.conn.id),
        ..Push::frame(audience, told, frame)
    }];
    pushes.extend(sync::statuses(&outcome.seen));
    sync::push(state, pushes).await
}

/// Longest `chat.search_user` keyword, in characters (no username is longer than 150).
const MAX_KEYWORD_CHARS: usize = 256;

/// chat.search_user: other users whose name contains the keyword.
async fn search_user(state: &AppState, s: &Caller, keyword: &str) -> Outcome {
    let keyword = keyword.trim();
    if keyword.chars().count() > MAX_KEYWORD_CHARS {
        return Err(ChatError::InvalidField(format!(
            "`keyword` must be at most {MAX_KEYWORD_CHARS} characters"
        )));
    }
    let results = if keyword.is_empty() {
        Vec::new()
    } else {
        state.store.search_users(s.user.id, keyword).await?
    };
    s.conn.send(&ServerMsg::SearchResults { results });
    Ok(())
}

/// chat.start_conversation: the pair's one conversation, created when missing.
async fn start_conversation(state: &AppState, s: &Caller, receiver_id: i64) -> Outcome {
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
async fn get_conversations(state: &AppState, s: &Caller) -> Outcome {
    let mut conversations = state.store.conversations(s.user.id).await?;
    if !s.conn.greeted() {
        // Presence is for clients that said hello; the others see the list as it always was.
        for participant in conversations.iter_mut().flat_map(|c| &mut c.participants) {
            participant.online = None;
            participant.last_seen = None;
        }
    }
    s.conn.send(&ServerMsg::Conversations { conversations });
    Ok(())
}

/// chat.get_messages: a page of history, oldest first.
async fn get_messages(
    state: &AppState,
    s: &Caller,
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
    // The page's frame stays within `--history-page-bytes`: what is left after the frame's
    // other fields goes to its messages.
    let frame = |messages, has_more| ServerMsg::Messages {
        messages,
        conversation_id: Some(conversation_id),
        has_more: Some(has_more),
    };
    let around = frame(Vec::new(), false).to_json().len() - "[]".len();
    let max_bytes = usize::try_from(state.config.history_page_bytes)
        .unwrap_or(usize::MAX)
        .saturating_sub(around);
    let Page { messages, has_more } = state
        .store
        .messages_within(conversation_id, s.user.id, before_id, limit, max_bytes)
        .await?
        .ok_or(NO_CONVERSATION)?;
    s.conn.send(&frame(messages, has_more));
    Ok(())
}
