//! `update` tests of the message lifecycle: choosing a message, replying, editing, deleting,
//! reacting, `chat.message_updated`, and sends that survive a lost connection exactly once.

use std::time::{Duration, Instant};

use chat_shared::{ChatMessage, ClientMsg, Reaction, ReplyRef, ServerMsg, Timestamp};

use super::super::app::{App, Draft, Focus};
use super::super::event::{Event, KeyCode, NetStatus};
use super::super::fixtures::*;

/// Bob's 5, alice's 6, bob's 7, the conversation with bob open and the messages pane focused.
fn three(now: Instant) -> App {
    let mut app = chatting(
        now,
        vec![
            message(5, 10, &bob(), "hi alice"),
            message(6, 10, &alice(), "hey"),
            message(7, 10, &bob(), "lunch?"),
        ],
    );
    app.focus = Focus::Messages;
    app
}

fn selected(app: &App) -> Option<i64> {
    app.open_thread().and_then(|t| t.selected)
}

fn press(app: &mut App, code: KeyCode, now: Instant) -> Vec<ClientMsg> {
    step(app, Event::key(code), now)
}

fn updated(message: ChatMessage) -> Event {
    server(ServerMsg::MessageUpdated { message })
}

#[test]
fn the_cursor_keys_choose_a_message_and_esc_drops_the_choice() {
    let now = Instant::now();
    let mut app = three(now);
    assert_eq!(selected(&app), None);
    press(&mut app, KeyCode::Up, now);
    assert_eq!(selected(&app), Some(7), "the newest first");
    step(&mut app, Event::char('k'), now);
    assert_eq!(selected(&app), Some(6));
    press(&mut app, KeyCode::Up, now);
    press(&mut app, KeyCode::Up, now);
    assert_eq!(selected(&app), Some(5), "stays on the oldest");
    step(&mut app, Event::char('j'), now);
    press(&mut app, KeyCode::Down, now);
    press(&mut app, KeyCode::Down, now);
    assert_eq!(selected(&app), Some(7), "stays on the newest");
    press(&mut app, KeyCode::Esc, now);
    assert_eq!(selected(&app), None);
    assert_eq!(app.focus, Focus::Messages, "the first Esc drops the choice");
    press(&mut app, KeyCode::Esc, now);
    assert_eq!(app.focus, Focus::List);
}

#[test]
fn choosing_keeps_the_chosen_message_in_view() {
    let now = Instant::now();
    let many = (1..=40).map(|id| message(id, 10, &bob(), "line")).collect();
    let mut app = chatting(now, many);
    app.focus = Focus::Messages;
    for _ in 0..30 {
        press(&mut app, KeyCode::Up, now);
    }
    assert_eq!(selected(&app), Some(11));
    let scroll = app.open_thread().map_or(0, |t| t.scroll);
    assert!(scroll > 0, "scrolled up to show it");
    let text = super::super::view::render_to_string(&app, 80, 24);
    assert!(text.contains("▸ bob"), "{text}");
}

#[test]
fn r_answers_the_chosen_message_and_the_send_carries_reply_to() {
    let now = Instant::now();
    let mut app = three(now);
    press(&mut app, KeyCode::Up, now);
    press(&mut app, KeyCode::Up, now);
    press(&mut app, KeyCode::Up, now);
    assert_eq!(step(&mut app, Event::char('r'), now), vec![]);
    assert_eq!(app.focus, Focus::Composer);
    assert!(
        matches!(&app.composer.draft, Draft::Reply(to) if to.id == 5 && to.excerpt == "hi alice")
    );
    // Esc cancels the reply, not the composer; r again, and send.
    press(&mut app, KeyCode::Esc, now);
    assert_eq!(app.composer.draft, Draft::New);
    assert_eq!(app.focus, Focus::Composer);
    app.focus = Focus::Messages;
    press(&mut app, KeyCode::Up, now);
    step(&mut app, Event::char('r'), now);
    assert!(matches!(&app.composer.draft, Draft::Reply(to) if to.id == 7));
    type_text(&mut app, "yes", now);
    let out = press(&mut app, KeyCode::Enter, now);
    assert_eq!(
        out.last(),
        Some(&ClientMsg::Message {
            conversation_id: 10,
            content: "yes".into(),
            reply_to: Some(7),
            client_id: Some("t-1".into()),
        })
    );
    assert_eq!(app.composer.draft, Draft::New);
    assert_eq!(app.pending[0].reply_to.as_ref().map(|r| r.id), Some(7));
}

