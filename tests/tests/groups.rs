//! Group conversations over real sockets: creation, roles, membership changes and their system
//! messages, typing, receipts, mute, mentions, and what a removed member or a stranger gets. On
//! SQLite, and on PostgreSQL + Redis (with members on two instances) when their URLs are set.

use std::time::Duration;

use chat_e2e::{Person, TestServer, WsClient, until_linked};
use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ConversationKind, ErrorCode, EventKind, MessageStatus,
    Role, ServerMsg,
};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

/// alice (owner) created "Deploys" with bob and carol; each has one connection, and every
/// frame of the creation has been read.
struct Team {
    alice: Person,
    bob: Person,
    carol: Person,
    a: WsClient,
    b: WsClient,
    c: WsClient,
    group: i64,
}

async fn team(server: &TestServer) -> Team {
    team_on([server, server, server]).await
}

/// A team whose three members connect to the given servers (alice, bob, carol). Across
/// instances, alice's instance first reaches bob's and carol's connections (see
/// [`until_linked`]).
async fn team_on(servers: [&TestServer; 3]) -> Team {
    let alice = Person::new(servers[0], "alice").await;
    let bob = Person::new(servers[1], "bob").await;
    let carol = Person::new(servers[2], "carol").await;
    let mut a = alice.connect(servers[0]).await;
    let mut b = bob.connect(servers[1]).await;
    let mut c = carol.connect(servers[2]).await;
    for (other, client, server) in [(&bob, &mut b, servers[1]), (&carol, &mut c, servers[2])] {
        if !std::ptr::eq(server, servers[0]) {
            a.start_conversation(other.id).await;
            until_linked(&mut a, client, other.id).await;
        }
    }
    a.send(&ClientMsg::CreateGroup {
        title: "  Deploys ".into(),
        member_ids: vec![bob.id, carol.id],
    })
    .await;
    let started = match a.recv().await {
        ServerMsg::ConversationStarted { conversation } => conversation,
        other => panic!("expected chat.conversation_started, got {other:?}"),
    };
    let group = started.id;
    assert_eq!(started.info.kind, Some(ConversationKind::Group));
    assert_eq!(started.info.title(), Some("Deploys"));
    assert_eq!(started.info.member_count, Some(3));
    assert_eq!(started.info.muted, Some(false));
    assert_eq!(
        roles(&started),
        [
            (alice.id, Role::Owner),
            (bob.id, Role::Member),
            (carol.id, Role::Member)
        ]
    );
    // The others learn of it as an update, then everyone gets the system message.
    for client in [&mut b, &mut c] {
        let updated = expect_updated(client).await;
        assert_eq!(updated, started);
    }
    for client in [&mut a, &mut b, &mut c] {
        let created = client.expect_message().await;
        assert!(created.is_system);
        assert_eq!(created.conversation_id, group);
        let event = created.event.expect("a system message has its event");
        assert_eq!(
            (event.kind, event.by, event.user_id),
            (EventKind::Created, alice.id, alice.id)
        );
        assert_eq!(event.title.as_deref(), Some("Deploys"));
        assert_eq!(
            created.content,
            format!("{} created the group \u{201c}Deploys\u{201d}", alice.name)
        );
    }
    Team {
        alice,
        bob,
        carol,
        a,
        b,
        c,
        group,
    }
}

/// Each participant's id and role, by id.
fn roles(conversation: &Conversation) -> Vec<(i64, Role)> {
    conversation
        .participants
        .iter()
        .map(|m| (m.id, m.role.expect("a group member has a role")))
        .collect()
}

/// The next frame, which must be a `chat.conversation_updated` without `left`.
async fn expect_updated(client: &mut WsClient) -> Conversation {
    match client.recv().await {
        ServerMsg::ConversationUpdated {
            conversation,
            left: false,
        } => conversation,
        other => panic!("expected chat.conversation_updated, got {other:?}"),
    }
}

/// The next frame, which must be a `chat.conversation_updated` with `left: true`.
async fn expect_left(client: &mut WsClient, group: i64) -> Conversation {
    match client.recv().await {
        ServerMsg::ConversationUpdated {
            conversation,
            left: true,
        } => {
            assert_eq!(conversation.id, group);
            assert_eq!(conversation.info.muted, None);
            conversation
        }
        other => panic!("expected chat.conversation_updated with left, got {other:?}"),
    }
}

