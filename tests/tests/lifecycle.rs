//! A message's life over real sockets: replies, sends retried with a `client_id` (stored once,
//! also across a SIGKILL and restart), edits, deletes (tombstones) and reactions, with who may
//! do what and what a stranger gets. On SQLite, and on PostgreSQL + Redis when their URLs are set.

use std::time::Duration;

use chat_e2e::server_process::ServerProcess;
use chat_e2e::{Pair, Person, TestServer, WsClient, fresh_database, pair, until_linked};
use chat_shared::{ChatMessage, ClientMsg, ConversationListItem, ErrorCode, Role, ServerMsg};

const QUIET: Duration = Duration::from_millis(300);

/// Sends `frame` from `from` and reads its `chat.message` on both sides; the message.
async fn said(from: &mut WsClient, to: &mut WsClient, frame: ClientMsg) -> ChatMessage {
    from.send(&frame).await;
    let echo = from.expect_message().await;
    let delivered = to.expect_message().await;
    assert_eq!(echo, delivered);
    echo
}

async fn say(from: &mut WsClient, to: &mut WsClient, conversation: i64, text: &str) -> ChatMessage {
    said(from, to, ClientMsg::message(conversation, text)).await
}

/// The next frame, which must be a `chat.message_updated`.
async fn expect_updated(client: &mut WsClient) -> ChatMessage {
    match client.recv().await {
        ServerMsg::MessageUpdated { message } => message,
        other => panic!("expected chat.message_updated, got {other:?}"),
    }
}

async fn listed(client: &mut WsClient, conversation: i64) -> ConversationListItem {
    client.send(&ClientMsg::GetConversations {}).await;
    let list = client
        .recv_until(|frame| match frame {
            ServerMsg::Conversations { conversations } => Some(conversations),
            _ => None,
        })
        .await;
    list.into_iter()
        .find(|c| c.id == conversation)
        .expect("the conversation is listed")
}

fn reply(conversation: i64, to: i64, text: &str) -> ClientMsg {
    ClientMsg::Message {
        conversation_id: conversation,
        content: text.into(),
        reply_to: Some(to),
        client_id: None,
    }
}

fn with_client_id(conversation: i64, text: &str, client_id: &str) -> ClientMsg {
    ClientMsg::Message {
        conversation_id: conversation,
        content: text.into(),
        reply_to: None,
        client_id: Some(client_id.into()),
    }
}

fn react(message_id: i64, emoji: &str, add: bool) -> ClientMsg {
    ClientMsg::React {
        message_id,
        emoji: emoji.into(),
        add,
    }
}

fn edit(message_id: i64, content: &str) -> ClientMsg {
    ClientMsg::Edit {
        message_id,
        content: content.into(),
    }
}

#[tokio::test]
async fn a_plain_message_carries_the_lifecycle_fields_with_their_defaults() {
    let server = TestServer::start().await;
    let Pair {
        mut a,
        mut b,
        conversation,
        ..
    } = pair(&server).await;
    a.say(conversation, "plain").await;
    let echo = a.recv_json().await;
    let message = &echo["message"];
    assert_eq!(message["reply_to"], serde_json::Value::Null);
    assert_eq!(message["edited_at"], serde_json::Value::Null);
    assert_eq!(message["deleted"], false);
    assert_eq!(message["reactions"], serde_json::json!([]));
    assert!(message.get("client_id").is_none(), "{message}");
    b.expect_message().await;
    let page = b.history(conversation).await;
    assert_eq!(page[0].reply_to, Some(None));
    assert_eq!(page[0].edited_at, Some(None));
    assert_eq!(page[0].deleted, Some(false));
    assert_eq!(page[0].reactions, Some(Vec::new()));
    server.stop().await;
}

#[tokio::test]
async fn replies_quote_the_message_as_it_reads_now() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        mut a,
        mut b,
        conversation,
        ..
    } = pair(&server).await;
    // 150 characters of two bytes each: the excerpt is the first 100 characters.
    let long = "é".repeat(150);
    let first = say(&mut a, &mut b, conversation, &long).await;
    let answer = said(&mut b, &mut a, reply(conversation, first.id, "agreed")).await;
    let quoted = answer.reply().expect("a reply carries what it answers");
    assert_eq!(quoted.id, first.id);
    assert_eq!(quoted.sender.id, alice.id);
    assert_eq!(quoted.sender.username, alice.name);
    assert_eq!(quoted.excerpt, "é".repeat(100));
    assert!(!quoted.deleted);

    // An edit of the original shows in the reply's quote; a delete empties it.
    a.send(&edit(first.id, "short now")).await;
    expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    let page = b.history(conversation).await;
    let again = page.iter().find(|m| m.id == answer.id).expect("the reply");
    assert_eq!(again.reply().map(|r| r.excerpt.as_str()), Some("short now"));
    a.send(&ClientMsg::Delete {
        message_id: first.id,
    })
    .await;
    expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    let page = a.history(conversation).await;
    let again = page.iter().find(|m| m.id == answer.id).expect("the reply");
    let quoted = again
        .reply()
        .expect("the reply still says what it answered");
    assert_eq!((quoted.id, quoted.deleted), (first.id, true));
    assert_eq!(quoted.excerpt, "");
    server.stop().await;
}

