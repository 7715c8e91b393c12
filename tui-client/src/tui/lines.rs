//! Text laid out into terminal lines: a thread's messages wrapped to a width (the view draws
//! them; `update` counts them to know when scrolling reaches the top), the composer's hard
//! wrapping with its cursor, and width-aware truncation. Widths are display columns, so wide
//! characters and emoji take two.

use chat_shared::ChatMessage;
use chat_shared::mention::is_username_char;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{App, Fetch, Thread, local_time};
pub use crate::text::sanitize;

/// `text` cut to at most `width` columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Wraps message text to `width` columns at word boundaries, breaking words longer than a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in sanitize(text).split('\n') {
        if paragraph.is_empty() {
            lines.push(String::new());
            continue;
        }
        lines.extend(
            textwrap::wrap(paragraph, width)
                .into_iter()
                .map(|l| l.into_owned()),
        );
    }
    lines
}

/// The composer's text cut at exactly `width` columns (no word wrap, so the cursor maps
/// simply), and the cursor's (column, row).
pub fn hard_wrap(text: &str, cursor: usize, width: usize) -> (Vec<String>, (usize, usize)) {
    let width = width.max(2);
    let mut lines = vec![String::new()];
    let mut col = 0;
    let mut at = (0, 0);
    for (i, c) in text.chars().enumerate() {
        if i == cursor {
            at = (col, lines.len() - 1);
        }
        if c == '\n' {
            lines.push(String::new());
            col = 0;
            continue;
        }
        let c = if c.is_control() { '\u{FFFD}' } else { c };
        let w = c.width().unwrap_or(0);
        if col + w > width {
            lines.push(String::new());
            col = 0;
        }
        if let Some(line) = lines.last_mut() {
            line.push(c);
        }
        col += w;
    }
    if cursor >= text.chars().count() {
        if col >= width {
            lines.push(String::new());
            col = 0;
        }
        at = (col, lines.len() - 1);
    }
    (lines, at)
}

const OWN: Color = Color::Cyan;
const OTHER: Color = Color::Yellow;

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn status_mark(message: &ChatMessage) -> &'static str {
    match message.status {
        Some(chat_shared::MessageStatus::Delivered) | Some(chat_shared::MessageStatus::Seen) => {
            " ✓✓"
        }
        _ => " ✓",
    }
}

/// Every line of a thread at `width` columns, oldest first: a note about older messages,
/// day separators, each message's header and wrapped text, the "seen" mark, then our messages
/// still waiting for the server.
pub fn thread_lines(app: &App, conv: i64, thread: &Thread, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let me = app.my_id();
    let mut lines: Vec<Line<'static>> = Vec::new();
    if thread.fetch == Some(Fetch::Older) {
        lines.push(Line::styled("loading older messages…", dim()));
    } else if thread.has_more {
        lines.push(Line::styled("↑ older messages: scroll up", dim()));
    }
    let seen = thread.last_seen_own(me);
    let mut day = None;
    for message in &thread.messages {
        let time = local_time(message.timestamp, app.utc_offset);
        if day != Some(time.date()) {
            day = Some(time.date());
            let label = format!("── {} ──", time.format("%Y-%m-%d"));
            lines.push(Line::styled(truncate(&label, width), dim()).centered());
        }
        if message.is_system {
            for text in wrap(&message.content, width) {
                lines.push(Line::styled(text, dim().add_modifier(Modifier::ITALIC)).centered());
            }
            continue;
        }
        let own = message.sender.id == me;
        let name = if own {
            "you".to_owned()
        } else {
            sanitize(&message.sender.username)
        };
        let mut header = vec![
            Span::styled(
                name,
                Style::default()
                    .fg(if own { OWN } else { OTHER })
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" {}", time.format("%H:%M")), dim()),
        ];
        if own {
            header.push(Span::styled(status_mark(message), dim()));
        }
        lines.push(Line::from(header));
        let names = mentioned(app, conv, message);
        push_body(&mut lines, &message.content, own, width, &names);
        if own && seen == Some(message.id) {
            lines.push(
                Line::styled(
                    "seen",
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::ITALIC),
                )
                .right_aligned(),
            );
        }
    }
    for pending in app.pending.iter().filter(|p| p.conversation_id == conv) {
        lines.push(Line::from(vec![
            Span::styled("you", Style::default().fg(OWN).add_modifier(Modifier::BOLD)),
            Span::styled(" sending…", dim()),
        ]));
        push_body(&mut lines, &pending.content, true, width, &[]);
    }
    if thread.messages.is_empty() && app.pending.iter().all(|p| p.conversation_id != conv) {
        let note = match thread.fetch {
            Some(_) => "loading…",
            None => "No messages yet: say hello below.",
        };
        lines.push(Line::styled(note, dim()));
    }
    lines
}

