//! The clock: typing indicators and notices expire, unconfirmed messages are sent again (or
//! given back), owed receipts go out, our typing stops when idle, a debounced search is sent,
//! and a sync cursor held back is handed out to be saved.

use std::time::Instant;

use chat_shared::ClientMsg;

use super::{pending, receipts, sync};
use crate::tui::app::{App, TYPING_IDLE};
use crate::tui::conversation::stop_typing;
use crate::tui::effect::Effect;

pub(super) fn tick(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    app.typing_in.retain(|_, typing| typing.until > now);
    pending::expire(app, now, out);
    if app.is_connected() {
        receipts::reads_due(app, now, out);
        receipts::deliveries_due(app, now, out);
    }
    if let Some(typing) = app.typing_out
        && now.saturating_duration_since(typing.last_key) >= TYPING_IDLE
    {
        stop_typing(app, out);
    }
    if app.notice.as_ref().is_some_and(|n| n.until <= now) {
        app.notice = None;
    }
    search_due(app, now, out);
    sync::save(app, now, out);
}

/// Sends the search box's query once its debounce is up, if it changed since the last one.
fn search_due(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let connected = app.is_connected();
    let Some(search) = &mut app.search else {
        return;
    };
    if search.due.is_none_or(|due| due > now) {
        return;
    }
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
            out.push(Effect::Send(ClientMsg::SearchUser { keyword }));
        }
    }
}
