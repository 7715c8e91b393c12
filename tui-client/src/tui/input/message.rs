//! What can be done to one message of the open conversation: choosing it with the cursor keys,
//! then replying (`r`), editing (`e`, or ↑ in an empty composer for our newest), deleting
//! (`d`, after y), reacting (`+`, the picker). Each sends its frame; the server's
//! `chat.message_updated` changes the message.

use std::time::Instant;

use chat_shared::{ChatMessage, ClientMsg, REPLY_EXCERPT_CHARS, ReplyRef, emoji_problem};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::composer::too_long;
use super::scroll::scroll;
use crate::tui::app::{App, Draft, Focus, NoticeKind, QUICK_REACTIONS, ReactPicker};
use crate::tui::effect::Effect;
use crate::tui::layout::{chat_areas, screen_area};
use crate::tui::lines::{thread_layout, window};

/// Moves the selection one message older (`older`) or newer; from none, older picks the
/// newest. It stops at the newest; past the oldest it scrolls up (loading older messages).
pub(super) fn select(app: &mut App, older: bool, out: &mut Vec<Effect>) {
    let Some(thread) = thread_mut(app) else {
        return;
    };
    let ids: Vec<i64> = thread
        .messages
        .iter()
        .filter(|m| !m.is_system)
        .map(|m| m.id)
        .collect();
    let at = thread
        .selected
        .and_then(|id| ids.iter().position(|&i| i == id));
    let next = match (at, older) {
        (None, true) => ids.last().copied(),
        (Some(0), true) => return scroll(app, i32::from(u16::MAX), out),
        (Some(i), true) => ids.get(i - 1).copied(),
        (Some(i), false) => ids.get(i + 1).copied().or(Some(ids[i])),
        (None, false) => None,
    };
    thread.selected = next;
    keep_in_view(app);
}

/// Scrolls the open conversation so that its selected message shows (its start, when it is
/// taller than the pane); without a selection, back to the newest.
fn keep_in_view(app: &mut App) {
    let areas = chat_areas(app, screen_area(app));
    let width = areas.messages.width.saturating_sub(2);
    let height = usize::from(areas.messages.height.saturating_sub(2));
    let Some((conv, thread)) = app.open.and_then(|id| Some((id, app.threads.get(&id)?))) else {
        return;
    };
    let scroll = match thread.selected {
        None => 0,
        Some(selected) => {
            let (lines, spans) = thread_layout(app, conv, thread, width);
            let Some((_, range)) = spans.iter().find(|(id, _)| *id == selected) else {
                return;
            };
            let total = lines.len();
            let shown = window(total, thread.scroll, height);
            let (top, bottom) = (shown.start, shown.end);
            let scroll = total - bottom;
            if range.start < top || range.len() > height {
                total.saturating_sub(range.start + height)
            } else if range.end > bottom {
                total - range.end
            } else {
                scroll
            }
        }
    };
    if let Some(thread) = thread_mut(app) {
        thread.scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    }
}

fn thread_mut(app: &mut App) -> Option<&mut crate::tui::app::Thread> {
    let id = app.open?;
    app.threads.get_mut(&id)
}

/// Drops the selection; whether there was one.
pub(super) fn unselect(app: &mut App) -> bool {
    thread_mut(app).is_some_and(|t| t.selected.take().is_some())
}

/// The selected message, or a notice asking to choose one.
fn chosen(app: &mut App, now: Instant) -> Option<ChatMessage> {
    let message = app.selected_message().cloned();
    if message.is_none() {
        let text = "choose a message first: ↑ ↓ (or k j) in the messages pane";
        app.notify(NoticeKind::Error, text, now);
    }
    message
}

/// Whether `message` can be answered, edited or reacted to: not a system line, not deleted.
fn alive(app: &mut App, message: &ChatMessage, now: Instant) -> bool {
    let ok = !message.is_system && !message.is_deleted();
    if !ok {
        app.notify(NoticeKind::Error, "that message was deleted", now);
    }
    ok
}

/// `r`: the composer answers the selected message.
pub(super) fn reply(app: &mut App, now: Instant) {
    let Some(message) = chosen(app, now) else {
        return;
    };
    if !alive(app, &message, now) {
        return;
    }
    cancel_draft(app);
    app.composer.draft = Draft::Reply(ReplyRef {
        id: message.id,
        sender: message.sender.clone(),
        excerpt: message.content.chars().take(REPLY_EXCERPT_CHARS).collect(),
        deleted: false,
    });
    unselect(app);
    app.focus = Focus::Composer;
}

/// `e`: the composer takes the selected message's text, to change it.
pub(super) fn edit(app: &mut App, now: Instant) {
    let Some(message) = chosen(app, now) else {
        return;
    };
    if message.sender.id != app.my_id() {
        app.notify(
            NoticeKind::Error,
            "only your own messages can be edited",
            now,
        );
        return;
    }
    if alive(app, &message, now) {
        start_edit(app, &message);
    }
}

/// ↑ in an empty composer: edit our newest message of the open conversation; with none,
/// scroll as ↑ does otherwise.
pub(super) fn edit_last_own(app: &mut App, out: &mut Vec<Effect>) {
    let me = app.my_id();
    let newest = app.open_thread().and_then(|t| {
        t.messages
            .iter()
            .rev()
            .find(|m| m.sender.id == me && !m.is_system && !m.is_deleted())
            .cloned()
    });
    match newest {
        Some(message) => start_edit(app, &message),
        None => scroll(app, 1, out),
    }
}

