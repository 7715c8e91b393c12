//! Steps that keys and server frames both take: opening a conversation (its newest page, its
//! `chat.read`), fetching a conversation's newest page, and ending our typing indicator. Each
//! changes the app and adds the frames it costs to `out`.

use std::time::Instant;

use chat_shared::ClientMsg;

use super::app::{App, Fetch, Focus, PAGE};
use super::effect::Effect;

/// Opens a conversation on the right: loads its messages, marks it read, focuses the composer.
pub fn open(app: &mut App, conv: i64, now: Instant, out: &mut Vec<Effect>) {
    if app
        .typing_out
        .is_some_and(|t| Some(t.to) != app.conversation(conv).map(|c| c.typing_to()))
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
        thread.read_upto = thread.newest_from_others(me).or(thread.read_upto);
        thread.read_sent(now);
        out.push(Effect::Send(ClientMsg::Read {
            conversation_id: conv,
        }));
    }
    app.clear_unread(conv);
}

/// Asks for the newest page of a conversation, remembering what we had so a gap gets filled.
pub fn fetch_latest(app: &mut App, conv: i64, out: &mut Vec<Effect>) {
    let connected = app.is_connected();
    let thread = app.threads.entry(conv).or_default();
    if thread.fetch.is_some() || !connected {
        return;
    }
    thread.fetch = Some(Fetch::Latest {
        floor: thread.newest_id(),
    });
    out.push(Effect::Send(ClientMsg::GetMessages {
        conversation_id: conv,
        before_id: None,
        limit: Some(PAGE),
    }));
}

/// Sends `is_typing: false` if we told someone we were typing.
pub fn stop_typing(app: &mut App, out: &mut Vec<Effect>) {
    if let Some(typing) = app.typing_out.take()
        && app.is_connected()
    {
        out.push(Effect::Send(typing.to.frame(false)));
    }
}
