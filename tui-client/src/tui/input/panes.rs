//! The keys of the conversation list, the message pane and the search box.

use std::time::Instant;

use chat_shared::ClientMsg;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::scroll::scroll;
use super::{group, links, message};
use crate::tui::app::{App, Focus, NoticeKind, SEARCH_DEBOUNCE, Search};
use crate::tui::conversation::open;
use crate::tui::effect::Effect;

/// The longest query the search box takes.
pub(super) const MAX_QUERY: usize = 150;

/// Keys shared by the list and message panes, then each one's own.
pub(super) fn key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return;
    }
    match key.code {
        KeyCode::Char('q') => out.push(Effect::Quit),
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
            app.notify(NoticeKind::Info, text, now);
        }
        KeyCode::Char('m') => {
            let conversation = match app.focus {
                Focus::List => app.conversations.get(app.selected).map(|c| c.id),
                _ => app.open,
            };
            group::toggle_mute(app, conversation, now, out);
        }
        _ if app.focus == Focus::List => list_key(app, key, now, out),
        _ => messages_key(app, key, now, out),
    }
}

fn list_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
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

fn messages_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    match key.code {
        KeyCode::Char('s') => group::ask_receipts(app, now, out),
        KeyCode::Char('r') => message::reply(app, now),
        KeyCode::Char('e') => message::edit(app, now),
        KeyCode::Char('d') => message::ask_delete(app, now),
        KeyCode::Char('+') => message::open_reactions(app, now),
        KeyCode::Char('o') => links::open_picker(app, now),
        KeyCode::Up | KeyCode::Char('k') => message::select(app, true, out),
        KeyCode::Down | KeyCode::Char('j') => message::select(app, false, out),
        KeyCode::Char('g') | KeyCode::Home => scroll(app, i32::from(u16::MAX), out),
        KeyCode::Char('G') | KeyCode::End => scroll(app, -i32::from(u16::MAX), out),
        KeyCode::Esc if message::unselect(app) => {}
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => app.focus = Focus::List,
        _ => {}
    }
}

pub(super) fn open_search(app: &mut App) {
    app.search = Some(Search::default());
}

pub(super) fn search_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let Some(search) = &mut app.search else {
        return;
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let next = (search.selected + 1).min(search.results.len().saturating_sub(1));
    let previous = search.selected.saturating_sub(1);
    match key.code {
        KeyCode::Esc => app.search = None,
        KeyCode::Down | KeyCode::Tab => search.selected = next,
        KeyCode::Char('n') if ctrl => search.selected = next,
        KeyCode::Up | KeyCode::BackTab => search.selected = previous,
        KeyCode::Char('p') if ctrl => search.selected = previous,
        KeyCode::Backspace => {
            search.query.pop();
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Char('u') if ctrl => {
            search.query.clear();
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Char(c) if !ctrl && search.query.chars().count() < MAX_QUERY => {
            search.query.push(c);
            search.due = Some(now + SEARCH_DEBOUNCE);
        }
        KeyCode::Char('d') if ctrl && search.pick.is_some() => group::finish_pick(app, now, out),
        KeyCode::Enter if search.pick.is_some() => group::toggle_pick(app),
        KeyCode::Enter => choose_search_result(app, now, out),
        _ => {}
    }
}

/// Opens the conversation with the chosen person, or asks the server to start one.
fn choose_search_result(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let Some(user) = app
        .search
        .as_ref()
        .and_then(|s| s.results.get(s.selected))
        .cloned()
    else {
        return;
    };
    if let Some(conv) = app
        .conversations
        .iter()
        .find(|c| c.peer().is_some_and(|p| p.id == user.id))
    {
        let id = conv.id;
        app.search = None;
        open(app, id, now, out);
    } else if app.is_connected() {
        app.starting = Some(user.id);
        out.push(Effect::Send(ClientMsg::StartConversation {
            receiver_id: user.id,
        }));
    } else {
        app.notify(
            NoticeKind::Error,
            "not connected: try again in a moment",
            now,
        );
    }
}
