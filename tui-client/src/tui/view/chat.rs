//! The chat screen's panes: the conversation list, the open conversation, who is typing, the
//! composer and the status bar.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Alignment, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::presence;
use super::widgets::{pane, placeholder};
use crate::tui::app::{App, Conn, ConvItem, ConvKind, Draft, Focus, NoticeKind};
use crate::tui::lines::{hard_wrap, quote, sanitize, thread_lines, truncate, window};

pub(super) fn conversation_list(app: &App, frame: &mut Frame, area: Rect) {
    let block = pane(
        " Chats ".into(),
        app.focus == Focus::List && app.search.is_none(),
    );
    let width = usize::from(area.width.saturating_sub(2));
    if app.conversations.is_empty() {
        let text = if app.is_connected() {
            "No conversations.\nPress / to find someone."
        } else {
            ""
        };
        frame.render_widget(placeholder(text, block), area);
        return;
    }
    // Names stay in one column: a row without a dot gets its room when another has one.
    let dots: Vec<Option<Span>> = app
        .conversations
        .iter()
        .map(|c| presence::dot(app, c))
        .collect();
    let any_dot = dots.iter().any(Option::is_some);
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .zip(dots)
        .map(|(c, dot)| {
            let dot = dot.or_else(|| any_dot.then(|| Span::raw("  ")));
            // The preview stands under the name.
            let indent = " ".repeat(2 + dot.as_ref().map_or(0, Span::width));
            let open = app.open == Some(c.id);
            let badge = if c.unread > 0 {
                format!(" ({})", c.unread)
            } else {
                String::new()
            };
            let marker = if open { "▶ " } else { "  " };
            let about = about(c);
            let dot_width = dot.as_ref().map_or(0, Span::width);
            let name_width =
                width.saturating_sub(marker.len() + dot_width + about.width() + badge.len());
            let mut name_style = Style::default();
            if c.unread > 0 {
                name_style = name_style.add_modifier(Modifier::BOLD);
            }
            let name = Line::from_iter(
                [
                    Some(Span::raw(marker)),
                    dot,
                    Some(Span::styled(
                        truncate(&sanitize(c.name()), name_width),
                        name_style,
                    )),
                    Some(Span::styled(about, Style::default().fg(Color::DarkGray))),
                    Some(Span::styled(
                        badge,
                        Style::default()
                            .fg(Color::Magenta)
                            .add_modifier(Modifier::BOLD),
                    )),
                ]
                .into_iter()
                .flatten(),
            );
            let preview = if !app.typing_names(c).is_empty() {
                Span::styled(
                    truncate(&format!("{indent}typing…"), width),
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::ITALIC),
                )
            } else {
                let text = c.preview.as_deref().map(sanitize).unwrap_or_default();
                let style = if c.unread > 0 {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(Color::DarkGray)
                };
                Span::styled(truncate(&format!("{indent}{text}"), width), style)
            };
            ListItem::new(vec![name, Line::from(preview)])
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_style(Style::default().bg(Color::DarkGray));
    let mut state = ListState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(list, area, &mut state);
}

pub(super) fn messages(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Messages && app.search.is_none();
    let (Some(conv), Some(thread)) = (app.open, app.open_thread()) else {
        let block = pane(" Messages ".into(), focused);
        let text = "Select a conversation and press Enter, or press / to find someone.";
        frame.render_widget(placeholder(text, block), area);
        return;
    };
    let title = app
        .open_conversation()
        .map_or_else(|| " Messages ".into(), |c| title(app, c, area.width));
    let block = pane(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = thread_lines(app, conv, thread, inner.width);
    let shown = window(lines.len(), thread.scroll, usize::from(inner.height));
    let scroll = lines.len() - shown.end;
    let visible: Vec<Line> = lines[shown].to_vec();
    frame.render_widget(Paragraph::new(visible), inner);
    if scroll > 0 {
        let note = format!(" ↓ {scroll} more ");
        let width = (note.chars().count() as u16).min(area.width);
        let at = Rect::new(
            area.right().saturating_sub(width + 1),
            area.bottom().saturating_sub(1),
            width,
            1,
        );
        frame.render_widget(Span::styled(note, Style::default().fg(Color::Magenta)), at);
    }
}

/// The open conversation's pane title: its name, a group's member count, who is online,
/// "muted". In a narrow pane "last seen" becomes "seen" before the name gives way.
fn title(app: &App, item: &ConvItem, width: u16) -> String {
    let name = sanitize(item.name());
    let about = |short| {
        let mut about = String::new();
        if let ConvKind::Group { members, .. } = &item.kind {
            about.push_str(&format!(" · {} members", members.len()));
        }
        if let Some(presence) = presence::about(app, item, short) {
            about.push_str(&format!(" · {presence}"));
        }
        if item.muted {
            about.push_str(" · muted");
        }
        about
    };
    // The borders and a space either side.
    let room = |about: &str| usize::from(width.saturating_sub(4)).saturating_sub(about.width());
    let mut text = about(false);
    if room(&text) < name.width().min(8) {
        text = about(true);
    }
    format!(" {}{text} ", truncate(&name, room(&text).max(2)))
}

/// What the list says after a conversation's name: a group's member count, "muted".
fn about(item: &ConvItem) -> String {
    let mut about = String::new();
    if let ConvKind::Group { members, .. } = &item.kind {
        about.push_str(&format!(" · {}", members.len()));
    }
    if item.muted {
        about.push_str(" · muted");
    }
    about
}

/// "bob is typing…", "alice and bob are typing…", "alice, bob and carol are typing…".
fn typing_text(names: &[&str]) -> Option<String> {
    let names: Vec<String> = names.iter().map(|n| sanitize(n)).collect();
    let text = match names.as_slice() {
        [] => return None,
        [one] => format!("{one} is typing…"),
        [first @ .., last] => format!("{} and {last} are typing…", first.join(", ")),
    };
    Some(text)
}

/// Who is typing; else, while the messages pane has the keyboard, what its keys do.
pub(super) fn typing(app: &App, frame: &mut Frame, area: Rect) {
    let (text, style) = match typing_text(&app.typing_in_open()) {
        Some(text) => (
            format!(" {text}"),
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::ITALIC),
        ),
        None if app.focus == Focus::Messages && app.open.is_some() && !app.overlay() => (
            " ↑↓ · r reply · e edit · d delete · + react · s seen · o links".to_owned(),
            Style::default().fg(Color::DarkGray),
        ),
        None => return,
    };
    frame.render_widget(
        Span::styled(truncate(&text, usize::from(area.width)), style),
        area,
    );
}

pub(super) fn composer(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Composer && !app.overlay();
    let title = match (&app.composer.draft, focused) {
        (Draft::Edit { .. }, true) => " Edit · Enter save · Esc cancel ",
        (Draft::Reply(_), true) => " Reply · Enter send · Esc cancel ",
        (Draft::New, true) => " Message · Enter send · Alt-Enter new line ",
        (_, false) => " Message ",
    };
    let block = pane(title.into(), focused);
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    let about = match &app.composer.draft {
        Draft::New => None,
        Draft::Reply(to) => Some(format!(
            "↳ replying to {}",
            quote(to).trim_start_matches("↳ ")
        )),
        Draft::Edit { .. } => Some("✎ editing your message".to_owned()),
    };
    if let Some(about) = about
        && inner.height > 1
    {
        let line = Rect::new(inner.x, inner.y, inner.width, 1);
        let style = Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::ITALIC);
        let text = truncate(&about, usize::from(inner.width));
        frame.render_widget(Span::styled(text, style), line);
        inner.y += 1;
        inner.height -= 1;
    }
    let (lines, (col, row)) = hard_wrap(
        &app.composer.text,
        app.composer.cursor,
        usize::from(inner.width),
    );
    let height = usize::from(inner.height).max(1);
    let first = (row + 1).saturating_sub(height);
    let visible: Vec<Line> = lines
        .into_iter()
        .skip(first)
        .take(height)
        .map(Line::from)
        .collect();
    if visible.iter().all(|l| l.width() == 0) && !focused {
        let hint = if app.open.is_some() {
            "Tab or i to write"
        } else {
            ""
        };
        frame.render_widget(
            Span::styled(hint, Style::default().fg(Color::DarkGray)),
            inner,
        );
    } else {
        frame.render_widget(Paragraph::new(visible), inner);
    }
    if focused && inner.width > 0 && inner.height > 0 {
        let x = inner.x + (col as u16).min(inner.width - 1);
        let y = inner.y + ((row - first) as u16).min(inner.height - 1);
        frame.set_cursor_position(Position::new(x, y));
    }
}

