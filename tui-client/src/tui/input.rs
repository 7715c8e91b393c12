//! Keys, mouse and paste: what each does on each screen and in each pane. Part of `update`.

use std::time::Instant;

use chat_shared::ClientMsg;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::app::{
    App, AuthRequest, Fetch, Field, Focus, MAX_CONTENT, MAX_THREAD, NoticeKind, PAGE, Pending,
    SEARCH_DEBOUNCE, Screen, Search, TYPING_REPEAT, TypingOut,
};
use super::layout::{chat_areas, screen_area};
use super::lines::thread_lines;
use super::update::{notify, open, stop_typing};

/// At most this many sent messages wait for the server's echo.
const MAX_PENDING: usize = 100;
/// Lines per mouse wheel step.
const WHEEL_LINES: i32 = 3;

pub(super) fn key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        app.quit = true;
        return;
    }
    match app.screen {
        Screen::SignIn => sign_in_key(app, key),
        Screen::Chat if app.help => {
            if matches!(
                key.code,
                KeyCode::Esc
                    | KeyCode::Char('?')
                    | KeyCode::Char('q')
                    | KeyCode::Enter
                    | KeyCode::F(1)
            ) {
                app.help = false;
            }
        }
        Screen::Chat if app.search.is_some() => search_key(app, key, now, out),
        Screen::Chat => chat_key(app, key, now, out),
    }
}

fn sign_in_key(app: &mut App, key: KeyEvent) {
    let form = &mut app.sign_in;
    if form.busy {
        if key.code == KeyCode::Esc {
            app.quit = true;
        }
        return;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let field = match form.field {
        Field::Server => &mut form.server,
        Field::Username => &mut form.username,
        Field::Password => &mut form.password,
    };
    match key.code {
        KeyCode::Esc => app.quit = true,
        KeyCode::Char('r') if ctrl => form.register = !form.register,
        KeyCode::Char('u') if ctrl => field.clear(),
        KeyCode::Tab | KeyCode::Down => form.field = next_field(form.field),
        KeyCode::BackTab | KeyCode::Up => {
            form.field = next_field(next_field(form.field));
        }
        KeyCode::Backspace => {
            field.pop();
        }
        KeyCode::Char(c) if !ctrl && field.chars().count() < 512 => field.push(c),
        KeyCode::Enter => submit_sign_in(app),
        _ => {}
    }
}

fn next_field(field: Field) -> Field {
    match field {
        Field::Server => Field::Username,
        Field::Username => Field::Password,
        Field::Password => Field::Server,
    }
}

fn submit_sign_in(app: &mut App) {
    let form = &mut app.sign_in;
    let empty = [
        (
            Field::Server,
            form.server.trim().is_empty(),
            "the server URL",
        ),
        (
            Field::Username,
            form.username.trim().is_empty(),
            "a username",
        ),
        (Field::Password, form.password.is_empty(), "a password"),
    ]
    .into_iter()
    .find(|(_, empty, _)| *empty);
    if let Some((field, _, what)) = empty {
        if form.field == field {
            form.message = Some(format!("Please enter {what}."));
        }
        form.field = field;
        return;
    }
    if form.register && form.password.chars().count() < 8 {
        form.message = Some("The password needs at least 8 characters.".into());
        form.field = Field::Password;
        return;
    }
    form.busy = true;
    form.message = None;
    app.auth_request = Some(AuthRequest {
        server: form.server.trim().to_owned(),
        username: form.username.trim().to_owned(),
        password: form.password.clone(),
        register: form.register,
    });
}

fn search_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    let Some(search) = &mut app.search else {
        return;
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => app.search = None,
        KeyCode::Down | KeyCode::Tab => {
            search.selected = (search.selected + 1).min(search.results.len().saturating_sub(1));
        }
        KeyCode::Char('n') if ctrl => {
            search.selected = (search.selected + 1).min(search.results.len().saturating_sub(1));
        }
        KeyCode::Up | KeyCode::BackTab => search.selected = search.selected.saturating_sub(1),
        KeyCode::Char('p') if ctrl => search.selected = search.selected.saturating_sub(1),
        KeyCode::Backspace => {
            search.query.pop();
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Char('u') if ctrl => {
            search.query.clear();
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Char(c) if !ctrl && search.query.chars().count() < 150 => {
            search.query.push(c);
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Enter => choose_search_result(app, now, out),
        _ => {}
    }
}

fn choose_search_result(app: &mut App, now: Instant, out: &mut Vec<ClientMsg>) {
    let Some(user) = app
        .search
        .as_ref()
        .and_then(|s| s.results.get(s.selected))
        .cloned()
    else {
        return;
    };
    if let Some(conv) = app.conversations.iter().find(|c| c.peer.id == user.id) {
        let id = conv.id;
        app.search = None;
        open(app, id, now, out);
    } else if app.is_connected() {
        app.starting = Some(user.id);
        out.push(ClientMsg::StartConversation {
            receiver_id: user.id,
        });
    } else {
        notify(
            app,
            NoticeKind::Error,
            "not connected: try again in a moment",
            now,
        );
    }
}

fn chat_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('f') if ctrl => return open_search(app),
        KeyCode::F(1) => {
            app.help = true;
            return;
        }
        KeyCode::PageUp => return scroll(app, page(app), out),
        KeyCode::PageDown => return scroll(app, -page(app), out),
        KeyCode::Tab => {
            app.focus = match app.focus {
                Focus::List => Focus::Messages,
                Focus::Messages => Focus::Composer,
                Focus::Composer => Focus::List,
            };
            return;
        }
        KeyCode::BackTab => {
            app.focus = match app.focus {
                Focus::List => Focus::Composer,
                Focus::Messages => Focus::List,
                Focus::Composer => Focus::Messages,
            };
            return;
        }
        _ => {}
    }
    match app.focus {
        Focus::Composer => composer_key(app, key, now, out),
        Focus::List | Focus::Messages => pane_key(app, key, now, out),
    }
}

/// Keys shared by the list and message panes, then each one's own.
fn pane_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return;
    }
    match key.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('?') => app.help = true,
        KeyCode::Char('/') => open_search(app),
        KeyCode::Char('i') => app.focus = Focus::Composer,
        KeyCode::Char('b') => {
            app.bell_enabled = !app.bell_enabled;
            let text = if app.bell_enabled {
                "bell on"
            } else {
                "bell off"
            };
            notify(app, NoticeKind::Info, text, now);
        }
        _ if app.focus == Focus::List => list_key(app, key, now, out),
        _ => messages_key(app, key, out),
    }
}

