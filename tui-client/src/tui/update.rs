//! `update`: one event in, the state changed, and the frames to send out. Time comes in as an
//! argument, so expiries (typing, notices, search debounce) are ordinary unit tests.
//!
//! Frames and connection events are handled here; keys, mouse and paste in `input`.

use std::time::Instant;

use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ConversationListItem, MessageStatus, ServerMsg, UserRef,
};

use super::app::{
    App, Conn, ConvItem, DELIVERED_GAP, Fetch, Focus, MAX_RESULTS, NOTICE_TTL, Notice, NoticeKind,
    PAGE, PENDING_TTL, Pending, READ_GAP, Screen, TYPING_IDLE, TYPING_TTL,
};
use super::event::{Event, NetStatus, SignedIn};
use super::input;

/// Applies one event to the app and returns the frames to send to the server, in order.
pub fn update(app: &mut App, event: Event, now: Instant) -> Vec<ClientMsg> {
    let mut out = Vec::new();
    app.now = Some(now);
    match event {
        Event::Key(key) => input::key(app, key, now, &mut out),
        Event::Mouse(mouse) => input::mouse(app, mouse, &mut out),
        Event::Paste(text) => input::paste(app, &text, now, &mut out),
        Event::Resize(width, height) => app.size = (width, height),
        Event::Tick => tick(app, now, &mut out),
        Event::Server(frame) => server(app, frame, now, &mut out),
        Event::Net(status) => net(app, status, now, &mut out),
        Event::Auth(result) => auth(app, result),
    }
    out
}

/// Shows a notice in the status bar for a few seconds.
pub(super) fn notify(app: &mut App, kind: NoticeKind, text: impl Into<String>, now: Instant) {
    app.notice = Some(Notice {
        text: text.into(),
        kind,
        until: now + NOTICE_TTL,
    });
}

fn tick(app: &mut App, now: Instant, out: &mut Vec<ClientMsg>) {
    app.typing_in.retain(|_, until| *until > now);
    if app
        .pending
        .first()
        .is_some_and(|p| now.saturating_duration_since(p.sent_at) >= PENDING_TTL)
    {
        let (lost, kept) = app
            .pending
            .drain(..)
            .partition(|p| now.saturating_duration_since(p.sent_at) >= PENDING_TTL);
        app.pending = kept;
        give_back(app, lost, "no answer", now);
    }
    if app.is_connected() {
        let due: Vec<i64> = app
            .threads
            .iter()
            .filter(|(_, t)| {
                t.read_due
                    && t.read_sent_at
                        .is_none_or(|at| now.saturating_duration_since(at) >= READ_GAP)
            })
            .map(|(id, _)| *id)
            .collect();
        for conv in due {
            if let Some(thread) = app.threads.get_mut(&conv) {
                thread.read_due = false;
                thread.read_sent_at = Some(now);
                out.push(ClientMsg::Read {
                    conversation_id: conv,
                });
            }
        }
        deliver_due(app, now, out);
    }
    if let Some(typing) = app.typing_out
        && now.saturating_duration_since(typing.last_key) >= TYPING_IDLE
    {
        stop_typing(app, out);
    }
    if app.notice.as_ref().is_some_and(|n| n.until <= now) {
        app.notice = None;
    }
    let connected = app.is_connected();
    if let Some(search) = &mut app.search
        && search.due.is_some_and(|due| due <= now)
    {
        let keyword = search.query.trim().to_owned();
        if keyword.is_empty() {
            search.due = None;
            search.results.clear();
            search.selected = 0;
            search.sent = None;
        } else if connected {
            search.due = None;
            if search.sent.as_deref() != Some(keyword.as_str()) {
                search.sent = Some(keyword.clone());
                out.push(ClientMsg::SearchUser { keyword });
            }
        }
    }
}

/// Sends `is_typing: false` if we told someone we were typing.
pub(super) fn stop_typing(app: &mut App, out: &mut Vec<ClientMsg>) {
    if let Some(typing) = app.typing_out.take()
        && app.is_connected()
    {
        out.push(ClientMsg::Typing {
            receiver_id: typing.receiver_id,
            is_typing: false,
        });
    }
}

