//! What opens over the chat screen: the search box (also picking a group's members), a
//! message's receipts, the delete confirmation, the reaction and link pickers, and the help
//! listing every key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, ListItem, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::widgets::{centered, choices, pane};
use chat_shared::ChatMessage;

use crate::tui::app::{App, Pick, PickFor, QUICK_REACTIONS};
use crate::tui::lines::{display, sanitize, truncate};

pub(super) fn search(app: &App, frame: &mut Frame, area: Rect) {
    let Some(search) = &app.search else {
        return;
    };
    let popup = centered(area, 56, 16);
    frame.render_widget(Clear, popup);
    let title = match &search.pick {
        None => " Find someone · Enter chat · Esc close ",
        Some(_) => " Pick members · Enter pick · Ctrl-D done · Esc cancel ",
    };
    let block = pane(title.into(), true);
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
    if let Some(pick) = &search.pick {
        let names: Vec<String> = pick.picked.iter().map(|u| sanitize(&u.username)).collect();
        let what = match &pick.purpose {
            PickFor::NewGroup { title } => format!("new group “{}”", sanitize(title)),
            PickFor::AddTo { .. } => "add".to_owned(),
        };
        let line = format!("{what}: {}", names.join(", "));
        let at = Rect::new(input.x, input.y + 1, input.width, 1);
        frame.render_widget(
            Span::styled(
                truncate(&line, usize::from(input.width)),
                Style::default().fg(Color::Cyan),
            ),
            at,
        );
    }
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
            let suffix = match &search.pick {
                Some(pick) if pick.picked.contains(u) => "  (picked)",
                Some(Pick {
                    purpose: PickFor::AddTo { conversation_id },
                    ..
                }) if app
                    .conversation(*conversation_id)
                    .is_some_and(|c| c.username_of(u.id).is_some()) =>
                {
                    "  (member)"
                }
                Some(_) => "",
                None if app.conversations.iter().any(|c| c.peer() == Some(u)) => "  (open chat)",
                None => "  (new chat)",
            };
            ListItem::new(Line::from(vec![
                Span::raw(truncate(&sanitize(&u.username), width.saturating_sub(14))),
                Span::styled(suffix, Style::default().fg(Color::DarkGray)),
            ]))
        })
        .collect();
    choices(frame, items, search.selected, results);
}

/// Every key, as the help overlay lists it.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("j k / ↓ ↑", "move in the list, scroll messages"),
    ("Enter", "open the chat (list) · send (composer)"),
    ("Alt-Enter / Ctrl-J", "new line in the composer"),
    ("i", "write in the open chat"),
    (
        "Esc",
        "cancel a reply or edit, leave the composer, close a box",
    ),
    ("/  or Ctrl-F", "find someone, start a chat"),
    ("PgUp PgDn, wheel", "scroll messages (top: older ones)"),
    ("g / G", "first / last chat, oldest / newest message"),
    ("b", "bell on new messages: on / off"),
    ("m", "mute the chat (mentions still ring): on / off"),
    ("↑ ↓ / k j (messages)", "choose a message (Esc: none)"),
    (
        "r  e  d (messages)",
        "reply to it · edit it · delete it (y)",
    ),
    ("+ (messages)", "react: 1-7, ← → Enter, or type one"),
    // One line for two keys, so the box fits 24 rows.
    (
        "s · o (messages)",
        "seen by (who read it) · its links: open, y copy",
    ),
    ("↑ (empty composer)", "edit your last message"),
    ("/group TITLE", "composer: new group, pick its members"),
    (
        "/add  /remove NAME",
        "composer: add (pick) or remove members",
    ),
    (
        "/rename TITLE  /leave",
        "composer: rename the group, leave it",
    ),
    ("/mute  /receipts", "composer: as m and s"),
    (
        "/presence off | on",
        "composer: hide / show when you are online",
    ),
    // One line, so the box fits 24 rows.
    ("?  F1 · q  Ctrl-C", "this help · quit"),
];

pub(super) fn help(frame: &mut Frame, area: Rect) {
    let popup = centered(area, 70, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<22}"), Style::default().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(" Keys · Esc closes ".into(), true)),
        popup,
    );
}

/// Who has read, and who has received, a message (`chat.get_receipts`); in a group, who has
/// neither yet.
pub(super) fn receipts(app: &App, frame: &mut Frame, area: Rect) {
    let Some(view) = &app.receipts else {
        return;
    };
    let names = |users: &mut dyn Iterator<Item = &str>| {
        let names: Vec<String> = users.map(sanitize).collect();
        if names.is_empty() {
            "nobody".to_owned()
        } else {
            names.join(", ")
        }
    };
    let message = app
        .threads
        .values()
        .flat_map(|t| &t.messages)
        .find(|m| m.id == view.message_id);
    let read = names(&mut view.read_by.iter().map(|u| u.username.as_str()));
    let delivered = names(
        &mut view
            .delivered_to
            .iter()
            .filter(|u| !view.read_by.contains(u))
            .map(|u| u.username.as_str()),
    );
    let mut lines = vec![
        Line::from(vec![
            Span::styled("read by:      ", Style::default().fg(Color::Green)),
            Span::raw(read),
        ]),
        Line::from(vec![
            Span::styled("delivered to: ", Style::default().fg(Color::Cyan)),
            Span::raw(delivered),
        ]),
    ];
    if let Some(m) = message
        && let Some(item) = app.conversation(m.conversation_id)
        && !item.members().is_empty()
    {
        let waiting = names(
            &mut item
                .members()
                .iter()
                .filter(|u| u.id != m.sender.id && !view.delivered_to.iter().any(|d| d.id == u.id))
                .map(|u| u.username.as_str()),
        );
        lines.push(Line::from(vec![
            Span::styled("not yet:      ", Style::default().fg(Color::DarkGray)),
            Span::raw(waiting),
        ]));
    }
    let popup = centered(area, 56, lines.len() as u16 + 4);
    frame.render_widget(Clear, popup);
    let quote = message.map_or_else(String::new, excerpt);
    lines.insert(
        0,
        Line::styled(truncate(&quote, 52), Style::default().fg(Color::DarkGray)),
    );
    lines.insert(1, Line::raw(""));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(pane(" Receipts · Esc closes ".into(), true)),
        popup,
    );
}

