//! Gapless resume in `update`: the cursor, `chat.sync` on (re)connect, its pages, a resync, a
//! hint, replays applied once, and the cursor handed out to be saved.

use std::time::{Duration, Instant};

use chat_shared::{ClientMsg, ServerMsg, UserRef};

use super::super::app::{App, CURSOR_SAVE_GAP, PAGE};
use super::super::effect::Effect;
use super::super::event::{Event, KeyCode, NetStatus};
use super::super::fixtures::*;
use super::update;

fn dave() -> UserRef {
    UserRef {
        id: 4,
        username: "dave".into(),
    }
}

fn pushed(seq: i64, frame: ServerMsg) -> Event {
    Event::Pushed(seq, frame)
}

fn synced(seq: i64, has_more: bool) -> Event {
    server(ServerMsg::Synced { seq, has_more })
}

fn reconnect(app: &mut App, now: Instant) -> Vec<ClientMsg> {
    let lost = NetStatus::Disconnected {
        reason: "gone".into(),
        retry_in: Duration::from_millis(500),
    };
    step(app, Event::Net(lost), now);
    let mut out = step(app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out.first(),
        Some(&hello()),
        "every connection says hello first"
    );
    out.remove(0);
    out
}

fn sync_from(since: i64) -> ClientMsg {
    ClientMsg::Sync { since: Some(since) }
}

fn contents(app: &App) -> Vec<String> {
    app.open_thread()
        .map(|t| t.messages.iter().map(|m| m.content.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn a_reconnect_with_a_cursor_syncs_from_it_instead_of_reloading() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    assert_eq!(app.sync.cursor, Some(CURSOR));
    assert_eq!(reconnect(&mut app, now), vec![sync_from(CURSOR)]);
    assert!(app.sync.syncing);
}

#[test]
fn waiting_messages_are_sent_again_before_the_sync_and_its_echo_confirms_them() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    let lost = NetStatus::Disconnected {
        reason: "gone".into(),
        retry_in: Duration::from_millis(500),
    };
    step(&mut app, Event::Net(lost), now);
    type_text(&mut app, "later", now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(out, vec![hello(), sent(10, "later", 1), sync_from(CURSOR)]);
    // The replay holds the message stored from the first try (the echo was lost), and the
    // retry's answer comes too: one message, nothing waiting.
    let stored = echo(6, 10, "later", 1);
    let replay = ServerMsg::Message {
        message: stored.clone(),
    };
    update(&mut app, pushed(120, replay), now);
    update(&mut app, synced(130, false), now);
    update(
        &mut app,
        server(ServerMsg::Message { message: stored }),
        now,
    );
    assert!(app.pending.is_empty());
    assert_eq!(contents(&app), ["hi alice", "later"]);
    assert_eq!(app.sync.cursor, Some(130));
}

#[test]
fn a_sync_with_more_asks_again_from_each_page_until_done() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    reconnect(&mut app, now);
    let one = ServerMsg::Message {
        message: message(6, 10, &bob(), "one"),
    };
    update(&mut app, pushed(150, one), now);
    assert_eq!(step(&mut app, synced(150, true), now), vec![sync_from(150)]);
    assert_eq!(app.sync.cursor, Some(150), "every event up to 150 is in");
    assert!(app.sync.syncing);
    let two = ServerMsg::Message {
        message: message(7, 10, &bob(), "two"),
    };
    update(&mut app, pushed(210, two), now);
    assert_eq!(step(&mut app, synced(260, false), now), vec![]);
    assert!(!app.sync.syncing);
    assert_eq!(app.sync.cursor, Some(260));
    assert_eq!(contents(&app), ["hi alice", "one", "two"]);
}

#[test]
fn live_frames_during_a_sync_apply_at_once_and_the_cursor_waits_for_its_end() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    reconnect(&mut app, now);
    let later = now + CURSOR_SAVE_GAP * 2;
    // A live message with a seq past the replay's: shown now, but events before it may still
    // be on their way, so the cursor does not move (nor is it saved).
    let live = ServerMsg::Message {
        message: message(9, 10, &bob(), "live"),
    };
    let out = update(&mut app, pushed(500, live), later);
    assert!(!out.iter().any(|e| matches!(e, Effect::SaveCursor(_))));
    assert_eq!(app.sync.cursor, Some(CURSOR));
    assert_eq!(contents(&app), ["hi alice", "live"]);
    let replayed = ServerMsg::Message {
        message: message(8, 10, &bob(), "replayed"),
    };
    update(&mut app, pushed(300, replayed), later);
    let out = update(&mut app, synced(400, false), later);
    assert_eq!(app.sync.cursor, Some(500), "the highest seq applied");
    assert_eq!(out, vec![Effect::SaveCursor(500)]);
    assert_eq!(contents(&app), ["hi alice", "replayed", "live"]);
}

