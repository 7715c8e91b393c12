//! The sign-in screen: the server, username and password fields, and what went wrong.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::widgets::{centered, pane};
use crate::tui::app::{App, Field};
use crate::tui::lines::{sanitize, truncate};

/// The form, centred.
pub(super) fn form(app: &App, frame: &mut Frame, area: Rect) {
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
        format!("Enter {action} · Ctrl-R {other} · Tab next · Esc quit"),
        Style::default().fg(Color::DarkGray),
    )];
    if form.busy {
        text.push(Line::styled("working…", Style::default().fg(Color::Yellow)));
    } else if let Some(message) = &form.message {
        text.push(Line::styled(
            sanitize(message),
            Style::default().fg(Color::Red),
        ));
    }
    // One column in, so that a long message's wrapped lines line up with its first.
    let notes = rows[6].inner(Margin::new(1, 0));
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), notes);
}
