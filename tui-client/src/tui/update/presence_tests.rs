//! Presence through `update`: hello on each connection, the list seeding who is online,
//! `chat.presence` changing it, and hiding our own.

use std::time::Instant;

use chat_shared::{ClientMsg, ServerMsg};

use super::super::app::{App, NoticeKind, Presence};
use super::super::event::{Event, KeyCode, NetStatus};
use super::super::fixtures::*;
use super::update;

fn online(last_seen: i64) -> Option<Presence> {
    Some(Presence {
        online: true,
        last_seen: Some(at(last_seen)),
    })
}

fn offline(last_seen: i64) -> Option<Presence> {
    Some(Presence {
        online: false,
        last_seen: Some(at(last_seen)),
    })
}

/// Alice connected, her list saying bob is online (since minute 0) and carol hides hers.
fn seeded(now: Instant) -> App {
    let mut app = connected(now);
    let items = vec![
        with_presence(
            list_item(10, &bob(), None, 0),
            &bob(),
            Some(true),
            Some(at(0)),
        ),
        with_presence(list_item(11, &carol(), None, 0), &carol(), None, None),
    ];
    update(&mut app, list(items), now);
    app
}

#[test]
fn every_connection_says_hello_first_and_keeps_whether_we_are_shown() {
    let now = Instant::now();
    let mut app = connected(now);
    assert!(app.presence_visible);
    update(&mut app, server(welcome(false)), now);
    assert!(!app.presence_visible, "the welcome says we hide it");
    let lost = NetStatus::Disconnected {
        reason: "gone".into(),
        retry_in: std::time::Duration::from_millis(500),
    };
    step(&mut app, Event::Net(lost), now);
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out,
        vec![
            hello(),
            ClientMsg::Sync {
                since: Some(CURSOR)
            }
        ]
    );
    update(&mut app, server(welcome(true)), now);
    assert!(app.presence_visible);
}

#[test]
fn the_list_seeds_presence_and_replaces_what_was_known() {
    let now = Instant::now();
    let mut app = seeded(now);
    assert_eq!(app.presence_of(2), online(0));
    assert_eq!(app.presence_of(3), None, "carol hides hers");
    assert_eq!(app.presence_of(1), None, "ours is not kept");
    // A new list says bob left at minute 7 and carol, never seen, is offline.
    let items = vec![
        with_presence(
            list_item(10, &bob(), None, 0),
            &bob(),
            Some(false),
            Some(at(7)),
        ),
        with_presence(
            list_item(11, &carol(), None, 0),
            &carol(),
            Some(false),
            None,
        ),
    ];
    update(&mut app, list(items), now);
    assert_eq!(app.presence_of(2), offline(7));
    let never = Some(Presence {
        online: false,
        last_seen: None,
    });
    assert_eq!(app.presence_of(3), never);
    // A list without presence (a server without it, or all hidden) forgets it.
    let items = vec![list_item(10, &bob(), None, 0)];
    update(&mut app, list(items), now);
    assert!(app.presence.is_empty());
}

#[test]
fn a_presence_frame_changes_it_whatever_the_conversation_and_moves_the_cursor() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    assert_eq!(app.open, Some(10));
    // Carol, whose conversation is not open, comes online, then leaves.
    update(&mut app, presence(101, &carol(), true, Some(at(3))), now);
    assert_eq!(app.presence_of(3), online(3));
    assert_eq!(app.sync.cursor, Some(101));
    update(&mut app, presence(102, &carol(), false, Some(at(9))), now);
    assert_eq!(app.presence_of(3), offline(9));
    assert_eq!(app.sync.cursor, Some(102));
    // The open conversation's peer too.
    update(&mut app, presence(103, &bob(), true, Some(at(9))), now);
    assert_eq!(app.presence_of(2), online(9));
}

#[test]
fn an_older_replayed_frame_does_not_undo_a_newer_one() {
    let now = Instant::now();
    let mut app = seeded(now);
    // Live during a sync: bob left at minute 9; then the replay's older "online" comes.
    update(&mut app, presence(120, &bob(), false, Some(at(9))), now);
    update(&mut app, presence(105, &bob(), true, Some(at(4))), now);
    assert_eq!(app.presence_of(2), offline(9));
    // A newer one does.
    update(&mut app, presence(121, &bob(), true, Some(at(12))), now);
    assert_eq!(app.presence_of(2), online(12));
}

#[test]
fn someone_hiding_their_presence_reads_as_unknown() {
    let now = Instant::now();
    let mut app = seeded(now);
    update(&mut app, presence(101, &bob(), false, None), now);
    assert_eq!(app.presence_of(2), None);
    // Shown again: as it is now.
    update(&mut app, presence(102, &bob(), true, Some(at(20))), now);
    assert_eq!(app.presence_of(2), online(20));
}

#[test]
fn presence_off_and_on_send_set_presence_and_the_answer_says_hidden() {
    let now = Instant::now();
    let mut app = chatting(now, vec![]);
    let out = type_text(&mut app, "/presence off", now);
    assert!(
        out.iter().all(|f| matches!(f, ClientMsg::Typing { .. })),
        "{out:?}"
    );
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert!(
        out.contains(&ClientMsg::SetPresence { visible: false }),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|f| matches!(f, ClientMsg::Message { .. })),
        "a command is not a message: {out:?}"
    );
    assert_eq!(app.composer.text, "");
    assert!(app.presence_visible, "until the server says so");
    update(
        &mut app,
        server(ServerMsg::PresenceSet { visible: false }),
        now,
    );
    assert!(!app.presence_visible);
    assert_eq!(app.notice.as_ref().map(|n| n.kind), Some(NoticeKind::Info));

    type_text(&mut app, "/presence on", now);
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert!(out.contains(&ClientMsg::SetPresence { visible: true }));
    update(
        &mut app,
        server(ServerMsg::PresenceSet { visible: true }),
        now,
    );
    assert!(app.presence_visible);

    // Anything else is explained, not sent.
    type_text(&mut app, "/presence maybe", now);
    let out = step(&mut app, Event::key(KeyCode::Enter), now);
    assert!(
        !out.iter()
            .any(|f| matches!(f, ClientMsg::SetPresence { .. })),
        "{out:?}"
    );
    let notice = app.notice.as_ref().map(|n| n.text.as_str());
    assert_eq!(notice, Some("usage: /presence on|off (yours is shown)"));
}
