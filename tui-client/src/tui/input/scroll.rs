//! Scrolling the open conversation, by keys and by the wheel; past the top the server is
//! asked for older messages.

use chat_shared::ClientMsg;

use crate::tui::app::{App, Fetch, MAX_THREAD, PAGE};
use crate::tui::effect::Effect;
use crate::tui::layout::{chat_areas, screen_area};
use crate::tui::lines::thread_lines;

/// A page of scrolling: the message pane's height less two lines of context.
pub(super) fn page(app: &App) -> i32 {
    let areas = chat_areas(app, screen_area(app));
    i32::from(areas.messages.height.saturating_sub(4).max(1))
}

/// Scrolls the open conversation by `delta` lines (positive is up, towards older messages).
/// Reaching the top asks the server for the page before the oldest message loaded.
pub(super) fn scroll(app: &mut App, delta: i32, out: &mut Vec<Effect>) {
    let Some(conv) = app.open else {
        return;
    };
    let areas = chat_areas(app, screen_area(app));
    let width = areas.messages.width.saturating_sub(2);
    let height = i32::from(areas.messages.height.saturating_sub(2));
    let connected = app.is_connected();
    let Some(thread) = app.threads.get(&conv) else {
        return;
    };
    let total = i32::try_from(thread_lines(app, conv, thread, width).len()).unwrap_or(i32::MAX);
    let max = (total - height).max(0);
    let wanted = i32::from(thread.scroll).saturating_add(delta);
    let Some(thread) = app.threads.get_mut(&conv) else {
        return;
    };
    thread.scroll = u16::try_from(wanted.clamp(0, max)).unwrap_or(u16::MAX);
    let at_top = delta > 0 && wanted >= max;
    if at_top
        && thread.has_more
        && thread.fetch.is_none()
        && thread.messages.len() < MAX_THREAD
        && connected
        && let Some(oldest) = thread.messages.first().map(|m| m.id)
    {
        thread.fetch = Some(Fetch::Older);
        out.push(Effect::Send(ClientMsg::GetMessages {
            conversation_id: conv,
            before_id: Some(oldest),
            limit: Some(PAGE),
        }));
    }
}