fn auth(app: &mut App, result: Result<SignedIn, String>) {
    app.sign_in.busy = false;
    match result {
        Ok(signed_in) => {
            app.sign_in.password.clear();
            app.sign_in.message = None;
            app.me = Some(signed_in.user);
            app.server = signed_in.server;
            app.screen = Screen::Chat;
            app.conn = Conn::Connecting;
            app.focus = Focus::List;
        }
        Err(message) => app.sign_in.message = Some(message),
    }
}

fn net(app: &mut App, status: NetStatus, now: Instant, out: &mut Vec<ClientMsg>) {
    match status {
        NetStatus::Connecting => app.conn = Conn::Connecting,
        NetStatus::Connected => {
            app.conn = Conn::Connected;
            // Answers to requests of the old connection will never come.
            for thread in app.threads.values_mut() {
                thread.fetch = None;
            }
            out.push(ClientMsg::GetConversations {});
            if let Some(id) = app.open {
                fetch_latest(app, id, out);
            }
            if let Some(search) = &mut app.search {
                search.sent = None;
                search.due = Some(now);
            }
        }
        NetStatus::Disconnected { reason, retry_in } => {
            app.conn = Conn::Disconnected {
                reason,
                retry_at: now + retry_in,
            };
            app.typing_in.clear();
            app.typing_out = None;
            for thread in app.threads.values_mut() {
                thread.fetch = None;
            }
            unconfirmed_to_composer(app, now);
        }
        NetStatus::AuthExpired => {
            let (size, offset, server) = (app.size, app.utc_offset, app.server.clone());
            let username = app.me.take().map(|u| u.username).unwrap_or_default();
            *app = App::new(&server);
            app.size = size;
            app.utc_offset = offset;
            app.sign_in.username = username;
            app.sign_in.field = super::app::Field::Password;
            app.sign_in.message = Some("Your session has expired: please sign in again.".into());
        }
        NetStatus::Warning(text) => notify(app, NoticeKind::Error, text, now),
    }
}

/// Messages whose echo never came may not have been stored: give the text back rather than
/// resend it blindly (which could store it twice).
fn unconfirmed_to_composer(app: &mut App, now: Instant) {
    let lost: Vec<_> = app.pending.drain(..).collect();
    give_back(app, lost, "connection lost", now);
}