/// The next frame, which must be a system message recording `kind`.
async fn expect_event(client: &mut WsClient, kind: EventKind) -> ChatMessage {
    let message = client.expect_message().await;
    assert!(message.is_system, "{message:?}");
    assert_eq!(
        message.event.as_ref().map(|e| e.kind),
        Some(kind),
        "{message:?}"
    );
    message
}

#[tokio::test]
async fn creating_a_group_tells_every_member_and_its_other_connections() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a1 = alice.connect(&server).await;
    let mut a2 = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    // bob twice and alice herself in the list: each counted once.
    a1.send(&ClientMsg::CreateGroup {
        title: "Pair plus".into(),
        member_ids: vec![bob.id, alice.id, bob.id],
    })
    .await;
    let ServerMsg::ConversationStarted { conversation } = a1.recv().await else {
        panic!("expected chat.conversation_started");
    };
    assert_eq!(conversation.info.member_count, Some(2));
    // alice's other connection gets the update, like every member.
    assert_eq!(expect_updated(&mut a2).await, conversation);
    assert_eq!(expect_updated(&mut b).await, conversation);
    for client in [&mut a1, &mut a2, &mut b] {
        expect_event(client, EventKind::Created).await;
    }
    // The wire keys of a group's conversation object.
    let value = serde_json::to_value(&conversation).unwrap();
    assert_eq!(value["kind"], "group");
    assert_eq!(value["title"], "Pair plus");
    assert_eq!(value["participants"][0]["role"], "owner");
    a1.expect_silence(QUIET).await;
}

