//! Render tests: draw into ratatui's `TestBackend` and read the screen's text.

use std::time::{Duration, Instant};

use chat_shared::{ErrorCode, ServerMsg};

use super::super::app::App;
use super::super::event::{Event, KeyCode, NetStatus};
use super::super::fixtures::*;
use super::super::update::update;
use super::render_to_string;

fn screen(app: &App) -> String {
    render_to_string(app, app.size.0, app.size.1)
}

/// The screen's rows that contain `needle`.
fn rows_with<'a>(screen: &'a str, needle: &str) -> Vec<&'a str> {
    screen.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn the_list_shows_unread_counts() {
    let now = Instant::now();
    let mut app = connected(now);
    for id in [20, 21] {
        let m = message(id, 11, &carol(), "are you there?");
        update(
            &mut app,
            Event::Server(ServerMsg::Message { message: m }),
            now,
        );
    }
    let text = screen(&app);
    let row = rows_with(&text, "carol");
    assert_eq!(row.len(), 1, "{text}");
    assert!(row[0].contains("carol (2)"), "{text}");
    assert!(text.contains("are you there?"), "{text}");
    assert!(!text.contains("bob ("), "bob has nothing unread:\n{text}");
}

#[test]
fn the_typing_indicator_appears_and_vanishes_after_two_seconds() {
    let t0 = Instant::now();
    let mut app = chatting(t0, vec![message(5, 10, &bob(), "hi alice")]);
    assert!(!screen(&app).contains("is typing"));
    let typing = ServerMsg::Typing {
        sender_id: 2,
        conversation_id: None,
        is_typing: true,
    };
    update(&mut app, Event::Server(typing), t0);
    let text = screen(&app);
    assert_eq!(rows_with(&text, "bob is typing…").len(), 1, "{text}");
    update(&mut app, Event::Tick, t0 + Duration::from_millis(1999));
    assert!(screen(&app).contains("bob is typing…"));
    update(&mut app, Event::Tick, t0 + Duration::from_secs(2));
    let text = screen(&app);
    assert!(!text.contains("is typing"), "{text}");
    assert!(
        !text.contains("typing…"),
        "the list preview is back too:\n{text}"
    );
}

#[test]
fn seen_marks_the_last_message_the_other_side_read() {
    let now = Instant::now();
    let mut app = chatting(
        now,
        vec![
            message(5, 10, &bob(), "hi alice"),
            message(6, 10, &alice(), "hello bob"),
            message(7, 10, &alice(), "how are you?"),
        ],
    );
    assert!(!screen(&app).contains("seen"));
    let seen = ServerMsg::MessageStatus {
        message_id: 6,
        status: chat_shared::MessageStatus::Seen,
    };
    update(&mut app, Event::Server(seen), now);
    let text = screen(&app);
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    assert_eq!(at("seen"), at("hello bob").map(|i| i + 1), "{text}");
    update(
        &mut app,
        Event::Server(ServerMsg::Read {
            conversation_id: 10,
            reader_id: 2,
        }),
        now,
    );
    let text = screen(&app);
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    assert_eq!(
        rows_with(&text, "seen").len(),
        1,
        "only under the last one:\n{text}"
    );
    assert_eq!(at("seen"), at("▌ how are you?").map(|i| i + 1), "{text}");
}

#[test]
fn an_error_frame_shows_in_the_status_bar_then_goes() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    let error = ServerMsg::Error {
        code: ErrorCode::InvalidContent,
        message: "content must not be empty".into(),
        request_type: Some("chat.message".into()),
    };
    update(&mut app, Event::Server(error), t0);
    let text = screen(&app);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("error: content must not be empty (invalid_content)"),
        "{text}"
    );
    update(&mut app, Event::Tick, t0 + Duration::from_secs(6));
    let text = screen(&app);
    assert!(!text.contains("error:"), "{text}");
    assert!(
        text.lines().last().unwrap_or_default().contains("? help"),
        "{text}"
    );
}

#[test]
fn the_status_bar_tells_the_connection_state() {
    let now = Instant::now();
    let mut app = connected(now);
    let text = screen(&app);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("alice @ 127.0.0.1:8000 ● connected"),
        "{last}"
    );
    let lost = NetStatus::Disconnected {
        reason: "connection reset".into(),
        retry_in: Duration::from_secs(2),
    };
    update(&mut app, Event::Net(lost), now);
    let text = screen(&app);
    assert!(
        text.contains("disconnected: retrying in 2s (connection reset)"),
        "{text}"
    );
    update(&mut app, Event::Tick, now + Duration::from_millis(1500));
    assert!(screen(&app).contains("disconnected: retrying in 1s"));
    update(&mut app, Event::Tick, now + Duration::from_secs(2));
    assert!(screen(&app).contains("disconnected: retrying now"));
    update(&mut app, Event::Net(NetStatus::Connecting), now);
    assert!(screen(&app).contains("◌ connecting…"));
}

