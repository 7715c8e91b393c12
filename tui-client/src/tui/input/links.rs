//! The link picker (`o` in the messages pane): the links of the chosen message, else of the
//! messages on screen, numbered; a number or Enter opens one, `y` copies it, Esc closes.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::{App, LinkPicker, NoticeKind};
use crate::tui::effect::Effect;
use crate::tui::layout::{chat_areas, screen_area};
use crate::tui::lines::{thread_layout, window};
use crate::tui::markdown::{self, Link};

/// `o`: opens the picker, or says there is nothing to pick.
pub(super) fn open_picker(app: &mut App, now: Instant) {
    let chosen = app.selected_message().is_some();
    let links = links_in_view(app);
    if links.is_empty() {
        let text = if chosen {
            "no links in the chosen message"
        } else {
            "no links in the messages on screen"
        };
        app.notify(NoticeKind::Info, text, now);
        return;
    }
    app.links = Some(LinkPicker {
        links,
        highlighted: 0,
    });
}

/// The links of the chosen message; without one, those of every message with a line on
/// screen, oldest first, each address once.
fn links_in_view(app: &App) -> Vec<Link> {
    if let Some(message) = app.selected_message() {
        return alive_links(message);
    }
    let (Some(conv), Some(thread)) = (app.open, app.open_thread()) else {
        return Vec::new();
    };
    let areas = chat_areas(app, screen_area(app));
    let width = areas.messages.width.saturating_sub(2);
    let height = usize::from(areas.messages.height.saturating_sub(2));
    let (lines, spans) = thread_layout(app, conv, thread, width);
    let shown = window(lines.len(), thread.scroll, height);
    let mut links: Vec<Link> = Vec::new();
    for (id, range) in spans {
        if range.end <= shown.start || range.start >= shown.end {
            continue;
        }
        let Some(message) = thread.messages.iter().find(|m| m.id == id) else {
            continue;
        };
        for link in alive_links(message) {
            if !links.iter().any(|l| l.url == link.url) {
                links.push(link);
            }
        }
    }
    links
}

fn alive_links(message: &chat_shared::ChatMessage) -> Vec<Link> {
    if message.is_deleted() || message.is_system {
        return Vec::new();
    }
    markdown::links(&message.content)
}

/// The picker's keys: ↑ ↓ (k j) move, 1–9 or Enter open, y copies, Esc (q, o) closes.
pub(super) fn picker_key(app: &mut App, key: KeyEvent, now: Instant, out: &mut Vec<Effect>) {
    let Some(picker) = &mut app.links else {
        return;
    };
    let last = picker.links.len().saturating_sub(1);
    let (index, copy) = match key.code {
        KeyCode::Esc | KeyCode::Char('q' | 'o') => {
            app.links = None;
            return;
        }
        KeyCode::Up | KeyCode::Char('k') => {
            picker.highlighted = picker.highlighted.saturating_sub(1);
            return;
        }
        KeyCode::Down | KeyCode::Char('j') => {
            picker.highlighted = (picker.highlighted + 1).min(last);
            return;
        }
        KeyCode::Char(c @ '1'..='9') => (usize::from(c as u8 - b'1'), false),
        KeyCode::Enter => (picker.highlighted, false),
        KeyCode::Char('y') => (picker.highlighted, true),
        _ => return,
    };
    let Some(link) = picker.links.get(index) else {
        return;
    };
    let url = link.url.clone();
    app.links = None;
    let text = if copy {
        out.push(Effect::Copy(url.clone()));
        format!("copied {url}")
    } else {
        out.push(Effect::Open(url.clone()));
        format!("opening {url}")
    };
    app.notify(NoticeKind::Info, crate::text::sanitize(&text), now);
}