#[test]
fn e_edits_our_message_and_up_in_an_empty_composer_edits_the_last_one() {
    let now = Instant::now();
    let mut app = three(now);
    // Bob's message is not ours to edit.
    press(&mut app, KeyCode::Up, now);
    step(&mut app, Event::char('e'), now);
    assert_eq!(app.composer.draft, Draft::New);
    assert!(app.notice.as_ref().is_some_and(|n| n.text.contains("own")));

    // Up in an empty composer: our newest (6), with its text to change.
    press(&mut app, KeyCode::Esc, now);
    step(&mut app, Event::char('i'), now);
    assert_eq!(press(&mut app, KeyCode::Up, now), vec![]);
    assert_eq!(
        app.composer.draft,
        Draft::Edit {
            message_id: 6,
            saved: String::new()
        }
    );
    assert_eq!(
        (app.composer.text.as_str(), app.composer.cursor),
        ("hey", 3)
    );
    type_text(&mut app, " there", now);
    let out = press(&mut app, KeyCode::Enter, now);
    assert_eq!(
        out,
        vec![ClientMsg::Edit {
            message_id: 6,
            content: "hey there".into()
        }],
        "an edit is not typing"
    );
    assert_eq!(app.composer.draft, Draft::New);
    assert_eq!(app.composer.text, "");

    // e on a chosen message keeps what was being written, and gives it back on Esc.
    type_text(&mut app, "wip", now);
    app.focus = Focus::Messages;
    press(&mut app, KeyCode::Up, now);
    press(&mut app, KeyCode::Up, now);
    step(&mut app, Event::char('e'), now);
    assert_eq!(app.composer.text, "hey");
    assert_eq!(press(&mut app, KeyCode::Esc, now), vec![]);
    assert_eq!(
        (app.composer.text.as_str(), app.composer.draft.clone()),
        ("wip", Draft::New)
    );
    // Up with text in the composer scrolls, as before.
    press(&mut app, KeyCode::Up, now);
    assert_eq!(app.composer.draft, Draft::New);
}

#[test]
fn d_asks_first_then_deletes() {
    let now = Instant::now();
    let mut app = three(now);
    press(&mut app, KeyCode::Up, now);
    press(&mut app, KeyCode::Up, now);
    assert_eq!(step(&mut app, Event::char('d'), now), vec![]);
    assert_eq!(app.deleting, Some(6));
    assert_eq!(
        step(&mut app, Event::char('x'), now),
        vec![],
        "waits for y or n"
    );
    assert_eq!(step(&mut app, Event::char('n'), now), vec![]);
    assert_eq!(app.deleting, None);
    step(&mut app, Event::char('d'), now);
    let out = step(&mut app, Event::char('y'), now);
    assert_eq!(out, vec![ClientMsg::Delete { message_id: 6 }]);
    assert_eq!(app.deleting, None);
    // Bob's message in a direct conversation is not ours to delete.
    press(&mut app, KeyCode::Up, now);
    step(&mut app, Event::char('d'), now);
    assert_eq!(app.deleting, None);
}

#[test]
fn the_picker_reacts_and_a_second_time_takes_it_back() {
    let now = Instant::now();
    let mut app = three(now);
    press(&mut app, KeyCode::Up, now);
    step(&mut app, Event::char('+'), now);
    assert!(app.reacting.is_some());
    let out = step(&mut app, Event::char('1'), now);
    let thumbs = |add| ClientMsg::React {
        message_id: 7,
        emoji: "👍".into(),
        add,
    };
    assert_eq!(out, vec![thumbs(true)]);
    assert!(app.reacting.is_none());
    let reacted = ChatMessage {
        reactions: Some(vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![1],
        }]),
        ..message(7, 10, &bob(), "lunch?")
    };
    step(&mut app, updated(reacted), now);
    step(&mut app, Event::char('+'), now);
    assert_eq!(press(&mut app, KeyCode::Enter, now), vec![thumbs(false)]);
    // → moves along the quick ones; typed text is any other emoji, checked first.
    step(&mut app, Event::char('+'), now);
    press(&mut app, KeyCode::Right, now);
    let out = press(&mut app, KeyCode::Enter, now);
    assert!(matches!(&out[..], [ClientMsg::React { emoji, add: true, .. }] if emoji == "❤️"));
    step(&mut app, Event::char('+'), now);
    type_text(&mut app, "a b", now);
    assert_eq!(press(&mut app, KeyCode::Enter, now), vec![]);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("white space"))
    );
    press(&mut app, KeyCode::Backspace, now);
    press(&mut app, KeyCode::Backspace, now);
    press(&mut app, KeyCode::Backspace, now);
    type_text(&mut app, "🦀", now);
    let out = press(&mut app, KeyCode::Enter, now);
    assert!(matches!(&out[..], [ClientMsg::React { emoji, add: true, .. }] if emoji == "🦀"));
}

#[test]
fn s_asks_the_receipts_of_the_chosen_message() {
    let now = Instant::now();
    let mut app = three(now);
    let out = step(&mut app, Event::char('s'), now);
    assert_eq!(
        out,
        vec![ClientMsg::GetReceipts { message_id: 6 }],
        "our newest"
    );
    press(&mut app, KeyCode::Up, now);
    let out = step(&mut app, Event::char('s'), now);
    assert_eq!(out, vec![ClientMsg::GetReceipts { message_id: 7 }]);
}

