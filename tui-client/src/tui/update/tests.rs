//! `update` driven event by event with a controlled clock.

use std::time::{Duration, Instant};

use chat_shared::{ClientMsg, ErrorCode, MessageStatus, ServerMsg, UserRef};

use super::super::app::{Conn, Fetch, Focus, PAGE, Screen};
use super::super::effect::Effect;
use super::super::event::{Event, KeyCode, KeyModifiers, NetStatus, SignedIn};
use super::super::fixtures::*;
use super::update;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn connecting_asks_for_conversations_and_fills_the_list() {
    let now = Instant::now();
    let app = connected(now);
    assert_eq!(app.conn, Conn::Connected);
    let names: Vec<_> = app.conversations.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["bob", "carol"]);
    assert_eq!(app.conversations[0].preview.as_deref(), Some("hi alice"));
}

#[test]
fn opening_a_conversation_loads_it_and_marks_it_read() {
    let now = Instant::now();
    let mut app = connected(now);
    app.conversations[1].unread = 3;
    step(&mut app, Event::char('j'), now);
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(
        out,
        vec![
            ClientMsg::GetMessages {
                conversation_id: 11,
                before_id: None,
                limit: Some(PAGE)
            },
            ClientMsg::Read {
                conversation_id: 11
            }
        ]
    );
    assert_eq!(app.open, Some(11));
    assert_eq!(app.focus, Focus::Composer);
    assert_eq!(app.conversations[1].unread, 0);
}

#[test]
fn a_message_elsewhere_raises_unread_once_and_rings() {
    let now = Instant::now();
    let mut app = connected(now);
    let m = message(20, 11, &carol(), "ping");
    let out = update(
        &mut app,
        server(ServerMsg::Message { message: m.clone() }),
        now,
    );
    assert_eq!(
        out,
        vec![
            Effect::Send(ClientMsg::Delivered { message_id: 20 }),
            Effect::Bell
        ]
    );
    assert_eq!(app.conversations[0].id, 11, "moved to the top");
    assert_eq!(app.conversations[0].unread, 1);
    assert_eq!(app.conversations[0].preview.as_deref(), Some("ping"));
    // The same message again (a replay after reconnecting) changes nothing.
    let out = update(&mut app, server(ServerMsg::Message { message: m }), now);
    assert_eq!(app.conversations[0].unread, 1);
    assert!(!out.contains(&Effect::Bell));
}

#[test]
fn the_bell_can_be_turned_off() {
    let now = Instant::now();
    let mut app = connected(now);
    step(&mut app, Event::char('b'), now);
    assert!(!app.bell_enabled);
    let m = message(20, 11, &carol(), "ping");
    let out = update(&mut app, server(ServerMsg::Message { message: m }), now);
    assert!(!out.contains(&Effect::Bell));
}

#[test]
fn a_message_in_the_open_conversation_is_marked_read_at_once() {
    let opened = Instant::now();
    let mut app = chatting(opened, vec![message(5, 10, &bob(), "hi alice")]);
    let now = opened + ms(1000);
    let out = update(
        &mut app,
        server(ServerMsg::Message {
            message: message(21, 10, &bob(), "how are you"),
        }),
        now,
    );
    assert_eq!(
        out,
        vec![Effect::Send(ClientMsg::Read {
            conversation_id: 10
        })]
    );
    assert!(!out.contains(&Effect::Bell));
    assert_eq!(app.conversation(10).map(|c| c.unread), Some(0));
    let ids: Vec<_> = app
        .open_thread()
        .map(|t| t.messages.iter().map(|m| m.id).collect())
        .unwrap_or_default();
    assert_eq!(ids, [5, 21]);
}

