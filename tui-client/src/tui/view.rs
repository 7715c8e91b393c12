//! `render`: draws the app from its state, one small function per screen area. Reads `App`
//! only; never waits on anything.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap,
};

use super::app::{App, Conn, Field, Focus, NoticeKind, Screen};
use super::lines::{hard_wrap, sanitize, thread_lines, truncate};

/// Below this size only a "too small" note is drawn.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;
/// The composer grows with its text up to this many lines.
const COMPOSER_MAX_LINES: usize = 6;

/// Where each part of the chat screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatAreas {
    pub list: Rect,
    pub messages: Rect,
    pub typing: Rect,
    pub composer: Rect,
    pub status: Rect,
}

/// Splits the terminal for the chat screen (also used by `update` for scrolling and the mouse).
pub fn chat_areas(app: &App, area: Rect) -> ChatAreas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let list_width = (main.width / 3).clamp(16, 32);
    let [list, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(1)]).areas(main);
    let inner = right.width.saturating_sub(2);
    let (text_lines, _) = hard_wrap(&app.composer.text, app.composer.cursor, usize::from(inner));
    let height = text_lines.len().clamp(1, COMPOSER_MAX_LINES) as u16 + 2;
    let [messages, typing, composer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(height),
    ])
    .areas(right);
    ChatAreas {
        list,
        messages,
        typing,
        composer,
        status,
    }
}

/// The whole screen as the terminal size in `app.size` makes it.
pub fn screen_area(app: &App) -> Rect {
    Rect::new(0, 0, app.size.0, app.size.1)
}

/// Draws the app.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let note = format!(
            "Terminal too small ({}×{}); need {MIN_WIDTH}×{MIN_HEIGHT}. q quits.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), area);
        return;
    }
    match app.screen {
        Screen::SignIn => sign_in(app, frame, area),
        Screen::Chat => {
            let areas = chat_areas(app, area);
            conversation_list(app, frame, areas.list);
            messages(app, frame, areas.messages);
            typing(app, frame, areas.typing);
            composer(app, frame, areas.composer);
            status_bar(app, frame, areas.status);
            if app.search.is_some() {
                search(app, frame, area);
            }
            if app.help {
                help(frame, area);
            }
        }
    }
}

