//! Every client message type against the real server: two people, one person on two
//! connections, good and bad input.

use std::time::Duration;

use chat_e2e::{Person, TestServer, WsClient, pair};
use chat_shared::{ClientMsg, ErrorCode, MessageStatus, ServerMsg};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_message_is_echoed_to_every_connection_of_both_people() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let mut a2 = p.alice.connect(&server).await;
    p.a.say(p.conversation, "Hello!").await;
    for client in [&mut p.a, &mut a2, &mut p.b] {
        let message = client.expect_message().await;
        assert_eq!(message.content, "Hello!");
        assert_eq!(message.conversation_id, p.conversation);
        assert_eq!(message.sender.id, p.alice.id);
        assert_eq!(message.sender.username, p.alice.name);
        assert_eq!(message.status, Some(MessageStatus::Sent));
        assert_eq!(message.is_read, Some(false));
        assert!(!message.is_system);
    }
    // Stored: the history has it.
    p.b.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let reply = p.b.recv_json().await;
    assert_eq!(reply["messages"][0]["content"], "Hello!");
    let stamp = reply["messages"][0]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(stamp.len(), 24, "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );
}

/// A client that sends many messages without waiting gets them all stored once, in order, and
/// its next request of another type sees every one of them; a refused message among them (not
/// in the conversation, or invalid content) is answered with its `chat.error` in its place,
/// after the echoes of the messages sent before it and before those sent after it.
#[tokio::test]
async fn messages_sent_back_to_back_are_stored_in_order_before_the_next_request() {
    let server = TestServer::start_with(&["--rate-limit-burst", "1000"]).await;
    let mut p = pair(&server).await;
    let carol = Person::new(&server, "carol").await;
    let mut c = carol.connect(&server).await;
    let elsewhere = c.start_conversation(p.bob.id).await;

    const N: usize = 80;
    let mut expected = Vec::new();
    for i in 0..N {
        p.a.say(p.conversation, &format!("burst {i}")).await;
        expected.push(format!("burst {i}"));
        if i == N / 2 {
            p.a.say(elsewhere, "not my conversation").await;
            expected.push("error not_found".into());
        }
        if i == N / 4 {
            p.a.say(p.conversation, "a NUL \0 inside").await;
            expected.push("error invalid_content".into());
        }
    }
    p.a.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: Some(100),
    })
    .await;

    let mut arrived = Vec::new();
    let history = loop {
        match p.a.recv().await {
            ServerMsg::Message { message } => arrived.push(message.content),
            ServerMsg::Error {
                code, request_type, ..
            } => {
                assert_eq!(request_type.as_deref(), Some("chat.message"));
                let code = serde_json::to_value(code).expect("code");
                arrived.push(format!("error {}", code.as_str().expect("a string")));
            }
            ServerMsg::Messages { messages, .. } => break messages,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        arrived, expected,
        "every echo and every error in the order sent, before the history reply"
    );
    let sent: Vec<String> = (0..N).map(|i| format!("burst {i}")).collect();
    let stored: Vec<String> = history.into_iter().map(|m| m.content).collect();
    assert_eq!(
        stored, sent,
        "the history reply sees every message, stored once"
    );
    let mut received = Vec::new();
    for _ in 0..N {
        received.push(p.b.expect_message().await.content);
    }
    assert_eq!(received, sent);
    c.expect_silence(QUIET).await;
}

#[tokio::test]
async fn message_content_is_checked() {
    let server = TestServer::start_with(&["--max-message-chars", "10"]).await;
    let mut p = pair(&server).await;
    for content in ["", "   \n\t "] {
        p.a.say(p.conversation, content).await;
        p.a.expect_error(ErrorCode::InvalidContent, Some("chat.message"))
            .await;
    }
    p.a.say(p.conversation, "ééééééééééé").await; // 11 characters
    let why =
        p.a.expect_error(ErrorCode::InvalidContent, Some("chat.message"))
            .await;
    assert!(why.contains("10"), "{why}");
    p.a.say(p.conversation, "a\u{0}b").await;
    let why =
        p.a.expect_error(ErrorCode::InvalidContent, Some("chat.message"))
            .await;
    assert!(why.contains("NUL"), "{why}");
    p.a.say(p.conversation, "éééééééééé").await; // exactly 10 is fine
    assert_eq!(p.a.expect_message().await.content, "éééééééééé");
    assert_eq!(p.b.expect_message().await.content, "éééééééééé");
    p.b.expect_silence(QUIET).await;
}

