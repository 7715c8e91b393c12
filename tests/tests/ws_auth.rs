//! The socket refuses every token that is not a valid, unexpired access token of an existing
//! user: close 4001, no chat frame.

use chat_e2e::tokens::{claims, not_before, now, sign, unsigned};
use chat_e2e::{Person, TEST_SECRET, TestServer, WsClient};
use chat_shared::ClientMsg;
use jsonwebtoken::Algorithm;
use serde_json::json;

async fn assert_refused(server: &TestServer, url: &str) {
    let mut client = WsClient::connect(url).await;
    let frame = client
        .closed()
        .await
        .unwrap_or_else(|| panic!("{url}: no close frame"));
    assert_eq!(u16::from(frame.code), 4001, "{url}");
    assert!(!frame.reason.is_empty());
    let _ = server;
}

#[tokio::test]
async fn bad_tokens_close_with_4001_before_any_frame() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "gina").await;
    let id = person.id;
    let base = format!("ws://{}/ws/chat/", server.addr);
    let tokens = [
        unsigned(&claims(id, "access", now() + 300)),
        sign(
            Algorithm::HS512,
            TEST_SECRET,
            &claims(id, "access", now() + 300),
        ),
        sign(
            Algorithm::HS256,
            "another secret",
            &claims(id, "access", now() + 300),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id, "access", now() - 1),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id, "refresh", now() + 300),
        ),
        sign(
            Algorithm::HS256,
            TEST_SECRET,
            &claims(id + 1000, "access", now() + 300),
        ),
        person.tokens.refresh.clone(),
        "not.a.jwt".to_string(),
        String::new(),
    ];
    for token in &tokens {
        assert_refused(&server, &format!("{base}?token={token}")).await;
    }
    assert_refused(&server, &base).await;
    assert_refused(&server, &format!("{base}?other=1")).await;
}

#[tokio::test]
async fn tokens_minted_elsewhere_with_the_secret_are_accepted() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "hank").await;
    // As simplejwt writes them; some versions write user_id as a string.
    for user_id in [json!(person.id), json!(person.id.to_string())] {
        let claims = json!({"token_type": "access", "exp": now() + 300, "iat": now(),
                            "jti": "0123456789abcdef", "user_id": user_id});
        let token = sign(Algorithm::HS256, TEST_SECRET, &claims);
        let mut client = WsClient::connect(&server.ws_url(&token)).await;
        client.send(&ClientMsg::GetConversations {}).await;
        let reply = client.recv_json().await;
        assert_eq!(reply["type"], "chat.conversations");
    }
}

#[tokio::test]
async fn a_token_not_valid_yet_closes_with_4001_and_one_already_valid_works() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "nbf").await;
    let later = sign(
        Algorithm::HS256,
        TEST_SECRET,
        &not_before(claims(person.id, "access", now() + 300), now() + 60),
    );
    assert_refused(&server, &server.ws_url(&later)).await;
    for nbf in [now() - 60, now()] {
        let valid = not_before(claims(person.id, "access", now() + 300), nbf);
        let token = sign(Algorithm::HS256, TEST_SECRET, &valid);
        let mut client = WsClient::connect(&server.ws_url(&token)).await;
        client.send(&ClientMsg::GetConversations {}).await;
        assert_eq!(client.recv_json().await["type"], "chat.conversations");
    }
}

#[tokio::test]
async fn the_path_may_carry_a_user_id_which_is_ignored() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "ivy").await;
    let url = format!(
        "ws://{}/ws/chat/999999/?token={}",
        server.addr, person.tokens.access
    );
    let mut client = WsClient::connect(&url).await;
    client
        .send(&ClientMsg::SearchUser {
            keyword: "zzz".into(),
        })
        .await;
    assert_eq!(client.recv_json().await["type"], "chat.search_results");
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let server = TestServer::start_with(&["--access-token-lifetime", "1s"]).await;
    let person = Person::new(&server, "jack").await;
    // Lifetimes are whole seconds: after two, the token has expired.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_refused(&server, &server.ws_url(&person.tokens.access)).await;
}

#[tokio::test]
async fn browsers_from_other_origins_are_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start_with(&["--allowed-origins", "https://chat.example.com"]).await;
    let person = Person::new(&server, "kim").await;
    let attempt = |origin: String| {
        let mut request = server
            .ws_url(&person.tokens.access)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        WsClient::try_connect(request)
    };
    let refused = attempt("http://evil.example".into()).await;
    assert!(refused.is_err(), "a foreign origin must be refused");
    assert!(attempt(format!("http://{}", server.addr)).await.is_ok());
    assert!(attempt("https://chat.example.com".into()).await.is_ok());
}

#[tokio::test]
async fn a_database_failure_during_the_handshake_closes_with_1013_not_4001() {
    use sqlx::Connection;
    // SQLite whatever the suite's engine: the fault is a table renamed in the file.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_on(&dir.path().join("chat.db"), &[]).await;
    let person = Person::new(&server, "hana").await;
    let mut db = sqlx::SqliteConnection::connect(&server.database_url)
        .await
        .expect("open the database");
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("users", "users_away"))
        .execute(&mut db)
        .await
        .expect("hide the users");
    let mut client = person.connect(&server).await;
    let frame = client.closed().await.expect("a close frame");
    assert_eq!(
        u16::from(frame.code),
        1013,
        "the token is fine: try again later"
    );
    sqlx::query(&rename("users_away", "users"))
        .execute(&mut db)
        .await
        .expect("bring the users back");
    let mut client = person.connect(&server).await;
    client.send(&ClientMsg::GetConversations {}).await;
    assert!(matches!(
        client.recv().await,
        chat_shared::ServerMsg::Conversations { .. }
    ));
}
