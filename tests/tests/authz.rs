//! Authorization everywhere, beyond what `chat.rs` and `ws_auth.rs` cover: an outsider's every
//! request leaves no trace and tells nothing; REST refuses the same bad tokens the socket does;
//! a deleted user's tokens stop working; tokens and passwords never reach the log.

use std::time::Duration;

use chat_e2e::server_process::ServerProcess;
use chat_e2e::tokens::{claims, not_before, now, sign, unsigned};
use chat_e2e::{PASSWORD, Person, TEST_SECRET, TestServer, WsClient, me_status};
use chat_shared::{ClientMsg, ErrorCode, MessageStatus, ServerMsg};
use chat_tui::api::{Api, Error as ApiError};
use jsonwebtoken::Algorithm;
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

/// The `chat.error` answer to one request, as (code, message, request_type).
async fn error_of(client: &mut WsClient, request: &ClientMsg) -> (ErrorCode, String, String) {
    client.send(request).await;
    let (code, message, request_type) = client.recv_error().await;
    (code, message, request_type.unwrap_or_default())
}

#[tokio::test]
async fn an_outsider_gets_the_same_answer_as_for_nothing_and_changes_nothing() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "az_alice").await;
    let bob = Person::new(&server, "az_bob").await;
    let eve = Person::new(&server, "az_eve").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    a.send(&ClientMsg::StartConversation {
        receiver_id: bob.id,
    })
    .await;
    let ServerMsg::ConversationStarted { conversation } = a.recv().await else {
        panic!("expected conversation_started");
    };
    let secret_conversation = conversation.id;
    a.send(&ClientMsg::message(secret_conversation, "for bob only"))
        .await;
    let ServerMsg::Message { message: secret } = a.recv().await else {
        panic!("expected the echo");
    };
    b.recv().await;

    let mut e = eve.connect(&server).await;
    // Every request naming the conversation or its message, against one that does not exist.
    let missing_conversation = secret_conversation + 10_000;
    let missing_message = secret.id + 10_000;
    let requests = |conversation_id: i64, message_id: i64| {
        vec![
            ClientMsg::message(conversation_id, "hello?"),
            ClientMsg::GetMessages {
                conversation_id,
                before_id: None,
                limit: None,
            },
            ClientMsg::GetMessages {
                conversation_id,
                before_id: Some(message_id + 1),
                limit: Some(1),
            },
            ClientMsg::Read { conversation_id },
            ClientMsg::Delivered { message_id },
        ]
    };
    for (real, fake) in requests(secret_conversation, secret.id)
        .into_iter()
        .zip(requests(missing_conversation, missing_message))
    {
        let for_real = error_of(&mut e, &real).await;
        let for_nothing = error_of(&mut e, &fake).await;
        assert_eq!(for_real.0, ErrorCode::NotFound, "{real:?}");
        assert_eq!(
            for_real, for_nothing,
            "{real:?} tells the conversation exists"
        );
    }
    // Typing to a stranger, known or not, is refused alike and reaches nobody.
    let typing = |receiver_id| ClientMsg::Typing {
        receiver_id: Some(receiver_id),
        conversation_id: None,
        is_typing: true,
    };
    let to_alice = error_of(&mut e, &typing(alice.id)).await;
    let to_nobody = error_of(&mut e, &typing(alice.id + 10_000)).await;
    assert_eq!(to_alice.0, ErrorCode::NotFound);
    assert_eq!(to_alice, to_nobody);
    // The conversation is not in eve's list, and search shows users, not conversations.
    e.send(&ClientMsg::GetConversations {}).await;
    let ServerMsg::Conversations { conversations } = e.recv().await else {
        panic!("expected conversations");
    };
    assert!(conversations.is_empty());

    // Nothing reached alice or bob, and nothing changed: no new message, still only "sent".
    a.expect_silence(QUIET).await;
    b.expect_silence(Duration::ZERO).await;
    let messages = a.history(secret_conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].status, Some(MessageStatus::Sent));
    b.send(&ClientMsg::GetConversations {}).await;
    let ServerMsg::Conversations { conversations } = b.recv().await else {
        panic!("expected conversations");
    };
    assert_eq!(conversations.len(), 1);
    assert_eq!(
        conversations[0].unread_count,
        Some(1),
        "eve's read moved bob's marker"
    );
}