#[tokio::test]
async fn group_requests_are_checked_and_a_refused_one_changes_nothing() {
    let server = TestServer::start_with(&["--max-group-members", "3"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let carol = Person::new(&server, "carol").await;
    let dave = Person::new(&server, "dave").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let create = |title: &str, member_ids: Vec<i64>| ClientMsg::CreateGroup {
        title: title.into(),
        member_ids,
    };
    let cases = [
        (create("   ", vec![bob.id]), ErrorCode::InvalidField),
        (
            create(&"x".repeat(101), vec![bob.id]),
            ErrorCode::InvalidField,
        ),
        (create("tab\there", vec![bob.id]), ErrorCode::InvalidField),
        (
            create("ghosts", vec![bob.id, 987_654_321]),
            ErrorCode::NotFound,
        ),
        (
            create("crowd", vec![bob.id, carol.id, dave.id]),
            ErrorCode::InvalidField,
        ),
    ];
    for (request, code) in cases {
        a.send(&request).await;
        a.expect_error(code, Some("chat.create_group")).await;
    }
    a.send_raw(r#"{"type":"chat.create_group","title":"no members"}"#)
        .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.create_group"))
        .await;
    // Nothing was created: bob heard nothing and alice's list is empty.
    b.expect_silence(QUIET).await;
    a.send(&ClientMsg::GetConversations {}).await;
    assert_eq!(a.recv_json().await["conversations"], json!([]));
    // Exactly the limit is fine; one more member is not.
    a.send(&create(&"é".repeat(100), vec![bob.id, carol.id]))
        .await;
    let ServerMsg::ConversationStarted { conversation } = a.recv().await else {
        panic!("expected chat.conversation_started");
    };
    expect_event(&mut a, EventKind::Created).await;
    a.send(&ClientMsg::AddMembers {
        conversation_id: conversation.id,
        user_ids: vec![dave.id],
    })
    .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.add_members"))
        .await;
    a.send(&ClientMsg::AddMembers {
        conversation_id: conversation.id,
        user_ids: vec![],
    })
    .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.add_members"))
        .await;
    // A direct conversation is not a group.
    let direct = a.start_conversation(bob.id).await;
    a.send(&ClientMsg::AddMembers {
        conversation_id: direct,
        user_ids: vec![carol.id],
    })
    .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.add_members"))
        .await;
    a.send(&ClientMsg::RenameGroup {
        conversation_id: direct,
        title: "pair".into(),
    })
    .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.rename_group"))
        .await;
}

#[tokio::test]
async fn messages_reach_every_member_with_mentions_and_a_status_from_everyone() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    let content = format!(
        "ship it @{} and @{}. mail bob@example.com, @nobody",
        t.carol.name,
        t.alice.name.to_uppercase()
    );
    t.b.say(t.group, &content).await;
    let mut ids = Vec::new();
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        let message = client.expect_message().await;
        assert_eq!(message.sender.id, t.bob.id);
        assert_eq!(message.status, Some(MessageStatus::Sent));
        let mut mentions = message.mentions.clone().expect("two members are mentioned");
        mentions.sort();
        assert_eq!(mentions, [t.alice.id, t.carol.id]);
        ids.push(message.id);
    }
    let id = ids[0];
    assert!(ids.iter().all(|&i| i == id));
    // alice reads: carol has not, so bob's message is neither seen nor (carol's client never
    // said it got it) delivered; in a group the read is not announced to the others.
    t.a.send(&ClientMsg::Read {
        conversation_id: t.group,
    })
    .await;
    t.b.expect_silence(QUIET).await;
    t.c.expect_silence(Duration::ZERO).await;
    // carol's client acknowledges it: now everyone has it.
    t.c.send(&ClientMsg::Delivered { message_id: id }).await;
    assert_eq!(
        t.b.recv().await,
        ServerMsg::MessageStatus {
            message_id: id,
            status: MessageStatus::Delivered
        }
    );
    t.c.send(&ClientMsg::Read {
        conversation_id: t.group,
    })
    .await;
    assert_eq!(
        t.b.recv().await,
        ServerMsg::MessageStatus {
            message_id: id,
            status: MessageStatus::Seen
        }
    );
    // History shows the same status to the sender, and the mentions.
    t.b.send(&ClientMsg::GetMessages {
        conversation_id: t.group,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = t.b.recv().await else {
        panic!("expected chat.messages");
    };
    assert_eq!(messages.len(), 2, "the created event and the message");
    assert_eq!(
        messages[0].event.as_ref().map(|e| e.kind),
        Some(EventKind::Created)
    );
    assert_eq!(messages[1].status, Some(MessageStatus::Seen));
    assert_eq!(messages[1].mentions.as_ref().map(Vec::len), Some(2));
    // A message without a member's name mentions nobody: the key is absent.
    t.a.say(t.group, "no names here, just me@host").await;
    let plain = t.c.expect_message().await;
    assert_eq!(plain.mentions, None);
}

#[tokio::test]
async fn roles_decide_who_changes_the_group() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    let dave = Person::new(&server, "dave").await;
    let mut d = dave.connect(&server).await;
    // A member cannot add, remove, rename or set roles.
    let by_member = [
        ClientMsg::AddMembers {
            conversation_id: t.group,
            user_ids: vec![dave.id],
        },
        ClientMsg::RemoveMember {
            conversation_id: t.group,
            user_id: t.bob.id,
        },
        ClientMsg::RenameGroup {
            conversation_id: t.group,
            title: "mine".into(),
        },
        ClientMsg::SetRole {
            conversation_id: t.group,
            user_id: t.bob.id,
            role: Role::Admin,
        },
    ];
    for request in by_member {
        let kind = request.kind();
        t.c.send(&request).await;
        t.c.expect_error(ErrorCode::Forbidden, kind).await;
    }
    t.a.expect_silence(QUIET).await;
    // The owner makes bob an admin: everyone sees the new role and the system message.
    t.a.send(&ClientMsg::SetRole {
        conversation_id: t.group,
        user_id: t.bob.id,
        role: Role::Admin,
    })
    .await;
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        let updated = expect_updated(client).await;
        assert!(roles(&updated).contains(&(t.bob.id, Role::Admin)));
        let event = expect_event(client, EventKind::RoleChanged).await;
        assert_eq!(
            event.content,
            format!("{} made {} an admin", t.alice.name, t.bob.name)
        );
        assert_eq!(event.event.unwrap().role, Some(Role::Admin));
    }
    // Only the owner sets roles, and owner is not a role to give.
    t.b.send(&ClientMsg::SetRole {
        conversation_id: t.group,
        user_id: t.carol.id,
        role: Role::Admin,
    })
    .await;
    t.b.expect_error(ErrorCode::Forbidden, Some("chat.set_role"))
        .await;
    t.a.send(&ClientMsg::SetRole {
        conversation_id: t.group,
        user_id: t.bob.id,
        role: Role::Owner,
    })
    .await;
    t.a.expect_error(ErrorCode::InvalidField, Some("chat.set_role"))
        .await;
    // The admin adds dave, who gets the group, then the event, like everyone.
    t.b.send(&ClientMsg::AddMembers {
        conversation_id: t.group,
        user_ids: vec![dave.id, t.carol.id],
    })
    .await;
    for client in [&mut t.a, &mut t.b, &mut t.c, &mut d] {
        let updated = expect_updated(client).await;
        assert_eq!(updated.info.member_count, Some(4));
        let added = expect_event(client, EventKind::MemberAdded).await;
        assert_eq!(added.event.unwrap().user_id, dave.id);
        assert_eq!(added.content, format!("{} added {}", t.bob.name, dave.name));
    }
    // Adding someone already in changes nothing and answers the caller alone.
    t.b.send(&ClientMsg::AddMembers {
        conversation_id: t.group,
        user_ids: vec![dave.id],
    })
    .await;
    assert_eq!(expect_updated(&mut t.b).await.info.member_count, Some(4));
    t.a.expect_silence(QUIET).await;
    // An admin removes members, never the owner.
    t.b.send(&ClientMsg::RemoveMember {
        conversation_id: t.group,
        user_id: t.alice.id,
    })
    .await;
    t.b.expect_error(ErrorCode::Forbidden, Some("chat.remove_member"))
        .await;
    t.b.send(&ClientMsg::RemoveMember {
        conversation_id: t.group,
        user_id: 987_654_321,
    })
    .await;
    t.b.expect_error(ErrorCode::NotFound, Some("chat.remove_member"))
        .await;
    // Renaming: everyone gets the new title.
    t.b.send(&ClientMsg::RenameGroup {
        conversation_id: t.group,
        title: "Releases".into(),
    })
    .await;
    for client in [&mut t.a, &mut t.b, &mut t.c, &mut d] {
        assert_eq!(expect_updated(client).await.info.title(), Some("Releases"));
        let renamed = expect_event(client, EventKind::Renamed).await;
        assert_eq!(renamed.event.unwrap().title.as_deref(), Some("Releases"));
    }
}

#[tokio::test]
async fn a_removed_member_stops_receiving_at_once_and_gets_not_found() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    t.c.say(t.group, "before").await;
    let before = t.c.expect_message().await;
    t.a.expect_message().await;
    t.b.expect_message().await;
    let mut c2 = t.carol.connect(&server).await;
    t.a.send(&ClientMsg::RemoveMember {
        conversation_id: t.group,
        user_id: t.carol.id,
    })
    .await;
    // carol's connections are told once, then hear nothing more of the group.
    for client in [&mut t.c, &mut c2] {
        let gone = expect_left(client, t.group).await;
        assert!(gone.participants.iter().all(|m| m.id != t.carol.id));
    }
    for client in [&mut t.a, &mut t.b] {
        let updated = expect_updated(client).await;
        assert_eq!(updated.info.member_count, Some(2));
        let removed = expect_event(client, EventKind::MemberRemoved).await;
        assert_eq!(removed.event.unwrap().user_id, t.carol.id);
    }
    t.a.say(t.group, "after").await;
    t.b.send(&ClientMsg::Typing {
        receiver_id: None,
        conversation_id: Some(t.group),
        is_typing: true,
    })
    .await;
    // alice gets her echo and bob's typing, in either order.
    let (mut echoed, mut typed) = (false, false);
    while !(echoed && typed) {
        match t.a.recv().await {
            ServerMsg::Message { message } => echoed |= message.content == "after",
            ServerMsg::Typing { sender_id, .. } => typed |= sender_id == t.bob.id,
            other => panic!("unexpected {other:?}"),
        }
    }
    t.b.recv_message().await;
    t.c.expect_silence(QUIET).await;
    c2.expect_silence(Duration::ZERO).await;
    // Every request about the group is now not_found, as for a stranger.
    let requests = [
        ClientMsg::GetMessages {
            conversation_id: t.group,
            before_id: None,
            limit: None,
        },
        ClientMsg::Typing {
            receiver_id: None,
            conversation_id: Some(t.group),
            is_typing: true,
        },
        ClientMsg::GetReceipts {
            message_id: before.id,
        },
        ClientMsg::Mute {
            conversation_id: t.group,
            muted: true,
        },
        ClientMsg::Leave {
            conversation_id: t.group,
        },
        ClientMsg::RenameGroup {
            conversation_id: t.group,
            title: "still here".into(),
        },
        ClientMsg::AddMembers {
            conversation_id: t.group,
            user_ids: vec![t.carol.id],
        },
    ];
    for request in requests {
        let kind = request.kind();
        t.c.send(&request).await;
        t.c.expect_error(ErrorCode::NotFound, kind).await;
    }
    t.c.say(t.group, "let me back").await;
    t.c.expect_error(ErrorCode::NotFound, Some("chat.message"))
        .await;
    t.c.send(&ClientMsg::Read {
        conversation_id: t.group,
    })
    .await;
    t.c.expect_error(ErrorCode::NotFound, Some("chat.read"))
        .await;
    // And the group is gone from carol's list.
    t.c.send(&ClientMsg::GetConversations {}).await;
    assert_eq!(t.c.recv_json().await["conversations"], json!([]));
    t.a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_stranger_gets_not_found_for_every_group_request() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    let eve = Person::new(&server, "eve").await;
    let mut e = eve.connect(&server).await;
    t.a.say(t.group, "private").await;
    let message = t.a.expect_message().await;
    t.b.expect_message().await;
    t.c.expect_message().await;
    let requests = [
        ClientMsg::AddMembers {
            conversation_id: t.group,
            user_ids: vec![eve.id],
        },
        ClientMsg::RemoveMember {
            conversation_id: t.group,
            user_id: t.bob.id,
        },
        ClientMsg::RenameGroup {
            conversation_id: t.group,
            title: "x".into(),
        },
        ClientMsg::SetRole {
            conversation_id: t.group,
            user_id: t.bob.id,
            role: Role::Admin,
        },
        ClientMsg::Leave {
            conversation_id: t.group,
        },
        ClientMsg::GetReceipts {
            message_id: message.id,
        },
        ClientMsg::Mute {
            conversation_id: t.group,
            muted: true,
        },
        ClientMsg::Typing {
            receiver_id: None,
            conversation_id: Some(t.group),
            is_typing: true,
        },
        ClientMsg::GetMessages {
            conversation_id: t.group,
            before_id: None,
            limit: None,
        },
    ];
    // The same answer for a group that does not exist.
    for request in requests {
        let kind = request.kind();
        e.send(&request).await;
        let (code, text, _) = e.recv_error().await;
        assert_eq!(
            (code, kind),
            (ErrorCode::NotFound, request.kind()),
            "{text}"
        );
    }
    e.send(&ClientMsg::Leave {
        conversation_id: 987_654_321,
    })
    .await;
    e.expect_error(ErrorCode::NotFound, Some("chat.leave"))
        .await;
    e.say(t.group, "let me in").await;
    e.expect_error(ErrorCode::NotFound, Some("chat.message"))
        .await;
    // The members heard nothing of it.
    t.a.expect_silence(QUIET).await;
    t.b.expect_silence(Duration::ZERO).await;
    t.c.expect_silence(Duration::ZERO).await;
}