#[test]
fn a_small_chat_screen_exactly() {
    let now = Instant::now();
    let mut app = chatting(
        now,
        vec![
            message(5, 10, &bob(), "hi alice"),
            message(6, 10, &alice(), "hello bob, long time no see"),
        ],
    );
    app.size = (60, 12);
    update(
        &mut app,
        Event::Server(ServerMsg::Typing {
            sender_id: 2,
            conversation_id: None,
            is_typing: true,
        }),
        now,
    );
    let text = screen(&app);
    let expected = "\
┌ Chats ───────────┐┌ bob ─────────────────────────────────┐
│▶ bob             ││           ── 2025-07-07 ──           │
│  typing…         ││bob 12:05                             │
│  carol           ││  hi alice                            │
│                  ││you 12:06 ✓                           │
│                  ││▌ hello bob, long time no see         │
│                  │└──────────────────────────────────────┘
│                  │ bob is typing…
│                  │┏ Message · Enter send · Alt-Enter new ┓
│                  │┃                                      ┃
└──────────────────┘┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛
 alice @ 127.0.0.1:8000 ● connected                  ? help
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn long_messages_wide_characters_and_emoji_wrap_inside_the_pane() {
    let now = Instant::now();
    let long = "word ".repeat(60) + "日本語のテキスト 😀😀😀 done";
    let app = chatting(now, vec![message(5, 10, &bob(), &long)]);
    let text = screen(&app);
    assert!(text.contains("😀😀😀 done"), "{text}");
    for line in text.lines() {
        assert!(
            unicode_width::UnicodeWidthStr::width(line) <= 80,
            "too wide: {line:?}"
        );
    }
    assert!(rows_with(&text, "word word").len() >= 4, "{text}");
}

#[test]
fn a_tiny_terminal_does_not_crash() {
    let now = Instant::now();
    let app = chatting(now, vec![message(5, 10, &bob(), "hi")]);
    for (w, h) in [(1, 1), (10, 3), (39, 9), (40, 10), (41, 30), (200, 5)] {
        let text = render_to_string(&app, w, h);
        assert_eq!(text.lines().count(), usize::from(h));
        if w < 40 || h < 10 {
            assert!(
                text.replace('\n', "").contains("Term") || w < 5,
                "{w}x{h}: {text}"
            );
        }
    }
    let mut app = App::new("http://127.0.0.1:8000");
    for (w, h) in [(40, 10), (45, 11)] {
        app.size = (w, h);
        render_to_string(&app, w, h);
    }
}

#[test]
fn the_sign_in_screen_shows_why_it_failed() {
    let now = Instant::now();
    let mut app = App::new("http://127.0.0.1:9");
    update(
        &mut app,
        Event::Auth(Err("Wrong username or password.".into())),
        now,
    );
    let text = screen(&app);
    assert!(text.contains("chat · sign in"), "{text}");
    assert!(text.contains("Server    http://127.0.0.1:9"), "{text}");
    assert!(text.contains("Wrong username or password."), "{text}");
    update(&mut app, Event::key(KeyCode::Tab), now);
    for e in Event::typed("secret12") {
        update(&mut app, e, now);
    }
    let text = screen(&app);
    assert!(
        !text.contains("secret12"),
        "the password is masked:\n{text}"
    );
    assert!(text.contains("••••••••"), "{text}");
}

#[test]
fn a_long_sign_in_message_wraps_in_line_with_its_first_line() {
    let now = Instant::now();
    let mut app = App::new("http://127.0.0.1:9");
    update(&mut app, Event::Net(NetStatus::SessionEnded), now);
    let text = screen(&app);
    let first = rows_with(&text, "Your session was ended");
    let second = rows_with(&text, "Sign in again.");
    assert_eq!(first.len(), 1, "{text}");
    assert_eq!(second.len(), 1, "{text}");
    assert!(
        first[0].contains("┃ Your session was ended (signed out elsewhere or password"),
        "{text}"
    );
    assert!(second[0].contains("┃ changed). Sign in again."), "{text}");
}

#[test]
fn help_lists_every_key_and_search_shows_results() {
    let now = Instant::now();
    let mut app = connected(now);
    update(&mut app, Event::char('?'), now);
    let text = screen(&app);
    for (key, _) in super::KEYS {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    update(&mut app, Event::key(KeyCode::Esc), now);
    update(&mut app, Event::char('/'), now);
    for e in Event::typed("ca") {
        update(&mut app, e, now);
    }
    update(
        &mut app,
        Event::Server(ServerMsg::SearchResults {
            results: vec![carol()],
        }),
        now,
    );
    let text = screen(&app);
    assert!(text.contains("name: ca"), "{text}");
    assert!(text.contains("› carol  (open chat)"), "{text}");
}

#[test]
fn system_messages_have_no_sender_line() {
    let now = Instant::now();
    let mut note = message(5, 10, &bob(), "bob joined");
    note.is_system = true;
    let app = chatting(now, vec![note, message(6, 10, &bob(), "hello")]);
    let text = screen(&app);
    assert_eq!(rows_with(&text, "bob joined").len(), 1, "{text}");
    assert_eq!(
        rows_with(&text, "bob 12:0").len(),
        1,
        "only the real message:\n{text}"
    );
}