#[tokio::test]
async fn a_reply_to_a_message_elsewhere_unknown_or_deleted_is_not_found_and_stores_nothing() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        mut a,
        mut b,
        conversation,
        ..
    } = pair(&server).await;
    let carol = Person::new(&server, "carol").await;
    let mut c = carol.connect(&server).await;
    let elsewhere = c.start_conversation(alice.id).await;
    let theirs = say(&mut c, &mut a, elsewhere, "between carol and alice").await;
    let gone = say(&mut a, &mut b, conversation, "to be deleted").await;
    a.send(&ClientMsg::Delete {
        message_id: gone.id,
    })
    .await;
    expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    for target in [theirs.id, gone.id, gone.id + 1_000_000] {
        b.send(&reply(conversation, target, "a reply")).await;
        b.expect_error(ErrorCode::NotFound, Some("chat.message"))
            .await;
    }
    // A stranger's reply to a message of theirs is not_found too, like any send of theirs.
    c.send(&reply(conversation, gone.id - 1, "nosy")).await;
    c.expect_error(ErrorCode::NotFound, Some("chat.message"))
        .await;
    a.expect_silence(QUIET).await;
    assert_eq!(b.history(conversation).await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn only_the_sender_edits_and_every_member_sees_the_edit() {
    let server = TestServer::start_with(&["--max-message-chars", "50"]).await;
    let Pair {
        alice,
        mut a,
        mut b,
        conversation,
        ..
    } = pair(&server).await;
    let mut a2 = alice.connect(&server).await;
    let first = say(&mut a, &mut b, conversation, "helo @bob").await;
    a2.expect_message().await;
    a.send(&edit(first.id, "hello @bob")).await;
    let mut seen = Vec::new();
    for client in [&mut a, &mut a2, &mut b] {
        let updated = expect_updated(client).await;
        assert_eq!(updated.id, first.id);
        assert_eq!(updated.content, "hello @bob");
        assert_eq!(updated.timestamp, first.timestamp);
        let edited = updated.edited().expect("edited_at is set");
        assert!(edited >= first.timestamp);
        seen.push(updated);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));

    // Bob may not edit alice's message; nothing changes and no one hears of it.
    b.send(&edit(first.id, "bob was here")).await;
    b.expect_error(ErrorCode::Forbidden, Some("chat.edit"))
        .await;
    // Content rules as for a message.
    for bad in ["   ", &"x".repeat(51), "nul\0byte"] {
        a.send(&edit(first.id, bad)).await;
        a.expect_error(ErrorCode::InvalidContent, Some("chat.edit"))
            .await;
    }
    // A stranger and an unknown id: not_found.
    let carol = Person::new(&server, "carol").await;
    let mut c = carol.connect(&server).await;
    c.send(&edit(first.id, "carol was here")).await;
    c.expect_error(ErrorCode::NotFound, Some("chat.edit")).await;
    a.send(&edit(first.id + 1_000, "nothing")).await;
    a.expect_error(ErrorCode::NotFound, Some("chat.edit")).await;
    b.expect_silence(QUIET).await;
    a2.expect_silence(Duration::ZERO).await;
    let page = b.history(conversation).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].content, "hello @bob");
    assert_eq!(page[0].edited_at, seen[0].edited_at);
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_in_history_the_list_and_the_unread_count() {
    let server = TestServer::start().await;
    let Pair {
        mut a,
        mut b,
        conversation,
        ..
    } = pair(&server).await;
    let first = say(&mut a, &mut b, conversation, "first").await;
    let secret = say(&mut a, &mut b, conversation, "the password is hunter2").await;
    b.send(&react(secret.id, "👀", true)).await;
    expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    assert_eq!(listed(&mut b, conversation).await.unread_count, Some(2));

    // Bob may not delete alice's message.
    b.send(&ClientMsg::Delete {
        message_id: secret.id,
    })
    .await;
    b.expect_error(ErrorCode::Forbidden, Some("chat.delete"))
        .await;
    a.expect_silence(QUIET).await;

    a.send(&ClientMsg::Delete {
        message_id: secret.id,
    })
    .await;
    for client in [&mut a, &mut b] {
        let tombstone = expect_updated(client).await;
        assert_eq!(tombstone.id, secret.id);
        assert!(tombstone.is_deleted());
        assert_eq!(tombstone.content, "");
        assert!(tombstone.reactions().is_empty());
    }
    // History keeps it in its place, empty; the list shows it as the empty newest message, and
    // it no longer counts as unread.
    let page = b.history(conversation).await;
    assert_eq!(
        page.iter().map(|m| m.id).collect::<Vec<_>>(),
        [first.id, secret.id]
    );
    assert!(page[1].is_deleted());
    assert_eq!(page[1].content, "");
    assert!(!page.iter().any(|m| m.content.contains("hunter2")));
    let item = listed(&mut b, conversation).await;
    assert_eq!(item.unread_count, Some(1));
    let last = item.last_message.flatten().expect("a newest message");
    assert_eq!(last.message.id, secret.id);
    assert!(last.message.is_deleted());
    assert_eq!(last.message.content, "");

    // A tombstone takes no further change.
    for frame in [
        ClientMsg::Delete {
            message_id: secret.id,
        },
        edit(secret.id, "back"),
        react(secret.id, "👍", true),
    ] {
        let kind = frame.kind();
        a.send(&frame).await;
        a.expect_error(ErrorCode::NotFound, kind).await;
    }
    // Reading then deleting a read message leaves the count at zero, never below.
    b.send(&ClientMsg::Read {
        conversation_id: conversation,
    })
    .await;
    a.recv_until(|f| matches!(f, ServerMsg::Read { .. }).then_some(()))
        .await;
    a.send(&ClientMsg::Delete {
        message_id: first.id,
    })
    .await;
    expect_updated(&mut b).await;
    assert_eq!(listed(&mut b, conversation).await.unread_count, Some(0));
    server.stop().await;
}