#[tokio::test]
async fn the_owner_leaving_hands_the_group_to_the_longest_standing_admin() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    t.a.send(&ClientMsg::SetRole {
        conversation_id: t.group,
        user_id: t.carol.id,
        role: Role::Admin,
    })
    .await;
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        expect_updated(client).await;
        expect_event(client, EventKind::RoleChanged).await;
    }
    t.a.send(&ClientMsg::Leave {
        conversation_id: t.group,
    })
    .await;
    expect_left(&mut t.a, t.group).await;
    for client in [&mut t.b, &mut t.c] {
        let updated = expect_updated(client).await;
        // carol, the admin, owns it now, though bob joined as early as she did.
        assert_eq!(
            roles(&updated),
            [(t.bob.id, Role::Member), (t.carol.id, Role::Owner)]
        );
        let left = expect_event(client, EventKind::MemberLeft).await;
        assert_eq!(left.content, format!("{} left", t.alice.name));
        let heir = expect_event(client, EventKind::RoleChanged).await;
        assert_eq!(heir.content, format!("{} is now the owner", t.carol.name));
        assert_eq!(heir.event.unwrap().role, Some(Role::Owner));
    }
    t.a.expect_silence(QUIET).await;
    // The new owner can set roles.
    t.c.send(&ClientMsg::SetRole {
        conversation_id: t.group,
        user_id: t.bob.id,
        role: Role::Admin,
    })
    .await;
    expect_updated(&mut t.c).await;
}