#[test]
fn incoming_typing_lasts_two_seconds_after_the_last_true() {
    let t0 = Instant::now();
    let mut app = chatting(t0, vec![]);
    let typing = |on| {
        server(ServerMsg::Typing {
            sender_id: 2,
            conversation_id: None,
            is_typing: on,
        })
    };
    step(&mut app, typing(true), t0);
    assert_eq!(app.typing_in_open(), ["bob"]);
    step(&mut app, Event::Tick, t0 + ms(1900));
    assert_eq!(app.typing_in_open(), ["bob"]);
    step(&mut app, typing(true), t0 + ms(1500));
    step(&mut app, Event::Tick, t0 + ms(3000));
    assert_eq!(app.typing_in_open(), ["bob"], "renewed by the second true");
    step(&mut app, Event::Tick, t0 + ms(3500));
    assert!(app.typing_in_open().is_empty());
    // An explicit false ends it at once, and so does a message from the typer.
    step(&mut app, typing(true), t0 + ms(4000));
    step(&mut app, typing(false), t0 + ms(4100));
    assert!(app.typing_in_open().is_empty());
    step(&mut app, typing(true), t0 + ms(4200));
    step(
        &mut app,
        server(ServerMsg::Message {
            message: message(30, 10, &bob(), "done"),
        }),
        t0 + ms(4300),
    );
    assert!(app.typing_in_open().is_empty());
}

#[test]
fn our_typing_is_sent_at_most_once_a_second_and_stops_after_two_idle_seconds() {
    let t0 = Instant::now();
    let mut app = chatting(t0, vec![]);
    let on = ClientMsg::Typing {
        receiver_id: Some(2),
        conversation_id: None,
        is_typing: true,
    };
    let off = ClientMsg::Typing {
        receiver_id: Some(2),
        conversation_id: None,
        is_typing: false,
    };
    assert_eq!(type_text(&mut app, "he", t0), vec![on.clone()]);
    assert_eq!(type_text(&mut app, "l", t0 + ms(900)), vec![]);
    assert_eq!(type_text(&mut app, "l", t0 + ms(1000)), vec![on.clone()]);
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(2900)), vec![]);
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(3000)),
        vec![off.clone()]
    );
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(4000)),
        vec![],
        "only once"
    );
    // Sending stops typing first.
    assert_eq!(type_text(&mut app, "o", t0 + ms(5000)), vec![on]);
    let out = step(&mut app, Event::key(KeyCode::Enter), t0 + ms(5100));
    assert_eq!(out, vec![off, sent(10, "hello", 1)]);
}

#[test]
fn enter_sends_and_the_echo_confirms_without_duplicates() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    type_text(&mut app, "two", now);
    step(
        &mut app,
        Event::key_with(KeyCode::Enter, KeyModifiers::ALT),
        now,
    );
    type_text(&mut app, "lines  ", now);
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(out.last(), Some(&sent(10, "two\nlines", 1)));
    assert_eq!(app.composer.text, "");
    assert_eq!(app.pending.len(), 1);
    let echo = message(40, 10, &alice(), "two\nlines");
    let out = step(
        &mut app,
        server(ServerMsg::Message {
            message: echo.clone(),
        }),
        now,
    );
    assert_eq!(out, vec![], "no read or delivered for our own message");
    assert!(app.pending.is_empty());
    step(&mut app, server(ServerMsg::Message { message: echo }), now);
    assert_eq!(app.open_thread().map(|t| t.messages.len()), Some(1));
}

#[test]
fn blank_and_too_long_messages_are_not_sent_and_offline_ones_wait() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    type_text(&mut app, "   ", now);
    assert_eq!(step(&mut app, Event::key(KeyCode::Enter), now), vec![]);

    app.composer.text = "x".repeat(4001);
    app.composer.cursor = 4001;
    assert_eq!(step(&mut app, Event::key(KeyCode::Enter), now), vec![]);
    let notice = app.notice.clone().map(|n| n.text).unwrap_or_default();
    assert!(notice.contains("too long: 4001"), "{notice}");
    assert_eq!(app.composer.text.len(), 4001, "kept for editing");

    app.composer.text = "later".into();
    app.composer.cursor = 5;
    step(
        &mut app,
        Event::Net(NetStatus::Disconnected {
            reason: "gone".into(),
            retry_in: ms(500),
        }),
        now,
    );
    assert_eq!(step(&mut app, Event::key(KeyCode::Enter), now), vec![]);
    assert_eq!(app.composer.text, "");
    assert_eq!(app.pending.len(), 1, "it waits for the connection");
    assert!(screen_text(&app).contains("waiting for the connection"));
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out,
        vec![
            hello(),
            sent(10, "later", 1),
            ClientMsg::Sync {
                since: Some(CURSOR)
            }
        ]
    );
}