/// Puts the text of unconfirmed messages to the open conversation back at the start of the
/// composer (keeping whatever is being written), and says so.
fn give_back(app: &mut App, lost: Vec<Pending>, why: &str, now: Instant) {
    if lost.is_empty() {
        return;
    }
    let restore = lost
        .iter()
        .filter(|p| Some(p.conversation_id) == app.open)
        .map(|p| p.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let text = if restore.is_empty() {
        format!(
            "{why}: {} message(s) not confirmed by the server",
            lost.len()
        )
    } else {
        // The cursor stays where it was in the text being written.
        let composer = &mut app.composer;
        if composer.text.is_empty() {
            composer.cursor = restore.chars().count();
            composer.text = restore;
        } else {
            composer.cursor += restore.chars().count() + 1;
            composer.text = format!("{restore}\n{}", composer.text);
        }
        format!("{why}: message not confirmed by the server, it is back in the composer")
    };
    notify(app, NoticeKind::Error, text, now);
}

fn server(app: &mut App, frame: ServerMsg, now: Instant, out: &mut Vec<ClientMsg>) {
    match frame {
        ServerMsg::Message { message } => on_message(app, message, now, out),
        ServerMsg::Typing {
            sender_id,
            is_typing,
        } => {
            if is_typing {
                app.typing_in.insert(sender_id, now + TYPING_TTL);
                // They started a conversation with us and have not written yet: fetch the
                // list so it shows (once per person, not on every typing frame).
                let known = app.conversations.iter().any(|c| c.peer.id == sender_id);
                if !known && app.list_asked_for != Some(sender_id) {
                    app.list_asked_for = Some(sender_id);
                    out.push(ClientMsg::GetConversations {});
                }
            } else {
                app.typing_in.remove(&sender_id);
            }
        }
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

fn on_error(
    app: &mut App,
    code: chat_shared::ErrorCode,
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
        // Errors come back in request order: the oldest unconfirmed message failed.
        Some("chat.message") if !app.pending.is_empty() => {
            let failed = app.pending.remove(0);
            give_back(app, vec![failed], "refused", now);
        }
        _ => {}
    }
    let code = code.as_str();
    notify(
        app,
        NoticeKind::Error,
        format!("error: {message} ({code})"),
        now,
    );
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

fn preview_of(message: &ChatMessage) -> String {
    message
        .content
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn on_message(app: &mut App, message: ChatMessage, now: Instant, out: &mut Vec<ClientMsg>) {
    let me = app.my_id();
    let conv = message.conversation_id;
    let from_me = message.sender.id == me;
    if from_me {
        if let Some(i) = app
            .pending
            .iter()
            .position(|p| p.conversation_id == conv && p.content == message.content)
        {
            app.pending.remove(i);
        }
    } else {
        app.typing_in.remove(&message.sender.id);
    }

    let known = app.conversation(conv).is_some();
    if !known {
        if from_me {
            // Sent from another device to someone this list does not know yet.
            out.push(ClientMsg::GetConversations {});
            return;
        }
        keep_selection(app, |list| {
            list.insert(
                0,
                ConvItem {
                    id: conv,
                    peer: message.sender.clone(),
                    preview: None,
                    last_id: None,
                    unread: 0,
                },
            )
        });
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
        deliver(app, conv, message.id, now, out);
    }
    if let Some(thread) = app.threads.get_mut(&conv) {
        thread.merge(message);
        thread.trim();
    }
    if app.open == Some(conv) {
        if !from_me {
            mark_read(app, conv, now, out);
        }
    } else if !from_me && is_new {
        if let Some(item) = app.conversations.iter_mut().find(|c| c.id == conv) {
            item.unread = item.unread.saturating_add(1);
        }
        if app.bell_enabled {
            app.bell = true;
        }
    }
}

fn on_read(app: &mut App, conversation_id: i64, reader_id: i64) {
    if reader_id == app.my_id() {
        // We read it on another device.
        if let Some(item) = app
            .conversations
            .iter_mut()
            .find(|c| c.id == conversation_id)
        {
            item.unread = 0;
        }
        return;
    }
    let me = app.my_id();
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
    out: &mut Vec<ClientMsg>,
) {
    let me = app.my_id();
    let Some(peer) = peer_of(me, &conversation.participants) else {
        return;
    };
    let id = conversation.id;
    if app.conversation(id).is_none() {
        keep_selection(app, |list| {
            list.insert(
                0,
                ConvItem {
                    id,
                    peer: peer.clone(),
                    preview: None,
                    last_id: None,
                    unread: 0,
                },
            )
        });
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
    out: &mut Vec<ClientMsg>,
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
            mark_read(app, id, now, out);
        }
    }
}

fn on_page(
    app: &mut App,
    messages: Vec<ChatMessage>,
    conversation_id: Option<i64>,
    has_more: Option<bool>,
    now: Instant,
    out: &mut Vec<ClientMsg>,
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
                out.push(ClientMsg::GetMessages {
                    conversation_id: conv,
                    before_id: Some(oldest),
                    limit: Some(PAGE),
                });
            }
        }
        Some(Fetch::Latest { floor: None }) | Some(Fetch::Older) => thread.has_more = more,
        None if !had_messages => thread.has_more = more,
        None => {}
    }
    if let Some(newest) = newest {
        let preview = preview_of(&newest);
        if let Some(item) = app.conversations.iter_mut().find(|c| c.id == conv)
            && item.last_id.is_none_or(|last| newest.id > last)
        {
            item.last_id = Some(newest.id);
            item.preview = Some(preview);
        }
    }
    if app.open == Some(conv) {
        mark_read(app, conv, now, out);
    }
}

/// Sends `chat.read` if the open conversation has messages from others we have not marked
/// read: at once, or after `READ_GAP` since the last one (see `tick`).
fn mark_read(app: &mut App, conv: i64, now: Instant, out: &mut Vec<ClientMsg>) {
    let me = app.my_id();
    let newest_other = app.threads.get(&conv).and_then(|t| {
        t.messages
            .iter()
            .rev()
            .find(|m| m.sender.id != me)
            .map(|m| m.id)
    });
    let item_unread = app.conversation(conv).is_some_and(|c| c.unread > 0);
    let connected = app.conn == Conn::Connected;
    let thread = app.threads.entry(conv).or_default();
    let behind = newest_other.is_some() && newest_other > thread.read_upto;
    if (behind || item_unread) && connected {
        thread.read_upto = newest_other.or(thread.read_upto);
        let recent = thread
            .read_sent_at
            .is_some_and(|at| now.saturating_duration_since(at) < READ_GAP);
        if recent {
            thread.read_due = true;
        } else {
            thread.read_sent_at = Some(now);
            thread.read_due = false;
            out.push(ClientMsg::Read {
                conversation_id: conv,
            });
        }
    }
    if let Some(item) = app.conversations.iter_mut().find(|c| c.id == conv) {
        item.unread = 0;
    }
}