/// A message on one line, quoted, for the boxes about it.
fn excerpt(message: &ChatMessage) -> String {
    if message.is_deleted() {
        return "message deleted".to_owned();
    }
    let text = message
        .content
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("“{}”", sanitize(&text))
}

/// The message a box is about, wherever it is loaded.
fn find(app: &App, id: Option<i64>) -> Option<&ChatMessage> {
    let id = id?;
    app.threads
        .values()
        .flat_map(|t| &t.messages)
        .find(|m| m.id == id)
}

/// "Delete this message? y / n", with the message.
pub(super) fn confirm_delete(app: &App, frame: &mut Frame, area: Rect) {
    let quote = find(app, app.deleting).map_or_else(String::new, excerpt);
    let popup = centered(area, 48, 5);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::styled(truncate(&quote, 44), Style::default().fg(Color::DarkGray)),
        Line::raw(""),
        Line::from(vec![
            Span::raw("Delete it for everyone?  "),
            Span::styled("y", Style::default().fg(Color::Red)),
            Span::raw(" yes · "),
            Span::styled("n", Style::default().fg(Color::Cyan)),
            Span::raw(" no"),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(pane(" Delete message ".into(), true)),
        popup,
    );
}

/// The reaction picker: the quick emoji, numbered, the highlighted one marked and ours in
/// bold; then what is typed, for any other.
pub(super) fn reactions(app: &App, frame: &mut Frame, area: Rect) {
    let Some(picker) = &app.reacting else {
        return;
    };
    let me = app.my_id();
    let given = |emoji: &str| {
        find(app, Some(picker.message_id)).is_some_and(|m| {
            m.reactions()
                .iter()
                .any(|r| r.emoji == emoji && r.user_ids.contains(&me))
        })
    };
    let mut quick = Vec::new();
    for (i, emoji) in QUICK_REACTIONS.iter().enumerate() {
        let mut style = Style::default();
        if given(emoji) {
            style = style.fg(Color::LightMagenta).add_modifier(Modifier::BOLD);
        }
        if i == picker.highlighted && picker.typed.is_empty() {
            style = style.add_modifier(Modifier::REVERSED);
        }
        quick.push(Span::styled(
            format!("{}", i + 1),
            Style::default().fg(Color::DarkGray),
        ));
        quick.push(Span::styled(format!("{} ", display(emoji)), style));
        quick.push(Span::raw(" "));
    }
    let typed = display(&picker.typed);
    let lines = vec![
        Line::from(quick),
        Line::raw(""),
        Line::from(vec![Span::raw("or type one: "), Span::raw(typed.clone())]),
        Line::styled(
            "Enter reacts · again takes it back · Esc closes",
            Style::default().fg(Color::DarkGray),
        ),
    ];
    let popup = centered(area, 52, 6);
    frame.render_widget(Clear, popup);
    let inner = pane(String::new(), true).inner(popup);
    frame.render_widget(
        Paragraph::new(lines).block(pane(" React ".into(), true)),
        popup,
    );
    if !picker.typed.is_empty() {
        let x = inner.x + 13 + unicode_width::UnicodeWidthStr::width(typed.as_str()) as u16;
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            inner.y + 2,
        ));
    }
}

/// The link picker: the links numbered, each with its text and, when that differs, where it
/// goes (a link's text may name another place than its address); the highlighted one marked.
pub(super) fn links(app: &App, frame: &mut Frame, area: Rect) {
    let Some(picker) = &app.links else {
        return;
    };
    let height = u16::try_from(picker.links.len()).unwrap_or(u16::MAX);
    let popup = centered(area, 72, height.saturating_add(2).min(16));
    frame.render_widget(Clear, popup);
    let block = pane(
        " Links · Enter or 1-9 open · y copy · Esc close ".into(),
        true,
    );
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let width = usize::from(inner.width).saturating_sub(2);
    let items: Vec<ListItem> = picker
        .links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let number = if i < 9 {
                format!("{} ", i + 1)
            } else {
                "  ".to_owned()
            };
            let url = sanitize(&link.url);
            let text = sanitize(&link.text.split_whitespace().collect::<Vec<_>>().join(" "));
            let mut spans = vec![Span::styled(number, Style::default().fg(Color::DarkGray))];
            let room = width.saturating_sub(2);
            if text == url {
                spans.push(Span::raw(truncate(&url, room)));
            } else {
                let text = truncate(&text, room / 2);
                let rest = room.saturating_sub(text.width() + 2);
                spans.push(Span::raw(text));
                spans.push(Span::styled(
                    format!("  {}", truncate(&url, rest)),
                    Style::default().fg(Color::DarkGray),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    choices(frame, items, picker.highlighted, inner);
}