#[tokio::test]
async fn reactions_from_two_users_are_counted_in_first_use_order() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        conversation,
    } = pair(&server).await;
    let message = say(&mut a, &mut b, conversation, "ship it?").await;
    let summary = |m: &ChatMessage| {
        m.reactions()
            .iter()
            .map(|r| (r.emoji.clone(), r.count, r.user_ids.clone()))
            .collect::<Vec<_>>()
    };
    let mut latest = Vec::new();
    for (by_bob, emoji) in [(true, "👍"), (false, "🎉"), (false, "👍")] {
        let client = if by_bob { &mut b } else { &mut a };
        client.send(&react(message.id, emoji, true)).await;
        let on_a = expect_updated(&mut a).await;
        let on_b = expect_updated(&mut b).await;
        assert_eq!(on_a, on_b);
        latest = summary(&on_a);
    }
    let expected = vec![
        ("👍".to_string(), 2, vec![bob.id, alice.id]),
        ("🎉".to_string(), 1, vec![alice.id]),
    ];
    assert_eq!(latest, expected);
    // Adding twice, or taking back what one never gave, changes nothing and tells no one.
    a.send(&react(message.id, "👍", true)).await;
    b.send(&react(message.id, "🎉", false)).await;
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::ZERO).await;
    // Taking one back.
    b.send(&react(message.id, "👍", false)).await;
    let after = expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    // Emoji are ordered by their oldest reaction still there: alice's 👍 came after her 🎉.
    assert_eq!(
        summary(&after),
        vec![
            ("🎉".to_string(), 1, vec![alice.id]),
            ("👍".to_string(), 1, vec![alice.id]),
        ]
    );
    // History reads them the same.
    let page = b.history(conversation).await;
    assert_eq!(summary(&page[0]), summary(&after));

    // Bad emoji.
    for bad in ["", "a b", "tab\t", "\u{7}", &"🎉".repeat(33)] {
        a.send(&react(message.id, bad, true)).await;
        a.expect_error(ErrorCode::InvalidField, Some("chat.react"))
            .await;
    }
    // At most 20 different emoji: 18 more make 20, a 21st is refused, a known one still goes.
    for i in 0..18 {
        a.send(&react(message.id, &format!("e{i}"), true)).await;
        expect_updated(&mut a).await;
    }
    a.send(&react(message.id, "e99", true)).await;
    let refusal = a
        .expect_error(ErrorCode::InvalidField, Some("chat.react"))
        .await;
    assert!(refusal.contains("20"), "{refusal}");
    for _ in 0..18 {
        expect_updated(&mut b).await;
    }
    b.send(&react(message.id, "e0", true)).await;
    let last = expect_updated(&mut b).await;
    assert_eq!(last.reactions().len(), 20);
    // A stranger: not_found.
    let carol = Person::new(&server, "carol").await;
    let mut c = carol.connect(&server).await;
    c.send(&react(message.id, "👍", true)).await;
    c.expect_error(ErrorCode::NotFound, Some("chat.react"))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn in_a_group_owner_and_admins_delete_others_messages_and_members_do_not() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let carol = Person::new(&server, "carol").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let mut c = carol.connect(&server).await;
    a.send(&ClientMsg::CreateGroup {
        title: "Deploys".into(),
        member_ids: vec![bob.id, carol.id],
    })
    .await;
    let group = a
        .recv_until(|f| match f {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await;
    let created = a.recv_message().await;
    assert!(created.is_system);
    a.send(&ClientMsg::SetRole {
        conversation_id: group,
        user_id: carol.id,
        role: Role::Admin,
    })
    .await;
    a.recv_until(|f| match f {
        ServerMsg::Message { message } if message.is_system => Some(()),
        _ => None,
    })
    .await;
    // Settle: b and c read every frame of the set-up (created, role_changed).
    for client in [&mut b, &mut c] {
        for _ in 0..2 {
            client.recv_message().await;
        }
    }
    let own = |text: &'static str| {
        move |frame: ServerMsg| match frame {
            ServerMsg::Message { message } if message.content == text => Some(message),
            _ => None,
        }
    };
    b.say(group, "bob's").await;
    let bobs = b.recv_until(own("bob's")).await;
    c.say(group, "carol's").await;
    let carols = c.recv_until(own("carol's")).await;
    for client in [&mut a, &mut b] {
        client
            .recv_until(|f| match f {
                ServerMsg::Message { message } if message.id == carols.id => Some(()),
                _ => None,
            })
            .await;
    }
    // A member may not delete another's message, nor anyone a system message.
    b.send(&ClientMsg::Delete {
        message_id: carols.id,
    })
    .await;
    b.expect_error(ErrorCode::Forbidden, Some("chat.delete"))
        .await;
    a.send(&ClientMsg::Delete {
        message_id: created.id,
    })
    .await;
    a.expect_error(ErrorCode::Forbidden, Some("chat.delete"))
        .await;
    a.send(&edit(created.id, "rewritten")).await;
    a.expect_error(ErrorCode::Forbidden, Some("chat.edit"))
        .await;
    // The owner's unread count: bob's and carol's messages; one deleted by carol (an admin)
    // leaves one.
    assert_eq!(listed(&mut a, group).await.unread_count, Some(2));
    c.send(&ClientMsg::Delete {
        message_id: bobs.id,
    })
    .await;
    for client in [&mut a, &mut b, &mut c] {
        let tombstone = expect_updated(client).await;
        assert_eq!((tombstone.id, tombstone.is_deleted()), (bobs.id, true));
    }
    assert_eq!(listed(&mut a, group).await.unread_count, Some(1));
    // Anyone reacts, to system messages too.
    b.send(&react(created.id, "🎉", true)).await;
    for client in [&mut a, &mut b, &mut c] {
        let updated = expect_updated(client).await;
        assert_eq!(updated.reactions()[0].user_ids, vec![bob.id]);
    }
    // A removed member gets not_found from then on.
    a.send(&ClientMsg::RemoveMember {
        conversation_id: group,
        user_id: bob.id,
    })
    .await;
    b.recv_until(|f| matches!(f, ServerMsg::ConversationUpdated { left: true, .. }).then_some(()))
        .await;
    b.send(&react(carols.id, "👍", true)).await;
    b.expect_error(ErrorCode::NotFound, Some("chat.react"))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_retried_client_id_is_stored_once_and_answered_to_the_sender_alone() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        conversation,
    } = pair(&server).await;
    let mut a2 = alice.connect(&server).await;
    let first = said(
        &mut a,
        &mut b,
        with_client_id(conversation, "once", "send-1"),
    )
    .await;
    assert_eq!(first.client_id.as_deref(), Some("send-1"));
    assert_eq!(a2.expect_message().await, first);

    // The retry (even with other content) is the first message, to alice's connections only.
    a.send(&with_client_id(conversation, "once, again", "send-1"))
        .await;
    for client in [&mut a, &mut a2] {
        let answer = client.expect_message().await;
        assert_eq!(answer.id, first.id);
        assert_eq!(answer.content, "once");
        assert_eq!(answer.client_id.as_deref(), Some("send-1"));
    }
    b.expect_silence(QUIET).await;

    // Two sends with one id in one breath: one message, answered twice.
    a.send_together(&[
        with_client_id(conversation, "twin", "send-2"),
        with_client_id(conversation, "twin", "send-2"),
    ])
    .await;
    let one = a.expect_message().await;
    let two = a.expect_message().await;
    assert_eq!(one.id, two.id);
    assert_eq!(b.expect_message().await.id, one.id);
    b.expect_silence(QUIET).await;

    // A client id is the sender's own: bob may use the same one.
    let bobs = said(
        &mut b,
        &mut a,
        with_client_id(conversation, "mine", "send-1"),
    )
    .await;
    assert_ne!(bobs.id, first.id);

    // The retry of an edited message answers it as it is now.
    a.send(&edit(first.id, "once, edited")).await;
    expect_updated(&mut a).await;
    expect_updated(&mut b).await;
    a.send(&with_client_id(conversation, "once", "send-1"))
        .await;
    let now = a.expect_message().await;
    assert_eq!((now.id, now.content.as_str()), (first.id, "once, edited"));

    // Bad ids.
    for bad in [String::new(), "k".repeat(65)] {
        a.send(&with_client_id(conversation, "x", &bad)).await;
        a.expect_error(ErrorCode::InvalidField, Some("chat.message"))
            .await;
    }
    let page = b.history(conversation).await;
    assert_eq!(
        page.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["once, edited", "twin", "mine"]
    );
    // History does not carry client ids.
    assert!(page.iter().all(|m| m.client_id.is_none()));
    // Retries are not counted as stored messages: three were stored.
    let metrics = reqwest::get(format!("{}/metrics", server.http_url()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.lines().any(|l| l == "chat_messages_stored_total 3"),
        "{metrics}"
    );
    let _ = bob;
    server.stop().await;
}