fn screen_text(app: &super::super::app::App) -> String {
    super::super::view::render_to_string(app, app.size.0, app.size.1)
}

#[test]
fn being_read_marks_our_messages_seen() {
    let now = Instant::now();
    let mut app = chatting(
        now,
        vec![
            message(5, 10, &bob(), "hi"),
            message(6, 10, &alice(), "hey"),
            message(7, 10, &alice(), "you there?"),
        ],
    );
    let thread = app.open_thread().cloned().unwrap_or_default();
    assert_eq!(thread.last_seen_own(1), None);
    step(
        &mut app,
        server(ServerMsg::MessageStatus {
            message_id: 6,
            status: MessageStatus::Seen,
        }),
        now,
    );
    assert_eq!(app.open_thread().and_then(|t| t.last_seen_own(1)), Some(6));
    step(
        &mut app,
        server(ServerMsg::Read {
            conversation_id: 10,
            reader_id: 2,
        }),
        now,
    );
    assert_eq!(app.open_thread().and_then(|t| t.last_seen_own(1)), Some(7));
    // A late "delivered" never lowers a status.
    step(
        &mut app,
        server(ServerMsg::MessageStatus {
            message_id: 7,
            status: MessageStatus::Delivered,
        }),
        now,
    );
    assert_eq!(app.open_thread().and_then(|t| t.last_seen_own(1)), Some(7));
}

#[test]
fn our_own_read_on_another_device_clears_unread() {
    let now = Instant::now();
    let mut app = connected(now);
    step(
        &mut app,
        server(ServerMsg::Message {
            message: message(20, 11, &carol(), "x"),
        }),
        now,
    );
    assert_eq!(app.conversation(11).map(|c| c.unread), Some(1));
    step(
        &mut app,
        server(ServerMsg::Read {
            conversation_id: 11,
            reader_id: 1,
        }),
        now,
    );
    assert_eq!(app.conversation(11).map(|c| c.unread), Some(0));
}

#[test]
fn search_is_debounced_and_starts_a_conversation() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    step(&mut app, Event::char('/'), t0);
    assert!(app.search.is_some());
    assert_eq!(type_text(&mut app, "da", t0), vec![]);
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(200)), vec![]);
    type_text(&mut app, "v", t0 + ms(200));
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(300)),
        vec![],
        "the last key restarts the wait"
    );
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(450)),
        vec![ClientMsg::SearchUser {
            keyword: "dav".into()
        }]
    );
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(900)), vec![]);
    let dave = UserRef {
        id: 4,
        username: "dave".into(),
    };
    step(
        &mut app,
        server(ServerMsg::SearchResults {
            results: vec![dave.clone()],
        }),
        t0,
    );
    let out = step(&mut app, Event::key(KeyCode::Enter), t0);
    assert_eq!(out, vec![ClientMsg::StartConversation { receiver_id: 4 }]);
    let conversation = chat_shared::Conversation {
        id: 12,
        participants: [alice(), dave]
            .into_iter()
            .map(|u| chat_shared::Member {
                id: u.id,
                username: u.username,
                role: None,
            })
            .collect(),
        info: Default::default(),
    };
    let out = step(
        &mut app,
        server(ServerMsg::ConversationStarted { conversation }),
        t0,
    );
    assert!(app.search.is_none());
    assert_eq!(app.open, Some(12));
    assert_eq!(app.conversations[0].name(), "dave");
    assert_eq!(
        out[0],
        ClientMsg::GetMessages {
            conversation_id: 12,
            before_id: None,
            limit: Some(PAGE)
        }
    );
}

