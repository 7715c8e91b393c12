//! Render tests of message formatting: code blocks highlighted in a box, inline code, bold and
//! links styled, what lies outside the Markdown subset shown as written, escapes neutralised;
//! and the link picker, from `o` to the effect that opens or copies.

use std::time::Instant;

use chat_shared::ChatMessage;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use ratatui::{Terminal, backend::TestBackend};

use super::super::app::{App, Focus};
use super::super::effect::Effect;
use super::super::event::{Event, KeyCode};
use super::super::fixtures::*;
use super::super::lines::thread_lines;
use super::super::update::update;
use super::render;

/// Alice's screen with bob's conversation open and one message of his saying `content`.
fn bob_says(content: &str) -> Buffer {
    draw(&chatting(
        Instant::now(),
        vec![message(5, 10, &bob(), content)],
    ))
}

fn draw(app: &App) -> Buffer {
    let mut terminal =
        Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("a test terminal");
    terminal.draw(|frame| render(app, frame)).expect("drawn");
    terminal.backend().buffer().clone()
}

/// Each row as its cells' symbols with their positions (the second cell of a wide character
/// skipped).
fn rows(buffer: &Buffer) -> Vec<Vec<(u16, String)>> {
    (0..buffer.area.height)
        .map(|y| {
            let mut row = Vec::new();
            let mut skip = 0;
            for x in 0..buffer.area.width {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let symbol = buffer[(x, y)].symbol().to_owned();
                skip = unicode_width::UnicodeWidthStr::width(symbol.as_str()).saturating_sub(1);
                row.push((x, symbol));
            }
            row
        })
        .collect()
}

