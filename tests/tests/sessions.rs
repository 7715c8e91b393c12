//! Sessions: refresh rotation with reuse detection, logout, logout everywhere, password change,
//! account deletion, and revocation reaching open sockets (4001) on every instance; both
//! `--socket-expiry` modes and `chat.auth`. On PostgreSQL with `TEST_DATABASE_URL`, through
//! Redis with `TEST_REDIS_URL`.

use std::time::Duration;

use chat_e2e::tokens::{claims, now, sign};
use chat_e2e::{
    PASSWORD, Person, RecvError, TEST_SECRET, TestServer, WAIT, WsClient, credentials, me_status,
    post_json, until_linked,
};
use chat_shared::rest::{AccessToken, ApiError, TokenPair};
use chat_shared::{ClientMsg, DELETED_USERNAME, ErrorCode, ServerMsg, close};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tokio::time::Instant;

/// Rotation (the default), stated so that these tests do not depend on the default.
const ROTATING: &[&str] = &["--rotate-refresh-tokens", "true"];

/// `POST /api/token/refresh/` with `refresh`.
async fn refresh(server: &TestServer, refresh: &str) -> reqwest::Response {
    post_json(server, "/api/token/refresh/", &json!({"refresh": refresh})).await
}

/// A refresh that must succeed: the new pair.
async fn rotate(server: &TestServer, token: &str) -> TokenPair {
    let response = refresh(server, token).await;
    assert_eq!(response.status(), 200);
    let answer: AccessToken = response.json().await.expect("a refresh answer");
    TokenPair {
        access: answer.access,
        refresh: answer.refresh.expect("a rotated refresh token"),
    }
}

/// A refusal in simplejwt's shape: 401 `token_not_valid`.
async fn assert_token_refused(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    let body: ApiError = response.json().await.expect("an error body");
    assert_eq!(body.code, "token_not_valid");
}

/// Logs `person` in once more: a session of its own.
async fn login(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    post_json(server, "/api/token/", &credentials(name, password)).await
}