#[test]
fn searching_for_someone_we_already_talk_to_opens_that_conversation() {
    let now = Instant::now();
    let mut app = connected(now);
    step(&mut app, Event::ctrl('f'), now);
    step(
        &mut app,
        server(ServerMsg::SearchResults {
            results: vec![carol()],
        }),
        now,
    );
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(app.open, Some(11));
    assert!(
        !out.iter()
            .any(|m| matches!(m, ClientMsg::StartConversation { .. }))
    );
}

#[test]
fn an_error_frame_shows_for_five_seconds() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    let error = ServerMsg::Error {
        code: ErrorCode::NotFound,
        message: "no such user".into(),
        request_type: Some("chat.start_conversation".into()),
    };
    step(&mut app, server(error), t0);
    let text = app.notice.clone().map(|n| n.text);
    assert_eq!(text.as_deref(), Some("error: no such user (not_found)"));
    step(&mut app, Event::Tick, t0 + ms(4900));
    assert!(app.notice.is_some());
    step(&mut app, Event::Tick, t0 + ms(5000));
    assert!(app.notice.is_none());
}

/// Without a sync cursor (a server that never answered `chat.sync`), a reconnect reloads.
#[test]
fn reconnecting_without_a_cursor_catches_up_without_gaps_or_duplicates() {
    let opened = Instant::now();
    let mut app = chatting(
        opened,
        vec![
            message(5, 10, &bob(), "hi"),
            message(6, 10, &alice(), "hey"),
        ],
    );
    app.sync.cursor = None;
    let now = opened + ms(1000);
    type_text(&mut app, "lost", now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    step(
        &mut app,
        Event::Net(NetStatus::Disconnected {
            reason: "reset".into(),
            retry_in: ms(500),
        }),
        now,
    );
    assert!(matches!(app.conn, Conn::Disconnected { .. }));
    assert_eq!(app.composer.text, "", "an unconfirmed message waits");
    assert_eq!(app.pending.len(), 1);

    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out,
        vec![
            hello(),
            ClientMsg::GetConversations {},
            sent(10, "lost", 1),
            ClientMsg::GetMessages {
                conversation_id: 10,
                before_id: None,
                limit: Some(PAGE)
            },
            ClientMsg::Sync { since: None }
        ]
    );
    assert_eq!(
        app.open_thread().and_then(|t| t.fetch),
        Some(Fetch::Latest { floor: Some(6) })
    );
    // The newest page does not reach back to message 6 and the server has more: fetch on.
    let page = (60..110).map(|id| message(id, 10, &bob(), "m")).collect();
    let out = step(
        &mut app,
        server(ServerMsg::Messages {
            messages: page,
            conversation_id: Some(10),
            has_more: Some(true),
        }),
        now,
    );
    assert_eq!(
        out[0],
        ClientMsg::GetMessages {
            conversation_id: 10,
            before_id: Some(60),
            limit: Some(PAGE)
        }
    );
    assert!(out.contains(&ClientMsg::Read {
        conversation_id: 10
    }));
    // The next page overlaps what we had (5, 6): the gap is filled, nothing twice.
    let page = [5, 6].into_iter().chain(7..60).map(|id| match id {
        5 => message(5, 10, &bob(), "hi"),
        6 => message(6, 10, &alice(), "hey"),
        id => message(id, 10, &bob(), "m"),
    });
    let out = step(
        &mut app,
        server(ServerMsg::Messages {
            messages: page.collect(),
            conversation_id: Some(10),
            has_more: Some(false),
        }),
        now,
    );
    assert!(
        !out.iter()
            .any(|m| matches!(m, ClientMsg::GetMessages { .. }))
    );
    let thread = app.open_thread().cloned().unwrap_or_default();
    let ids: Vec<i64> = thread.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, (5..110).collect::<Vec<_>>());
    assert_eq!(thread.fetch, None);
}