fn list_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    let last = app.conversations.len().saturating_sub(1);
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => app.selected = (app.selected + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => app.selected = app.selected.saturating_sub(1),
        KeyCode::Home | KeyCode::Char('g') => app.selected = 0,
        KeyCode::End | KeyCode::Char('G') => app.selected = last,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
            if let Some(conv) = app.conversations.get(app.selected) {
                let id = conv.id;
                open(app, id, now, out);
            }
        }
        _ => {}
    }
}

fn messages_key(app: &mut App, key: KeyEvent, out: &mut Vec<ClientMsg>) {
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => scroll(app, 1, out),
        KeyCode::Down | KeyCode::Char('j') => scroll(app, -1, out),
        KeyCode::Char('g') | KeyCode::Home => scroll(app, i32::from(u16::MAX), out),
        KeyCode::Char('G') | KeyCode::End => scroll(app, -i32::from(u16::MAX), out),
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => app.focus = Focus::List,
        _ => {}
    }
}

fn composer_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<ClientMsg>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let composer = &mut app.composer;
    let len = composer.text.chars().count();
    let edited = match key.code {
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
    if edited {
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
fn insert(app: &mut App, text: &str) {
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
fn typing_key(app: &mut App, now: Instant, out: &mut Vec<ClientMsg>) {
    let me = app.my_id();
    let Some(receiver_id) = app.open_conversation().map(|c| c.peer.id) else {
        return;
    };
    if receiver_id == me || !app.is_connected() {
        return;
    }
    match &mut app.typing_out {
        Some(typing) if typing.receiver_id == receiver_id => {
            typing.last_key = now;
            if now.saturating_duration_since(typing.sent_at) >= TYPING_REPEAT {
                typing.sent_at = now;
                out.push(ClientMsg::Typing {
                    receiver_id,
                    is_typing: true,
                });
            }
        }
        _ => {
            stop_typing(app, out);
            app.typing_out = Some(TypingOut {
                receiver_id,
                sent_at: now,
                last_key: now,
            });
            out.push(ClientMsg::Typing {
                receiver_id,
                is_typing: true,
            });
        }
    }
}

/// Sends the composer's text to the open conversation.
fn send(app: &mut App, now: Instant, out: &mut Vec<ClientMsg>) {
    let content = app
        .composer
        .text
        .trim_end()
        .trim_start_matches(['\n', '\r'])
        .to_owned();
    if content.trim().is_empty() {
        return;
    }
    let Some(conversation_id) = app.open else {
        notify(
            app,
            NoticeKind::Error,
            "open a conversation first (Enter on the list, / to find someone)",
            now,
        );
        return;
    };
    if !app.is_connected() {
        notify(
            app,
            NoticeKind::Error,
            "not connected: your message stays here until the connection is back",
            now,
        );
        return;
    }
    let length = content.chars().count();
    if length > MAX_CONTENT {
        notify(
            app,
            NoticeKind::Error,
            format!("message too long: {length} characters, at most {MAX_CONTENT}"),
            now,
        );
        return;
    }
    if app.pending.len() >= MAX_PENDING {
        notify(
            app,
            NoticeKind::Error,
            "too many messages waiting for the server",
            now,
        );
        return;
    }
    stop_typing(app, out);
    out.push(ClientMsg::Message {
        conversation_id,
        content: content.clone(),
    });
    app.pending.push(Pending {
        conversation_id,
        content,
        sent_at: now,
    });
    app.composer.text.clear();
    app.composer.cursor = 0;
    if let Some(thread) = app.threads.get_mut(&conversation_id) {
        thread.scroll = 0;
    }
}

fn open_search(app: &mut App) {
    app.search = Some(Search::default());
}

/// A page of scrolling: the message pane's height less two lines of context.
fn page(app: &App) -> i32 {
    let areas = chat_areas(app, screen_area(app));
    i32::from(areas.messages.height.saturating_sub(4).max(1))
}

/// Scrolls the open conversation by `delta` lines (positive is up, towards older messages).
/// Reaching the top asks the server for the page before the oldest message loaded.
fn scroll(app: &mut App, delta: i32, out: &mut Vec<ClientMsg>) {
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
        out.push(ClientMsg::GetMessages {
            conversation_id: conv,
            before_id: Some(oldest),
            limit: Some(PAGE),
        });
    }
}

pub(super) fn mouse(app: &mut App, mouse: MouseEvent, out: &mut Vec<ClientMsg>) {
    if app.screen != Screen::Chat || app.help || app.search.is_some() {
        return;
    }
    let areas = chat_areas(app, screen_area(app));
    let at = Position::new(mouse.column, mouse.row);
    match mouse.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let up = mouse.kind == MouseEventKind::ScrollUp;
            if areas.list.contains(at) {
                let last = app.conversations.len().saturating_sub(1);
                app.selected = if up {
                    app.selected.saturating_sub(1)
                } else {
                    (app.selected + 1).min(last)
                };
            } else {
                scroll(app, if up { WHEEL_LINES } else { -WHEEL_LINES }, out);
            }
        }
        MouseEventKind::Down(_) => {
            if areas.list.contains(at) {
                app.focus = Focus::List;
            } else if areas.composer.contains(at) {
                app.focus = Focus::Composer;
            } else if areas.messages.contains(at) {
                app.focus = Focus::Messages;
            }
        }
        _ => {}
    }
}

pub(super) fn paste(app: &mut App, text: &str, now: Instant, out: &mut Vec<ClientMsg>) {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    match app.screen {
        Screen::SignIn => {
            let form = &mut app.sign_in;
            let field = match form.field {
                Field::Server => &mut form.server,
                Field::Username => &mut form.username,
                Field::Password => &mut form.password,
            };
            field.extend(text.chars().filter(|c| !c.is_control()).take(512));
        }
        Screen::Chat => {
            if let Some(search) = &mut app.search {
                let line = text.lines().next().unwrap_or_default();
                search.query.extend(line.chars().take(150));
                search.due = Some(now + SEARCH_DEBOUNCE);
            } else if app.focus == Focus::Composer && !app.help {
                insert(app, &text);
                typing_key(app, now, out);
            }
        }
    }
}