#[test]
fn a_replayed_message_already_shown_is_not_shown_twice_nor_counted_again() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    // Carol wrote in the background while connected: counted once, a bell.
    let carol_says = ServerMsg::Message {
        message: message(6, 11, &carol(), "ping"),
    };
    let out = update(&mut app, pushed(101, carol_says.clone()), now);
    assert!(out.contains(&Effect::Bell));
    reconnect(&mut app, now);
    // The sync replays both: nothing changes.
    let bob_said = ServerMsg::Message {
        message: message(5, 10, &bob(), "hi alice"),
    };
    update(&mut app, pushed(90, bob_said), now);
    let out = update(&mut app, pushed(101, carol_says), now);
    assert!(!out.contains(&Effect::Bell));
    update(&mut app, synced(101, false), now);
    assert_eq!(contents(&app), ["hi alice"]);
    let carol = app.conversation(11).expect("carol's row");
    assert_eq!(carol.unread, 1);
    assert_eq!(carol.preview.as_deref(), Some("ping"));
    let rows: Vec<i64> = app.conversations.iter().map(|c| c.id).collect();
    assert_eq!(rows, [11, 10]);
}

#[test]
fn messages_replayed_in_the_background_are_counted_with_one_bell() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    reconnect(&mut app, now);
    let mut bells = 0;
    for (seq, id, text) in [(110, 6, "one"), (111, 7, "two"), (112, 8, "three")] {
        let frame = ServerMsg::Message {
            message: message(id, 11, &carol(), text),
        };
        let out = update(&mut app, pushed(seq, frame), now);
        bells += out.iter().filter(|e| **e == Effect::Bell).count();
    }
    update(&mut app, synced(112, false), now);
    assert_eq!(bells, 1);
    assert_eq!(app.conversation(11).map(|c| c.unread), Some(3));
    // Live again: each message rings.
    let live = ServerMsg::Message {
        message: message(9, 11, &carol(), "four"),
    };
    assert!(update(&mut app, pushed(113, live), now).contains(&Effect::Bell));
}

#[test]
fn conversations_started_while_away_appear_from_the_replay() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    reconnect(&mut app, now);
    // Dave wrote to her first; a group with dave and bob was made, then written in.
    let dave_says = ServerMsg::Message {
        message: message(6, 30, &dave(), "hello from dave"),
    };
    update(&mut app, pushed(101, dave_says), now);
    let made = group(31, "Ops", &[dave(), alice(), bob()]);
    update(
        &mut app,
        pushed(
            102,
            ServerMsg::ConversationUpdated {
                conversation: made,
                left: false,
            },
        ),
        now,
    );
    let in_group = ServerMsg::Message {
        message: message(7, 31, &dave(), "welcome to ops"),
    };
    update(&mut app, pushed(103, in_group), now);
    update(&mut app, synced(103, false), now);
    let names: Vec<&str> = app.conversations.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["Ops", "dave", "bob", "carol"]);
    assert_eq!(app.conversation(30).map(|c| c.unread), Some(1));
    assert_eq!(app.conversation(31).map(|c| c.unread), Some(1));
    assert_eq!(
        app.conversation(31).and_then(|c| c.preview.as_deref()),
        Some("welcome to ops")
    );
}

#[test]
fn an_edit_and_a_read_replayed_change_the_thread_once() {
    let now = Instant::now();
    let mine = echo(6, 10, "see you", 1);
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice"), mine]);
    reconnect(&mut app, now);
    let mut edited = message(5, 10, &bob(), "hi alice!");
    edited.edited_at = Some(Some(at(9)));
    let frame = ServerMsg::MessageUpdated { message: edited };
    update(&mut app, pushed(101, frame.clone()), now);
    update(&mut app, pushed(101, frame), now);
    let read = ServerMsg::Read {
        conversation_id: 10,
        reader_id: bob().id,
    };
    update(&mut app, pushed(102, read), now);
    update(&mut app, synced(102, false), now);
    assert_eq!(contents(&app), ["hi alice!", "see you"]);
    let thread = app.open_thread().expect("open");
    assert_eq!(
        thread.last_seen_own(alice().id),
        Some(6),
        "bob read it while she was away"
    );
}

#[test]
fn a_cursor_too_old_reloads_the_list_and_the_open_conversation_and_takes_the_new_seq() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    // A thread of a conversation not open may lack events: it goes.
    app.threads.entry(11).or_default();
    reconnect(&mut app, now);
    let later = now + CURSOR_SAVE_GAP * 2;
    let out = update(
        &mut app,
        server(ServerMsg::ResyncRequired { seq: 9000 }),
        later,
    );
    assert_eq!(
        frames(out.clone()),
        vec![
            ClientMsg::GetConversations {},
            ClientMsg::GetMessages {
                conversation_id: 10,
                before_id: None,
                limit: Some(PAGE)
            }
        ]
    );
    assert!(out.contains(&Effect::SaveCursor(9000)));
    assert_eq!(app.sync.cursor, Some(9000));
    assert!(!app.sync.syncing);
    assert!(!app.threads.contains_key(&11));
    // Live frames move the cursor on from there.
    let live = ServerMsg::Message {
        message: message(6, 10, &bob(), "after"),
    };
    update(&mut app, pushed(9001, live), later);
    assert_eq!(app.sync.cursor, Some(9001));
}