#[tokio::test]
async fn outsiders_cannot_write_read_or_see_a_conversation() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    p.a.say(p.conversation, "private").await;
    let secret = p.a.expect_message().await;
    p.b.expect_message().await;

    let eve = Person::new(&server, "eve").await;
    let mut e = eve.connect(&server).await;
    let missing = p.conversation + 1000;
    let mut answers = Vec::new();
    for conversation_id in [p.conversation, missing] {
        e.say(conversation_id, "hi").await;
        answers.push(
            e.expect_error(ErrorCode::NotFound, Some("chat.message"))
                .await,
        );
        e.send(&ClientMsg::GetMessages {
            conversation_id,
            before_id: None,
            limit: None,
        })
        .await;
        answers.push(
            e.expect_error(ErrorCode::NotFound, Some("chat.get_messages"))
                .await,
        );
        e.send(&ClientMsg::Read { conversation_id }).await;
        answers.push(e.expect_error(ErrorCode::NotFound, Some("chat.read")).await);
    }
    // The conversation that exists looks exactly like the one that does not.
    assert_eq!(answers[..3], answers[3..]);
    e.send(&ClientMsg::Delivered {
        message_id: secret.id,
    })
    .await;
    e.expect_error(ErrorCode::NotFound, Some("chat.delivered"))
        .await;
    e.send(&ClientMsg::Typing {
        receiver_id: Some(p.alice.id),
        conversation_id: None,
        is_typing: true,
    })
    .await;
    e.expect_error(ErrorCode::NotFound, Some("chat.typing"))
        .await;
    e.send(&ClientMsg::GetConversations {}).await;
    assert_eq!(e.recv_json().await["conversations"], json!([]));
    p.a.expect_silence(QUIET).await;
    p.b.expect_silence(Duration::ZERO).await;
}

#[tokio::test]
async fn typing_reaches_only_the_receiver() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let mut a2 = p.alice.connect(&server).await;
    let mut b2 = p.bob.connect(&server).await;
    p.a.send(&ClientMsg::Typing {
        receiver_id: Some(p.bob.id),
        conversation_id: None,
        is_typing: true,
    })
    .await;
    for client in [&mut p.b, &mut b2] {
        assert_eq!(
            client.recv().await,
            ServerMsg::Typing {
                sender_id: p.alice.id,
                conversation_id: Some(p.conversation),
                is_typing: true
            }
        );
    }
    p.a.send(&ClientMsg::Typing {
        receiver_id: Some(p.bob.id),
        conversation_id: None,
        is_typing: false,
    })
    .await;
    assert_eq!(
        p.b.recv().await,
        ServerMsg::Typing {
            sender_id: p.alice.id,
            conversation_id: Some(p.conversation),
            is_typing: false
        }
    );
    p.a.send(&ClientMsg::Typing {
        receiver_id: Some(p.alice.id),
        conversation_id: None,
        is_typing: true,
    })
    .await;
    p.a.expect_error(ErrorCode::InvalidReceiver, Some("chat.typing"))
        .await;
    a2.expect_silence(QUIET).await;
    // Typing is never stored.
    p.b.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: None,
    })
    .await;
    assert_eq!(p.b.recv_json().await["messages"], json!([]));
}

#[tokio::test]
async fn read_moves_the_marker_and_tells_the_others() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let mut b2 = p.bob.connect(&server).await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        p.a.say(p.conversation, text).await;
        ids.push(p.a.expect_message().await.id);
        p.b.expect_message().await;
        b2.expect_message().await;
    }
    p.b.send(&ClientMsg::Read {
        conversation_id: p.conversation,
    })
    .await;
    let read = ServerMsg::Read {
        conversation_id: p.conversation,
        reader_id: p.bob.id,
    };
    // Alice learns of the read, and which of her messages are now seen, newest first.
    assert_eq!(p.a.recv().await, read);
    for id in ids.iter().rev() {
        assert_eq!(
            p.a.recv().await,
            ServerMsg::MessageStatus {
                message_id: *id,
                status: MessageStatus::Seen
            }
        );
    }
    // Bob's other device learns too; the connection that read does not get an echo.
    assert_eq!(b2.recv().await, read);
    p.b.expect_silence(QUIET).await;

    // Reading again changes no status: the read is announced, no status is repeated.
    p.b.send(&ClientMsg::Read {
        conversation_id: p.conversation,
    })
    .await;
    assert_eq!(p.a.recv().await, read);
    p.a.expect_silence(QUIET).await;

    // Alice's history shows them seen.
    p.a.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = p.a.recv().await else {
        panic!()
    };
    assert!(
        messages
            .iter()
            .all(|m| m.status == Some(MessageStatus::Seen) && m.is_read == Some(true))
    );
}