#[tokio::test]
async fn typing_in_a_group_reaches_the_other_members_naming_it() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    t.b.send(&ClientMsg::Typing {
        receiver_id: None,
        conversation_id: Some(t.group),
        is_typing: true,
    })
    .await;
    for client in [&mut t.a, &mut t.c] {
        assert_eq!(
            client.recv().await,
            ServerMsg::Typing {
                sender_id: t.bob.id,
                conversation_id: Some(t.group),
                is_typing: true
            }
        );
    }
    t.b.expect_silence(QUIET).await;
    // One of the two forms, never both or neither.
    t.b.send(&ClientMsg::Typing {
        receiver_id: Some(t.alice.id),
        conversation_id: Some(t.group),
        is_typing: true,
    })
    .await;
    t.b.expect_error(ErrorCode::InvalidField, Some("chat.typing"))
        .await;
    t.b.send_raw(r#"{"type":"chat.typing","is_typing":true}"#)
        .await;
    t.b.expect_error(ErrorCode::InvalidField, Some("chat.typing"))
        .await;
}

/// Asks for a message's receipts: the ids of who read it and who received it.
async fn receipts(client: &mut WsClient, id: i64) -> (Vec<i64>, Vec<i64>) {
    client
        .send(&ClientMsg::GetReceipts { message_id: id })
        .await;
    let ids = |users: Vec<chat_shared::UserRef>| users.into_iter().map(|u| u.id).collect();
    client
        .recv_until(|frame| match frame {
            ServerMsg::Receipts {
                message_id,
                read_by,
                delivered_to,
            } => {
                assert_eq!(message_id, id);
                Some((ids(read_by), ids(delivered_to)))
            }
            _ => None,
        })
        .await
}

