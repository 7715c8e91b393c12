//! `update` with groups: a three-person group created, written in, typed in, read, muted,
//! changed and left, event by event.

use std::time::{Duration, Instant};

use chat_shared::{ClientMsg, EventKind, MessageStatus, ServerMsg, UserRef};

use super::super::app::{ConvKind, Focus, PAGE, PickFor, ReceiptsView};
use super::super::effect::Effect;
use super::super::event::{Event, KeyCode, KeyModifiers};
use super::super::fixtures::*;
use super::update;

fn ctrl(c: char) -> Event {
    Event::key_with(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn dave() -> UserRef {
    UserRef {
        id: 4,
        username: "dave".into(),
    }
}

/// Types a composer line and sends it with Enter, returning the frames but for typing.
fn command(app: &mut super::super::app::App, line: &str, now: Instant) -> Vec<ClientMsg> {
    app.focus = Focus::Composer;
    let mut out = type_text(app, line, now);
    out.extend(step(app, Event::key(KeyCode::Enter), now));
    assert!(app.typing_out.is_none(), "Enter ends our typing");
    out.retain(|frame| !matches!(frame, ClientMsg::Typing { .. }));
    out
}

#[test]
fn a_group_is_created_with_members_picked_in_the_search_box_and_opened() {
    let now = Instant::now();
    let mut app = connected(now);
    let out = command(&mut app, "/group Deploys", now);
    assert_eq!(out, vec![], "a command is not a message");
    assert!(app.composer.text.is_empty());
    let pick = app.search.as_ref().and_then(|s| s.pick.as_ref());
    assert_eq!(
        pick.map(|p| &p.purpose),
        Some(&PickFor::NewGroup {
            title: "Deploys".into()
        })
    );
    type_text(&mut app, "o", now);
    let out = step(&mut app, Event::Tick, now + Duration::from_millis(300));
    assert_eq!(
        out,
        vec![ClientMsg::SearchUser {
            keyword: "o".into()
        }]
    );
    let results = vec![bob(), carol()];
    step(&mut app, server(ServerMsg::SearchResults { results }), now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    step(&mut app, Event::key(KeyCode::Down), now);
    step(&mut app, Event::key(KeyCode::Enter), now);
    let picked = app.search.as_ref().and_then(|s| s.pick.as_ref());
    assert_eq!(picked.map(|p| p.picked.clone()), Some(vec![bob(), carol()]));
    // Enter again drops the highlighted one; once more picks it back.
    step(&mut app, Event::key(KeyCode::Enter), now);
    let picked = app.search.as_ref().and_then(|s| s.pick.as_ref());
    assert_eq!(picked.map(|p| p.picked.clone()), Some(vec![bob()]));
    step(&mut app, Event::key(KeyCode::Enter), now);

    let out = step(&mut app, ctrl('d'), now);
    assert_eq!(
        out,
        vec![ClientMsg::CreateGroup {
            title: "Deploys".into(),
            member_ids: vec![2, 3]
        }]
    );
    assert!(app.search.is_none());
    // The server answers the creator with `chat.conversation_started`: it opens.
    let conversation = group(20, "Deploys", &[alice(), bob(), carol()]);
    let out = step(
        &mut app,
        server(ServerMsg::ConversationStarted { conversation }),
        now,
    );
    assert_eq!(
        out,
        vec![
            ClientMsg::GetMessages {
                conversation_id: 20,
                before_id: None,
                limit: Some(PAGE)
            },
            ClientMsg::Read {
                conversation_id: 20
            }
        ]
    );
    assert_eq!(app.open, Some(20));
    assert_eq!(app.conversations[0].name(), "Deploys");
    assert_eq!(app.conversations[0].members().len(), 3);
    assert!(app.creating.is_none());
}

#[test]
fn the_list_reads_groups_with_their_title_members_and_mute() {
    let now = Instant::now();
    let mut app = connected(now);
    let mut item = list_item(20, &bob(), Some(message(40, 20, &carol(), "deployed")), 2);
    item.participants.push(chat_shared::Participant {
        id: 3,
        username: "carol".into(),
        role: None,
        ..Default::default()
    });
    item.info = group_info("Deploys", 3, true);
    let list = vec![item, list_item(10, &bob(), None, 0)];
    step(
        &mut app,
        server(ServerMsg::Conversations {
            conversations: list,
        }),
        now,
    );
    let group = &app.conversations[0];
    assert!(matches!(&group.kind, ConvKind::Group { title, .. } if title == "Deploys"));
    assert_eq!(group.members().len(), 3);
    assert!(group.muted);
    assert_eq!(group.unread, 2);
    assert_eq!(group.preview.as_deref(), Some("deployed"));
    assert_eq!(
        app.conversations[1].peer(),
        Some(&bob()),
        "direct ones as before"
    );
    assert!(!app.conversations[1].muted);
}

#[test]
fn in_a_group_messages_go_to_it_and_typing_names_it() {
    let t0 = Instant::now();
    let mut app = in_group(t0, vec![]);
    let on = ClientMsg::Typing {
        receiver_id: None,
        conversation_id: Some(20),
        is_typing: true,
    };
    let off = ClientMsg::Typing {
        receiver_id: None,
        conversation_id: Some(20),
        is_typing: false,
    };
    assert_eq!(type_text(&mut app, "hi all", t0), vec![on]);
    let out = step(&mut app, Event::key(KeyCode::Enter), t0);
    assert_eq!(out, vec![off, sent(20, "hi all", 1)]);
}

#[test]
fn typing_shows_who_types_in_which_conversation() {
    let t0 = Instant::now();
    let mut app = in_group(t0, vec![]);
    let typing = |sender_id, conversation_id, is_typing| {
        server(ServerMsg::Typing {
            sender_id,
            conversation_id: Some(conversation_id),
            is_typing,
        })
    };
    step(&mut app, typing(3, 20, true), t0);
    assert_eq!(app.typing_in_open(), ["carol"]);
    step(
        &mut app,
        typing(2, 20, true),
        t0 + Duration::from_millis(500),
    );
    assert_eq!(app.typing_in_open(), ["bob", "carol"]);
    // Bob typing to alice alone shows in their direct conversation, not in the group.
    step(
        &mut app,
        typing(2, 10, true),
        t0 + Duration::from_millis(600),
    );
    assert_eq!(app.typing_in_open(), ["carol"]);
    let direct = app.conversation(10).cloned().expect("bob's conversation");
    assert_eq!(app.typing_names(&direct), ["bob"]);
    step(
        &mut app,
        typing(3, 20, false),
        t0 + Duration::from_millis(700),
    );
    assert!(app.typing_in_open().is_empty());
    // A group the list lacks (we were just added) fetches the list once.
    let out = step(&mut app, typing(4, 30, true), t0);
    assert_eq!(out, vec![ClientMsg::GetConversations {}]);
    assert_eq!(step(&mut app, typing(4, 30, true), t0), vec![]);
}

#[test]
fn system_messages_never_count_as_unread_and_mentions_ring_even_when_muted() {
    let now = Instant::now();
    let mut app = connected(now);
    let conversation = chat_shared::Conversation {
        info: group_info("Deploys", 3, true),
        ..group(20, "Deploys", &[bob(), alice(), carol()])
    };
    step(&mut app, updated(conversation, false), now);
    assert!(app.conversation(20).is_some_and(|c| c.muted));

    let joined = system(40, 20, &bob(), &dave(), EventKind::MemberAdded);
    let out = update(
        &mut app,
        server(ServerMsg::Message { message: joined }),
        now,
    );
    assert!(!out.contains(&Effect::Bell));
    assert_eq!(app.conversation(20).map(|c| c.unread), Some(0));

    let plain = message(41, 20, &carol(), "deploying now");
    let out = update(&mut app, server(ServerMsg::Message { message: plain }), now);
    assert!(!out.contains(&Effect::Bell), "muted: counted, not rung");
    assert_eq!(app.conversation(20).map(|c| c.unread), Some(1));

    let mut mention = message(42, 20, &carol(), "@alice can you look?");
    mention.mentions = Some(vec![1]);
    let out = update(
        &mut app,
        server(ServerMsg::Message { message: mention }),
        now,
    );
    assert!(out.contains(&Effect::Bell), "a mention rings anyway");
    assert_eq!(app.conversation(20).map(|c| c.unread), Some(2));
    let notice = app.notice.as_ref().map(|n| n.text.as_str());
    assert_eq!(notice, Some("carol mentioned you in Deploys"));
}

#[test]
fn m_asks_to_mute_and_the_answer_marks_the_conversation() {
    let now = Instant::now();
    let mut app = connected(now);
    let out = step(&mut app, Event::char('m'), now);
    assert_eq!(
        out,
        vec![ClientMsg::Mute {
            conversation_id: 10,
            muted: true
        }]
    );
    assert!(
        !app.conversations[0].muted,
        "changed by the server's answer"
    );
    let mut bobs = group(10, "", &[alice(), bob()]);
    bobs.info = chat_shared::GroupInfo {
        kind: Some(chat_shared::ConversationKind::Direct),
        title: Some(None),
        member_count: Some(2),
        muted: Some(true),
    };
    step(&mut app, updated(bobs, false), now);
    let item = app.conversation(10).expect("still listed");
    assert!(item.muted);
    assert_eq!(item.peer(), Some(&bob()), "still a direct conversation");
    let out = step(&mut app, Event::char('m'), now);
    assert_eq!(
        out,
        vec![ClientMsg::Mute {
            conversation_id: 10,
            muted: false
        }]
    );
}

#[test]
fn s_asks_who_read_our_newest_message_and_shows_the_answer() {
    let now = Instant::now();
    let mut app = in_group(
        now,
        vec![
            message(40, 20, &alice(), "first"),
            message(41, 20, &alice(), "second"),
            message(42, 20, &bob(), "ok"),
        ],
    );
    app.focus = Focus::Messages;
    let out = step(&mut app, Event::char('s'), now);
    assert_eq!(out, vec![ClientMsg::GetReceipts { message_id: 41 }]);
    let receipts = ServerMsg::Receipts {
        message_id: 41,
        read_by: vec![bob()],
        delivered_to: vec![bob(), carol()],
    };
    step(&mut app, server(receipts), now);
    assert_eq!(
        app.receipts,
        Some(ReceiptsView {
            message_id: 41,
            read_by: vec![bob()],
            delivered_to: vec![bob(), carol()]
        })
    );
    // Keys go to the receipts until Esc closes them.
    assert_eq!(step(&mut app, Event::char('m'), now), vec![]);
    step(&mut app, Event::key(KeyCode::Esc), now);
    assert!(app.receipts.is_none());
    assert_eq!(
        command(&mut app, "/receipts", now),
        vec![ClientMsg::GetReceipts { message_id: 41 }]
    );
}

#[test]
fn commands_rename_add_remove_and_leave_the_open_group() {
    let now = Instant::now();
    let mut app = in_group(now, vec![]);
    assert_eq!(
        command(&mut app, "/rename Releases", now),
        vec![ClientMsg::RenameGroup {
            conversation_id: 20,
            title: "Releases".into()
        }]
    );
    assert_eq!(
        command(&mut app, "/remove @Carol", now),
        vec![ClientMsg::RemoveMember {
            conversation_id: 20,
            user_id: 3
        }]
    );
    assert_eq!(command(&mut app, "/remove nobody", now), vec![]);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("no member"))
    );
    assert_eq!(command(&mut app, "/add", now), vec![]);
    step(
        &mut app,
        server(ServerMsg::SearchResults {
            results: vec![dave()],
        }),
        now,
    );
    step(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(
        step(&mut app, ctrl('d'), now),
        vec![ClientMsg::AddMembers {
            conversation_id: 20,
            user_ids: vec![4]
        }]
    );
    assert_eq!(
        command(&mut app, "/leave", now),
        vec![ClientMsg::Leave {
            conversation_id: 20
        }]
    );
    // In a direct conversation the group commands say so and send nothing; other text that
    // starts with "/" is a message as before.
    step(&mut app, Event::key(KeyCode::Esc), now);
    app.selected = app
        .conversations
        .iter()
        .position(|c| c.id == 10)
        .unwrap_or(0);
    step(&mut app, Event::key(KeyCode::Enter), now);
    assert_eq!(command(&mut app, "/leave", now), vec![]);
    assert_eq!(
        app.notice.as_ref().map(|n| n.text.as_str()),
        Some("open a group first")
    );
    assert_eq!(
        command(&mut app, "/shrug", now),
        vec![sent(10, "/shrug", 1)]
    );
}

#[test]
fn updates_keep_the_group_in_step_and_left_removes_it() {
    let now = Instant::now();
    let mut app = in_group(now, vec![message(40, 20, &bob(), "hello")]);
    step(
        &mut app,
        updated(group(20, "Releases", &[alice(), bob()]), false),
        now,
    );
    let item = app.conversation(20).expect("still listed");
    assert_eq!(item.name(), "Releases");
    assert_eq!(item.members().len(), 2);
    assert_eq!(app.open, Some(20), "still open");
    let removed = system(41, 20, &alice(), &carol(), EventKind::MemberRemoved);
    step(
        &mut app,
        server(ServerMsg::Message { message: removed }),
        now,
    );
    assert_eq!(app.open_thread().map(|t| t.messages.len()), Some(2));

    // Bob removes alice: the group goes from her list, closed, with a notice.
    step(
        &mut app,
        updated(group(20, "Releases", &[bob()]), true),
        now,
    );
    assert!(app.conversation(20).is_none());
    assert_eq!(app.open, None);
    assert!(!app.threads.contains_key(&20));
    assert_eq!(app.focus, Focus::List);
    assert_eq!(
        app.notice.as_ref().map(|n| n.text.as_str()),
        Some("you are no longer in Releases")
    );
    assert_eq!(app.conversations.len(), 2, "the direct ones stay");
}

#[test]
fn our_group_messages_rise_to_seen_by_message_status() {
    let now = Instant::now();
    let mut app = in_group(now, vec![message(40, 20, &alice(), "ship it?")]);
    step(
        &mut app,
        server(ServerMsg::MessageStatus {
            message_id: 40,
            status: MessageStatus::Seen,
        }),
        now,
    );
    assert_eq!(app.open_thread().and_then(|t| t.last_seen_own(1)), Some(40));
}