fn pane(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

fn conversation_list(app: &App, frame: &mut Frame, area: Rect) {
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
        frame.render_widget(
            Paragraph::new(text)
                .style(Style::default().fg(Color::DarkGray))
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            let open = app.open == Some(c.id);
            let badge = if c.unread > 0 {
                format!(" ({})", c.unread)
            } else {
                String::new()
            };
            let marker = if open { "▶ " } else { "  " };
            let name_width = width.saturating_sub(marker.len() + badge.len());
            let mut name_style = Style::default();
            if c.unread > 0 {
                name_style = name_style.add_modifier(Modifier::BOLD);
            }
            let name = Line::from(vec![
                Span::raw(marker),
                Span::styled(
                    truncate(&sanitize(&c.peer.username), name_width),
                    name_style,
                ),
                Span::styled(
                    badge,
                    Style::default()
                        .fg(Color::Magenta)
                        .add_modifier(Modifier::BOLD),
                ),
            ]);
            let preview = if app.typing_in.contains_key(&c.peer.id) {
                Span::styled(
                    truncate("  typing…", width),
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
                Span::styled(truncate(&format!("  {text}"), width), style)
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

fn messages(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Messages && app.search.is_none();
    let (Some(conv), Some(thread)) = (app.open, app.open_thread()) else {
        let block = pane(" Messages ".into(), focused);
        let text = "Select a conversation and press Enter, or press / to find someone.";
        frame.render_widget(
            Paragraph::new(text)
                .style(Style::default().fg(Color::DarkGray))
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    let title = app
        .open_conversation()
        .map(|c| format!(" {} ", sanitize(&c.peer.username)))
        .unwrap_or_else(|| " Messages ".into());
    let block = pane(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = thread_lines(app, conv, thread, inner.width);
    let height = usize::from(inner.height);
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = usize::from(thread.scroll).min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = lines[start..end].to_vec();
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

fn typing(app: &App, frame: &mut Frame, area: Rect) {
    if let Some(name) = app.typing_peer() {
        let text = format!(" {} is typing…", sanitize(name));
        frame.render_widget(
            Span::styled(
                truncate(&text, usize::from(area.width)),
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::ITALIC),
            ),
            area,
        );
    }
}

fn composer(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Composer && app.search.is_none() && !app.help;
    let title = if focused {
        " Message · Enter send · Alt-Enter new line "
    } else {
        " Message "
    };
    let block = pane(title.into(), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
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

fn status_bar(app: &App, frame: &mut Frame, area: Rect) {
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
    let left = Line::from(vec![
        Span::styled(
            format!(" {user}"),
            Style::default().add_modifier(Modifier::BOLD),
        ),
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

/// A rectangle of at most `width`×`height` centred in `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

fn search(app: &App, frame: &mut Frame, area: Rect) {
    let Some(search) = &app.search else {
        return;
    };
    let popup = centered(area, 50, 16);
    frame.render_widget(Clear, popup);
    let block = pane(" Find someone · Enter chat · Esc close ".into(), true);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [input, results] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
    let query = sanitize(&search.query);
    frame.render_widget(
        Line::from(vec![Span::raw("name: "), Span::raw(query.clone())]),
        input,
    );
    let x = input.x + 6 + unicode_width::UnicodeWidthStr::width(query.as_str()) as u16;
    frame.set_cursor_position(Position::new(
        x.min(input.right().saturating_sub(1)),
        input.y,
    ));
    if search.results.is_empty() {
        let note = if search.query.trim().is_empty() {
            "Type part of a username."
        } else if search.due.is_some() || search.sent.is_none() {
            "searching…"
        } else {
            "Nobody matches."
        };
        frame.render_widget(
            Span::styled(note, Style::default().fg(Color::DarkGray)),
            results,
        );
        return;
    }
    let width = usize::from(results.width);
    let items: Vec<ListItem> = search
        .results
        .iter()
        .map(|u| {
            let known = app.conversations.iter().any(|c| c.peer.id == u.id);
            let suffix = if known {
                "  (open chat)"
            } else {
                "  (new chat)"
            };
            ListItem::new(Line::from(vec![
                Span::raw(truncate(&sanitize(&u.username), width.saturating_sub(14))),
                Span::styled(suffix, Style::default().fg(Color::DarkGray)),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(search.selected));
    frame.render_stateful_widget(
        List::new(items)
            .highlight_style(Style::default().bg(Color::DarkGray))
            .highlight_symbol("› "),
        results,
        &mut state,
    );
}

/// Every key, as the help overlay lists it.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("j k / ↓ ↑", "move in the list, scroll messages"),
    ("Enter", "open the chat (list) · send (composer)"),
    ("Alt-Enter / Ctrl-J", "new line in the composer"),
    ("i", "write in the open chat"),
    ("Esc", "leave the composer / close a box"),
    ("/  or Ctrl-F", "find someone, start a chat"),
    ("PgUp PgDn, wheel", "scroll messages (top: older ones)"),
    ("g / G", "first / last chat, oldest / newest message"),
    ("b", "bell on new messages: on / off"),
    ("?  or F1", "this help"),
    ("q / Ctrl-C", "quit"),
];

fn help(frame: &mut Frame, area: Rect) {
    let popup = centered(area, 66, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<20}"), Style::default().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(" Keys · Esc closes ".into(), true)),
        popup,
    );
}

fn sign_in(app: &App, frame: &mut Frame, area: Rect) {
    let form = &app.sign_in;
    let popup = centered(area, 64, 14);
    let title = if form.register {
        " chat · create an account "
    } else {
        " chat · sign in "
    };
    let block = pane(title.into(), true);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .split(inner);
    let masked = "•".repeat(form.password.chars().count());
    let fields = [
        (Field::Server, "Server  ", form.server.as_str(), rows[0]),
        (Field::Username, "Username", form.username.as_str(), rows[2]),
        (Field::Password, "Password", masked.as_str(), rows[4]),
    ];
    for (field, label, value, row) in fields {
        let active = form.field == field;
        let style = if active {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let value = sanitize(value);
        let width = usize::from(row.width.saturating_sub(12));
        let shown = truncate(&value, width);
        frame.render_widget(
            Line::from(vec![
                Span::styled(format!(" {label}  "), style),
                Span::styled(
                    shown.clone(),
                    Style::default().add_modifier(Modifier::UNDERLINED),
                ),
            ]),
            row,
        );
        if active && !form.busy {
            let x = row.x + 11 + unicode_width::UnicodeWidthStr::width(shown.as_str()) as u16;
            frame.set_cursor_position(Position::new(x.min(row.right().saturating_sub(1)), row.y));
        }
    }
    let action = if form.register {
        "create account"
    } else {
        "log in"
    };
    let other = if form.register {
        "log in instead"
    } else {
        "register instead"
    };
    let mut text = vec![Line::styled(
        format!(" Enter {action} · Ctrl-R {other} · Tab next · Esc quit"),
        Style::default().fg(Color::DarkGray),
    )];
    if form.busy {
        text.push(Line::styled(
            " working…",
            Style::default().fg(Color::Yellow),
        ));
    } else if let Some(message) = &form.message {
        text.push(Line::styled(
            format!(" {}", sanitize(message)),
            Style::default().fg(Color::Red),
        ));
    }
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), rows[6]);
}

/// Draws the app into an in-memory terminal of `width`×`height` and returns its text, one
/// line per row (for tests and the documentation's screen captures).
pub fn render_to_string(app: &App, width: u16, height: u16) -> String {
    use ratatui::{Terminal, backend::TestBackend};
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(terminal) => terminal,
        Err(e) => return format!("cannot draw: {e}"),
    };
    if let Err(e) = terminal.draw(|frame| render(app, frame)) {
        return format!("cannot draw: {e}");
    }
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let mut skip = 0;
        let mut row = String::new();
        for x in 0..buffer.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            row.push_str(symbol);
            skip = unicode_width::UnicodeWidthStr::width(symbol).saturating_sub(1);
        }
        text.push_str(row.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
