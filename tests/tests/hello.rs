//! The self-describing protocol: `chat.hello` → `chat.welcome` (every feature it names is
//! exercised here by that name), and the JSON Schema at `/api/schema.json` (every frame of every
//! end-to-end test is also checked against it by the test client, `chat_e2e::schema`).

use std::time::Duration;

use chat_e2e::schema::{check_client_frame, check_server_frame};
use chat_e2e::{Pair, Person, TestServer, pair};
use chat_shared::{ClientMsg, ErrorCode, PresenceStatus, ServerMsg};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn hello_is_answered_with_who_the_server_is_its_limits_and_the_caller() {
    let server = TestServer::start_with(&["--max-message-chars", "321"]).await;
    let alice = Person::new(&server, "alice").await;
    let mut a = alice.connect(&server).await;
    let ServerMsg::Welcome {
        server_version,
        protocol_version,
        user,
        limits,
        ..
    } = a.hello().await
    else {
        panic!("expected chat.welcome")
    };
    assert_eq!(server_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(protocol_version, 2);
    assert_eq!((user.id, user.username), (alice.id, alice.name.clone()));
    assert_eq!(limits.max_message_chars, 321);
    assert_eq!(limits.history_limit, 1000);
    assert_eq!(limits.max_reactions, 20);
    // The limit it states is the one it applies.
    let bob = Person::new(&server, "bob").await;
    let conversation = a.start_conversation(bob.id).await;
    a.say(conversation, &"x".repeat(322)).await;
    a.expect_error(ErrorCode::InvalidContent, Some("chat.message"))
        .await;
    // Bad input is a clear error, and a client that never says hello is never welcomed.
    a.send(&ClientMsg::Hello {
        client: "c".repeat(101),
        version: "1".into(),
    })
    .await;
    a.expect_error(ErrorCode::InvalidField, Some("chat.hello"))
        .await;
    let mut b = bob.connect(&server).await;
    b.expect_silence(QUIET).await;
    server.stop().await;
}

/// Each feature `chat.welcome` names, tried: the server does what the name promises.
#[tokio::test]
async fn every_feature_the_welcome_names_works() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        conversation,
    } = pair(&server).await;
    let ServerMsg::Welcome { features, .. } = a.hello().await else {
        panic!("expected chat.welcome")
    };
    let mut sorted = features.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "auth",
            "delivered",
            "groups",
            "history_paging",
            "lifecycle",
            "mute",
            "presence",
            "receipts",
            "search",
            "sync",
            "typing_conversation"
        ],
        "a feature without a probe below, or a probe without its feature"
    );
    a.say(conversation, "one").await;
    // bob's arrival may reach alice first (the presence of a contact, now that she said hello).
    let one = a
        .recv_until(|f| match f {
            ServerMsg::Message { message } => Some(message),
            _ => None,
        })
        .await;
    let one_seq = a.seq.expect("a pushed message has its seq");
    b.expect_message().await;
    a.say(conversation, "two").await;
    a.recv_until(|f| matches!(f, ServerMsg::Message { .. }).then_some(()))
        .await;
    b.expect_message().await;
    for feature in &features {
        match feature.as_str() {
            "history_paging" => {
                let (messages, has_more) = a.page(conversation, None, Some(1)).await;
                assert_eq!(messages.len(), 1);
                assert_eq!(has_more, Some(true));
            }
            "delivered" => {
                b.send(&ClientMsg::Delivered { message_id: one.id }).await;
                let status = a
                    .recv_until(|f| match f {
                        ServerMsg::MessageStatus { message_id, status } => {
                            Some((message_id, status))
                        }
                        _ => None,
                    })
                    .await;
                assert_eq!(status.0, one.id);
            }
            "groups" => {
                a.send(&ClientMsg::CreateGroup {
                    title: "Probe".into(),
                    member_ids: vec![bob.id],
                })
                .await;
                a.recv_until(|f| matches!(f, ServerMsg::ConversationStarted { .. }).then_some(()))
                    .await;
                b.recv_until(|f| matches!(f, ServerMsg::ConversationUpdated { .. }).then_some(()))
                    .await;
            }
            "typing_conversation" => {
                a.send(&ClientMsg::Typing {
                    receiver_id: None,
                    conversation_id: Some(conversation),
                    is_typing: true,
                })
                .await;
                let relayed = b
                    .recv_until(|f| match f {
                        ServerMsg::Typing {
                            conversation_id, ..
                        } => Some(conversation_id),
                        _ => None,
                    })
                    .await;
                assert_eq!(relayed, Some(conversation));
            }
            "receipts" => {
                a.send(&ClientMsg::GetReceipts { message_id: one.id }).await;
                let delivered_to = a
                    .recv_until(|f| match f {
                        ServerMsg::Receipts { delivered_to, .. } => Some(delivered_to),
                        _ => None,
                    })
                    .await;
                assert!(delivered_to.iter().any(|u| u.id == bob.id));
            }
            "mute" => {
                a.send(&ClientMsg::Mute {
                    conversation_id: conversation,
                    muted: true,
                })
                .await;
                let muted = a
                    .recv_until(|f| match f {
                        ServerMsg::ConversationUpdated { conversation, .. } => {
                            Some(conversation.info.muted)
                        }
                        _ => None,
                    })
                    .await;
                assert_eq!(muted, Some(true));
            }
            "lifecycle" => {
                a.send(&ClientMsg::Edit {
                    message_id: one.id,
                    content: "one, edited".into(),
                })
                .await;
                let edited = a
                    .recv_until(|f| match f {
                        ServerMsg::MessageUpdated { message } => Some(message),
                        _ => None,
                    })
                    .await;
                assert!(edited.edited().is_some());
            }
            "sync" => {
                a.send(&ClientMsg::Sync {
                    since: Some(one_seq - 1),
                })
                .await;
                let replayed = a
                    .recv_until(|f| match f {
                        ServerMsg::Message { message } => Some(message),
                        _ => None,
                    })
                    .await;
                assert_eq!((replayed.id, a.seq), (one.id, Some(one_seq)));
            }
            "presence" => {
                b.send(&ClientMsg::SetPresence { visible: false }).await;
                // bob's arrival (with a last_seen) may come first: the hiding is the one without.
                let heard = a
                    .recv_until(|f| match f {
                        ServerMsg::Presence {
                            user_id,
                            last_seen: None,
                            status,
                        } => Some((user_id, status)),
                        _ => None,
                    })
                    .await;
                assert_eq!(
                    heard,
                    (bob.id, PresenceStatus::Offline),
                    "bob hid his presence from alice"
                );
            }
            "auth" => {
                a.send(&ClientMsg::Auth {
                    token: alice.tokens.access.clone(),
                })
                .await;
                a.recv_until(|f| matches!(f, ServerMsg::AuthOk { .. }).then_some(()))
                    .await;
            }
            "search" => {
                a.send(&ClientMsg::SearchMessages {
                    query: "tw".into(),
                    conversation_id: Some(conversation),
                    from_user_id: None,
                    before_id: None,
                    limit: None,
                })
                .await;
                let found = a
                    .recv_until(|f| match f {
                        ServerMsg::MessageResults { results, .. } => Some(results),
                        _ => None,
                    })
                    .await;
                let contents: Vec<&str> =
                    found.iter().map(|h| h.message.content.as_str()).collect();
                assert_eq!(contents, ["two"]);
            }
            other => panic!("no probe for feature {other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_schema_is_served_and_tells_frames_it_describes_from_others() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/api/schema.json", server.http_url()))
        .await
        .expect("GET /api/schema.json");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/schema+json"
    );
    let served: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(served, chat_shared::schema::document());
    // Described frames pass (this is what the test client checks on every frame) ...
    check_client_frame(&json!({"type": "chat.message", "conversation_id": 1, "content": "hi"}));
    check_server_frame(&json!({"type": "chat.read", "conversation_id": 1, "reader_id": 2}));
    check_server_frame(&json!({"type": "chat.message", "message": {
        "id": 1, "conversation_id": 2, "sender": {"id": 3, "username": "a"}, "content": "x",
        "timestamp": "2025-07-07T12:34:56.789Z", "is_system": false, "attachment": null,
        "reply_to": {"id": 9, "sender": {"id": 3, "username": "a"}, "excerpt": "e", "deleted": false},
        "edited_at": null, "deleted": false, "reactions": [{"emoji": "👍", "count": 1, "user_ids": [3]}]
    }}));
    // ... and others fail it: an unknown type, a missing field, a field of the wrong type.
    for wrong in [
        json!({"type": "chat.nope"}),
        json!({"type": "chat.read", "conversation_id": 1}),
        json!({"type": "chat.read", "conversation_id": "1", "reader_id": 2}),
    ] {
        let refused = std::panic::catch_unwind(|| check_server_frame(&wrong));
        assert!(refused.is_err(), "the schema took {wrong}");
    }
    let refused = std::panic::catch_unwind(|| {
        check_client_frame(&json!({"type": "chat.react", "message_id": 1, "emoji": "x"}))
    });
    assert!(refused.is_err(), "a react without `add` passed");
    server.stop().await;
}