#[tokio::test]
async fn delivered_then_seen_statuses_reach_the_sender() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    p.a.say(p.conversation, "first").await;
    let first = p.a.expect_message().await.id;
    p.a.say(p.conversation, "second").await;
    let second = p.a.expect_message().await.id;
    p.b.expect_message().await;
    p.b.expect_message().await;

    p.b.send(&ClientMsg::Delivered { message_id: first }).await;
    assert_eq!(
        p.a.recv().await,
        ServerMsg::MessageStatus {
            message_id: first,
            status: MessageStatus::Delivered
        }
    );
    // Delivering the same message again changes nothing and says nothing.
    p.b.send(&ClientMsg::Delivered { message_id: first }).await;
    p.a.expect_silence(QUIET).await;

    p.a.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let ServerMsg::Messages { messages, .. } = p.a.recv().await else {
        panic!()
    };
    let statuses: Vec<_> = messages.iter().map(|m| m.status).collect();
    assert_eq!(
        statuses,
        [Some(MessageStatus::Delivered), Some(MessageStatus::Sent)]
    );

    p.b.send(&ClientMsg::Read {
        conversation_id: p.conversation,
    })
    .await;
    assert!(matches!(p.a.recv().await, ServerMsg::Read { .. }));
    assert_eq!(
        p.a.recv().await,
        ServerMsg::MessageStatus {
            message_id: second,
            status: MessageStatus::Seen
        }
    );
    assert_eq!(
        p.a.recv().await,
        ServerMsg::MessageStatus {
            message_id: first,
            status: MessageStatus::Seen
        }
    );
    // A sender marking its own message changes nothing.
    p.a.send(&ClientMsg::Delivered { message_id: second }).await;
    p.a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn search_is_case_insensitive_literal_and_excludes_self() {
    let server = TestServer::start().await;
    let tag = chat_e2e::unique_name("q");
    let mut people = Vec::new();
    for name in [
        format!("Zed{tag}"),
        format!("amy{tag}"),
        format!("ALox{tag}"),
        format!("al_x{tag}"),
    ] {
        people.push(chat_e2e::register_and_login(&server, &name).await);
    }
    let mut client = WsClient::connect(&server.ws_url(&people[1].1.access)).await;
    let search = |keyword: &str| ClientMsg::SearchUser {
        keyword: keyword.to_string(),
    };
    let names = |msg: ServerMsg| match msg {
        ServerMsg::SearchResults { results } => {
            results.into_iter().map(|u| u.username).collect::<Vec<_>>()
        }
        other => panic!("expected search results, got {other:?}"),
    };

    client.send(&search(&tag.to_uppercase())).await;
    // Ordered by name in any case, the caller (amy) excluded.
    assert_eq!(
        names(client.recv().await),
        [
            format!("al_x{tag}"),
            format!("ALox{tag}"),
            format!("Zed{tag}")
        ]
    );
    // `_` and `%` match only themselves, not any character.
    client.send(&search(&format!("l_x{tag}"))).await;
    assert_eq!(names(client.recv().await), [format!("al_x{tag}")]);
    client.send(&search(&format!("%{tag}"))).await;
    assert!(names(client.recv().await).is_empty());
    for empty in ["", "   "] {
        client.send(&search(empty)).await;
        assert!(names(client.recv().await).is_empty());
    }
}