#[test]
fn a_sync_hint_syncs_from_the_cursor_or_once_more_after_the_sync_under_way() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    let live = ServerMsg::Message {
        message: message(6, 10, &bob(), "live"),
    };
    update(&mut app, pushed(140, live), now);
    assert_eq!(
        step(&mut app, server(ServerMsg::SyncHint { since: None }), now),
        vec![sync_from(140)]
    );
    // A second hint while that sync runs: one more sync once it is done.
    assert_eq!(
        step(&mut app, server(ServerMsg::SyncHint { since: None }), now),
        vec![]
    );
    assert_eq!(
        step(&mut app, synced(150, false), now),
        vec![sync_from(150)]
    );
    assert_eq!(step(&mut app, synced(150, false), now), vec![]);
    assert!(!app.sync.syncing);
}

#[test]
fn the_first_connection_of_a_run_loads_everything_then_syncs_from_the_saved_cursor() {
    let now = Instant::now();
    let mut app = App::signed_in("http://127.0.0.1:8000", alice());
    app.sync.cursor = Some(42);
    app.sync.saved = Some(42);
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out,
        vec![hello(), ClientMsg::GetConversations {}, sync_from(42)]
    );
    // Its next connection only syncs.
    update(&mut app, synced(60, false), now);
    assert_eq!(reconnect(&mut app, now), vec![sync_from(60)]);
}

#[test]
fn without_a_cursor_a_reconnect_reloads_and_asks_for_one() {
    let now = Instant::now();
    let mut app = App::signed_in("http://127.0.0.1:8000", alice());
    step(&mut app, Event::Net(NetStatus::Connected), now);
    // The connection drops before `chat.synced` came: still no cursor, so a full load again.
    assert_eq!(
        reconnect(&mut app, now),
        vec![
            ClientMsg::GetConversations {},
            ClientMsg::Sync { since: None }
        ]
    );
}

#[test]
fn the_cursor_is_handed_out_at_most_once_a_second_and_on_quitting() {
    let now = Instant::now();
    let mut app = connected(now);
    let t = |ms: u64| now + Duration::from_millis(ms);
    let saves = |out: Vec<Effect>| -> Vec<i64> {
        out.into_iter()
            .filter_map(|e| match e {
                Effect::SaveCursor(seq) => Some(seq),
                _ => None,
            })
            .collect()
    };
    let read = |seq: i64| {
        pushed(
            seq,
            ServerMsg::Read {
                conversation_id: 10,
                reader_id: bob().id,
            },
        )
    };
    // `connected` saved 100 at `now`: 101 waits for the gap, the tick then hands it out.
    assert_eq!(
        saves(update(&mut app, read(101), t(200))),
        Vec::<i64>::new()
    );
    assert_eq!(
        saves(update(&mut app, Event::Tick, t(900))),
        Vec::<i64>::new()
    );
    assert_eq!(saves(update(&mut app, Event::Tick, t(1000))), [101]);
    assert_eq!(
        saves(update(&mut app, Event::Tick, t(3000))),
        Vec::<i64>::new()
    );
    assert_eq!(saves(update(&mut app, read(102), t(3100))), [102]);
    assert_eq!(
        saves(update(&mut app, read(103), t(3200))),
        Vec::<i64>::new()
    );
    // Quitting (q in the list) hands out the newest at once, before quitting.
    let out = update(&mut app, Event::char('q'), t(3300));
    assert_eq!(out, vec![Effect::SaveCursor(103), Effect::Quit]);
}

/// A frame from the client's own instance can move the cursor past frames lost from the others:
/// the hint's `since` takes the sync back before them, and what comes twice shows once.
#[test]
fn a_sync_hint_with_since_syncs_from_before_the_cursor() {
    let now = Instant::now();
    let mut app = chatting(now, vec![message(5, 10, &bob(), "hi alice")]);
    let live = ServerMsg::Message {
        message: message(6, 10, &bob(), "local"),
    };
    update(&mut app, pushed(140, live.clone()), now);
    assert_eq!(
        step(
            &mut app,
            server(ServerMsg::SyncHint { since: Some(120) }),
            now
        ),
        vec![sync_from(120)]
    );
    // The replay holds the lost message and the one already shown: each shows once.
    let lost = ServerMsg::Message {
        message: message(7, 10, &bob(), "lost"),
    };
    update(&mut app, pushed(130, lost), now);
    update(&mut app, pushed(140, live), now);
    update(&mut app, synced(140, false), now);
    assert_eq!(contents(&app), ["hi alice", "local", "lost"]);
    assert_eq!(app.sync.cursor, Some(140));
    // A hint whose since is past the cursor changes nothing about where the sync starts.
    assert_eq!(
        step(
            &mut app,
            server(ServerMsg::SyncHint { since: Some(500) }),
            now
        ),
        vec![sync_from(140)]
    );
}