/// Sends `chat.delivered` for message `id` of `conv`: at once, or, within `DELIVERED_GAP` of
/// the last one, later from `tick` for the conversation's newest message (the server's marker
/// covers the ones before it). A message at or below what was already sent costs nothing.
fn deliver(app: &mut App, conv: i64, id: i64, now: Instant, out: &mut Vec<ClientMsg>) {
    let delivery = app.delivered.entry(conv).or_default();
    if delivery.sent_upto.is_some_and(|sent| sent >= id) {
        return;
    }
    let recent = delivery
        .sent_at
        .is_some_and(|at| now.saturating_duration_since(at) < DELIVERED_GAP);
    if recent || !app.conn.eq(&Conn::Connected) {
        delivery.due = delivery.due.max(Some(id));
    } else {
        delivery.sent_upto = Some(id);
        delivery.sent_at = Some(now);
        delivery.due = None;
        out.push(ClientMsg::Delivered { message_id: id });
    }
}

/// The owed `chat.delivered` whose gap has passed, one per conversation, in conversation order.
fn deliver_due(app: &mut App, now: Instant, out: &mut Vec<ClientMsg>) {
    let mut due: Vec<(i64, i64)> = app
        .delivered
        .iter()
        .filter(|(_, d)| {
            d.sent_at
                .is_none_or(|at| now.saturating_duration_since(at) >= DELIVERED_GAP)
        })
        .filter_map(|(conv, d)| d.due.map(|id| (*conv, id)))
        .collect();
    due.sort_unstable();
    for (conv, id) in due {
        if let Some(delivery) = app.delivered.get_mut(&conv) {
            delivery.due = None;
            // Opened meanwhile: the `chat.read` sent on opening says more.
            if app.open != Some(conv) {
                delivery.sent_upto = Some(id);
                delivery.sent_at = Some(now);
                out.push(ClientMsg::Delivered { message_id: id });
            }
        }
    }
}

/// Asks for the newest page of a conversation, remembering what we had so a gap gets filled.
fn fetch_latest(app: &mut App, conv: i64, out: &mut Vec<ClientMsg>) {
    let thread = app.threads.entry(conv).or_default();
    if thread.fetch.is_some() || !app.conn.eq(&Conn::Connected) {
        return;
    }
    thread.fetch = Some(Fetch::Latest {
        floor: thread.newest_id(),
    });
    out.push(ClientMsg::GetMessages {
        conversation_id: conv,
        before_id: None,
        limit: Some(PAGE),
    });
}

/// Opens a conversation on the right: loads its messages, marks it read, focuses the composer.
pub(super) fn open(app: &mut App, conv: i64, now: Instant, out: &mut Vec<ClientMsg>) {
    if app
        .typing_out
        .is_some_and(|t| Some(t.receiver_id) != app.conversation(conv).map(|c| c.peer.id))
    {
        stop_typing(app, out);
    }
    if let Some(i) = app.conversations.iter().position(|c| c.id == conv) {
        app.selected = i;
    }
    app.open = Some(conv);
    app.focus = Focus::Composer;
    app.threads.entry(conv).or_default().scroll = 0;
    fetch_latest(app, conv, out);
    if app.is_connected() {
        let me = app.my_id();
        let thread = app.threads.entry(conv).or_default();
        thread.read_upto = thread
            .messages
            .iter()
            .rev()
            .find(|m| m.sender.id != me)
            .map(|m| m.id)
            .or(thread.read_upto);
        thread.read_sent_at = Some(now);
        thread.read_due = false;
        out.push(ClientMsg::Read {
            conversation_id: conv,
        });
    }
    if let Some(item) = app.conversations.iter_mut().find(|c| c.id == conv) {
        item.unread = 0;
    }
}

#[cfg(test)]
mod tests;