#[tokio::test]
async fn a_search_keyword_over_the_limit_is_an_invalid_field() {
    let server = TestServer::start().await;
    let me = Person::new(&server, "searcher").await;
    let mut client = me.connect(&server).await;
    for (keyword, allowed) in [("a".repeat(256), true), ("é".repeat(257), false)] {
        client.send(&ClientMsg::SearchUser { keyword }).await;
        match client.recv().await {
            ServerMsg::SearchResults { results } if allowed => assert!(results.is_empty()),
            ServerMsg::Error {
                code, request_type, ..
            } if !allowed => {
                assert_eq!(code, chat_shared::ErrorCode::InvalidField);
                assert_eq!(request_type.as_deref(), Some("chat.search_user"));
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // A keyword of 50,000 characters fits in a frame and is refused the same way.
    client
        .send(&ClientMsg::SearchUser {
            keyword: "%".repeat(50_000),
        })
        .await;
    assert!(matches!(
        client.recv().await,
        ServerMsg::Error {
            code: chat_shared::ErrorCode::InvalidField,
            ..
        }
    ));
}

#[tokio::test]
async fn search_returns_at_most_twenty() {
    let server = TestServer::start().await;
    let tag = chat_e2e::unique_name("many");
    for i in 0..22 {
        chat_e2e::register_and_login(&server, &format!("u{i:02}{tag}")).await;
    }
    let me = Person::new(&server, "searcher").await;
    let mut client = me.connect(&server).await;
    client
        .send(&ClientMsg::SearchUser {
            keyword: tag.clone(),
        })
        .await;
    let ServerMsg::SearchResults { results } = client.recv().await else {
        panic!()
    };
    assert_eq!(results.len(), 20);
    assert_eq!(results[0].username, format!("u00{tag}"));
    assert_eq!(results[19].username, format!("u19{tag}"));
}

#[tokio::test]
async fn a_pair_has_exactly_one_conversation_even_when_both_ask_at_once() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (me, other) = if i % 2 == 0 {
            (&alice, bob.id)
        } else {
            (&bob, alice.id)
        };
        let mut client = me.connect(&server).await;
        tasks.push(tokio::spawn(async move {
            client.start_conversation(other).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let mut a = alice.connect(&server).await;
    a.send_raw(&json!({"type": "chat.start_conversation", "user_id": bob.id}).to_string())
        .await;
    let reply = a.recv_json().await;
    assert_eq!(reply["conversation"]["id"], ids[0]);
    let participants: Vec<i64> = reply["conversation"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(participants, [alice.id.min(bob.id), alice.id.max(bob.id)]);

    a.send(&ClientMsg::StartConversation {
        receiver_id: alice.id,
    })
    .await;
    a.expect_error(ErrorCode::InvalidReceiver, Some("chat.start_conversation"))
        .await;
    a.send(&ClientMsg::StartConversation {
        receiver_id: 987_654,
    })
    .await;
    a.expect_error(ErrorCode::NotFound, Some("chat.start_conversation"))
        .await;
}

#[tokio::test]
async fn conversations_list_newest_activity_first_with_last_message_and_unread() {
    let server = TestServer::start().await;
    let me = Person::new(&server, "lisa").await;
    let mark = Person::new(&server, "mark").await;
    let nina = Person::new(&server, "nina").await;
    let mut c = me.connect(&server).await;
    let with_mark = c.start_conversation(mark.id).await;
    let with_nina = c.start_conversation(nina.id).await;

    c.send(&ClientMsg::GetConversations {}).await;
    let list = c.recv_json().await;
    let items = list["conversations"].as_array().unwrap();
    assert_eq!(items[0]["id"], with_nina, "newest first");
    assert_eq!(items[1]["id"], with_mark);
    assert_eq!(items[0]["last_message"], json!(null));
    assert_eq!(items[0]["unread_count"], 0);
    assert_eq!(items[0]["has_unread"], false);
    let keys: Vec<&String> = items[0]["participants"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["user__id", "user__username"]);

    let mut m = mark.connect(&server).await;
    m.say(with_mark, "one").await;
    m.say(with_mark, "two").await;
    m.expect_message().await;
    let last = m.expect_message().await;
    c.send(&ClientMsg::GetConversations {}).await;
    let list = c
        .recv_until(|f| matches!(f, ServerMsg::Conversations { .. }).then_some(f))
        .await;
    let list = serde_json::to_value(list).unwrap();
    let top = &list["conversations"][0];
    assert_eq!(top["id"], with_mark, "a new message moves it to the top");
    assert_eq!(top["unread_count"], 2);
    assert_eq!(top["has_unread"], true);
    assert_eq!(top["last_message"]["id"], last.id);
    assert_eq!(top["last_message"]["content"], "two");
    assert_eq!(top["last_message"]["sender_id"], mark.id);
    assert_eq!(top["last_message"]["sender_username"], mark.name);
    assert_eq!(top["last_message"]["sender"]["id"], mark.id);

    // Reading clears the count; one's own messages never count.
    c.send(&ClientMsg::Read {
        conversation_id: with_mark,
    })
    .await;
    c.say(with_mark, "mine").await;
    c.send(&ClientMsg::GetConversations {}).await;
    let list = c
        .recv_until(|f| matches!(f, ServerMsg::Conversations { .. }).then_some(f))
        .await;
    let list = serde_json::to_value(list).unwrap();
    assert_eq!(list["conversations"][0]["unread_count"], 0);
    assert_eq!(list["conversations"][0]["last_message"]["content"], "mine");
}

#[tokio::test]
async fn history_pages_with_before_id_and_limit() {
    let server = TestServer::start_with(&["--history-limit", "5"]).await;
    let mut p = pair(&server).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        p.a.say(p.conversation, &format!("m{i}")).await;
        ids.push(p.a.expect_message().await.id);
    }
    let page = |before_id, limit| ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id,
        limit,
    };
    let read = |msg: ServerMsg| match msg {
        ServerMsg::Messages {
            messages,
            conversation_id,
            has_more,
        } => {
            assert_eq!(conversation_id, Some(p.conversation));
            (
                messages.iter().map(|m| m.id).collect::<Vec<_>>(),
                has_more.unwrap(),
            )
        }
        other => panic!("expected messages, got {other:?}"),
    };
    // Without parameters: the newest N (the configured limit), oldest first.
    p.a.send(&page(None, None)).await;
    assert_eq!(read(p.a.recv().await), (ids[2..].to_vec(), true));
    p.a.send(&page(Some(ids[2]), Some(10))).await;
    assert_eq!(read(p.a.recv().await), (ids[..2].to_vec(), false));
    p.a.send(&page(Some(ids[4]), Some(2))).await;
    assert_eq!(read(p.a.recv().await), (ids[2..4].to_vec(), true));
    p.a.send(&page(Some(ids[0]), None)).await;
    assert_eq!(read(p.a.recv().await), (vec![], false));
    p.a.send(&page(None, Some(0))).await;
    p.a.expect_error(ErrorCode::InvalidField, Some("chat.get_messages"))
        .await;
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let cases: &[(&str, ErrorCode, Option<&str>)] = &[
        ("{oops", ErrorCode::InvalidJson, None),
        ("[1,2,3]", ErrorCode::InvalidFrame, None),
        (r#"{"content":"no type"}"#, ErrorCode::InvalidFrame, None),
        (
            r#"{"type":"chat.fly"}"#,
            ErrorCode::UnknownType,
            Some("chat.fly"),
        ),
        (
            r#"{"type":"chat.message","content":"x"}"#,
            ErrorCode::InvalidField,
            Some("chat.message"),
        ),
        (
            r#"{"type":"chat.message","conversation_id":"1","content":"x"}"#,
            ErrorCode::InvalidField,
            Some("chat.message"),
        ),
        (
            r#"{"type":"chat.typing","receiver_id":1}"#,
            ErrorCode::InvalidField,
            Some("chat.typing"),
        ),
        (
            r#"{"type":"chat.search_user","keyword":null}"#,
            ErrorCode::InvalidField,
            Some("chat.search_user"),
        ),
    ];
    for (text, code, request_type) in cases {
        p.a.send_raw(text).await;
        p.a.expect_error(*code, *request_type).await;
    }
    // Nothing was stored or sent to bob, and alice's connection still works.
    p.b.expect_silence(QUIET).await;
    p.a.send_raw(&format!(
        r#"{{"type":"chat.message","conversation_id":{},"content":"ok","extra":true}}"#,
        p.conversation
    ))
    .await;
    assert_eq!(p.a.expect_message().await.content, "ok");
    p.b.send(&ClientMsg::GetMessages {
        conversation_id: p.conversation,
        before_id: None,
        limit: None,
    })
    .await;
    let history =
        p.b.recv_until(|f| matches!(f, ServerMsg::Messages { .. }).then_some(f))
            .await;
    let ServerMsg::Messages { messages, .. } = history else {
        unreachable!()
    };
    assert_eq!(messages.len(), 1);
}

#[tokio::test]
async fn stopping_the_server_closes_sockets_with_1001() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "olga").await;
    let mut client = person.connect(&server).await;
    client.send(&ClientMsg::GetConversations {}).await;
    client.recv().await;
    server.stop().await;
    let frame = client.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
}

#[tokio::test]
async fn a_new_connection_gets_every_frame_sent_after_its_handshake() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    // The connection is registered before the handshake answer: a frame sent the moment the
    // handshake completes is never lost, however the tasks are scheduled.
    for i in 0..30 {
        let mut fresh = p.bob.connect(&server).await;
        // Alternating: a repeat within `--typing-interval` would be dropped.
        p.a.send(&ClientMsg::Typing {
            receiver_id: Some(p.bob.id),
            conversation_id: None,
            is_typing: i % 2 == 0,
        })
        .await;
        assert!(matches!(fresh.recv().await, ServerMsg::Typing { .. }));
        assert!(matches!(p.b.recv().await, ServerMsg::Typing { .. }));
        fresh.close().await;
    }
}
