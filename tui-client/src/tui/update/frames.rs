//! Frames from the server: messages land in their conversation (by id, so one seen twice is
//! kept once), pages fill a thread, the list is replaced, receipts raise our messages' marks.

use std::time::Instant;

use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ConversationListItem, ErrorCode, MessageStatus,
    ServerMsg, UserRef,
};

use super::{pending, receipts};
use crate::tui::app::{App, ConvItem, Fetch, MAX_RESULTS, NoticeKind, PAGE, TYPING_TTL};
use crate::tui::conversation::open;
use crate::tui::effect::Effect;

pub(super) fn server(app: &mut App, frame: ServerMsg, now: Instant, out: &mut Vec<Effect>) {
    match frame {
        ServerMsg::Message { message } => on_message(app, message, now, out),
        ServerMsg::Typing {
            sender_id,
            is_typing,
            ..
        } => on_typing(app, sender_id, is_typing, now, out),
        ServerMsg::Read {
            conversation_id,
            reader_id,
        } => on_read(app, conversation_id, reader_id),
        ServerMsg::SearchResults { mut results } => {
            if let Some(search) = &mut app.search {
                results.truncate(MAX_RESULTS);
                search.results = results;
                search.selected = search.selected.min(search.results.len().saturating_sub(1));
            }
        }
        ServerMsg::ConversationStarted { conversation } => {
            on_conversation_started(app, conversation, now, out)
        }
        ServerMsg::Conversations { conversations } => {
            on_conversations(app, conversations, now, out)
        }
        ServerMsg::Messages {
            messages,
            conversation_id,
            has_more,
        } => on_page(app, messages, conversation_id, has_more, now, out),
        // Groups are not shown by the terminal client yet (issue 14): like a client written
        // before them, it leaves their frames unread.
        ServerMsg::ConversationUpdated { .. } | ServerMsg::Receipts { .. } => {}
        ServerMsg::MessageStatus { message_id, status } => {
            for thread in app.threads.values_mut() {
                if let Some(m) = thread.messages.iter_mut().find(|m| m.id == message_id) {
                    m.status = m.status.max(Some(status));
                }
            }
        }
        ServerMsg::Error {
            code,
            message,
            request_type,
        } => on_error(app, code, message, request_type, now),
    }
}

fn on_typing(app: &mut App, sender_id: i64, is_typing: bool, now: Instant, out: &mut Vec<Effect>) {
    if !is_typing {
        app.typing_in.remove(&sender_id);
        return;
    }
    app.typing_in.insert(sender_id, now + TYPING_TTL);
    // They started a conversation with us and have not written yet: fetch the list so it
    // shows (once per person, not on every typing frame).
    let known = app.conversations.iter().any(|c| c.peer.id == sender_id);
    if !known && app.list_asked_for != Some(sender_id) {
        app.list_asked_for = Some(sender_id);
        out.push(Effect::Send(ClientMsg::GetConversations {}));
    }
}

fn on_error(
    app: &mut App,
    code: ErrorCode,
    message: String,
    request_type: Option<String>,
    now: Instant,
) {
    match request_type.as_deref() {
        Some("chat.get_messages") => {
            for thread in app.threads.values_mut() {
                thread.fetch = None;
            }
        }
        Some("chat.start_conversation") => app.starting = None,
        Some("chat.message") => pending::refused(app, now),
        _ => {}
    }
    let code = code.as_str();
    app.notify(NoticeKind::Error, format!("error: {message} ({code})"), now);
}

/// The other participant of a conversation, or ourselves when there is nobody else.
fn peer_of<'a>(me: i64, users: impl IntoIterator<Item = &'a UserRef> + Clone) -> Option<UserRef> {
    users
        .clone()
        .into_iter()
        .find(|u| u.id != me)
        .or_else(|| users.into_iter().next())
        .cloned()
}

/// Reorders or replaces the list while keeping the same conversation highlighted.
fn keep_selection(app: &mut App, change: impl FnOnce(&mut Vec<ConvItem>)) {
    let selected = app.conversations.get(app.selected).map(|c| c.id);
    change(&mut app.conversations);
    app.selected = selected
        .and_then(|id| app.conversations.iter().position(|c| c.id == id))
        .unwrap_or(0);
}

/// Puts a conversation the list lacks at its top, with nothing in it yet.
fn add_to_top(app: &mut App, id: i64, peer: UserRef) {
    keep_selection(app, |list| {
        list.insert(
            0,
            ConvItem {
                id,
                peer,
                preview: None,
                last_id: None,
                unread: 0,
            },
        )
    });
}

