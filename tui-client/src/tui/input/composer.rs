//! The composer: editing the text being written, telling the other side we type, and sending.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::scroll::scroll;
use super::{command, message};
use crate::tui::app::{
    App, Draft, Focus, MAX_CONTENT, MAX_PENDING, MAX_PENDING_BYTES, NoticeKind, Pending,
    TYPING_REPEAT, TypingOut, TypingTo,
};
use crate::tui::conversation::stop_typing;
use crate::tui::effect::Effect;

pub(super) fn key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let composer = &mut app.composer;
    let len = composer.text.chars().count();
    let edited = match key.code {
        KeyCode::Esc if composer.draft != Draft::New => {
            message::cancel_draft(app);
            false
        }
        KeyCode::Esc => {
            app.focus = Focus::List;
            false
        }
        KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
            insert(app, "\n");
            true
        }
        KeyCode::Char('j') if ctrl => {
            insert(app, "\n");
            true
        }
        KeyCode::Enter => {
            send(app, now, out);
            false
        }
        KeyCode::Left => {
            composer.cursor = composer.cursor.saturating_sub(1);
            false
        }
        KeyCode::Right => {
            composer.cursor = (composer.cursor + 1).min(len);
            false
        }
        KeyCode::Home => {
            composer.cursor = 0;
            false
        }
        KeyCode::Char('a') if ctrl => {
            composer.cursor = 0;
            false
        }
        KeyCode::End => {
            composer.cursor = len;
            false
        }
        KeyCode::Char('e') if ctrl => {
            composer.cursor = len;
            false
        }
        KeyCode::Up if composer.text.is_empty() && composer.draft == Draft::New => {
            message::edit_last_own(app, out);
            false
        }
        KeyCode::Up => {
            scroll(app, 1, out);
            false
        }
        KeyCode::Down => {
            scroll(app, -1, out);
            false
        }
        KeyCode::Backspace if composer.cursor > 0 => {
            let at = byte_index(&composer.text, composer.cursor - 1);
            composer.text.remove(at);
            composer.cursor -= 1;
            true
        }
        KeyCode::Delete if composer.cursor < len => {
            let at = byte_index(&composer.text, composer.cursor);
            composer.text.remove(at);
            true
        }
        KeyCode::Char('u') if ctrl => {
            let at = byte_index(&composer.text, composer.cursor);
            composer.text.replace_range(..at, "");
            composer.cursor = 0;
            true
        }
        KeyCode::Char('w') if ctrl => {
            delete_word(app);
            true
        }
        KeyCode::Char(c) if !ctrl => {
            insert(app, c.encode_utf8(&mut [0; 4]));
            true
        }
        _ => false,
    };
    // Changing an old message is not typing a new one.
    if edited && !matches!(app.composer.draft, Draft::Edit { .. }) {
        typing_key(app, now, out);
    }
}

fn byte_index(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i)
}

/// Inserts at the cursor, keeping the composer within the server's length limit (plus a
/// little, so an over-long paste is visible and refused on send, not silently cut).
pub(super) fn insert(app: &mut App, text: &str) {
    let composer = &mut app.composer;
    let room = (MAX_CONTENT + 1000).saturating_sub(composer.text.chars().count());
    let text: String = text.chars().take(room).collect();
    let at = byte_index(&composer.text, composer.cursor);
    composer.text.insert_str(at, &text);
    composer.cursor += text.chars().count();
}

fn delete_word(app: &mut App) {
    let composer = &mut app.composer;
    let before: Vec<char> = composer.text.chars().take(composer.cursor).collect();
    let mut start = before.len();
    while start > 0 && before[start - 1].is_whitespace() {
        start -= 1;
    }
    while start > 0 && !before[start - 1].is_whitespace() {
        start -= 1;
    }
    let from = byte_index(&composer.text, start);
    let to = byte_index(&composer.text, composer.cursor);
    composer.text.replace_range(from..to, "");
    composer.cursor = start;
}

/// Tells the other side we are typing: at most once per `TYPING_REPEAT` while keys come in.
pub(super) fn typing_key(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let me = app.my_id();
    let Some(to) = app.open_conversation().map(|c| c.typing_to()) else {
        return;
    };
    if to == TypingTo::Receiver(me) || !app.is_connected() {
        return;
    }
    let on = Effect::Send(to.frame(true));
    match &mut app.typing_out {
        Some(typing) if typing.to == to => {
            typing.last_key = now;
            if now.saturating_duration_since(typing.sent_at) >= TYPING_REPEAT {
                typing.sent_at = now;
                out.push(on);
            }
        }
        _ => {
            stop_typing(app, out);
            app.typing_out = Some(TypingOut {
                to,
                sent_at: now,
                last_key: now,
            });
            out.push(on);
        }
    }
}

/// Sends the composer's text to the open conversation (an edit when editing), or says why
/// it cannot. Offline, a new message waits and goes out once connected.
fn send(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let content = app
        .composer
        .text
        .trim_end()
        .trim_start_matches(['\n', '\r'])
        .to_owned();
    if let Draft::Edit { message_id, .. } = app.composer.draft {
        return message::send_edit(app, message_id, content, now, out);
    }
    if content.trim().is_empty() {
        return;
    }
    if app.composer.draft == Draft::New && command::command(app, &content, now, out) {
        stop_typing(app, out);
        app.composer.set(String::new());
        return;
    }
    let Some(conversation_id) = app.open else {
        let text = "open a conversation first (Enter on the list, / to find someone)";
        app.notify(NoticeKind::Error, text, now);
        return;
    };
    if too_long(app, &content, now) {
        return;
    }
    let bytes: usize = app.pending.iter().map(|p| p.content.len()).sum();
    if app.pending.len() >= MAX_PENDING || bytes + content.len() > MAX_PENDING_BYTES {
        let text = "too many messages waiting for the server";
        app.notify(NoticeKind::Error, text, now);
        return;
    }
    stop_typing(app, out);
    let reply_to = match std::mem::take(&mut app.composer.draft) {
        Draft::Reply(to) => Some(to),
        _ => None,
    };
    let mut pending = Pending {
        conversation_id,
        content,
        reply_to,
        client_id: app.next_client_id(),
        sent_at: None,
        sends: 0,
    };
    if app.is_connected() {
        pending.sent_at = Some(now);
        out.push(Effect::Send(pending.frame()));
    } else {
        let text = "not connected: your message goes out once the connection is back";
        app.notify(NoticeKind::Info, text, now);
    }
    app.pending.push(pending);
    app.composer.set(String::new());
    if let Some(thread) = app.threads.get_mut(&conversation_id) {
        thread.scroll = 0;
    }
}

/// Whether `content` is over the server's limit (then it says so).
pub(super) fn too_long(app: &mut App, content: &str, now: Instant) -> bool {
    let length = content.chars().count();
    if length > MAX_CONTENT {
        let text = format!("message too long: {length} characters, at most {MAX_CONTENT}");
        app.notify(NoticeKind::Error, text, now);
    }
    length > MAX_CONTENT
}
