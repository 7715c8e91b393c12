//! Text laid out into terminal lines: a thread's messages wrapped to a width (the view draws
//! them; `update` counts them to know when scrolling reaches the top), their Markdown (see
//! `markdown`) styled, quoted and boxed, the composer's hard wrapping with its cursor, and
//! width-aware truncation. Widths are display columns, so wide characters and emoji take two.

use std::ops::Range;

use chat_shared::mention::is_username_char;
use chat_shared::{ChatMessage, ReplyRef};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{App, Fetch, Thread, local_time};
use super::markdown::{self, Block};
use super::syntax;
pub use crate::text::sanitize;

/// `text` made safe (see [`sanitize`]) and without emoji presentation selectors (U+FE0F):
/// terminals differ on whether `❤️` takes one column or two, and a guess that disagrees with
/// the terminal shifts the rest of the line (borders too); `❤` alone is one column everywhere.
pub fn display(text: &str) -> String {
    sanitize(text).replace('\u{FE0F}', "")
}

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

/// Wraps plain text to `width` columns at spaces, breaking words longer than a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let pieces = [Piece {
        text: display(text),
        style: Style::default(),
        code: false,
    }];
    wrap_pieces(&pieces, width)
        .into_iter()
        .map(|line| line.iter().map(|span| span.content.as_ref()).collect())
        .collect()
}

/// Text in one style, to be wrapped; code is broken only where it is too long for a line.
struct Piece {
    text: String,
    style: Style,
    code: bool,
}

/// One character of wrapped text and the piece it comes from.
#[derive(Clone, Copy)]
struct Cell {
    c: char,
    width: usize,
    piece: usize,
}

/// Styled text wrapped to `width` columns at the spaces outside code, a `\n` breaking the
/// line; a word longer than a line is broken where the line ends. Spaces at the end of a
/// line go; those at the start of a paragraph's line stay (indentation).
fn wrap_pieces(pieces: &[Piece], width: usize) -> Vec<Vec<Span<'static>>> {
    let mut lines = Lines {
        width: width.max(1),
        done: Vec::new(),
        line: Vec::new(),
        used: 0,
    };
    // The spaces before the word being read.
    let mut gap = Vec::new();
    let mut word = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        for c in piece.text.chars() {
            let width = c.width().unwrap_or(0);
            let cell = Cell {
                c,
                width,
                piece: index,
            };
            match c {
                '\n' => {
                    lines.place(&mut gap, &mut word);
                    gap.clear();
                    lines.end_line();
                }
                ' ' if !piece.code => {
                    if !word.is_empty() {
                        lines.place(&mut gap, &mut word);
                    }
                    gap.push(cell);
                }
                _ => word.push(cell),
            }
        }
    }
    lines.place(&mut gap, &mut word);
    lines.end_line();
    lines
        .done
        .iter()
        .map(|cells| to_spans(cells, pieces))
        .collect()
}

/// Lines being filled, first fit.
struct Lines {
    width: usize,
    done: Vec<Vec<Cell>>,
    line: Vec<Cell>,
    used: usize,
}

impl Lines {
    /// Puts `word` on the line after `gap`, or on the next line without it; a word wider
    /// than a line is cut. Nothing is placed without a word (the caller drops the spaces
    /// that end a line).
    fn place(&mut self, gap: &mut Vec<Cell>, word: &mut Vec<Cell>) {
        if word.is_empty() {
            return;
        }
        let gap_width: usize = gap.iter().map(|c| c.width).sum();
        let word_width: usize = word.iter().map(|c| c.width).sum();
        if self.used + gap_width + word_width <= self.width {
            self.used += gap_width;
            self.line.append(gap);
        } else {
            gap.clear();
            if !self.line.is_empty() {
                self.end_line();
            }
        }
        for cell in word.drain(..) {
            if self.used + cell.width > self.width && !self.line.is_empty() {
                self.end_line();
            }
            self.line.push(cell);
            self.used += cell.width;
        }
    }

    fn end_line(&mut self) {
        self.done.push(std::mem::take(&mut self.line));
        self.used = 0;
    }
}