#[test]
fn scrolling_past_the_top_loads_older_messages_once() {
    let now = Instant::now();
    let mut app = connected(now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    let page = (100..110)
        .map(|id| message(id, 10, &bob(), "line"))
        .collect();
    step(
        &mut app,
        server(ServerMsg::Messages {
            messages: page,
            conversation_id: Some(10),
            has_more: Some(true),
        }),
        now,
    );
    let out = step(&mut app, Event::key(KeyCode::PageUp), now);
    assert_eq!(
        out,
        vec![ClientMsg::GetMessages {
            conversation_id: 10,
            before_id: Some(100),
            limit: Some(PAGE)
        }]
    );
    assert_eq!(
        step(&mut app, Event::key(KeyCode::PageUp), now),
        vec![],
        "one request at a time"
    );
    let older = (90..100).map(|id| message(id, 10, &bob(), "old")).collect();
    step(
        &mut app,
        server(ServerMsg::Messages {
            messages: older,
            conversation_id: Some(10),
            has_more: Some(false),
        }),
        now,
    );
    let thread = app.open_thread().cloned().unwrap_or_default();
    assert_eq!(thread.messages.first().map(|m| m.id), Some(90));
    assert!(!thread.has_more);
    assert_eq!(
        step(&mut app, Event::key(KeyCode::PageUp), now),
        vec![],
        "nothing older"
    );
}

#[test]
fn an_expired_session_goes_back_to_sign_in() {
    let now = Instant::now();
    let mut app = connected(now);
    step(&mut app, Event::Net(NetStatus::AuthExpired), now);
    assert_eq!(app.screen, Screen::SignIn);
    assert_eq!(app.sign_in.username, "alice");
    assert!(app.conversations.is_empty());
    assert!(
        app.sign_in
            .message
            .as_deref()
            .is_some_and(|m| m.contains("expired"))
    );
}

#[test]
fn a_session_ended_elsewhere_goes_back_to_sign_in_saying_so() {
    let now = Instant::now();
    let mut app = connected(now);
    let out = step(&mut app, Event::Net(NetStatus::SessionEnded), now);
    assert_eq!(out, vec![]);
    assert_eq!(app.screen, Screen::SignIn);
    assert_eq!(app.sign_in.username, "alice");
    assert!(app.conversations.is_empty());
    assert_eq!(
        app.sign_in.message.as_deref(),
        Some("Your session was ended (signed out elsewhere or password changed). Sign in again.")
    );
}

#[test]
fn the_sign_in_form_checks_fields_and_asks_for_a_sign_in() {
    let now = Instant::now();
    let mut app = super::super::app::App::new("http://127.0.0.1:9");
    let out = update(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(
        app.sign_in.message.as_deref(),
        Some("Please enter a username.")
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::SignIn(_))));
    type_text(&mut app, "bob", now);
    step(&mut app, Event::key(KeyCode::Tab), now);
    type_text(&mut app, "short", now);
    step(&mut app, Event::ctrl('r'), now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    assert!(
        app.sign_in
            .message
            .as_deref()
            .is_some_and(|m| m.contains("8 characters"))
    );
    type_text(&mut app, "enough", now);
    let request = update(&mut app, Event::key(KeyCode::Enter), now)
        .into_iter()
        .find_map(|e| match e {
            Effect::SignIn(request) => Some(request),
            _ => None,
        })
        .expect("a sign-in request");
    assert_eq!(
        (request.username.as_str(), request.password.as_str()),
        ("bob", "shortenough")
    );
    assert!(request.register);
    assert!(app.sign_in.busy);
    // Typing while busy does nothing; the answer comes as an event.
    type_text(&mut app, "x", now);
    assert_eq!(app.sign_in.password, "shortenough");
    step(
        &mut app,
        Event::Auth(Err("The username \"bob\" is taken: pick another.".into())),
        now,
    );
    assert!(!app.sign_in.busy);
    assert!(
        app.sign_in
            .message
            .as_deref()
            .is_some_and(|m| m.contains("taken"))
    );
    let signed_in = SignedIn {
        user: bob(),
        server: "http://127.0.0.1:9".into(),
        refresh: "r".into(),
    };
    step(&mut app, Event::Auth(Ok(signed_in)), now);
    assert_eq!(app.screen, Screen::Chat);
    assert_eq!(app.sign_in.password, "", "the password is not kept");
    assert_eq!(app.conn, Conn::Connecting);
}

#[test]
fn q_quits_from_the_list_but_is_text_in_the_composer() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    let typed: Vec<Effect> = Event::typed("q?")
        .into_iter()
        .flat_map(|e| update(&mut app, e, now))
        .collect();
    assert_eq!(app.composer.text, "q?");
    assert!(!typed.contains(&Effect::Quit) && !app.help);
    step(&mut app, Event::key(KeyCode::Esc), now);
    step(&mut app, Event::char('?'), now);
    assert!(app.help);
    step(&mut app, Event::key(KeyCode::Esc), now);
    assert!(!app.help);
    assert!(update(&mut app, Event::char('q'), now).contains(&Effect::Quit));
    let mut app = chatting(now, vec![]);
    assert!(
        update(&mut app, Event::ctrl('c'), now).contains(&Effect::Quit),
        "Ctrl-C quits from anywhere"
    );
}