fn preview_of(message: &ChatMessage) -> String {
    message
        .content
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn on_message(app: &mut App, message: ChatMessage, now: Instant, out: &mut Vec<Effect>) {
    let conv = message.conversation_id;
    let from_me = message.sender.id == app.my_id();
    if from_me {
        pending::confirm(app, &message);
    } else {
        app.typing_in.remove(&message.sender.id);
    }

    if app.conversation(conv).is_none() {
        if from_me {
            // Sent from another device to someone this list does not know yet.
            out.push(Effect::Send(ClientMsg::GetConversations {}));
            return;
        }
        add_to_top(app, conv, message.sender.clone());
    }
    let is_new = app
        .conversation(conv)
        .and_then(|c| c.last_id)
        .is_none_or(|last| message.id > last);
    if is_new {
        let preview = preview_of(&message);
        keep_selection(app, |list| {
            if let Some(i) = list.iter().position(|c| c.id == conv) {
                let mut item = list.remove(i);
                item.preview = Some(preview);
                item.last_id = Some(message.id);
                list.insert(0, item);
            }
        });
    }
    // In the open conversation a `chat.read` follows, which says more than "delivered".
    if !from_me && app.open != Some(conv) {
        receipts::deliver(app, conv, message.id, now, out);
    }
    if let Some(thread) = app.threads.get_mut(&conv) {
        thread.merge(message);
        thread.trim();
    }
    if app.open == Some(conv) {
        if !from_me {
            receipts::mark_read(app, conv, now, out);
        }
    } else if !from_me && is_new {
        if let Some(item) = app.conversation_mut(conv) {
            item.unread = item.unread.saturating_add(1);
        }
        if app.bell_enabled {
            out.push(Effect::Bell);
        }
    }
}

fn on_read(app: &mut App, conversation_id: i64, reader_id: i64) {
    let me = app.my_id();
    if reader_id == me {
        // We read it on another device.
        app.clear_unread(conversation_id);
        return;
    }
    if let Some(thread) = app.threads.get_mut(&conversation_id) {
        for m in thread.messages.iter_mut().filter(|m| m.sender.id == me) {
            m.status = Some(MessageStatus::Seen);
        }
    }
}

fn on_conversation_started(
    app: &mut App,
    conversation: Conversation,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    let users: Vec<UserRef> = conversation.participants.iter().map(|m| m.user()).collect();
    let Some(peer) = peer_of(app.my_id(), &users) else {
        return;
    };
    let id = conversation.id;
    if app.conversation(id).is_none() {
        add_to_top(app, id, peer.clone());
    }
    if app.starting == Some(peer.id) {
        app.starting = None;
        app.search = None;
        open(app, id, now, out);
    }
}

fn on_conversations(
    app: &mut App,
    items: Vec<ConversationListItem>,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    let me = app.my_id();
    let list: Vec<ConvItem> = items
        .into_iter()
        .filter_map(|item| {
            let users: Vec<UserRef> = item
                .participants
                .iter()
                .map(|p| UserRef {
                    id: p.id,
                    username: p.username.clone(),
                })
                .collect();
            let peer = peer_of(me, &users)?;
            let last = item.last_message.flatten();
            let unread = item
                .unread_count
                .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
                .or_else(|| item.has_unread.map(u32::from))
                .unwrap_or(0);
            Some(ConvItem {
                id: item.id,
                peer,
                preview: last.as_ref().map(|l| preview_of(&l.message)),
                last_id: last.map(|l| l.message.id),
                unread,
            })
        })
        .collect();
    keep_selection(app, |old| *old = list);
    if let Some(id) = app.open {
        let waiting = app.threads.get(&id).is_some_and(|t| t.fetch.is_some());
        let unread = app.conversation(id).is_some_and(|c| c.unread > 0);
        if unread && !waiting {
            receipts::mark_read(app, id, now, out);
        }
    }
}

fn on_page(
    app: &mut App,
    messages: Vec<ChatMessage>,
    conversation_id: Option<i64>,
    has_more: Option<bool>,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    let Some(conv) = conversation_id
        .or_else(|| messages.first().map(|m| m.conversation_id))
        .or(app.open)
    else {
        return;
    };
    let thread = app.threads.entry(conv).or_default();
    let fetch = thread.fetch.take();
    let page_oldest = messages.first().map(|m| m.id);
    let had_messages = !thread.messages.is_empty();
    let newest = messages.last().cloned();
    for message in messages {
        thread.merge(message);
    }
    let more = has_more.unwrap_or(false);
    if fetch != Some(Fetch::Older) {
        thread.trim();
    }
    match fetch {
        Some(Fetch::Latest { floor: Some(floor) }) => {
            if let Some(oldest) = page_oldest.filter(|&oldest| more && oldest > floor) {
                thread.fetch = Some(Fetch::Latest { floor: Some(floor) });
                out.push(Effect::Send(ClientMsg::GetMessages {
                    conversation_id: conv,
                    before_id: Some(oldest),
                    limit: Some(PAGE),
                }));
            }
        }
        Some(Fetch::Latest { floor: None }) | Some(Fetch::Older) => thread.has_more = more,
        None if !had_messages => thread.has_more = more,
        None => {}
    }
    if let Some(newest) = newest {
        let preview = preview_of(&newest);
        if let Some(item) = app.conversation_mut(conv)
            && item.last_id.is_none_or(|last| newest.id > last)
        {
            item.last_id = Some(newest.id);
            item.preview = Some(preview);
        }
    }
    if app.open == Some(conv) {
        receipts::mark_read(app, conv, now, out);
    }
}