/// Cells back into spans, one per run of cells from the same piece.
fn to_spans(cells: &[Cell], pieces: &[Piece]) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut last = None;
    for cell in cells {
        match spans.last_mut() {
            Some(span) if last == Some(cell.piece) => span.content.to_mut().push(cell.c),
            _ => spans.push(Span::styled(cell.c.to_string(), pieces[cell.piece].style)),
        }
        last = Some(cell.piece);
    }
    spans
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
/// The selected message's marks, and the reactions we gave.
const PICKED: Color = Color::LightMagenta;

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
/// day separators, each message's header, the message it answers, its wrapped text (or
/// "message deleted") and reactions, the "seen" mark, then our messages still waiting for the
/// server.
pub fn thread_lines(app: &App, conv: i64, thread: &Thread, width: u16) -> Vec<Line<'static>> {
    thread_layout(app, conv, thread, width).0
}

/// Which lines of [`thread_lines`] each message takes: its id and the range of line indexes.
pub type Spans = Vec<(i64, Range<usize>)>;

/// [`thread_lines`] and where each message is in them (to keep the selected one in view).
pub fn thread_layout(
    app: &App,
    conv: i64,
    thread: &Thread,
    width: u16,
) -> (Vec<Line<'static>>, Spans) {
    let width = usize::from(width);
    let me = app.my_id();
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut spans = Vec::new();
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
        let first = lines.len();
        if message.is_system {
            for text in wrap(&message.content, width) {
                lines.push(Line::styled(text, dim().add_modifier(Modifier::ITALIC)).centered());
            }
            spans.push((message.id, first..lines.len()));
            continue;
        }
        let own = message.sender.id == me;
        let selected = thread.selected == Some(message.id);
        let name = if own {
            "you".to_owned()
        } else {
            sanitize(&message.sender.username)
        };
        let mut header = Vec::new();
        if selected {
            header.push(Span::styled("▸ ", Style::default().fg(PICKED)));
        }
        header.push(Span::styled(
            name,
            Style::default()
                .fg(if own { OWN } else { OTHER })
                .add_modifier(Modifier::BOLD),
        ));
        header.push(Span::styled(format!(" {}", time.format("%H:%M")), dim()));
        if message.edited().is_some() && !message.is_deleted() {
            header.push(Span::styled(" (edited)", dim()));
        }
        if own {
            header.push(Span::styled(status_mark(message), dim()));
        }
        let mut header = Line::from(header);
        if selected {
            header = header.style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(header);
        let body = Body {
            gutter: gutter(own, selected),
            width,
        };
        if let Some(reply) = message.reply() {
            body.push_quote(&mut lines, reply);
        }
        if message.is_deleted() {
            body.push_styled(
                &mut lines,
                "message deleted",
                dim().add_modifier(Modifier::ITALIC),
            );
        } else {
            let names = mentioned(app, conv, message);
            body.push_text(&mut lines, &message.content, &names);
            body.push_reactions(&mut lines, message, me);
        }
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
        spans.push((message.id, first..lines.len()));
    }
    for pending in app.pending.iter().filter(|p| p.conversation_id == conv) {
        let note = if pending.sent_at.is_some() {
            " sending…"
        } else {
            " waiting for the connection…"
        };
        lines.push(Line::from(vec![
            Span::styled("you", Style::default().fg(OWN).add_modifier(Modifier::BOLD)),
            Span::styled(note, dim()),
        ]));
        let body = Body {
            gutter: gutter(true, false),
            width,
        };
        if let Some(reply) = &pending.reply_to {
            body.push_quote(&mut lines, reply);
        }
        body.push_text(&mut lines, &pending.content, &[]);
    }
    if thread.messages.is_empty() && app.pending.iter().all(|p| p.conversation_id != conv) {
        let note = match thread.fetch {
            Some(_) => "loading…",
            None => "No messages yet: say hello below.",
        };
        lines.push(Line::styled(note, dim()));
    }
    (lines, spans)
}

