//! Keys, mouse and paste: what each does on each screen and in each pane. Part of `update`:
//! the state changes here, and the effects (frames, a sign-in, quitting) go into `out`.
//!
//! `sign_in` has the form's keys, `panes` the list's, the messages' and the search box's,
//! `composer` the editing and sending, `command` the composer's `/` commands, `scroll` the
//! message pane's scrolling, `group` the group actions (from commands and keys), `links` the
//! link picker.

mod command;
mod composer;
mod group;
mod links;
mod message;
mod panes;
mod scroll;
mod sign_in;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::app::{App, Focus, SEARCH_DEBOUNCE, Screen};
use super::effect::Effect;
use super::layout::{chat_areas, screen_area};

/// Lines per mouse wheel step.
const WHEEL_LINES: i32 = 3;

pub(super) fn key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        out.push(Effect::Quit);
        return;
    }
    match app.screen {
        Screen::SignIn => sign_in::key(app, key, out),
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
        Screen::Chat if app.receipts.is_some() => {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('s') | KeyCode::Enter
            ) {
                app.receipts = None;
            }
        }
        Screen::Chat if app.deleting.is_some() => message::confirm_key(app, key, now, out),
        Screen::Chat if app.reacting.is_some() => message::picker_key(app, key, now, out),
        Screen::Chat if app.links.is_some() => links::picker_key(app, key, now, out),
        Screen::Chat if app.search.is_some() => panes::search_key(app, key, now, out),
        Screen::Chat => chat_key(app, key, now, out),
    }
}

/// Keys that work in every pane of the chat screen, then the focused pane's own.
fn chat_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('f') if ctrl => return panes::open_search(app),
        KeyCode::F(1) => {
            app.help = true;
            return;
        }
        KeyCode::PageUp => return scroll::scroll(app, scroll::page(app), out),
        KeyCode::PageDown => return scroll::scroll(app, -scroll::page(app), out),
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
        Focus::Composer => composer::key(app, key, now, out),
        Focus::List | Focus::Messages => panes::key(app, key, now, out),
    }
}

pub(super) fn mouse(app: &mut App, mouse: MouseEvent, out: &mut Vec<Effect>) {
    if app.screen != Screen::Chat || app.overlay() {
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
                let lines = if up { WHEEL_LINES } else { -WHEEL_LINES };
                scroll::scroll(app, lines, out);
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

pub(super) fn paste(app: &mut App, text: &str, now: Instant, out: &mut Vec<Effect>) {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    match app.screen {
        Screen::SignIn => {
            let field = app.sign_in.field_mut();
            field.extend(
                text.chars()
                    .filter(|c| !c.is_control())
                    .take(sign_in::MAX_FIELD),
            );
        }
        Screen::Chat => {
            if let Some(search) = &mut app.search {
                let line = text.lines().next().unwrap_or_default();
                search.query.extend(line.chars().take(panes::MAX_QUERY));
                search.due = Some(now + SEARCH_DEBOUNCE);
            } else if app.focus == Focus::Composer && !app.overlay() {
                composer::insert(app, &text);
                composer::typing_key(app, now, out);
            }
        }
    }
}