/// A send whose echo was lost to a crash is retried after the restart: stored once, delivered
/// once. The server is a real process, killed with SIGKILL.
#[tokio::test]
async fn a_retry_after_sigkill_and_restart_stores_and_delivers_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(dir.path()).await;
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::start_url(&url, &log, &[], &[]).await;
    let (alice, alice_tokens) = server.person("alice").await;
    let (bob, bob_tokens) = server.person("bob").await;
    let mut a = server.connect(&alice_tokens).await;
    let mut b = server.connect(&bob_tokens).await;
    let conversation = a.start_conversation(bob.id).await;
    let first = said(
        &mut a,
        &mut b,
        with_client_id(conversation, "before the crash", "crash-1"),
    )
    .await;
    server.kill();
    drop((a, b));
    let server = ServerProcess::start_url(&url, &log, &[], &[]).await;
    let mut a = server.connect(&alice_tokens).await;
    let mut b = server.connect(&bob_tokens).await;
    a.send(&with_client_id(conversation, "before the crash", "crash-1"))
        .await;
    let answer = a.expect_message().await;
    assert_eq!(answer.id, first.id);
    assert_eq!(answer.client_id.as_deref(), Some("crash-1"));
    b.expect_silence(QUIET).await;
    let page = b.history(conversation).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, first.id);
    let _ = alice;
}

