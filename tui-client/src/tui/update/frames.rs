//! Frames from the server: messages land in their conversation (by id, so one seen twice is
//! kept once), pages fill a thread, the list is replaced or a group in it changed, receipts
//! raise our messages' marks.

use std::time::Instant;

use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ConversationListItem, ErrorCode, GroupInfo, Member,
    MessageStatus, REPLY_EXCERPT_CHARS, ServerMsg, UserRef,
};

use super::{pending, presence, receipts, sync};
use crate::tui::app::{
    App, ConvItem, ConvKind, Fetch, Focus, MAX_RESULTS, NoticeKind, PAGE, ReceiptsView, TYPING_TTL,
    TypingIn,
};
use crate::tui::conversation::open;
use crate::tui::effect::Effect;

pub(super) fn server(app: &mut App, frame: ServerMsg, now: Instant, out: &mut Vec<Effect>) {
    match frame {
        ServerMsg::Message { message } => on_message(app, message, now, out),
        // The answer to our `chat.hello`; the cursor comes from `chat.sync`, not from it.
        ServerMsg::Welcome {
            presence_visible, ..
        } => app.presence_visible = presence_visible,
        ServerMsg::Presence {
            user_id,
            status,
            last_seen,
        } => presence::changed(app, user_id, status, last_seen),
        ServerMsg::PresenceSet { visible } => presence::visible(app, visible, now),
        // The answer to `chat.auth`, which this client does not send yet.
        ServerMsg::AuthOk { .. } => {}
        ServerMsg::Synced { seq, has_more } => sync::synced(app, seq, has_more, now, out),
        ServerMsg::ResyncRequired { seq } => sync::resync(app, seq, now, out),
        ServerMsg::SyncHint { since } => sync::hint(app, since, out),
        ServerMsg::MessageUpdated { message } => on_message_updated(app, message),
        ServerMsg::Typing {
            sender_id,
            conversation_id,
            is_typing,
        } => on_typing(app, sender_id, conversation_id, is_typing, now, out),
        ServerMsg::Read {
            conversation_id,
            reader_id,
        } => on_read(app, conversation_id, reader_id),
        // The answer to `chat.search_messages`, which this client does not send yet.
        ServerMsg::MessageResults { .. } => {}
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
        ServerMsg::ConversationUpdated { conversation, left } => {
            on_conversation_updated(app, conversation, left, now)
        }
        ServerMsg::Receipts {
            message_id,
            read_by,
            delivered_to,
        } => {
            app.receipts = Some(ReceiptsView {
                message_id,
                read_by,
                delivered_to,
            })
        }
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

fn on_typing(
    app: &mut App,
    sender_id: i64,
    conversation: Option<i64>,
    is_typing: bool,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    if !is_typing {
        app.typing_in.remove(&sender_id);
        return;
    }
    let typing = TypingIn {
        until: now + TYPING_TTL,
        conversation,
    };
    app.typing_in.insert(sender_id, typing);
    // They started a conversation with us (or added us to a group) and have not written yet:
    // fetch the list so it shows (once per person, not on every typing frame).
    let known = match conversation {
        Some(id) => app.conversation(id).is_some(),
        None => app
            .conversations
            .iter()
            .any(|c| c.peer().is_some_and(|p| p.id == sender_id)),
    };
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
        Some("chat.create_group") => app.creating = None,
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

/// Who a conversation is with, from its participants and group additions.
fn kind_of(me: i64, info: &GroupInfo, members: Vec<Member>) -> Option<ConvKind> {
    if info.is_group() {
        let title = info.title().unwrap_or_default().to_owned();
        return Some(ConvKind::Group { title, members });
    }
    let users: Vec<UserRef> = members.iter().map(Member::user).collect();
    peer_of(me, &users).map(|peer| ConvKind::Direct { peer })
}

/// Puts a conversation the list lacks at its top.
fn add_to_top(app: &mut App, item: ConvItem) {
    keep_selection(app, |list| list.insert(0, item));
}

fn preview_of(message: &ChatMessage) -> String {
    if message.is_deleted() {
        return "message deleted".to_owned();
    }
    message
        .content
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A message edited, deleted or reacted to: replaced where the thread holds it (an older one
/// is read as it is when paged in), quoted anew by the replies to it, and the list's preview
/// changed when it is the conversation's newest.
fn on_message_updated(app: &mut App, message: ChatMessage) {
    let conv = message.conversation_id;
    if let Some(item) = app.conversation_mut(conv)
        && item.last_id == Some(message.id)
    {
        item.preview = Some(preview_of(&message));
    }
    let Some(thread) = app.threads.get_mut(&conv) else {
        return;
    };
    for reply in thread
        .messages
        .iter_mut()
        .filter_map(|m| m.reply_to.as_mut().and_then(Option::as_mut))
        .filter(|r| r.id == message.id)
    {
        reply.deleted = message.is_deleted();
        reply.excerpt = message.content.chars().take(REPLY_EXCERPT_CHARS).collect();
    }
    if thread.messages.iter().any(|m| m.id == message.id) {
        thread.merge(message);
    }
}

fn on_message(app: &mut App, message: ChatMessage, now: Instant, out: &mut Vec<Effect>) {
    let conv = message.conversation_id;
    let me = app.my_id();
    let from_me = message.sender.id == me;
    // System messages never count as unread; a mention rings even in a muted conversation.
    let is_system = message.is_system;
    let mentioned = message.mentions.as_ref().is_some_and(|m| m.contains(&me));
    let sender = message.sender.username.clone();
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
        let peer = message.sender.clone();
        add_to_top(app, ConvItem::new(conv, ConvKind::Direct { peer }));
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
    } else if !from_me && is_new && !is_system {
        let Some(item) = app.conversation_mut(conv) else {
            return;
        };
        item.unread = item.unread.saturating_add(1);
        let (muted, name) = (item.muted, item.name().to_owned());
        if mentioned {
            let text = format!("{sender} mentioned you in {name}");
            app.notify(NoticeKind::Info, text, now);
        }
        if app.bell_enabled && (!muted || mentioned) {
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
    let Some(item) = upsert(app, conversation) else {
        return;
    };
    let asked = match &item.kind {
        ConvKind::Direct { peer } => app.starting == Some(peer.id),
        // Our `chat.create_group` is answered with the group.
        ConvKind::Group { title, .. } => app.creating.as_ref() == Some(title),
    };
    if asked {
        app.starting = None;
        app.creating = None;
        app.search = None;
        open(app, item.id, now, out);
    }
}

/// A conversation changed (a group created, renamed, its members or roles; muted), or we are
/// no longer in it (`left`: removed, or we left).
fn on_conversation_updated(app: &mut App, conversation: Conversation, left: bool, now: Instant) {
    if left {
        leave(app, conversation.id, now);
    } else {
        upsert(app, conversation);
    }
}

/// Puts a conversation object into the list: a new one at the top, a known one changed in
/// place. Returns its row.
fn upsert(app: &mut App, conversation: Conversation) -> Option<ConvItem> {
    let id = conversation.id;
    let kind = kind_of(app.my_id(), &conversation.info, conversation.participants)?;
    let muted = conversation.info.muted;
    match app.conversation_mut(id) {
        Some(item) => {
            item.kind = kind;
            item.muted = muted.unwrap_or(item.muted);
        }
        None => {
            let muted = muted.unwrap_or(false);
            add_to_top(
                app,
                ConvItem {
                    muted,
                    ..ConvItem::new(id, kind)
                },
            );
        }
    }
    app.conversation(id).cloned()
}

/// Forgets a conversation we are no longer in.
fn leave(app: &mut App, id: i64, now: Instant) {
    let Some(name) = app.conversation(id).map(|c| c.name().to_owned()) else {
        return;
    };
    keep_selection(app, |list| list.retain(|c| c.id != id));
    app.threads.remove(&id);
    app.delivered.remove(&id);
    app.pending.retain(|p| p.conversation_id != id);
    app.typing_in.retain(|_, t| t.conversation != Some(id));
    if app.open == Some(id) {
        app.open = None;
        app.focus = Focus::List;
        app.typing_out = None;
    }
    let text = format!("you are no longer in {name}");
    app.notify(NoticeKind::Info, text, now);
}

fn on_conversations(
    app: &mut App,
    items: Vec<ConversationListItem>,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    presence::seed(app, &items);
    let me = app.my_id();
    let list: Vec<ConvItem> = items
        .into_iter()
        .filter_map(|item| {
            let members = item
                .participants
                .iter()
                .map(|p| Member {
                    id: p.id,
                    username: p.username.clone(),
                    role: p.role,
                })
                .collect();
            let kind = kind_of(me, &item.info, members)?;
            let last = item.last_message.flatten();
            let unread = item
                .unread_count
                .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
                .or_else(|| item.has_unread.map(u32::from))
                .unwrap_or(0);
            Some(ConvItem {
                id: item.id,
                kind,
                muted: item.info.muted.unwrap_or(false),
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