fn screen_text(buffer: &Buffer) -> String {
    rows(buffer)
        .iter()
        .map(|row| row.iter().map(|(_, s)| s.as_str()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The styles of the cells showing `needle`, at its first place on screen.
fn styles_of(buffer: &Buffer, needle: &str) -> Vec<Style> {
    for (y, row) in rows(buffer).iter().enumerate() {
        for start in 0..row.len() {
            let mut joined = String::new();
            let mut end = start;
            while end < row.len() && joined.len() < needle.len() {
                joined.push_str(&row[end].1);
                end += 1;
            }
            if joined == needle {
                let y = u16::try_from(y).expect("a small screen");
                return row[start..end]
                    .iter()
                    .map(|(x, _)| buffer[(*x, y)].style())
                    .collect();
            }
        }
    }
    panic!("{needle:?} is not on screen:\n{}", screen_text(buffer));
}

fn is_plain(style: &Style) -> bool {
    style.fg.is_none_or(|c| c == Color::Reset)
        && style.bg.is_none_or(|c| c == Color::Reset)
        && style.add_modifier.is_empty()
}

const RUST: &str = "try this:\n```rust\nfn main() {\n    let answer = 42;\n    println!(\"{answer}\");\n}\n```\nok?";

#[test]
fn a_fenced_rust_block_is_a_highlighted_box_with_its_lines_intact() {
    let buffer = bob_says(RUST);
    let screen = screen_text(&buffer);
    let lines: Vec<&str> = screen.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} missing:\n{screen}"))
    };
    let top = at("╭─ rust");
    assert_eq!(at("try this:") + 1, top, "{screen}");
    for (i, code) in [
        "│ fn main() {",
        "│     let answer = 42;",
        "│     println!(\"{answer}\");",
        "│ }",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(at(code), top + 1 + i, "{code:?}:\n{screen}");
    }
    assert_eq!(at("╰─"), top + 5, "{screen}");
    assert_eq!(at("ok?"), top + 6, "{screen}");
    let keyword = styles_of(&buffer, "fn")[0];
    let name = styles_of(&buffer, "main")[0];
    let number = styles_of(&buffer, "42")[0];
    for style in [keyword, name, number] {
        assert!(matches!(style.fg, Some(Color::Rgb(..))), "{style:?}");
    }
    assert_ne!(keyword.fg, name.fg, "a keyword and a name differ");
    assert_ne!(keyword.fg, number.fg, "a keyword and a number differ");
    assert!(styles_of(&buffer, "try").iter().all(is_plain));
}

#[test]
fn inline_code_and_bold_and_italic_are_styled() {
    let text = "run `cargo test -p x` **now** or *later*";
    let buffer = bob_says(text);
    let screen = screen_text(&buffer);
    assert!(
        screen.contains("run cargo test -p x now or later"),
        "{screen}"
    );
    for style in styles_of(&buffer, "cargo test -p x") {
        assert_eq!(style.fg, Some(Color::LightYellow), "{style:?}");
        assert_eq!(style.bg, Some(Color::Indexed(236)), "{style:?}");
    }
    assert!(
        styles_of(&buffer, "now")
            .iter()
            .all(|s| s.add_modifier.contains(Modifier::BOLD))
    );
    assert!(
        styles_of(&buffer, "later")
            .iter()
            .all(|s| s.add_modifier.contains(Modifier::ITALIC))
    );
    assert!(styles_of(&buffer, "run").iter().all(is_plain));
}

#[test]
fn inline_code_is_not_broken_at_its_spaces() {
    // The pane is 52 columns wide inside: the code would straddle the edge.
    let text = format!("{} `cargo build --release`", "word ".repeat(8));
    let screen = screen_text(&bob_says(&text));
    assert!(
        screen
            .lines()
            .any(|l| l.contains("  cargo build --release")),
        "{screen}"
    );
}

#[test]
fn links_are_underlined() {
    let text = "see https://example.com/x, or [the docs](https://docs.rs/ratatui).";
    let buffer = bob_says(text);
    for needle in ["https://example.com/x", "the docs"] {
        for style in styles_of(&buffer, needle) {
            assert!(
                style.add_modifier.contains(Modifier::UNDERLINED),
                "{needle}: {style:?}"
            );
        }
    }
    assert!(styles_of(&buffer, "see").iter().all(is_plain));
    let comma = styles_of(&buffer, "x,")[1];
    assert!(
        !comma.add_modifier.contains(Modifier::UNDERLINED),
        "the comma ends the sentence, not the address"
    );
}

#[test]
fn quotes_stand_behind_a_bar() {
    let screen = screen_text(&bob_says("> to be\n\nor not"));
    assert!(screen.contains("  ▎ to be"), "{screen}");
    assert!(screen.contains("  or not"), "{screen}");
}

#[test]
fn what_lies_outside_the_subset_is_shown_as_written() {
    let text = "# heading\n1. list\n2. more\n- item **x**\n\n---\n<b>tag</b>\n    indented";
    let buffer = bob_says(text);
    let screen = screen_text(&buffer);
    for row in [
        "  # heading",
        "  1. list",
        "  2. more",
        "  - item **x**",
        "  ---",
        "  <b>tag</b>",
        "      indented",
    ] {
        assert!(screen.contains(row), "{row:?} missing:\n{screen}");
    }
    assert!(styles_of(&buffer, "# heading").iter().all(is_plain));
}

#[test]
fn escape_characters_are_neutralised_in_code_and_entities() {
    let text = "`a\x1b[2Jb` &#27;]0;title&#7;\n```sh\necho \x1b]52;c;eA==\x07 \u{202E}x\n```";
    let buffer = bob_says(text);
    let screen = screen_text(&buffer);
    for c in screen.chars() {
        assert!(!c.is_control() || c == '\n', "{c:?} reached the screen");
        assert_ne!(c, '\u{202E}');
    }
    assert!(screen.contains("a\u{FFFD}[2Jb"), "{screen}");
    assert!(screen.contains("\u{FFFD}]0;title\u{FFFD}"), "{screen}");
    assert!(
        screen.contains("│ echo \u{FFFD}]52;c;eA==\u{FFFD} \u{FFFD}x"),
        "{screen}"
    );
}

#[test]
fn a_code_line_wider_than_the_pane_goes_on_after_a_mark() {
    let long: String = ('a'..='z').cycle().take(70).collect();
    let screen = screen_text(&bob_says(&format!("```\n{long}\n```")));
    // 52 columns inside the pane: the gutter and the bar take 4.
    let (first, rest) = long.split_at(48);
    assert!(screen.contains(&format!("  │ {first}│")), "{screen}");
    assert!(screen.contains(&format!("  │ ↪{rest}")), "{screen}");
}

fn links_message(id: i64, content: &str) -> ChatMessage {
    message(id, 10, &bob(), content)
}

/// Alice chatting with bob, the messages pane focused, two messages with links.
fn with_links(now: Instant) -> App {
    let mut app = chatting(
        now,
        vec![
            links_message(
                5,
                "docs: [ratatui](https://docs.rs/ratatui) and https://example.com/a",
            ),
            links_message(6, "again https://example.com/a, and `https://not.a/link`"),
            links_message(7, "last: https://example.com/b"),
        ],
    );
    app.focus = Focus::Messages;
    app
}

#[test]
fn the_picker_lists_the_links_on_screen_numbered_and_opens_the_chosen_one() {
    let now = Instant::now();
    let mut app = with_links(now);
    assert!(update(&mut app, Event::char('o'), now).is_empty());
    let screen = screen_text(&draw(&app));
    assert!(
        screen.contains("› 1 ratatui  https://docs.rs/ratatui"),
        "{screen}"
    );
    assert!(screen.contains("  2 https://example.com/a "), "{screen}");
    assert!(screen.contains("  3 https://example.com/b "), "{screen}");
    assert!(
        !screen.contains("  4 "),
        "each address once, none in code:\n{screen}"
    );
    let out = update(&mut app, Event::char('2'), now);
    assert_eq!(out, vec![Effect::Open("https://example.com/a".into())]);
    assert_eq!(app.links, None, "the picker closes");
    assert!(screen_text(&draw(&app)).contains("opening https://example.com/a"));
}

#[test]
fn the_picker_copies_with_y_and_moves_with_the_arrows() {
    let now = Instant::now();
    let mut app = with_links(now);
    update(&mut app, Event::char('o'), now);
    update(&mut app, Event::key(KeyCode::Down), now);
    update(&mut app, Event::key(KeyCode::Down), now);
    update(&mut app, Event::key(KeyCode::Down), now);
    let out = update(&mut app, Event::char('y'), now);
    assert_eq!(out, vec![Effect::Copy("https://example.com/b".into())]);
    update(&mut app, Event::char('o'), now);
    update(&mut app, Event::key(KeyCode::Down), now);
    assert!(update(&mut app, Event::key(KeyCode::Esc), now).is_empty());
    assert_eq!(app.links, None);
    let out = update(&mut app, Event::char('o'), now);
    assert!(out.is_empty());
    let out = update(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(out, vec![Effect::Open("https://docs.rs/ratatui".into())]);
}

#[test]
fn with_a_chosen_message_the_picker_has_its_links_only() {
    let now = Instant::now();
    let mut app = with_links(now);
    update(&mut app, Event::key(KeyCode::Up), now);
    update(&mut app, Event::key(KeyCode::Up), now);
    assert_eq!(app.selected_message().map(|m| m.id), Some(6));
    update(&mut app, Event::char('o'), now);
    let links = app.links.as_ref().map(|p| p.links.len());
    assert_eq!(links, Some(1), "{:?}", app.links);
    let out = update(&mut app, Event::char('1'), now);
    assert_eq!(out, vec![Effect::Open("https://example.com/a".into())]);
    update(&mut app, Event::key(KeyCode::Up), now);
    update(&mut app, Event::char('o'), now);
    assert_eq!(app.links.as_ref().map(|p| p.links.len()), Some(2));
}

#[test]
fn without_links_o_says_so() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "no links here")]);
    app.focus = Focus::Messages;
    assert!(update(&mut app, Event::char('o'), now).is_empty());
    assert_eq!(app.links, None);
    assert!(screen_text(&draw(&app)).contains("no links in the messages on screen"));
}