#[tokio::test]
async fn receipts_say_who_received_and_who_read_a_message() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    t.a.say(t.group, "who saw this?").await;
    let message = t.a.expect_message().await;
    t.b.expect_message().await;
    t.c.expect_message().await;
    assert_eq!(receipts(&mut t.a, message.id).await, (vec![], vec![]));
    t.b.send(&ClientMsg::Delivered {
        message_id: message.id,
    })
    .await;
    t.c.send(&ClientMsg::Read {
        conversation_id: t.group,
    })
    .await;
    // Once both receipts are applied, alice's message is delivered to everyone (and her
    // `created` message too: bob's receipt covers the older messages).
    let id = message.id;
    t.a.recv_until(|f| match f {
        ServerMsg::MessageStatus { message_id, status } if message_id == id => Some(status),
        _ => None,
    })
    .await;
    let (read_by, delivered_to) = receipts(&mut t.a, message.id).await;
    assert_eq!(read_by, [t.carol.id]);
    let mut delivered = delivered_to.clone();
    delivered.sort();
    let mut both = vec![t.bob.id, t.carol.id];
    both.sort();
    assert_eq!(delivered, both);
    // Any member may ask; the sender is never listed.
    let (read_by, _) = receipts(&mut t.b, message.id).await;
    assert_eq!(read_by, [t.carol.id]);
    t.c.send(&ClientMsg::GetReceipts {
        message_id: 987_654_321,
    })
    .await;
    t.c.expect_error(ErrorCode::NotFound, Some("chat.get_receipts"))
        .await;
}

