//! What opens over the chat screen: the search box and the help listing every key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, List, ListItem, ListState, Paragraph};

use super::widgets::{centered, pane};
use crate::tui::app::App;
use crate::tui::lines::{sanitize, truncate};

pub(super) fn search(app: &App, frame: &mut Frame, area: Rect) {
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

pub(super) fn help(frame: &mut Frame, area: Rect) {
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