/// `GET /api/me/` with `Authorization: Bearer <token>`: the status.
async fn refresh_status(server: &TestServer, token: &str) -> u16 {
    chat_e2e::post_json(server, "/api/token/refresh/", &json!({"refresh": token}))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn rest_refuses_every_bad_token() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "az_rest").await;
    let id = person.id;
    let soon = now() + 300;
    let bad_access = [
        unsigned(&claims(id, "access", soon)),
        sign(Algorithm::HS512, TEST_SECRET, &claims(id, "access", soon)),
        sign(Algorithm::HS384, TEST_SECRET, &claims(id, "access", soon)),
        sign(Algorithm::HS256, "a wrong key", &claims(id, "access", soon)),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id, "access", now() - 5),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id + 1000, "access", soon),
        ),
        person.tokens.refresh.clone(),
        String::new(),
    ];
    assert_eq!(me_status(&server, &person.tokens.access).await, 200);
    for token in &bad_access {
        assert_eq!(me_status(&server, token).await, 401, "{token}");
    }
    let bad_refresh = [
        unsigned(&claims(id, "refresh", soon)),
        sign(Algorithm::HS512, TEST_SECRET, &claims(id, "refresh", soon)),
        sign(
            Algorithm::HS256,
            "a wrong key",
            &claims(id, "refresh", soon),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id, "refresh", now() - 5),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id + 1000, "refresh", soon),
        ),
        person.tokens.access.clone(),
    ];
    assert_eq!(refresh_status(&server, &person.tokens.refresh).await, 200);
    for token in &bad_refresh {
        assert_eq!(refresh_status(&server, token).await, 401, "{token}");
    }
}

#[tokio::test]
async fn rest_refuses_a_token_before_its_nbf_and_takes_it_after() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "az_nbf").await;
    let token = |kind: &str, nbf: i64| {
        let claims = not_before(claims(person.id, kind, now() + 300), nbf);
        sign(Algorithm::HS256, TEST_SECRET, &claims)
    };
    assert_eq!(me_status(&server, &token("access", now() + 60)).await, 401);
    assert_eq!(
        refresh_status(&server, &token("refresh", now() + 60)).await,
        401
    );
    assert_eq!(me_status(&server, &token("access", now() - 60)).await, 200);
    assert_eq!(
        refresh_status(&server, &token("refresh", now() - 60)).await,
        200
    );
    // Without nbf, as simplejwt writes them.
    let plain = sign(
        Algorithm::HS256,
        TEST_SECRET,
        &claims(person.id, "access", now() + 300),
    );
    assert_eq!(me_status(&server, &plain).await, 200);
}

#[tokio::test]
async fn a_deleted_users_tokens_are_refused() {
    let server = TestServer::start().await;
    let gone = Person::new(&server, "az_gone").await;
    let friend = Person::new(&server, "az_friend").await;
    // Their tokens work while the account exists.
    assert_eq!(me_status(&server, &gone.tokens.access).await, 200);
    let mut client = gone.connect(&server).await;
    client
        .send(&ClientMsg::StartConversation {
            receiver_id: friend.id,
        })
        .await;
    assert!(matches!(
        client.recv().await,
        ServerMsg::ConversationStarted { .. }
    ));
    client.close().await;

    // An operator removes the row directly (`DELETE /api/me/` would keep a tombstone).
    assert_eq!(server.delete_user(gone.id).await, 1);

    assert_eq!(me_status(&server, &gone.tokens.access).await, 401);
    assert_eq!(refresh_status(&server, &gone.tokens.refresh).await, 401);
    let mut refused = gone.connect(&server).await;
    let frame = refused.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4001);
    // Their friend's list no longer shows a conversation with nobody.
    let mut f = friend.connect(&server).await;
    f.send(&ClientMsg::GetConversations {}).await;
    let ServerMsg::Conversations { conversations } = f.recv().await else {
        panic!("expected conversations");
    };
    assert!(conversations.is_empty(), "{conversations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_passwords_never_reach_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("chat.db");
    let env = [("RUST_LOG", "debug,sqlx=debug,tower_http=trace")];
    let mut server = ServerProcess::start(&database, &[], &env).await;
    let (user, tokens) = server.person("az_log").await;
    let api = Api::new(&server.http_url()).expect("the server's URL");
    // A wrong password, a refresh, a bearer request, a socket with the token in its URL.
    let wrong_password = "not the right one 12345";
    let refused = api.login(&user.username, wrong_password).await;
    // The client's one answer for 401.
    assert!(
        matches!(refused, Err(ApiError::Unauthorized(_))),
        "{refused:?}"
    );
    let new_access = api.refresh(&tokens.refresh).await.expect("refresh").access;
    let me = api.me(&new_access).await.expect("me");
    assert_eq!(me.id, user.id);
    let mut client = server.connect(&tokens).await;
    client
        .send(&ClientMsg::SearchUser {
            keyword: "az_".into(),
        })
        .await;
    client.recv().await;
    client.close().await;
    let mut bad = WsClient::connect(&server.ws_url("garbage.token.value")).await;
    bad.closed().await;
    server.terminate();
    server.wait_exit(Duration::from_secs(10)).await;

    let log = server.log();
    // The capture works: debug lines of the requests above are there.
    assert!(log.contains("/api/token/refresh/"), "log:\n{log}");
    assert!(log.contains("/ws/chat/"), "log:\n{log}");
    for secret in [
        PASSWORD,
        wrong_password,
        &tokens.access,
        &tokens.refresh,
        &new_access,
        "garbage.token.value",
        TEST_SECRET,
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    // Not even a token's signature on its own.
    for token in [&tokens.access, &tokens.refresh, &new_access] {
        let signature = token.rsplit('.').next().expect("three parts");
        assert!(!log.contains(signature), "the log holds a token signature");
    }
}
