//! Render tests of presence: the list's dots, the open conversation's "online" / "last seen",
//! a group's "N online", our own "hidden", at 80×24 and 50×12.

use std::time::Instant;

use chat_shared::ServerMsg;
use ratatui::style::Color;
use ratatui::{Terminal, backend::TestBackend};

use super::super::app::App;
use super::super::event::{Event, KeyCode};
use super::super::fixtures::*;
use super::super::update::update;
use super::{render, render_to_string};

fn screen(app: &App) -> String {
    render_to_string(app, app.size.0, app.size.1)
}

/// The list pane's first `n` rows, inside its borders, trailing spaces trimmed.
fn list_rows(screen: &str, n: usize) -> Vec<String> {
    let width = screen.lines().next().map_or(0, |top| {
        top.chars().position(|c| c == '┐' || c == '┓').unwrap_or(0)
    });
    screen
        .lines()
        .skip(1)
        .take(n)
        .map(|row| {
            let inside: String = row.chars().skip(1).take(width - 1).collect();
            inside.trim_end().to_owned()
        })
        .collect()
}

/// Alice chatting with bob, who (the list says) is online; carol hides her presence. The wall
/// clock says minute 5.
fn chatting_with_bob_online(now: Instant) -> App {
    let mut app = chatting(now, vec![message(1, 10, &bob(), "hi alice")]);
    let items = vec![
        with_presence(
            list_item(10, &bob(), Some(message(1, 10, &bob(), "hi alice")), 0),
            &bob(),
            Some(true),
            Some(at(0)),
        ),
        with_presence(list_item(11, &carol(), None, 0), &carol(), None, None),
    ];
    update(&mut app, list(items), now);
    app.wall = Some(at(5));
    app
}

#[test]
fn the_list_has_a_dot_for_a_peer_who_shows_presence_and_the_title_says_online() {
    let now = Instant::now();
    let app = chatting_with_bob_online(now);
    let text = screen(&app);
    let rows = list_rows(&text, 3);
    assert_eq!(rows, ["▶ ● bob", "    hi alice", "    carol"], "{text}");
    assert!(text.contains("┌ bob · online ─"), "{text}");
}

#[test]
fn offline_is_a_hollow_dot_and_last_seen_counts_on_with_the_clock() {
    let now = Instant::now();
    let mut app = chatting_with_bob_online(now);
    update(&mut app, presence(101, &bob(), false, Some(at(2))), now);
    let text = screen(&app);
    assert_eq!(list_rows(&text, 1), ["▶ ○ bob"], "{text}");
    assert!(text.contains("┌ bob · last seen 3 min ago ─"), "{text}");
    // The next ticks, an hour and a day on: the same frame, read anew.
    app.wall = Some(at(2 + 60));
    update(&mut app, Event::Tick, now);
    assert!(screen(&app).contains("┌ bob · last seen 1 h ago ─"));
    app.wall = Some(at(2 + 24 * 60));
    assert!(screen(&app).contains("┌ bob · last seen yesterday 12:02 ─"));
    app.wall = Some(at(2 + 3 * 24 * 60));
    assert!(screen(&app).contains("┌ bob · last seen 2025-07-07 ─"));
    // Never seen since the server knows presence: just offline.
    let items = vec![with_presence(
        list_item(10, &bob(), None, 0),
        &bob(),
        Some(false),
        None,
    )];
    update(&mut app, list(items), now);
    assert!(screen(&app).contains("┌ bob · offline ─"));
}

#[test]
fn a_peer_who_hides_presence_shows_no_dot_and_nothing_in_the_title() {
    let now = Instant::now();
    let mut app = chatting_with_bob_online(now);
    update(&mut app, presence(101, &bob(), false, None), now);
    let text = screen(&app);
    let rows = list_rows(&text, 3);
    assert_eq!(
        rows,
        ["▶ bob", "  hi alice", "  carol"],
        "no column kept for dots:\n{text}"
    );
    assert!(text.contains("┌ bob ─"), "{text}");
}

#[test]
fn dots_differ_in_shape_not_only_in_colour() {
    let now = Instant::now();
    let mut app = chatting_with_bob_online(now);
    update(&mut app, presence(101, &carol(), false, Some(at(1))), now);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal.draw(|frame| render(&app, frame)).expect("drawn");
    let buffer = terminal.backend().buffer();
    // Row 1 is bob's (open, online), row 3 carol's (offline), column 3 their dot.
    assert_eq!(buffer[(3, 1)].symbol(), "●");
    assert_eq!(buffer[(3, 1)].fg, Color::Green);
    assert_eq!(buffer[(3, 3)].symbol(), "○");
    assert_eq!(buffer[(3, 3)].fg, Color::DarkGray);
}

#[test]
fn a_group_title_counts_the_other_members_online() {
    let now = Instant::now();
    let mut app = in_group(now, vec![message(41, 20, &bob(), "morning")]);
    assert!(
        screen(&app).contains("┌ Deploys · 3 members ─"),
        "unknown: no count"
    );
    update(&mut app, presence(101, &bob(), true, Some(at(1))), now);
    update(&mut app, presence(102, &carol(), false, Some(at(1))), now);
    let text = screen(&app);
    assert!(
        text.contains("┌ Deploys · 3 members · 1 online ─"),
        "{text}"
    );
    update(&mut app, presence(103, &carol(), true, Some(at(2))), now);
    assert!(screen(&app).contains("┌ Deploys · 3 members · 2 online ─"));
}

#[test]
fn hidden_shows_beside_our_name_while_our_presence_is_hidden() {
    let now = Instant::now();
    let mut app = chatting_with_bob_online(now);
    update(&mut app, server(welcome(false)), now);
    let text = screen(&app);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(" alice (hidden) @ 127.0.0.1:8000 ● connected"),
        "{text}"
    );
    update(
        &mut app,
        server(ServerMsg::PresenceSet { visible: true }),
        now,
    );
    let text = screen(&app);
    assert!(!text.contains("(hidden)"), "{text}");
}

#[test]
fn at_50_by_12_last_seen_shortens_to_seen_before_the_name_gives_way() {
    let now = Instant::now();
    let mut app = chatting_with_bob_online(now);
    update(&mut app, presence(101, &bob(), false, Some(at(0))), now);
    update(&mut app, server(welcome(false)), now);
    update(&mut app, Event::key(KeyCode::Esc), now);
    app.size = (50, 12);
    app.wall = Some(at(24 * 60 + 30));
    let text = screen(&app);
    let expected = "\
┏ Chats ━━━━━━━┓┌ bob · seen yesterday 12:00 ────┐
┃▶ ○ bob       ┃│        ── 2025-07-07 ──        │
┃    hi alice  ┃│bob 12:01                       │
┃    carol     ┃│  hi alice                      │
┃              ┃│                                │
┃              ┃│                                │
┃              ┃└────────────────────────────────┘
┃              ┃
┃              ┃┌ Message ───────────────────────┐
┃              ┃│Tab or i to write               │
┗━━━━━━━━━━━━━━┛└────────────────────────────────┘
 alice (hidden) @ 127.0.0.1:8000 ● connected
";
    assert_eq!(text, expected, "\n{text}");
}
