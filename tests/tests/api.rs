//! REST accounts and tokens, end to end.

use chat_e2e::{PASSWORD, Person, TestServer, post_json, unique_name};
use chat_shared::rest::{AccessToken, ApiError, UserInfo};
use serde_json::json;

async fn error_of(response: reqwest::Response) -> ApiError {
    response
        .json()
        .await
        .expect("error body in {detail, code} shape")
}

#[tokio::test]
async fn register_answers_201_with_the_account() {
    let server = TestServer::start().await;
    let name = unique_name("Alice.");
    let response = post_json(
        &server,
        "/api/register/",
        &json!({"username": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let user: UserInfo = response.json().await.unwrap();
    assert_eq!(user.username, name);
    assert!(user.id > 0);
}

#[tokio::test]
async fn register_refuses_bad_input_with_clear_messages() {
    let server = TestServer::start().await;
    let long = "a".repeat(151);
    let cases = [
        (json!({"username": "", "password": PASSWORD}), "1 to 150"),
        (json!({"username": long, "password": PASSWORD}), "1 to 150"),
        (
            json!({"username": "bad name", "password": PASSWORD}),
            "letters, digits",
        ),
        (
            json!({"username": "bad!", "password": PASSWORD}),
            "letters, digits",
        ),
        (
            json!({"username": "shortpw", "password": "1234567"}),
            "at least 8",
        ),
        (json!({"username": "nopw"}), "password"),
        (json!({"username": 5, "password": PASSWORD}), "username"),
    ];
    for (body, words) in cases {
        let response = post_json(&server, "/api/register/", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error = error_of(response).await;
        assert!(error.detail.contains(words), "{body}: {error:?}");
    }
    let response = reqwest::Client::new()
        .post(format!("{}/api/register/", server.http_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(!error_of(response).await.detail.is_empty());
    // The longest name and all the allowed punctuation are fine.
    let ok = format!("{}@.+-_é", "b".repeat(144));
    assert_eq!(ok.chars().count(), 150);
    let response = post_json(
        &server,
        "/api/register/",
        &json!({"username": ok, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn register_refuses_a_taken_name_in_any_case() {
    let server = TestServer::start().await;
    let name = unique_name("carol");
    let body = json!({"username": name, "password": PASSWORD});
    assert_eq!(
        post_json(&server, "/api/register/", &body).await.status(),
        201
    );
    let upper = json!({"username": name.to_uppercase(), "password": PASSWORD});
    let response = post_json(&server, "/api/register/", &upper).await;
    assert_eq!(response.status(), 409);
    assert!(error_of(response).await.detail.contains("already exists"));
}

#[tokio::test]
async fn token_refresh_and_me() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "dave").await;
    let client = reqwest::Client::new();
    let me = |token: String| {
        client
            .get(format!("{}/api/me/", server.http_url()))
            .bearer_auth(token)
            .send()
    };

    let response = me(person.tokens.access.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let info: UserInfo = response.json().await.unwrap();
    assert_eq!(
        (info.id, info.username.as_str()),
        (person.id, person.name.as_str())
    );

    // A refresh token is not an access token, and vice versa.
    assert_eq!(
        me(person.tokens.refresh.clone()).await.unwrap().status(),
        401
    );
    let refused = post_json(
        &server,
        "/api/token/refresh/",
        &json!({"refresh": person.tokens.access}),
    )
    .await;
    assert_eq!(refused.status(), 401);

    let response = post_json(
        &server,
        "/api/token/refresh/",
        &json!({"refresh": person.tokens.refresh}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let fresh: AccessToken = response.json().await.unwrap();
    assert_eq!(me(fresh.access).await.unwrap().status(), 200);

    let missing = client
        .get(format!("{}/api/me/", server.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(error_of(missing).await.code, "not_authenticated");
}

#[tokio::test]
async fn login_refuses_wrong_passwords_and_unknown_names_alike() {
    let server = TestServer::start().await;
    let person = Person::new(&server, "erin").await;
    let wrong = post_json(
        &server,
        "/api/token/",
        &json!({"username": person.name, "password": "wrong password"}),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let wrong = error_of(wrong).await;
    let unknown = post_json(
        &server,
        "/api/token/",
        &json!({"username": "nobody_here", "password": PASSWORD}),
    )
    .await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(error_of(unknown).await, wrong);
    // Names are matched in any letter case.
    let upper = post_json(
        &server,
        "/api/token/",
        &json!({"username": person.name.to_uppercase(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(upper.status(), 200);
}

#[tokio::test]
async fn generated_secret_is_private_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("chat.db");
    let url = format!("sqlite://{}", database.display());
    let config =
        || chat_server::Config::from_args(["chat-server", "--database-url", url.as_str()]).unwrap();
    let first = chat_server::build_state(config()).await.unwrap();
    let user = first.store.create_user("frank", "x").await.unwrap();
    let token = first
        .keys
        .mint(user.id, chat_server::auth::TokenType::Access);
    first.store.close().await;

    let secret_file = dir.path().join("chat.db.jwt-secret");
    let mode = std::fs::metadata(&secret_file).unwrap().permissions();
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    let second = chat_server::build_state(config()).await.unwrap();
    assert_eq!(
        second
            .keys
            .verify(&token, chat_server::auth::TokenType::Access)
            .map(|token| token.user_id),
        Some(user.id)
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_log_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // SQLite whatever the suite's engine: the files are SQLite's.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_on(&dir.path().join("chat.db"), &[]).await;
    // A write, so that the log files exist.
    chat_e2e::Person::new(&server, "alice").await;
    let mut wal = server.database.clone().into_os_string();
    wal.push("-wal");
    let mut shm = server.database.clone().into_os_string();
    shm.push("-shm");
    for file in [server.database.clone(), wal.into(), shm.into()] {
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "{} has mode {:o}",
            file.display(),
            mode
        );
    }
}

#[tokio::test]
async fn healthz_answers() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/healthz", server.http_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_page_carries_the_configured_message_limit() {
    let server = TestServer::start_with(&["--max-message-chars", "321"]).await;
    let page = reqwest::get(format!("{}/", server.http_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The block the page's protocol.js reads.
    let open = r#"<script id="config" type="application/json">"#;
    let start = page.find(open).expect("a config block") + open.len();
    let end = start + page[start..].find("</script>").expect("the block ends");
    let config: serde_json::Value = serde_json::from_str(&page[start..end]).expect("JSON");
    assert_eq!(config["max_message_chars"], 321, "{config}");
}