#[test]
fn message_updated_replaces_in_place_requotes_replies_and_changes_the_preview() {
    let now = Instant::now();
    let reply = ChatMessage {
        reply_to: Some(Some(Box::new(ReplyRef {
            id: 5,
            sender: bob(),
            excerpt: "hi alice".into(),
            deleted: false,
        }))),
        ..message(6, 10, &alice(), "hello")
    };
    let newest = message(7, 10, &bob(), "lunch?");
    let mut app = chatting(
        now,
        vec![message(5, 10, &bob(), "hi alice"), reply, newest.clone()],
    );
    let edited = ChatMessage {
        content: "hi alice!".into(),
        edited_at: Some(Some(Timestamp(1))),
        ..message(5, 10, &bob(), "")
    };
    assert_eq!(step(&mut app, updated(edited.clone()), now), vec![]);
    let thread = app.open_thread().cloned().unwrap_or_default();
    let ids: Vec<i64> = thread.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [5, 6, 7], "in place");
    assert_eq!(thread.messages[0], edited);
    assert_eq!(
        thread.messages[1].reply().map(|r| r.excerpt.as_str()),
        Some("hi alice!")
    );
    assert_eq!(
        app.conversation(10)
            .and_then(|c| c.preview.clone())
            .as_deref(),
        Some("lunch?")
    );

    let tombstone = |id| ChatMessage {
        deleted: Some(true),
        ..message(id, 10, &bob(), "")
    };
    step(&mut app, updated(tombstone(5)), now);
    let thread = app.open_thread().cloned().unwrap_or_default();
    assert!(thread.messages[1].reply().is_some_and(|r| r.deleted));
    // The newest one deleted: the list says so.
    step(&mut app, updated(tombstone(7)), now);
    assert_eq!(
        app.conversation(10)
            .and_then(|c| c.preview.clone())
            .as_deref(),
        Some("message deleted")
    );
    // One the thread does not hold is not added.
    step(&mut app, updated(message(99, 10, &bob(), "x")), now);
    assert_eq!(app.open_thread().map(|t| t.messages.len()), Some(3));
}

#[test]
fn a_send_cut_by_a_drop_is_resent_with_its_client_id_and_shown_once() {
    let t0 = Instant::now();
    let mut app = chatting(t0, vec![message(5, 10, &bob(), "hi")]);
    type_text(&mut app, "lost?", t0);
    let out = press(&mut app, KeyCode::Enter, t0);
    assert_eq!(out.last(), Some(&sent(10, "lost?", 1)));
    let drop = NetStatus::Disconnected {
        reason: "reset".into(),
        retry_in: Duration::from_millis(500),
    };
    step(&mut app, Event::Net(drop), t0);
    assert_eq!(app.pending.len(), 1, "kept, not given back");
    assert_eq!(app.composer.text, "");
    // No resend while offline, however long.
    assert_eq!(
        step(&mut app, Event::Tick, t0 + Duration::from_secs(60)),
        vec![]
    );

    let t1 = t0 + Duration::from_secs(61);
    let out = step(&mut app, Event::Net(NetStatus::Connected), t1);
    assert_eq!(
        out,
        vec![
            hello(),
            sent(10, "lost?", 1),
            ClientMsg::Sync {
                since: Some(CURSOR)
            }
        ]
    );
    // An echo of another send of ours (another device) confirms nothing.
    step(
        &mut app,
        server(ServerMsg::Message {
            message: echo(6, 10, "lost?", 9),
        }),
        t1,
    );
    assert_eq!(app.pending.len(), 1);
    // The server had stored it before the drop: it answers with that message, same id.
    let original = echo(7, 10, "lost?", 1);
    step(
        &mut app,
        server(ServerMsg::Message {
            message: original.clone(),
        }),
        t1,
    );
    assert!(app.pending.is_empty());
    let page = ServerMsg::Messages {
        messages: vec![
            message(5, 10, &bob(), "hi"),
            message(7, 10, &alice(), "lost?"),
        ],
        conversation_id: Some(10),
        has_more: Some(false),
    };
    step(&mut app, server(page), t1);
    step(
        &mut app,
        server(ServerMsg::Message { message: original }),
        t1,
    );
    let ids: Vec<i64> = app
        .open_thread()
        .map(|t| t.messages.iter().map(|m| m.id).collect())
        .unwrap_or_default();
    assert_eq!(ids, [5, 6, 7]);
    let text = super::super::view::render_to_string(&app, 80, 24);
    let shown = text.lines().filter(|l| l.contains("▌ lost?")).count();
    assert_eq!(shown, 2, "6 and 7, never a waiting copy:\n{text}");
    assert!(!text.contains("sending…"), "{text}");
}

#[test]
fn waiting_sends_are_bounded() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    let drop = NetStatus::Disconnected {
        reason: "gone".into(),
        retry_in: Duration::from_secs(1),
    };
    step(&mut app, Event::Net(drop), now);
    let big = "x".repeat(4000);
    for _ in 0..66 {
        step(&mut app, Event::Paste(big.clone()), now);
        press(&mut app, KeyCode::Enter, now);
    }
    let bytes: usize = app.pending.iter().map(|p| p.content.len()).sum();
    assert_eq!(app.pending.len(), 65, "256 KiB of 4000-byte messages");
    assert!(bytes <= super::super::app::MAX_PENDING_BYTES);
    assert_eq!(
        app.composer.text, big,
        "the one refused stays in the composer"
    );
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("too many"))
    );
}