/// Not a timing test: prints how long loading the grammars takes, then laying out a thread
/// with a 200-line Rust block the first time (highlighting it) and again (kept), and a frame.
#[test]
fn a_long_code_block_is_highlighted_once() {
    let now = Instant::now();
    let started = Instant::now();
    super::super::syntax::highlight("let x = 1;", "rust");
    let load = started.elapsed();
    let body: Vec<String> = (0..200)
        .map(|i| format!("    let value_{i} = compute({i}, \"text\") * 2; // note"))
        .collect();
    let code = format!("```rust\nfn main() {{\n{}\n}}\n```", body.join("\n"));
    let app = chatting(now, vec![message(5, 10, &bob(), &code)]);
    let conv = 10;
    let thread = app.open_thread().expect("open");
    let started = Instant::now();
    let lines = thread_lines(&app, conv, thread, 52);
    let first = started.elapsed();
    let started = Instant::now();
    let again = thread_lines(&app, conv, thread, 52);
    let second = started.elapsed();
    let started = Instant::now();
    draw(&app);
    let frame = started.elapsed();
    assert_eq!(lines, again);
    assert!(lines.len() > 200, "{}", lines.len());
    eprintln!(
        "grammars {load:?}; 200-line code block: first layout {first:?} (highlighting), \
         then {second:?}; a whole 80x24 frame {frame:?}"
    );
}
