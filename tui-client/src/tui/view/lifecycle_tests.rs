//! Render tests of the message lifecycle: replies with their quote, "(edited)", "message
//! deleted", reactions (ours bold), the chosen message, the composer answering or editing,
//! the delete confirmation and the reaction picker.

use std::time::Instant;

use chat_shared::{ChatMessage, Reaction, ReplyRef, Timestamp};
use ratatui::style::Modifier;
use ratatui::{Terminal, backend::TestBackend};

use super::super::app::{App, Focus};
use super::super::event::{Event, KeyCode};
use super::super::fixtures::*;
use super::super::update::update;
use super::{render, render_to_string};

fn reply_to(
    id: i64,
    sender: &chat_shared::UserRef,
    excerpt: &str,
    deleted: bool,
) -> Option<Option<Box<ReplyRef>>> {
    Some(Some(Box::new(ReplyRef {
        id,
        sender: sender.clone(),
        excerpt: excerpt.into(),
        deleted,
    })))
}

/// Bob's edited 5, alice's reply 6 with reactions, bob's deleted 7, bob's reply 8 to it.
fn lifecycle(now: Instant) -> App {
    chatting(
        now,
        vec![
            ChatMessage {
                edited_at: Some(Some(Timestamp(1))),
                ..message(5, 10, &bob(), "hi alice, lunch at noon?")
            },
            ChatMessage {
                reply_to: reply_to(5, &bob(), "hi alice, lunch at noon?", false),
                reactions: Some(vec![
                    Reaction {
                        emoji: "👍".into(),
                        count: 2,
                        user_ids: vec![2, 1],
                    },
                    Reaction {
                        emoji: "🎉".into(),
                        count: 1,
                        user_ids: vec![2],
                    },
                ]),
                ..message(6, 10, &alice(), "yes 🍜")
            },
            ChatMessage {
                deleted: Some(true),
                reactions: Some(vec![]),
                ..message(7, 10, &bob(), "")
            },
            ChatMessage {
                reply_to: reply_to(7, &bob(), "", true),
                ..message(8, 10, &bob(), "oops")
            },
        ],
    )
}

/// The messages pane's rows at 80 columns: right of the list (26 columns) and its border.
fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let pane: String = l.chars().skip(27).collect();
            pane.trim_end()
                .trim_end_matches(['│', '┃'])
                .trim_end()
                .to_owned()
        })
        .collect()
}

#[test]
fn replies_edits_deletions_and_reactions_show_in_the_thread() {
    let now = Instant::now();
    let app = lifecycle(now);
    let text = render_to_string(&app, 80, 24);
    let lines = lines_of(&text);
    let from = lines
        .iter()
        .position(|l| l.starts_with("bob 12:05"))
        .expect("bob's first message");
    assert_eq!(
        lines[from..from + 11],
        [
            "bob 12:05 (edited)",
            "  hi alice, lunch at noon?",
            "you 12:06 ✓",
            "▌ ↳ bob: hi alice, lunch at noon?",
            "▌ yes 🍜",
            "▌ 👍 2  🎉 1",
            "bob 12:07",
            "  message deleted",
            "bob 12:08",
            "  ↳ message deleted",
            "  oops",
        ],
        "{text}"
    );
}

#[test]
fn our_reactions_are_bold_and_others_are_not() {
    let now = Instant::now();
    let app = lifecycle(now);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal.draw(|frame| render(&app, frame)).expect("drawn");
    let buffer = terminal.backend().buffer();
    let text = render_to_string(&app, 80, 24);
    let row = text
        .lines()
        .position(|l| l.contains("👍 2"))
        .expect("the reactions") as u16;
    let cell = |symbol: &str| {
        (0..80)
            .map(|x| &buffer[(x, row)])
            .find(|c| c.symbol() == symbol)
            .expect("the emoji")
            .modifier
    };
    assert!(cell("👍").contains(Modifier::BOLD), "we gave 👍");
    assert!(!cell("🎉").contains(Modifier::BOLD), "we did not give 🎉");
}

#[test]
fn the_chosen_message_is_marked_and_a_reply_shows_in_the_composer() {
    let now = Instant::now();
    let mut app = lifecycle(now);
    app.focus = Focus::Messages;
    for _ in 0..4 {
        update(&mut app, Event::key(KeyCode::Up), now);
    }
    let text = render_to_string(&app, 80, 24);
    let lines = lines_of(&text);
    assert!(lines.iter().any(|l| l == "▸ bob 12:05 (edited)"), "{text}");
    assert!(
        lines.iter().any(|l| l == "┃ hi alice, lunch at noon?"),
        "{text}"
    );
    assert!(
        text.contains("r reply · e edit · d delete"),
        "the keys, under the pane:\n{text}"
    );
    update(&mut app, Event::char('r'), now);
    let text = render_to_string(&app, 80, 24);
    assert!(!text.contains("▸ bob"), "{text}");
    assert!(text.contains("Reply · Enter send · Esc cancel"), "{text}");
    assert!(
        text.contains("↳ replying to bob: hi alice, lunch at noon?"),
        "{text}"
    );
    update(&mut app, Event::key(KeyCode::Esc), now);
    assert!(!render_to_string(&app, 80, 24).contains("replying to"));
}

#[test]
fn editing_deleting_and_reacting_each_say_what_they_do() {
    let now = Instant::now();
    let mut app = lifecycle(now);
    update(&mut app, Event::key(KeyCode::Up), now);
    let text = render_to_string(&app, 80, 24);
    assert!(text.contains("✎ editing your message"), "{text}");
    assert!(text.contains("Edit · Enter save · Esc cancel"), "{text}");
    assert!(text.contains("┃yes 🍜"), "the text to change:\n{text}");
    update(&mut app, Event::key(KeyCode::Esc), now);

    app.focus = Focus::Messages;
    update(&mut app, Event::key(KeyCode::Up), now);
    update(&mut app, Event::key(KeyCode::Up), now);
    update(&mut app, Event::key(KeyCode::Up), now);
    update(&mut app, Event::char('d'), now);
    let text = render_to_string(&app, 80, 24);
    assert!(text.contains("“yes 🍜”"), "{text}");
    assert!(
        text.contains("Delete it for everyone?  y yes · n no"),
        "{text}"
    );
    update(&mut app, Event::char('n'), now);

    update(&mut app, Event::char('+'), now);
    let text = render_to_string(&app, 80, 24);
    // ❤️ without its presentation selector: one column on every terminal.
    assert!(text.contains("1👍  2❤  3😄  4🎉  5👀  6✅  7🙏"), "{text}");
    assert!(text.contains("or type one:"), "{text}");
}