fn start_edit(app: &mut App, message: &ChatMessage) {
    cancel_draft(app);
    let saved = std::mem::take(&mut app.composer.text);
    app.composer.set(message.content.clone());
    app.composer.draft = Draft::Edit {
        message_id: message.id,
        saved,
    };
    unselect(app);
    app.focus = Focus::Composer;
}

/// Esc in the composer while answering or editing: back to a plain new message (the text
/// being written before an edit comes back).
pub(super) fn cancel_draft(app: &mut App) {
    if let Draft::Edit { saved, .. } = std::mem::take(&mut app.composer.draft) {
        app.composer.set(saved);
    }
}

/// Enter while editing: `chat.edit` with the new text (nothing when it did not change).
pub(super) fn send_edit(
    app: &mut App,
    message_id: i64,
    content: String,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    if content.trim().is_empty() {
        let text = "an edit cannot be empty: Esc, then d on the message deletes it";
        app.notify(NoticeKind::Error, text, now);
        return;
    }
    if too_long(app, &content, now) {
        return;
    }
    let unchanged = app
        .open_thread()
        .and_then(|t| t.messages.iter().find(|m| m.id == message_id))
        .is_some_and(|m| m.content == content);
    if !unchanged {
        if !app.is_connected() {
            let text = "not connected: your edit stays here until the connection is back";
            app.notify(NoticeKind::Error, text, now);
            return;
        }
        out.push(Effect::Send(ClientMsg::Edit {
            message_id,
            content,
        }));
    }
    cancel_draft(app);
}

/// `d`: asks to confirm deleting the selected message (ours, or any in a group we manage).
pub(super) fn ask_delete(app: &mut App, now: Instant) {
    let Some(message) = chosen(app, now) else {
        return;
    };
    if !alive(app, &message, now) {
        return;
    }
    let me = app.my_id();
    let manager = app.open_conversation().is_some_and(|c| {
        c.members()
            .iter()
            .any(|m| m.id == me && m.role.is_some_and(|r| r.manages()))
    });
    if message.sender.id != me && !manager {
        let text = "only your own messages can be deleted (or any, by a group's owner or admins)";
        app.notify(NoticeKind::Error, text, now);
        return;
    }
    app.deleting = Some(message.id);
}

/// The delete confirmation's keys: y deletes, n or Esc keeps it.
pub(super) fn confirm_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let Some(message_id) = app.deleting else {
        return;
    };
    match key.code {
        KeyCode::Char('y' | 'Y') => {
            app.deleting = None;
            if app.is_connected() {
                unselect(app);
                out.push(Effect::Send(ClientMsg::Delete { message_id }));
            } else {
                app.notify(
                    NoticeKind::Error,
                    "not connected: try again in a moment",
                    now,
                );
            }
        }
        KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => app.deleting = None,
        _ => {}
    }
}

/// `+`: the reaction picker over the selected message.
pub(super) fn open_reactions(app: &mut App, now: Instant) {
    let Some(message) = chosen(app, now) else {
        return;
    };
    if alive(app, &message, now) {
        app.reacting = Some(ReactPicker {
            message_id: message.id,
            highlighted: 0,
            typed: String::new(),
        });
    }
}

/// The picker's keys: ← → (h l) move, 1–7 or Enter choose, other text is typed as the emoji
/// (Enter reacts with it), Backspace, Esc closes.
pub(super) fn picker_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let Some(picker) = &mut app.reacting else {
        return;
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return;
    }
    let last = QUICK_REACTIONS.len() - 1;
    let typing = !picker.typed.is_empty();
    let emoji = match key.code {
        KeyCode::Esc => {
            app.reacting = None;
            return;
        }
        KeyCode::Left | KeyCode::BackTab if !typing => {
            picker.highlighted = picker.highlighted.saturating_sub(1);
            return;
        }
        KeyCode::Right | KeyCode::Tab if !typing => {
            picker.highlighted = (picker.highlighted + 1).min(last);
            return;
        }
        KeyCode::Char(c @ '1'..='7') if !typing => {
            QUICK_REACTIONS[usize::from(c as u8 - b'1')].to_owned()
        }
        KeyCode::Backspace => {
            picker.typed.pop();
            return;
        }
        KeyCode::Char(c) => {
            picker.typed.push(c);
            return;
        }
        KeyCode::Enter if typing => picker.typed.trim().to_owned(),
        KeyCode::Enter => QUICK_REACTIONS[picker.highlighted].to_owned(),
        _ => return,
    };
    if let Some(problem) = emoji_problem(&emoji) {
        app.notify(NoticeKind::Error, problem.replace('`', ""), now);
        return;
    }
    let message_id = picker.message_id;
    app.reacting = None;
    react(app, message_id, emoji, now, out);
}

/// Adds our `emoji` to a message, or takes it back when we already gave it.
fn react(app: &mut App, message_id: i64, emoji: String, now: Instant, out: &mut Vec<Effect>) {
    if !app.is_connected() {
        app.notify(
            NoticeKind::Error,
            "not connected: try again in a moment",
            now,
        );
        return;
    }
    let me = app.my_id();
    let given = app
        .threads
        .values()
        .flat_map(|t| &t.messages)
        .find(|m| m.id == message_id)
        .is_some_and(|m| {
            m.reactions()
                .iter()
                .any(|r| r.emoji == emoji && r.user_ids.contains(&me))
        });
    out.push(Effect::Send(ClientMsg::React {
        message_id,
        emoji,
        add: !given,
    }));
}