#[test]
fn composer_editing_keys() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    type_text(&mut app, "héllo wörld", now);
    step(&mut app, Event::ctrl('w'), now);
    assert_eq!(app.composer.text, "héllo ");
    step(&mut app, Event::key(KeyCode::Home), now);
    step(&mut app, Event::key(KeyCode::Delete), now);
    step(&mut app, Event::key(KeyCode::Right), now);
    type_text(&mut app, "é", now);
    assert_eq!(app.composer.text, "éé".to_owned() + "llo ");
    step(&mut app, Event::key(KeyCode::Backspace), now);
    assert_eq!(app.composer.text, "éllo ");
    step(&mut app, Event::Paste("a\r\nb".into()), now);
    assert_eq!(app.composer.text, "éa\nbllo ");
}

#[test]
fn a_rejected_message_comes_back_to_the_composer() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    type_text(&mut app, "spam", now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    let error = ServerMsg::Error {
        code: ErrorCode::RateLimited,
        message: "slow down".into(),
        request_type: Some("chat.message".into()),
    };
    step(&mut app, server(error), now);
    assert!(app.pending.is_empty());
    assert_eq!(app.composer.text, "spam");
}

#[test]
fn typing_from_someone_new_fetches_the_list_once() {
    let now = Instant::now();
    let mut app = connected(now);
    let typing = || {
        server(ServerMsg::Typing {
            sender_id: 4,
            conversation_id: None,
            is_typing: true,
        })
    };
    assert_eq!(
        step(&mut app, typing(), now),
        vec![ClientMsg::GetConversations {}]
    );
    assert_eq!(step(&mut app, typing(), now), vec![]);
    // Someone already in the list never causes a fetch.
    let bob_typing = server(ServerMsg::Typing {
        sender_id: 2,
        conversation_id: None,
        is_typing: true,
    });
    assert_eq!(step(&mut app, bob_typing, now), vec![]);
}

#[test]
fn the_mouse_wheel_scrolls_the_pane_under_it() {
    use super::super::event::{MouseEvent, MouseEventKind};
    let now = Instant::now();
    let many = (100..140)
        .map(|id| message(id, 10, &bob(), "line"))
        .collect();
    let mut app = chatting(now, many);
    let wheel = |kind, column| {
        Event::Mouse(MouseEvent {
            kind,
            column,
            row: 5,
            modifiers: KeyModifiers::NONE,
        })
    };
    step(&mut app, wheel(MouseEventKind::ScrollUp, 60), now);
    assert_eq!(app.open_thread().map(|t| t.scroll), Some(3));
    step(&mut app, wheel(MouseEventKind::ScrollDown, 60), now);
    assert_eq!(app.open_thread().map(|t| t.scroll), Some(0));
    step(&mut app, wheel(MouseEventKind::ScrollDown, 5), now);
    assert_eq!(app.selected, 1, "over the list it moves the selection");
    assert_eq!(app.open_thread().map(|t| t.scroll), Some(0));
}