#[tokio::test]
async fn mute_is_each_members_own_and_the_list_shows_groups() {
    let server = TestServer::start().await;
    let mut t = team(&server).await;
    let mut c2 = t.carol.connect(&server).await;
    t.c.send(&ClientMsg::Mute {
        conversation_id: t.group,
        muted: true,
    })
    .await;
    for client in [&mut t.c, &mut c2] {
        assert_eq!(expect_updated(client).await.info.muted, Some(true));
    }
    t.a.expect_silence(QUIET).await;
    // A rename tells each member their own setting.
    t.a.send(&ClientMsg::RenameGroup {
        conversation_id: t.group,
        title: "Quiet".into(),
    })
    .await;
    assert_eq!(expect_updated(&mut t.a).await.info.muted, Some(false));
    assert_eq!(expect_updated(&mut t.b).await.info.muted, Some(false));
    assert_eq!(expect_updated(&mut t.c).await.info.muted, Some(true));
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        expect_event(client, EventKind::Renamed).await;
    }
    expect_updated(&mut c2).await;
    expect_event(&mut c2, EventKind::Renamed).await;
    // Two messages from bob: unread for alice and carol (muted or not), system messages never.
    t.b.say(t.group, "one").await;
    t.b.say(t.group, "two").await;
    for _ in 0..2 {
        t.b.expect_message().await;
    }
    t.c.send(&ClientMsg::GetConversations {}).await;
    let list =
        t.c.recv_until(|f| matches!(f, ServerMsg::Conversations { .. }).then_some(f))
            .await;
    let value = serde_json::to_value(list).unwrap();
    let item = &value["conversations"][0];
    assert_eq!(item["id"], t.group);
    assert_eq!(item["kind"], "group");
    assert_eq!(item["title"], "Quiet");
    assert_eq!(item["member_count"], 3);
    assert_eq!(item["muted"], true);
    assert_eq!(item["unread_count"], 2);
    assert_eq!(item["last_message"]["content"], "two");
    let participants = item["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 3);
    assert_eq!(participants[0]["user__id"], t.alice.id);
    assert_eq!(participants[0]["role"], "owner");
    // A newcomer sees the whole history, and none of it is theirs to owe.
    let dave = Person::new(&server, "dave").await;
    let mut d = dave.connect(&server).await;
    t.a.send(&ClientMsg::AddMembers {
        conversation_id: t.group,
        user_ids: vec![dave.id],
    })
    .await;
    expect_updated(&mut d).await;
    expect_event(&mut d, EventKind::MemberAdded).await;
    d.send(&ClientMsg::GetConversations {}).await;
    let list = d.recv_json().await;
    assert_eq!(list["conversations"][0]["unread_count"], 0);
    d.send(&ClientMsg::GetMessages {
        conversation_id: t.group,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = d.recv().await else {
        panic!("expected chat.messages");
    };
    let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(&contents[2..4], ["one", "two"]);
    assert_eq!(messages.len(), 5, "created, renamed, one, two, added");
}

#[tokio::test]
async fn direct_conversations_keep_their_frames() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    a.send(&ClientMsg::StartConversation {
        receiver_id: bob.id,
    })
    .await;
    let started = a.recv_json().await;
    let conversation = &started["conversation"];
    let keys: Vec<&String> = conversation.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "participants"]);
    let member_keys: Vec<&String> = conversation["participants"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(member_keys, ["id", "username"]);
    let id = conversation["id"].as_i64().unwrap();
    a.say(id, &format!("hi @{}", bob.name)).await;
    let echo = a.recv_json().await;
    assert!(echo["message"].get("mentions").is_none(), "{echo}");
    // Muting a direct conversation shows in its list item, and only then.
    a.send(&ClientMsg::Mute {
        conversation_id: id,
        muted: true,
    })
    .await;
    let updated = expect_updated(&mut a).await;
    assert_eq!(updated.info.kind, Some(ConversationKind::Direct));
    assert_eq!(updated.info.title, Some(None));
    a.send(&ClientMsg::GetConversations {}).await;
    let list = a.recv_json().await;
    let item = list["conversations"][0].as_object().unwrap();
    let keys: Vec<&String> = item.keys().collect();
    assert_eq!(
        keys,
        [
            "has_unread",
            "id",
            "last_message",
            "muted",
            "participants",
            "unread_count"
        ]
    );
}