/// A name a message mentions, lower-cased, and whether it is ours.
type Mention = (String, bool);

/// The names `message` mentions (the server's `mentions`), as its conversation knows them.
fn mentioned(app: &App, conv: i64, message: &ChatMessage) -> Vec<Mention> {
    let (Some(ids), Some(item)) = (&message.mentions, app.conversation(conv)) else {
        return Vec::new();
    };
    ids.iter()
        .filter_map(|&id| {
            let name = item.username_of(id)?;
            Some((name.to_lowercase(), id == app.my_id()))
        })
        .collect()
}

/// A message's text, indented under its header; ours behind a coloured bar; the names it
/// mentions highlighted.
fn push_body(
    lines: &mut Vec<Line<'static>>,
    content: &str,
    own: bool,
    width: usize,
    mentions: &[Mention],
) {
    let gutter = if own {
        Span::styled("▌ ", Style::default().fg(OWN))
    } else {
        Span::raw("  ")
    };
    for text in wrap(content, width.saturating_sub(2)) {
        let mut spans = vec![gutter.clone()];
        spans.extend(highlight(&text, mentions));
        lines.push(Line::from(spans));
    }
}

/// `text` in spans, each `@name` of `mentions` styled apart (ours the most), reading `@`
/// tokens as the server does (`chat_shared::mention`).
fn highlight(text: &str, mentions: &[Mention]) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut plain = 0;
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && at >= plain && !previous.is_some_and(is_username_char);
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c| !is_username_char(c)).unwrap_or(rest.len());
        let mut token = &rest[..end];
        while !token.is_empty() {
            let lower = token.to_lowercase();
            if let Some((_, ours)) = mentions.iter().find(|(name, _)| *name == lower) {
                let style = if *ours {
                    Style::default()
                        .fg(Color::Black)
                        .bg(Color::Yellow)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::default().fg(OWN).add_modifier(Modifier::BOLD)
                };
                spans.push(Span::raw(text[plain..at].to_owned()));
                plain = at + 1 + token.len();
                spans.push(Span::styled(text[at..plain].to_owned(), style));
                break;
            }
            match token.strip_suffix(|c: char| !c.is_alphanumeric()) {
                Some(shorter) => token = shorter,
                None => break,
            }
        }
    }
    spans.push(Span::raw(text[plain..].to_owned()));
    spans.retain(|span| !span.content.is_empty());
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_counts_wide_characters_as_two_columns() {
        let lines = wrap("日本語のテキスト", 6);
        assert_eq!(lines, vec!["日本語", "のテキ", "スト"]);
        for line in &lines {
            assert!(line.width() <= 6, "{line:?}");
        }
    }

    #[test]
    fn wrap_breaks_long_words_and_keeps_newlines() {
        let lines = wrap("abcdefghij\n\nok", 4);
        assert_eq!(lines, vec!["abcd", "efgh", "ij", "", "ok"]);
    }

    #[test]
    fn truncate_respects_display_width() {
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("😀😀😀", 5), "😀😀…");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn highlight_styles_only_the_mentioned_names() {
        let mentions = vec![("bob".to_owned(), false), ("alice".to_owned(), true)];
        let spans = highlight("hi @Bob. and @alice, not me@bob or @dave", &mentions);
        let text: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(
            text,
            ["hi ", "@Bob", ". and ", "@alice", ", not me@bob or @dave"]
        );
        assert_eq!(spans[1].style.fg, Some(OWN));
        assert_eq!(
            spans[3].style.bg,
            Some(Color::Yellow),
            "ours stands out most"
        );
        assert_eq!(spans[0].style, Style::default());
    }

    #[test]
    fn hard_wrap_places_the_cursor() {
        let (lines, at) = hard_wrap("abcdef", 6, 4);
        assert_eq!(lines, vec!["abcd", "ef"]);
        assert_eq!(at, (2, 1));
        let (lines, at) = hard_wrap("ab\ncd", 3, 10);
        assert_eq!(lines, vec!["ab", "cd"]);
        assert_eq!(at, (0, 1));
        let (lines, at) = hard_wrap("abcd", 4, 4);
        assert_eq!(lines, vec!["abcd", ""]);
        assert_eq!(at, (0, 1));
    }
}