/// Which of `total` lines a pane of `height` lines shows, scrolled `scroll` lines up from
/// the newest (no further than the oldest line).
pub fn window(total: usize, scroll: u16, height: usize) -> Range<usize> {
    let scroll = usize::from(scroll).min(total.saturating_sub(height));
    let end = total - scroll;
    end.saturating_sub(height)..end
}

/// What a reply shows of the message it answers: `↳ bob: the start of it`.
pub fn quote(reply: &ReplyRef) -> String {
    if reply.deleted {
        return "↳ message deleted".to_owned();
    }
    let excerpt = reply
        .excerpt
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "↳ {}: {}",
        sanitize(&reply.sender.username),
        sanitize(&excerpt)
    )
}

/// The left margin of a message's lines: a coloured bar for ours, a bright one when selected.
fn gutter(own: bool, selected: bool) -> Span<'static> {
    if selected {
        Span::styled(
            "┃ ",
            Style::default().fg(PICKED).add_modifier(Modifier::BOLD),
        )
    } else if own {
        Span::styled("▌ ", Style::default().fg(OWN))
    } else {
        Span::raw("  ")
    }
}

/// The lines under a message's header, each behind its gutter.
struct Body {
    gutter: Span<'static>,
    width: usize,
}

impl Body {
    fn inner(&self) -> usize {
        self.width.saturating_sub(2)
    }

    fn push_styled(&self, lines: &mut Vec<Line<'static>>, text: &str, style: Style) {
        let text = truncate(text, self.inner());
        lines.push(Line::from(vec![
            self.gutter.clone(),
            Span::styled(text, style),
        ]));
    }

    fn push_quote(&self, lines: &mut Vec<Line<'static>>, reply: &ReplyRef) {
        self.push_styled(lines, &quote(reply), dim().add_modifier(Modifier::ITALIC));
    }

    /// The text read as Markdown and wrapped, the names it mentions highlighted.
    fn push_text(&self, lines: &mut Vec<Line<'static>>, content: &str, mentions: &[Mention]) {
        let mut body = Vec::new();
        push_blocks(&mut body, &markdown::parse(content), self.inner(), mentions);
        for spans in body {
            let mut line = vec![self.gutter.clone()];
            line.extend(spans);
            lines.push(Line::from(line));
        }
    }

    /// `👍 2  🎉 1`, ours in bold, wrapped at the width.
    fn push_reactions(&self, lines: &mut Vec<Line<'static>>, message: &ChatMessage, me: i64) {
        let mut line = vec![self.gutter.clone()];
        let mut used = 0;
        for reaction in message.reactions() {
            let text = format!("{} {}", display(&reaction.emoji), reaction.count);
            let width = text.width();
            if used > 0 && used + 2 + width > self.inner() {
                lines.push(Line::from(std::mem::replace(
                    &mut line,
                    vec![self.gutter.clone()],
                )));
                used = 0;
            }
            if used > 0 {
                line.push(Span::raw("  "));
                used += 2;
            }
            let style = if reaction.user_ids.contains(&me) {
                Style::default().fg(PICKED).add_modifier(Modifier::BOLD)
            } else {
                dim()
            };
            line.push(Span::styled(text, style));
            used += width;
        }
        if used > 0 {
            lines.push(Line::from(line));
        }
    }
}

/// The left edge of quoted lines and of code blocks.
const QUOTE_BAR: &str = "▎ ";
const CODE_BAR: &str = "│ ";
/// Starts the rest of a code line too long for the pane.
const CODE_CONTINUED: &str = "↪";