/// Members on two instances: messages, a removal and typing cross the bus (Redis when
/// `TEST_REDIS_URL` is set; frames for 8 or more users go once on the shared channel).
#[tokio::test]
async fn a_group_spread_over_two_instances_acts_as_one() {
    let servers = TestServer::cluster(2).await;
    let (one, two) = (&servers[0], &servers[1]);
    let mut t = team_on([one, two, two]).await;
    // Six more members on instance one make the group's frames go out on the shared channel.
    let mut more = Vec::new();
    for i in 0..6 {
        let person = Person::new(one, &format!("m{i}")).await;
        let client = person.connect(one).await;
        more.push((person, client));
    }
    t.a.send(&ClientMsg::AddMembers {
        conversation_id: t.group,
        user_ids: more.iter().map(|(p, _)| p.id).collect(),
    })
    .await;
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        assert_eq!(expect_updated(client).await.info.member_count, Some(9));
        for _ in 0..6 {
            expect_event(client, EventKind::MemberAdded).await;
        }
    }
    for (_, client) in &mut more {
        expect_updated(client).await;
        for _ in 0..6 {
            expect_event(client, EventKind::MemberAdded).await;
        }
    }
    t.b.say(t.group, "from instance two").await;
    for client in [&mut t.a, &mut t.b, &mut t.c] {
        assert_eq!(client.recv_message().await.content, "from instance two");
    }
    for (_, client) in &mut more {
        assert_eq!(client.recv_message().await.content, "from instance two");
    }
    // A removal on instance one stops delivery to carol on instance two at once.
    t.a.send(&ClientMsg::RemoveMember {
        conversation_id: t.group,
        user_id: t.carol.id,
    })
    .await;
    t.c.recv_until(|f| match f {
        ServerMsg::ConversationUpdated { left: true, .. } => Some(()),
        _ => None,
    })
    .await;
    t.a.say(t.group, "carol is gone").await;
    t.b.recv_until(|f| match f {
        ServerMsg::Message { message } if message.content == "carol is gone" => Some(()),
        _ => None,
    })
    .await;
    t.c.expect_silence(QUIET).await;
    // Typing from instance two reaches the members on instance one.
    t.b.send(&ClientMsg::Typing {
        receiver_id: None,
        conversation_id: Some(t.group),
        is_typing: true,
    })
    .await;
    let typing =
        t.a.recv_until(|f| match f {
            ServerMsg::Typing {
                sender_id,
                conversation_id,
                ..
            } => Some((sender_id, conversation_id)),
            _ => None,
        })
        .await;
    assert_eq!(typing, (t.bob.id, Some(t.group)));
}

/// An owner who deletes their account leaves their groups first, as if they had asked: the
/// group passes to the longest-standing member, who can manage it, everyone is told, and the
/// history stays readable (their messages now from `deleted user`).
#[tokio::test]
async fn an_owner_deleting_their_account_hands_the_group_on() {
    let server = TestServer::start().await;
    let Team {
        alice,
        bob,
        carol,
        mut a,
        mut b,
        mut c,
        group,
    } = team(&server).await;
    a.say(group, "handing over").await;
    for client in [&mut b, &mut c] {
        client.recv_message().await;
    }
    let deleted = reqwest::Client::new()
        .delete(format!("{}/api/me/", server.http_url()))
        .bearer_auth(&alice.tokens.access)
        .json(&json!({"password": chat_e2e::PASSWORD}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(deleted.status(), 204);
    for client in [&mut b, &mut c] {
        let updated = expect_updated(client).await;
        assert_eq!(
            roles(&updated),
            [(bob.id, Role::Owner), (carol.id, Role::Member)]
        );
        let said: Vec<String> = [client.recv_message().await, client.recv_message().await]
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(
            said,
            [
                format!("{} left", alice.name),
                format!("{} is now the owner", bob.name)
            ]
        );
    }
    // The new owner manages the group.
    b.send(&ClientMsg::RenameGroup {
        conversation_id: group,
        title: "Releases".into(),
    })
    .await;
    let renamed = expect_updated(&mut c).await;
    assert_eq!(renamed.info.title(), Some("Releases"));
    let history = c.history(group).await;
    let kept = history
        .iter()
        .find(|m| m.content == "handing over")
        .expect("alice's message stayed");
    assert_eq!(
        (kept.sender.id, kept.sender.username.as_str()),
        (alice.id, chat_shared::DELETED_USERNAME)
    );
    server.stop().await;
}
