//! Render tests of a three-person group: created, written in, typed in, read, and a member
//! removed, drawn into `TestBackend`.

use std::time::Instant;

use chat_shared::{EventKind, ServerMsg};
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

/// The group "Deploys" of alice, bob and carol, open, with a little said in it.
fn deploys(now: Instant) -> App {
    let mut ask = message(42, 20, &carol(), "@alice deploy?");
    ask.mentions = Some(vec![1]);
    let mut app = in_group(
        now,
        vec![
            system(40, 20, &alice(), &alice(), EventKind::Created),
            message(41, 20, &bob(), "morning"),
            ask,
            message(43, 20, &alice(), "on it"),
        ],
    );
    app.size = (64, 16);
    app
}

fn typing(app: &mut App, sender_id: i64, now: Instant) {
    let frame = ServerMsg::Typing {
        sender_id,
        conversation_id: Some(20),
        is_typing: true,
    };
    update(app, server(frame), now);
}

#[test]
fn a_group_shows_its_title_members_senders_system_lines_and_who_types() {
    let now = Instant::now();
    let mut app = deploys(now);
    typing(&mut app, 2, now);
    typing(&mut app, 3, now);
    let text = screen(&app);
    let expected = "\
┌ Chats ────────────┐┌ Deploys · 3 members ────────────────────┐
│▶ Deploys · 3      ││            ── 2025-07-07 ──             │
│  typing…          ││         alice created the group         │
│  bob              ││bob 12:41                                │
│  hi alice         ││  morning                                │
│  carol            ││carol 12:42                              │
│                   ││  @alice deploy?                         │
│                   ││you 12:43 ✓                              │
│                   ││▌ on it                                  │
│                   ││                                         │
│                   │└─────────────────────────────────────────┘
│                   │ bob and carol are typing…
│                   │┏ Message · Enter send · Alt-Enter new lin┓
│                   │┃                                         ┃
└───────────────────┘┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛
 alice @ 127.0.0.1:8000 ● connected                      ? help
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn a_mention_of_us_is_highlighted() {
    let now = Instant::now();
    let app = deploys(now);
    let mut terminal = Terminal::new(TestBackend::new(64, 16)).expect("test terminal");
    terminal.draw(|frame| render(&app, frame)).expect("drawn");
    let buffer = terminal.backend().buffer();
    let text = screen(&app);
    let row = text
        .lines()
        .position(|l| l.contains("@alice deploy?"))
        .expect("the mention is shown") as u16;
    let line: String = (0..64).map(|x| buffer[(x, row)].symbol()).collect();
    let at = line
        .chars()
        .position(|c| c == '@')
        .expect("an @ in the row") as u16;
    assert_eq!(buffer[(at, row)].bg, Color::Yellow, "{text}");
    assert_eq!(buffer[(at + 5, row)].bg, Color::Yellow, "the whole @alice");
    assert_ne!(buffer[(at + 6, row)].bg, Color::Yellow, "not what follows");
}

#[test]
fn creating_a_group_picks_members_in_the_search_box() {
    let now = Instant::now();
    let mut app = connected(now);
    app.size = (80, 24);
    app.focus = super::super::app::Focus::Composer;
    for e in Event::typed("/group Deploys") {
        update(&mut app, e, now);
    }
    update(&mut app, Event::key(KeyCode::Enter), now);
    for e in Event::typed("o") {
        update(&mut app, e, now);
    }
    let results = vec![bob(), carol()];
    update(&mut app, server(ServerMsg::SearchResults { results }), now);
    update(&mut app, Event::key(KeyCode::Enter), now);
    let text = screen(&app);
    assert!(
        text.contains("Pick members · Enter pick · Ctrl-D done"),
        "{text}"
    );
    assert!(text.contains("new group “Deploys”: bob"), "{text}");
    assert!(text.contains("› bob  (picked)"), "{text}");
    assert!(!text.contains("carol  (picked)"), "{text}");
}

#[test]
fn receipts_say_who_read_who_received_and_who_has_neither() {
    let now = Instant::now();
    let mut app = deploys(now);
    let receipts = ServerMsg::Receipts {
        message_id: 43,
        read_by: vec![bob()],
        delivered_to: vec![bob()],
    };
    update(&mut app, server(receipts), now);
    let text = screen(&app);
    assert!(text.contains("Receipts · Esc closes"), "{text}");
    assert!(text.contains("“on it”"), "{text}");
    assert!(text.contains("read by:      bob"), "{text}");
    assert!(text.contains("delivered to: nobody"), "{text}");
    assert!(text.contains("not yet:      carol"), "{text}");
    update(&mut app, Event::key(KeyCode::Esc), now);
    assert!(!screen(&app).contains("Receipts"));
}

#[test]
fn a_removed_member_leaves_the_count_and_a_system_line() {
    let now = Instant::now();
    let mut app = deploys(now);
    update(
        &mut app,
        updated(group(20, "Deploys", &[alice(), bob()]), false),
        now,
    );
    let removed = system(44, 20, &alice(), &carol(), EventKind::MemberRemoved);
    update(
        &mut app,
        server(ServerMsg::Message { message: removed }),
        now,
    );
    let text = screen(&app);
    assert!(text.contains("┌ Deploys · 2 members "), "{text}");
    assert!(text.contains("│▶ Deploys · 2 "), "{text}");
    assert!(text.contains("alice removed carol"), "{text}");
    assert!(!text.contains("alice 12:44"), "no sender line:\n{text}");
}

#[test]
fn a_muted_conversation_says_so() {
    let now = Instant::now();
    let mut app = deploys(now);
    let mut conversation = group(20, "Deploys", &[alice(), bob(), carol()]);
    conversation.info.muted = Some(true);
    update(&mut app, updated(conversation, false), now);
    let text = screen(&app);
    assert!(
        text.contains("│▶ De… · 3 · muted"),
        "the name gives way:\n{text}"
    );
    assert!(text.contains("┌ Deploys · 3 members · muted "), "{text}");
}