/// `blocks` laid out at `width` columns, each line as its spans. Every text goes through
/// [`display`] here, after the Markdown is read.
fn push_blocks(
    out: &mut Vec<Vec<Span<'static>>>,
    blocks: &[Block],
    width: usize,
    mentions: &[Mention],
) {
    for block in blocks {
        match block {
            Block::Blank => out.push(Vec::new()),
            Block::Text(runs) => {
                let mut pieces = Vec::new();
                for run in runs {
                    let text = display(&run.text);
                    if run.code || run.url.is_some() {
                        pieces.push(Piece {
                            text,
                            style: run.style,
                            code: run.code,
                        });
                        continue;
                    }
                    for span in highlight(&text, mentions) {
                        pieces.push(Piece {
                            text: span.content.into_owned(),
                            style: run.style.patch(span.style),
                            code: false,
                        });
                    }
                }
                out.extend(wrap_pieces(&pieces, width));
            }
            Block::Quote(inner) => {
                let mut quoted = Vec::new();
                push_blocks(&mut quoted, inner, width.saturating_sub(2), mentions);
                for spans in quoted {
                    let mut line = vec![Span::styled(QUOTE_BAR, dim())];
                    line.extend(spans);
                    out.push(line);
                }
            }
            Block::Code { lang, code } => push_code(out, lang, code, width),
        }
    }
}

/// A fenced code block: a top line with its language, then each line highlighted behind a
/// bar, never word-wrapped: a line wider than the pane is cut at its edge and goes on in the
/// next line after `↪`; then a bottom line.
fn push_code(out: &mut Vec<Vec<Span<'static>>>, lang: &str, code: &str, width: usize) {
    let lang = display(lang);
    let top = if lang.is_empty() {
        "╭─".to_owned()
    } else {
        format!("╭─ {lang}")
    };
    out.push(vec![Span::styled(truncate(&top, width), dim())]);
    let inner = width.saturating_sub(2).max(2);
    for pieces in syntax::highlight(&display(code), &lang).iter() {
        let mut line = vec![Span::styled(CODE_BAR, dim())];
        // The spans before the code: the bar, and the mark on a continued line.
        let mut margin = 1;
        let mut used = 0;
        for (text, style) in pieces {
            for c in text.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > inner {
                    out.push(std::mem::take(&mut line));
                    line = vec![
                        Span::styled(CODE_BAR, dim()),
                        Span::styled(CODE_CONTINUED, dim()),
                    ];
                    margin = 2;
                    used = CODE_CONTINUED.width();
                }
                let same = line.len() > margin && line.last().is_some_and(|l| l.style == *style);
                match line.last_mut() {
                    Some(last) if same => last.content.to_mut().push(c),
                    _ => line.push(Span::styled(c.to_string(), *style)),
                }
                used += w;
            }
        }
        out.push(line);
    }
    out.push(vec![Span::styled("╰─", dim())]);
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
    fn emoji_presentation_selectors_are_dropped_so_widths_agree_with_terminals() {
        assert_eq!(wrap("love ❤️ it", 20), vec!["love ❤ it"]);
        assert_eq!(display("❤️"), "❤");
        assert_eq!(display("❤️").width(), 1);
    }

    #[test]
    fn wrap_breaks_long_words_and_keeps_newlines() {
        let lines = wrap("abcdefghij\n\nok", 4);
        assert_eq!(lines, vec!["abcd", "efgh", "ij", "", "ok"]);
    }

    #[test]
    fn wrap_keeps_indentation_and_inner_spaces_and_drops_those_at_line_ends() {
        assert_eq!(wrap("  a  b   \n    c", 20), vec!["  a  b", "    c"]);
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
    }

    #[test]
    fn code_is_broken_only_where_it_is_wider_than_the_line() {
        let pieces = |code: &str| {
            [
                Piece {
                    text: "run ".into(),
                    style: Style::default(),
                    code: false,
                },
                Piece {
                    text: code.into(),
                    style: markdown::code_style(),
                    code: true,
                },
            ]
        };
        let text = |lines: Vec<Vec<Span>>| -> Vec<String> {
            lines
                .iter()
                .map(|l| l.iter().map(|s| s.content.as_ref()).collect())
                .collect()
        };
        assert_eq!(
            text(wrap_pieces(&pieces("cargo t x"), 10)),
            ["run", "cargo t x"]
        );
        assert_eq!(
            text(wrap_pieces(&pieces("cargo test x"), 10)),
            ["run", "cargo test", " x"]
        );
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