#[test]
fn a_thread_keeps_at_most_max_thread_messages() {
    use super::super::app::MAX_THREAD;
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    let ids = 1..=(MAX_THREAD as i64);
    let page = ids.map(|id| message(id, 10, &bob(), "m")).collect();
    step(
        &mut app,
        server(ServerMsg::Messages {
            messages: page,
            conversation_id: Some(10),
            has_more: Some(false),
        }),
        now,
    );
    let newest = message(MAX_THREAD as i64 + 1, 10, &bob(), "new");
    step(
        &mut app,
        server(ServerMsg::Message { message: newest }),
        now,
    );
    let thread = app.open_thread().cloned().unwrap_or_default();
    assert_eq!(thread.messages.len(), MAX_THREAD);
    assert_eq!(thread.messages.first().map(|m| m.id), Some(2));
    assert!(thread.has_more, "the dropped one can be fetched again");
}

#[test]
fn a_burst_of_messages_costs_at_most_two_reads() {
    let opened = Instant::now();
    let mut app = chatting(opened, vec![]);
    let t0 = opened + ms(2000);
    let mut reads = 0;
    for (i, id) in (30..40).enumerate() {
        let m = message(id, 10, &bob(), "burst");
        let out = step(
            &mut app,
            server(ServerMsg::Message { message: m }),
            t0 + ms(i as u64 * 10),
        );
        reads += out
            .iter()
            .filter(|m| matches!(m, ClientMsg::Read { .. }))
            .count();
    }
    assert_eq!(reads, 1, "the first at once, the rest gathered");
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(999)), vec![]);
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(1000)),
        vec![ClientMsg::Read {
            conversation_id: 10
        }],
        "at most one a second, and the last of the burst is read"
    );
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(3000)),
        vec![],
        "nothing more owed"
    );
}

#[test]
fn reads_go_out_at_most_once_a_second_however_long_the_burst() {
    let opened = Instant::now();
    let mut app = chatting(opened, vec![]);
    let t0 = opened + ms(5000);
    let mut reads = Vec::new();
    // 250 messages, one every 20 ms (5 s), with the clock ticking every 200 ms as the TUI's does.
    for i in 0..250u64 {
        let now = t0 + ms(i * 20);
        let m = message(100 + i as i64, 10, &bob(), "burst");
        let mut out = step(&mut app, server(ServerMsg::Message { message: m }), now);
        if i % 10 == 0 {
            out.extend(step(&mut app, Event::Tick, now));
        }
        reads.extend(
            out.into_iter()
                .filter(|f| matches!(f, ClientMsg::Read { .. }))
                .map(|_| now),
        );
    }
    let end = t0 + ms(250 * 20);
    reads.extend(
        step(&mut app, Event::Tick, end + ms(1000))
            .into_iter()
            .map(|_| end + ms(1000)),
    );
    assert!(
        reads.len() <= 7,
        "{} reads for 5 s of messages",
        reads.len()
    );
    for pair in reads.windows(2) {
        assert!(pair[1] - pair[0] >= ms(1000), "{:?}", pair[1] - pair[0]);
    }
    assert_eq!(
        app.open_thread().and_then(|t| t.read_upto),
        Some(349),
        "the newest message is covered"
    );
    assert_eq!(step(&mut app, Event::Tick, end + ms(5000)), vec![]);
}