pub(super) fn status_bar(app: &App, frame: &mut Frame, area: Rect) {
    let user = app
        .me
        .as_ref()
        .map(|u| sanitize(&u.username))
        .unwrap_or_default();
    let (dot, state, color) = match &app.conn {
        Conn::Offline => ("○", "offline".to_owned(), Color::DarkGray),
        Conn::Connecting => ("◌", "connecting…".to_owned(), Color::Yellow),
        Conn::Connected => ("●", "connected".to_owned(), Color::Green),
        Conn::Disconnected { reason, retry_at } => {
            let left = app.now.map_or(Duration::ZERO, |now| {
                retry_at.saturating_duration_since(now)
            });
            let when = if left.is_zero() {
                "retrying now".to_owned()
            } else {
                format!("retrying in {}s", left.as_millis().div_ceil(1000))
            };
            let state = format!("disconnected: {when} ({})", sanitize(reason));
            ("○", state, Color::Red)
        }
    };
    let server = app
        .server
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    // Beside our name, so it shows however long the connection's text.
    let hidden = if app.presence_visible {
        ""
    } else {
        " (hidden)"
    };
    let left = Line::from(vec![
        Span::styled(
            format!(" {user}"),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(hidden, Style::default().fg(Color::Yellow)),
        Span::raw(format!(" @ {server} ")),
        Span::styled(format!("{dot} {state}"), Style::default().fg(color)),
    ]);
    let right = match &app.notice {
        Some(n) => Span::styled(
            format!("{} ", sanitize(&n.text)),
            match n.kind {
                NoticeKind::Error => Style::default().fg(Color::White).bg(Color::Red),
                NoticeKind::Info => Style::default().fg(Color::Black).bg(Color::Cyan),
            },
        ),
        None => Span::styled(
            format!(
                "{}? help ",
                if app.bell_enabled { "" } else { "bell off · " }
            ),
            Style::default().fg(Color::DarkGray),
        ),
    };
    let left_width = left.width() as u16;
    let mut right_width = right.width() as u16;
    if app.notice.is_some() {
        // A notice wins over the connection text, but leaves it a third of the bar.
        right_width = right_width.min(area.width - area.width / 3);
    } else if left_width + right_width > area.width {
        right_width = 0;
    }
    let left_width = area.width.saturating_sub(right_width);
    frame.render_widget(
        Paragraph::new(left),
        Rect::new(area.x, area.y, left_width, 1),
    );
    frame.render_widget(
        Paragraph::new(Line::from(right)).alignment(Alignment::Right),
        Rect::new(area.x + left_width, area.y, right_width, 1),
    );
}
