//! Abuse limits against the real server: message size (1009), frames per second (`rate_limited`,
//! then 1008), connections per user (1008) and login / register attempts (429 + `Retry-After`):
//! failures per address and per name, every login per address at a higher allowance.

use chat_e2e::{PASSWORD, Person, TestServer, credentials, post_json, unique_name};
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let server = TestServer::start_with(&["--max-frame-bytes", "2048"]).await;
    let alice = Person::new(&server, "big").await;
    let bob = Person::new(&server, "small").await;
    let mut a = alice.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    // Just under the limit: handled as usual.
    let fits = "x".repeat(1900);
    a.send(&ClientMsg::message(conversation, fits.clone()))
        .await;
    assert_eq!(a.expect_message().await.content, fits);
    // Over it: the connection is closed with 1009 and nothing is stored.
    a.send(&ClientMsg::message(conversation, "y".repeat(3000)))
        .await;
    let frame = a.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    let mut b = bob.connect(&server).await;
    b.send(&ClientMsg::GetMessages {
        conversation_id: conversation,
        before_id: None,
        limit: None,
    })
    .await;
    match b.recv().await {
        ServerMsg::Messages { messages, .. } => assert_eq!(messages.len(), 1),
        other => panic!("expected history, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_over_the_rate_are_refused_and_sustained_abuse_closes_with_1008() {
    // One frame per second after a burst of 4; three refused frames are tolerated.
    let server = TestServer::start_with(&[
        "--rate-limit-per-second",
        "1",
        "--rate-limit-burst",
        "4",
        "--rate-limit-strikes",
        "3",
    ])
    .await;
    let alice = Person::new(&server, "flood").await;
    let bob = Person::new(&server, "calm").await;
    let mut a = alice.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await; // frame 1
    for content in ["one", "two", "three"] {
        // frames 2..4
        a.send(&ClientMsg::message(conversation, content)).await;
    }
    for content in ["four", "five", "six"] {
        // over the rate: refused, not stored
        a.send(&ClientMsg::message(conversation, content)).await;
    }
    let mut echoes = Vec::new();
    let mut limited = 0;
    for _ in 0..6 {
        match a.recv().await {
            ServerMsg::Message { message } => echoes.push(message.content),
            ServerMsg::Error {
                code, request_type, ..
            } => {
                assert_eq!(code, ErrorCode::RateLimited);
                assert_eq!(request_type.as_deref(), Some("chat.message"));
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(echoes, ["one", "two", "three"]);
    assert_eq!(limited, 3);
    // One more refused frame is one too many.
    a.send(&ClientMsg::GetConversations {}).await;
    let frame = a.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008, "{frame:?}");

    // A new connection has its own allowance; the refused messages were never stored.
    let mut b = bob.connect(&server).await;
    b.send(&ClientMsg::GetMessages {
        conversation_id: conversation,
        before_id: None,
        limit: None,
    })
    .await;
    match b.recv().await {
        ServerMsg::Messages { messages, .. } => {
            let contents: Vec<_> = messages.into_iter().map(|m| m.content).collect();
            assert_eq!(contents, ["one", "two", "three"]);
        }
        other => panic!("expected history, got {other:?}"),
    }
}

#[tokio::test]
async fn one_connection_more_than_allowed_is_closed_with_1008() {
    let server = TestServer::start_with(&["--max-connections-per-user", "2"]).await;
    let person = Person::new(&server, "many").await;
    let other = Person::new(&server, "other").await;
    let mut first = person.connect(&server).await;
    let mut second = person.connect(&server).await;
    let mut third = person.connect(&server).await;
    let frame = third.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008);
    assert!(frame.reason.contains("too many connections"), "{frame:?}");
    // The two allowed ones work, and another user is not affected.
    for client in [&mut first, &mut second] {
        client.send(&ClientMsg::GetConversations {}).await;
        assert!(matches!(
            client.recv().await,
            ServerMsg::Conversations { .. }
        ));
    }
    let mut theirs = other.connect(&server).await;
    theirs.send(&ClientMsg::GetConversations {}).await;
    assert!(matches!(
        theirs.recv().await,
        ServerMsg::Conversations { .. }
    ));
    // Closing one frees its place (once the server has seen it go).
    second.close().await;
    for attempt in 0.. {
        let mut again = person.connect(&server).await;
        again.send(&ClientMsg::GetConversations {}).await;
        match again.next_message().await {
            Some(tokio_tungstenite::tungstenite::Message::Text(_)) => break,
            _ if attempt < 50 => tokio::task::yield_now().await,
            other => panic!("the freed place was never given back: {other:?}"),
        }
    }
}

async fn assert_too_many(response: reqwest::Response) {
    chat_e2e::assert_retry_later(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn failed_logins_for_one_name_get_429_with_retry_after() {
    let server =
        TestServer::start_with(&["--auth-user-burst", "3", "--auth-user-per-minute", "1"]).await;
    let victim = Person::new(&server, "victim").await;
    let bystander = Person::new(&server, "bystander").await;
    // Successful logins do not count.
    for _ in 0..5 {
        let response =
            post_json(&server, "/api/token/", &credentials(&victim.name, PASSWORD)).await;
        assert_eq!(response.status(), 200);
    }
    for _ in 0..3 {
        let response = post_json(
            &server,
            "/api/token/",
            &credentials(&victim.name, "wrong guess"),
        )
        .await;
        assert_eq!(response.status(), 401);
    }
    // Now even the right password waits, whatever the case of the name.
    let guess = post_json(
        &server,
        "/api/token/",
        &credentials(&victim.name, "guess 4"),
    )
    .await;
    assert_too_many(guess).await;
    let shouted = victim.name.to_uppercase();
    let right = post_json(&server, "/api/token/", &credentials(&shouted, PASSWORD)).await;
    assert_too_many(right).await;
    // Other names are not affected.
    let other = post_json(
        &server,
        "/api/token/",
        &credentials(&bystander.name, PASSWORD),
    )
    .await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn attempts_from_one_address_get_429_with_retry_after() {
    let server =
        TestServer::start_with(&["--auth-ip-burst", "4", "--auth-ip-per-minute", "1"]).await;
    let name = unique_name("spray");
    // Registering counts; failed logins for different names count too.
    let created = post_json(&server, "/api/register/", &credentials(&name, PASSWORD)).await;
    assert_eq!(created.status(), 201);
    let ok = post_json(&server, "/api/token/", &credentials(&name, PASSWORD)).await;
    assert_eq!(ok.status(), 200, "a successful login is refunded");
    for i in 0..3 {
        let guess = credentials(&unique_name("nobody"), &format!("password{i}"));
        assert_eq!(
            post_json(&server, "/api/token/", &guess).await.status(),
            401
        );
    }
    let guess = credentials(&unique_name("nobody"), "password");
    assert_too_many(post_json(&server, "/api/token/", &guess).await).await;
    let again = credentials(&unique_name("late"), PASSWORD);
    assert_too_many(post_json(&server, "/api/register/", &again).await).await;
}

/// `POST /api/token/` from the source address `source` (any 127.x.y.z reaches the server).
async fn login_from(
    server: &TestServer,
    source: [u8; 4],
    body: &serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .expect("HTTP client")
        .post(format!("{}/api/token/", server.http_url()))
        .json(body)
        .send()
        .await
        .expect("HTTP request")
}

#[tokio::test]
async fn successful_logins_from_one_address_have_an_allowance_of_their_own() {
    let server = TestServer::start_with(&[
        "--auth-ip-burst",
        "2",
        "--auth-ip-per-minute",
        "1",
        "--auth-ip-login-burst",
        "5",
        "--auth-ip-login-per-minute",
        "1",
    ])
    .await;
    let name = unique_name("regular");
    let right = credentials(&name, PASSWORD);
    let created = post_json(&server, "/api/register/", &right).await;
    assert_eq!(created.status(), 201);
    // More than the failure burst of 2: successes do not count there, only here (5).
    for _ in 0..5 {
        assert_eq!(
            post_json(&server, "/api/token/", &right).await.status(),
            200
        );
    }
    // The sixth waits, right password and all.
    assert_too_many(post_json(&server, "/api/token/", &right).await).await;
    // Another address has its own allowance.
    assert_eq!(
        login_from(&server, [127, 0, 0, 2], &right).await.status(),
        200
    );
}

#[tokio::test]
async fn failed_logins_count_toward_the_login_allowance_and_registrations_do_not() {
    let server = TestServer::start_with(&[
        "--auth-ip-burst",
        "10",
        "--auth-ip-per-minute",
        "1",
        "--auth-ip-login-burst",
        "3",
        "--auth-ip-login-per-minute",
        "1",
    ])
    .await;
    let name = unique_name("mixed");
    let right = credentials(&name, PASSWORD);
    let wrong = credentials(&name, "not the password");
    assert_eq!(
        post_json(&server, "/api/register/", &right).await.status(),
        201
    );
    assert_eq!(
        post_json(&server, "/api/token/", &wrong).await.status(),
        401
    );
    assert_eq!(
        post_json(&server, "/api/token/", &right).await.status(),
        200
    );
    assert_eq!(
        post_json(&server, "/api/token/", &wrong).await.status(),
        401
    );
    // Three logins, two of them failed (far from the failure burst of 10): the allowance is spent.
    assert_too_many(post_json(&server, "/api/token/", &right).await).await;
    // Registering is counted toward the failure burst only.
    let other = credentials(&unique_name("later"), PASSWORD);
    assert_eq!(
        post_json(&server, "/api/register/", &other).await.status(),
        201
    );
}