#[test]
fn a_burst_elsewhere_costs_one_delivered_per_conversation_a_second_for_the_newest() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    let mut sent = Vec::new();
    // Bob (10) and carol (11) write in turns, 40 messages in 400 ms; nothing is open.
    for i in 0..40u64 {
        let (conv, who) = if i % 2 == 0 {
            (10, bob())
        } else {
            (11, carol())
        };
        let m = message(50 + i as i64, conv, &who, "burst");
        sent.extend(step(
            &mut app,
            server(ServerMsg::Message { message: m }),
            t0 + ms(i * 10),
        ));
    }
    assert_eq!(
        sent,
        vec![
            ClientMsg::Delivered { message_id: 50 },
            ClientMsg::Delivered { message_id: 51 }
        ],
        "the first of each conversation at once"
    );
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(999)), vec![]);
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(1000)),
        vec![ClientMsg::Delivered { message_id: 88 }],
        "bob's newest; carol's first went out 10 ms after bob's"
    );
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(1010)),
        vec![ClientMsg::Delivered { message_id: 89 }]
    );
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(5000)), vec![]);
    // A replay of a message already covered costs nothing; a new one after the gap goes at once.
    let old = message(60, 10, &bob(), "burst");
    let replay = step(
        &mut app,
        server(ServerMsg::Message { message: old }),
        t0 + ms(5000),
    );
    assert_eq!(replay, vec![]);
    let new = message(90, 10, &bob(), "later");
    let out = step(
        &mut app,
        server(ServerMsg::Message { message: new }),
        t0 + ms(5000),
    );
    assert_eq!(out, vec![ClientMsg::Delivered { message_id: 90 }]);
}

#[test]
fn an_owed_delivered_gives_way_to_the_read_of_opening_the_conversation() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    for id in [50, 51, 52] {
        let m = message(id, 10, &bob(), "burst");
        step(&mut app, server(ServerMsg::Message { message: m }), t0);
    }
    assert_eq!(app.delivered.get(&10).and_then(|d| d.due), Some(52));
    // Bob's conversation is at the top: open it.
    let out = step(&mut app, Event::key(KeyCode::Enter), t0 + ms(100));
    assert!(
        out.contains(&ClientMsg::Read {
            conversation_id: 10
        }),
        "{out:?}"
    );
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(2000)), vec![]);
}

#[test]
fn a_delivered_owed_across_a_reconnect_still_goes_out() {
    let t0 = Instant::now();
    let mut app = connected(t0);
    for id in [50, 51] {
        let m = message(id, 11, &carol(), "burst");
        step(&mut app, server(ServerMsg::Message { message: m }), t0);
    }
    let lost = NetStatus::Disconnected {
        reason: "gone".into(),
        retry_in: ms(500),
    };
    step(&mut app, Event::Net(lost), t0 + ms(100));
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(1500)),
        vec![],
        "offline"
    );
    step(&mut app, Event::Net(NetStatus::Connected), t0 + ms(1600));
    assert_eq!(
        step(&mut app, Event::Tick, t0 + ms(1700)),
        vec![ClientMsg::Delivered { message_id: 51 }]
    );
}

#[test]
fn a_message_without_an_echo_is_sent_again_twice_then_given_back() {
    let t0 = Instant::now();
    let mut app = chatting(t0, vec![]);
    type_text(&mut app, "dropped", t0);
    step(&mut app, Event::key(KeyCode::Enter), t0);
    type_text(&mut app, "next", t0 + ms(500));
    step(&mut app, Event::Tick, t0 + ms(5000)); // our typing indicator ends
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(9900)), vec![]);
    // Each resend is the same frame: the server stores a `client_id` once.
    let again = step(&mut app, Event::Tick, t0 + ms(10_000));
    assert_eq!(again, vec![sent(10, "dropped", 1)]);
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(19_900)), vec![]);
    let again = step(&mut app, Event::Tick, t0 + ms(20_000));
    assert_eq!(again, vec![sent(10, "dropped", 1)]);
    assert_eq!(app.pending.len(), 1);
    assert_eq!(app.composer.text, "next");
    assert_eq!(step(&mut app, Event::Tick, t0 + ms(30_000)), vec![]);
    assert!(app.pending.is_empty());
    assert_eq!(
        app.composer.text, "dropped\nnext",
        "given back before what is being written"
    );
    assert_eq!(app.composer.cursor, "dropped\n".chars().count() + 4);
    let notice = app.notice.clone().map(|n| n.text).unwrap_or_default();
    assert!(notice.contains("not confirmed"), "{notice}");
}