#[tokio::test]
async fn changes_reach_members_on_another_instance() {
    let servers = TestServer::cluster(2).await;
    let alice = Person::new(&servers[0], "alice").await;
    let bob = Person::new(&servers[1], "bob").await;
    let mut a = alice.connect(&servers[0]).await;
    let mut b = bob.connect(&servers[1]).await;
    let conversation = a.start_conversation(bob.id).await;
    until_linked(&mut a, &mut b, bob.id).await;
    let first = said(
        &mut a,
        &mut b,
        with_client_id(conversation, "across", "x-1"),
    )
    .await;
    for frame in [
        edit(first.id, "across, edited"),
        react(first.id, "👍", true),
        ClientMsg::Delete {
            message_id: first.id,
        },
    ] {
        a.send(&frame).await;
        let here = expect_updated(&mut a).await;
        let there = expect_updated(&mut b).await;
        assert_eq!(here, there);
    }
    // A retry through the other instance is still the same message, and bob hears nothing.
    let mut a_there = alice.connect(&servers[1]).await;
    a_there
        .send(&with_client_id(conversation, "across", "x-1"))
        .await;
    let answer = a_there.expect_message().await;
    assert_eq!((answer.id, answer.is_deleted()), (first.id, true));
    b.expect_silence(QUIET).await;
    for server in servers {
        server.stop().await;
    }
}