async fn new_session(server: &TestServer, person: &Person) -> TokenPair {
    let response = login(server, &person.name, PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a token pair")
}

/// `method path` on `server` with a bearer token and a JSON body.
async fn bearer(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, format!("{}{path}", server.http_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("HTTP request")
}

/// The code the server closes `client` with, frames before it skipped; fails unless it closes
/// within `within`.
async fn close_code(client: &mut WsClient, within: Duration) -> u16 {
    let deadline = Instant::now() + within;
    loop {
        match client.try_recv(deadline).await {
            Ok(_) => continue,
            Err(RecvError::Closed(Some(frame))) => return u16::from(frame.code),
            Err(other) => panic!("expected a close within {within:?}, got {other:?}"),
        }
    }
}

/// The socket still answers.
async fn assert_alive(client: &mut WsClient) {
    client.send(&ClientMsg::GetConversations {}).await;
    client
        .recv_until(|f| matches!(f, ServerMsg::Conversations { .. }).then_some(()))
        .await;
}

/// A token of `user_id` minted elsewhere with the shared secret: no session id.
fn minted_elsewhere(user_id: i64, kind: &str, issued_at: i64) -> String {
    let mut claims = claims(user_id, kind, now() + 300);
    claims["iat"] = json!(issued_at);
    sign(Algorithm::HS256, TEST_SECRET, &claims)
}

#[tokio::test]
async fn refresh_rotates_and_a_retry_within_the_grace_gets_the_same_pair() {
    let server = TestServer::start_with(ROTATING).await;
    let alice = Person::new(&server, "alice").await;
    let first = rotate(&server, &alice.tokens.refresh).await;
    assert_ne!(first.refresh, alice.tokens.refresh);
    assert_eq!(me_status(&server, &first.access).await, 200);
    // Another process sharing the session file refreshed with the same token a moment later:
    // the same successor, byte for byte (and an access token of the same session).
    let again = rotate(&server, &alice.tokens.refresh).await;
    assert_eq!(again.refresh, first.refresh);
    assert_eq!(me_status(&server, &again.access).await, 200);
    // The successor rotates in turn; the session goes on.
    let second = rotate(&server, &first.refresh).await;
    assert_ne!(second.refresh, first.refresh);
    let mut socket = WsClient::connect(&server.ws_url(&second.access)).await;
    assert_alive(&mut socket).await;
    server.stop().await;
}

#[tokio::test]
async fn without_rotation_a_refresh_token_is_reused_until_its_session_ends() {
    let server = TestServer::start_with(&["--rotate-refresh-tokens", "false"]).await;
    let alice = Person::new(&server, "alice").await;
    for _ in 0..3 {
        let response = refresh(&server, &alice.tokens.refresh).await;
        assert_eq!(response.status(), 200);
        let answer: AccessToken = response.json().await.expect("a refresh answer");
        assert_eq!(answer.refresh, None);
        assert_eq!(me_status(&server, &answer.access).await, 200);
    }
    let logout = json!({"refresh": alice.tokens.refresh});
    assert_eq!(
        post_json(&server, "/api/logout/", &logout).await.status(),
        200
    );
    assert_token_refused(refresh(&server, &alice.tokens.refresh).await).await;
    server.stop().await;
}

#[tokio::test]
async fn a_retired_refresh_token_after_the_grace_ends_its_whole_session() {
    let server =
        TestServer::start_with(&[ROTATING, &["--refresh-reuse-grace", "200ms"]].concat()).await;
    let alice = Person::new(&server, "alice").await;
    let other = new_session(&server, &alice).await;
    let mut opened_with_first = alice.connect(&server).await;
    let successor = rotate(&server, &alice.tokens.refresh).await;
    let mut opened_with_successor = WsClient::connect(&server.ws_url(&successor.access)).await;
    let mut other_socket = WsClient::connect(&server.ws_url(&other.access)).await;
    assert_alive(&mut opened_with_successor).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The retired token again, past the grace: a copy was stolen. The session ends.
    let replayed = Instant::now();
    assert_token_refused(refresh(&server, &alice.tokens.refresh).await).await;
    for socket in [&mut opened_with_first, &mut opened_with_successor] {
        assert_eq!(close_code(socket, WAIT).await, close::UNAUTHORIZED);
    }
    assert!(replayed.elapsed() < Duration::from_secs(1));
    assert_token_refused(refresh(&server, &successor.refresh).await).await;
    assert_eq!(me_status(&server, &successor.access).await, 401);
    // The user's other session is untouched.
    assert_alive(&mut other_socket).await;
    rotate(&server, &other.refresh).await;
    server.stop().await;
}

#[tokio::test]
async fn logout_ends_its_own_session_only() {
    let server = TestServer::start_with(ROTATING).await;
    let alice = Person::new(&server, "alice").await;
    let other = new_session(&server, &alice).await;
    let mut ended = alice.connect(&server).await;
    let mut kept = WsClient::connect(&server.ws_url(&other.access)).await;
    assert_alive(&mut ended).await;

    let logout = json!({"refresh": alice.tokens.refresh});
    let response = post_json(&server, "/api/logout/", &logout).await;
    assert_eq!(response.status(), 200);
    let at = Instant::now();
    assert_eq!(close_code(&mut ended, WAIT).await, close::UNAUTHORIZED);
    assert!(at.elapsed() < Duration::from_secs(1));
    assert_token_refused(refresh(&server, &alice.tokens.refresh).await).await;
    assert_eq!(me_status(&server, &alice.tokens.access).await, 401);
    let mut reopened = WsClient::connect(&server.ws_url(&alice.tokens.access)).await;
    assert_eq!(close_code(&mut reopened, WAIT).await, close::UNAUTHORIZED);
    // A second logout is harmless; a token of no session is told where to go.
    let again = post_json(&server, "/api/logout/", &logout).await;
    assert_eq!(again.status(), 200);
    let sessionless = json!({"refresh": minted_elsewhere(alice.id, "refresh", now())});
    let refused = post_json(&server, "/api/logout/", &sessionless).await;
    assert_eq!(refused.status(), 400);
    let body: ApiError = refused.json().await.expect("an error body");
    assert_eq!(body.code, "no_session");

    assert_alive(&mut kept).await;
    assert_eq!(me_status(&server, &other.access).await, 200);
    rotate(&server, &other.refresh).await;
    server.stop().await;
}

/// On two instances: alice with a session on each and a token minted elsewhere with the shared
/// secret, a socket for each (those on `two` linked through the bus), and bob, her contact.
struct Spread {
    alice: Person,
    /// alice's second session, on `two`.
    second: TokenPair,
    elsewhere: String,
    bob: Person,
    on_one: WsClient,
    on_two: WsClient,
    on_two_elsewhere: WsClient,
    bob_on_one: WsClient,
}

async fn spread(one: &TestServer, two: &TestServer) -> Spread {
    let alice = Person::new(one, "alice").await;
    let second = new_session(two, &alice).await;
    let elsewhere = minted_elsewhere(alice.id, "access", now() - 1);
    let bob = Person::new(one, "bob").await;
    let on_one = alice.connect(one).await;
    let mut on_two = WsClient::connect(&two.ws_url(&second.access)).await;
    let on_two_elsewhere = WsClient::connect(&two.ws_url(&elsewhere)).await;
    let mut bob_on_one = bob.connect(one).await;
    bob_on_one.start_conversation(alice.id).await;
    // With Redis, `two` subscribes to alice's channel in the background: wait for it.
    until_linked(&mut bob_on_one, &mut on_two, alice.id).await;
    Spread {
        alice,
        second,
        elsewhere,
        bob,
        on_one,
        on_two,
        on_two_elsewhere,
        bob_on_one,
    }
}

#[tokio::test]
async fn logout_all_closes_every_socket_on_every_instance_and_cuts_off_tokens_minted_elsewhere() {
    let servers = TestServer::cluster_with(2, ROTATING).await;
    let (one, two) = (&servers[0], &servers[1]);
    let mut everyone = spread(one, two).await;
    let (alice, second, elsewhere) = (&everyone.alice, &everyone.second, &everyone.elsewhere);
    assert_alive(&mut everyone.on_two_elsewhere).await;
    assert_eq!(me_status(one, elsewhere).await, 200);
    // A token minted elsewhere is refreshed as before: an access token, no rotation.
    let elsewhere_refresh = minted_elsewhere(alice.id, "refresh", now() - 1);
    let response = refresh(one, &elsewhere_refresh).await;
    assert_eq!(response.status(), 200);
    let answer: AccessToken = response.json().await.expect("a refresh answer");
    assert_eq!(answer.refresh, None);

    let response = bearer(
        one,
        reqwest::Method::POST,
        "/api/logout/all/",
        elsewhere,
        json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let at = Instant::now();
    for socket in [
        &mut everyone.on_one,
        &mut everyone.on_two,
        &mut everyone.on_two_elsewhere,
    ] {
        assert_eq!(close_code(socket, WAIT).await, close::UNAUTHORIZED);
    }
    assert!(at.elapsed() < Duration::from_secs(1), "{:?}", at.elapsed());
    for token in [&alice.tokens.access, &second.access, elsewhere] {
        assert_eq!(me_status(two, token).await, 401);
    }
    assert_token_refused(refresh(two, &alice.tokens.refresh).await).await;
    assert_token_refused(refresh(two, &elsewhere_refresh).await).await;
    // Tokens minted elsewhere after it work; so does logging in again.
    assert_eq!(
        me_status(one, &minted_elsewhere(alice.id, "access", now() + 1)).await,
        200
    );
    new_session(one, alice).await;
    // Bob was never concerned.
    assert_alive(&mut everyone.bob_on_one).await;
    assert_eq!(me_status(two, &everyone.bob.tokens.access).await, 200);
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test]
async fn a_password_change_keeps_the_callers_session_and_ends_the_others_on_every_instance() {
    let servers = TestServer::cluster_with(2, ROTATING).await;
    let (one, two) = (&servers[0], &servers[1]);
    let mut everyone = spread(one, two).await;
    let (alice, other, elsewhere) = (&everyone.alice, &everyone.second, &everyone.elsewhere);
    assert_alive(&mut everyone.on_two_elsewhere).await;

    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new});
    let new_password = "a new horse battery";
    let path = "/api/password/";
    let post = reqwest::Method::POST;
    // A wrong old password, and a new one too short: refused, nothing changes.
    let wrong = bearer(
        one,
        post.clone(),
        path,
        &alice.tokens.access,
        change("not it at all", new_password),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let body: ApiError = wrong.json().await.expect("an error body");
    assert_eq!(body.code, "wrong_password");
    assert!(body.detail.contains("old password"), "{}", body.detail);
    let short = bearer(
        one,
        post.clone(),
        path,
        &alice.tokens.access,
        change(PASSWORD, "short"),
    )
    .await;
    assert_eq!(short.status(), 400);
    assert_alive(&mut everyone.on_two).await;

    let changed = bearer(
        one,
        post,
        path,
        &alice.tokens.access,
        change(PASSWORD, new_password),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let at = Instant::now();
    // The other session's socket on the other instance, and the token minted elsewhere: closed.
    assert_eq!(
        close_code(&mut everyone.on_two, WAIT).await,
        close::UNAUTHORIZED
    );
    assert_eq!(
        close_code(&mut everyone.on_two_elsewhere, WAIT).await,
        close::UNAUTHORIZED
    );
    assert!(at.elapsed() < Duration::from_secs(1), "{:?}", at.elapsed());
    assert_token_refused(refresh(one, &other.refresh).await).await;
    assert_eq!(me_status(two, elsewhere).await, 401);
    // The caller's session goes on: its socket, its access token, its refresh token.
    assert_alive(&mut everyone.on_one).await;
    assert_eq!(me_status(two, &alice.tokens.access).await, 200);
    rotate(two, &alice.tokens.refresh).await;
    // Only the new password logs in.
    assert_eq!(login(one, &alice.name, PASSWORD).await.status(), 401);
    assert_eq!(login(two, &alice.name, new_password).await.status(), 200);
    assert_alive(&mut everyone.bob_on_one).await;
    assert_eq!(me_status(one, &everyone.bob.tokens.access).await, 200);
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_account_is_closed_refused_shown_as_deleted_and_its_name_freed_later() {
    let server = TestServer::start_with(&[ROTATING, &["--deleted-name-hold", "1s"]].concat()).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    a.say(conversation, "before I go").await;
    b.recv_message().await;

    let delete = |password: &str| {
        bearer(
            &server,
            reqwest::Method::DELETE,
            "/api/me/",
            &alice.tokens.access,
            json!({"password": password}),
        )
    };
    let wrong = delete("not my password").await;
    assert_eq!(wrong.status(), 400);
    let body: ApiError = wrong.json().await.expect("an error body");
    assert_eq!(body.code, "wrong_password");
    assert_alive(&mut a).await;

    assert_eq!(delete(PASSWORD).await.status(), 204);
    assert_eq!(close_code(&mut a, WAIT).await, close::UNAUTHORIZED);
    assert_eq!(login(&server, &alice.name, PASSWORD).await.status(), 401);
    assert_eq!(me_status(&server, &alice.tokens.access).await, 401);
    assert_token_refused(refresh(&server, &alice.tokens.refresh).await).await;

    // Bob still reads the conversation; alice's message is from `deleted user`, same id.
    let history = b.history(conversation).await;
    let sender = &history.last().expect("the message stayed").sender;
    assert_eq!(
        (sender.id, sender.username.as_str()),
        (alice.id, DELETED_USERNAME)
    );
    b.send(&ClientMsg::GetConversations {}).await;
    let ServerMsg::Conversations { conversations } = b
        .recv_until(|f| matches!(f, ServerMsg::Conversations { .. }).then_some(f))
        .await
    else {
        unreachable!()
    };
    let listed = conversations
        .iter()
        .find(|c| c.id == conversation)
        .expect("the conversation is still listed");
    assert!(
        listed
            .participants
            .iter()
            .any(|p| p.id == alice.id && p.username == DELETED_USERNAME),
        "{listed:?}"
    );
    // Nobody finds the account or starts a conversation with it.
    for keyword in [alice.name.as_str(), "deleted"] {
        b.send(&ClientMsg::SearchUser {
            keyword: keyword.to_string(),
        })
        .await;
        let results = b
            .recv_until(|f| match f {
                ServerMsg::SearchResults { results } => Some(results),
                _ => None,
            })
            .await;
        assert!(results.iter().all(|u| u.id != alice.id), "{results:?}");
    }
    b.send(&ClientMsg::StartConversation {
        receiver_id: alice.id,
    })
    .await;
    b.expect_error(ErrorCode::NotFound, Some("chat.start_conversation"))
        .await;

    // The name is held, then free again.
    let body = credentials(&alice.name, PASSWORD);
    let register = || post_json(&server, "/api/register/", &body);
    assert_eq!(register().await.status(), 409);
    let deadline = Instant::now() + WAIT;
    loop {
        let status = register().await.status();
        if status == 201 {
            break;
        }
        assert_eq!(status, 409);
        assert!(Instant::now() < deadline, "the name was never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let newcomer: TokenPair = login(&server, &alice.name, PASSWORD)
        .await
        .json()
        .await
        .expect("the newcomer logs in");
    let mut c = WsClient::connect(&server.ws_url(&newcomer.access)).await;
    // A new account: not the deleted one's conversation.
    c.send(&ClientMsg::GetConversations {}).await;
    let ServerMsg::Conversations { conversations } = c.recv().await else {
        panic!("expected chat.conversations");
    };
    assert!(conversations.is_empty(), "{conversations:?}");
    server.stop().await;
}

#[tokio::test]
async fn with_token_expiry_a_socket_closes_at_exp_unless_renewed_with_chat_auth() {
    let server = TestServer::start_with(
        &[
            ROTATING,
            &["--socket-expiry", "token", "--access-token-lifetime", "3s"],
        ]
        .concat(),
    )
    .await;
    let alice = Person::new(&server, "alice").await;
    let mut a = alice.connect(&server).await;
    let first_exp = token_exp(&alice.tokens.access);
    // A second later (so that the next token's `exp` is later), renew in band.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = rotate(&server, &alice.tokens.refresh).await;
    a.send(&ClientMsg::Auth {
        token: fresh.access.clone(),
    })
    .await;
    let exp = a
        .recv_until(|f| match f {
            ServerMsg::AuthOk { exp } => Some(exp),
            _ => None,
        })
        .await;
    let fresh_exp = token_exp(&fresh.access);
    assert_eq!(exp.0, fresh_exp * 1000);
    assert!(fresh_exp > first_exp);
    // Past the first token's `exp`, the socket is still open ...
    sleep_until_unix(first_exp * 1000 + 300).await;
    assert_alive(&mut a).await;
    // ... and closes at the renewed one's.
    let code = close_code(&mut a, WAIT).await;
    assert_eq!(code, close::UNAUTHORIZED);
    let closed_at = chat_shared::Timestamp::now().0;
    assert!(
        (fresh_exp * 1000..fresh_exp * 1000 + 1000).contains(&closed_at),
        "closed at {closed_at}, exp {fresh_exp}"
    );

    // Without renewal, a socket closes at its token's `exp`.
    let bob = Person::new(&server, "bob").await;
    let mut b = bob.connect(&server).await;
    assert_eq!(close_code(&mut b, WAIT).await, close::UNAUTHORIZED);
    let closed_at = chat_shared::Timestamp::now().0;
    let exp = token_exp(&bob.tokens.access) * 1000;
    assert!(
        (exp..exp + 1000).contains(&closed_at),
        "closed at {closed_at}, exp {exp}"
    );
    server.stop().await;
}

#[tokio::test]
async fn with_session_expiry_a_socket_outlives_its_access_token() {
    let server =
        TestServer::start_with(&[ROTATING, &["--access-token-lifetime", "1s"]].concat()).await;
    let alice = Person::new(&server, "alice").await;
    let mut a = alice.connect(&server).await;
    // (A token is refused from the second after its `exp`.)
    sleep_until_unix((token_exp(&alice.tokens.access) + 1) * 1000 + 200).await;
    assert_alive(&mut a).await;
    assert_eq!(me_status(&server, &alice.tokens.access).await, 401);
    // `chat.auth` works here too.
    let fresh = rotate(&server, &alice.tokens.refresh).await;
    a.send(&ClientMsg::Auth {
        token: fresh.access,
    })
    .await;
    a.recv_until(|f| matches!(f, ServerMsg::AuthOk { .. }).then_some(()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn chat_auth_refuses_bad_tokens_and_closes_for_another_users() {
    let server = TestServer::start_with(ROTATING).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let expired = sign(
        Algorithm::HS256,
        TEST_SECRET,
        &claims(alice.id, "access", now() - 10),
    );
    for token in [
        expired,
        "not a token".to_string(),
        alice.tokens.refresh.clone(),
    ] {
        a.send(&ClientMsg::Auth { token }).await;
        a.expect_error(ErrorCode::Unauthorized, Some("chat.auth"))
            .await;
    }
    // A revoked token of the right user: refused, the socket goes on as it was.
    let other = new_session(&server, &alice).await;
    let logout = json!({"refresh": other.refresh});
    assert_eq!(
        post_json(&server, "/api/logout/", &logout).await.status(),
        200
    );
    a.send(&ClientMsg::Auth {
        token: other.access,
    })
    .await;
    a.expect_error(ErrorCode::Unauthorized, Some("chat.auth"))
        .await;
    assert_alive(&mut a).await;
    // Another user's valid token: refused, then closed.
    a.send(&ClientMsg::Auth {
        token: bob.tokens.access.clone(),
    })
    .await;
    a.expect_error(ErrorCode::Unauthorized, Some("chat.auth"))
        .await;
    assert_eq!(close_code(&mut a, WAIT).await, close::UNAUTHORIZED);
    server.stop().await;
}

/// The `exp` of a JWT, read without checking it.
fn token_exp(token: &str) -> i64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    let claims: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON claims");
    claims["exp"].as_i64().expect("exp")
}

/// Sleeps until the wall clock reads `at` (Unix milliseconds).
async fn sleep_until_unix(at: i64) {
    let wait = at - chat_shared::Timestamp::now().0;
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}
