//! Usernames that cannot be faked, end to end: a name taken in another case, width or in
//! look-alike letters is refused, mixed scripts are refused with a message that says so, a new
//! name in any one script is accepted, and accounts from before all this keep working.

use chat_e2e::server_process::ServerProcess;
use chat_e2e::{
    PASSWORD, TestServer, credentials, execute_sql, fresh_database, post_json, post_json_at,
    register_and_login,
};
use chat_server::Bus;
use chat_shared::rest::{ApiError, TokenPair, UserInfo};

/// `аlice`: a Cyrillic а, then Latin.
const CYRILLIC_A_LICE: &str = "\u{430}lice";
/// `аӏісе`: every letter Cyrillic (а, palochka, і, с, е), so one script, and just like `alice`.
const ALL_CYRILLIC_ALICE: &str = "\u{430}\u{4cf}\u{456}\u{441}\u{435}";
/// `ａｌｉｃｅ`: fullwidth Latin.
const FULLWIDTH_ALICE: &str = "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}";
/// `раураl`: Cyrillic р, а, у, р, а, then a Latin l.
const MIXED_PAYPAL: &str = "\u{440}\u{430}\u{443}\u{440}\u{430}l";

/// Registers `name` at `base`; the status and the JSON body.
async fn register(base: &str, name: &str) -> (u16, serde_json::Value) {
    let response = post_json_at(base, "/api/register/", &credentials(name, PASSWORD)).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Logs in as `name`; the account the tokens are for.
async fn login(server: &str, name: &str) -> UserInfo {
    let response = post_json_at(server, "/api/token/", &credentials(name, PASSWORD)).await;
    assert_eq!(response.status(), 200, "logging in as {name}");
    let tokens: TokenPair = response.json().await.expect("tokens");
    let me = reqwest::Client::new()
        .get(format!("{server}/api/me/"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .expect("GET /api/me/");
    me.json().await.expect("the account")
}

/// A refusal in the usual `{detail, code}` shape.
fn assert_refused(answer: &(u16, serde_json::Value), status: u16, code: &str, words: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    let error: ApiError = serde_json::from_value(answer.1.clone()).expect("{detail, code}");
    assert_eq!(error.code, code, "{error:?}");
    assert!(error.detail.contains(words), "{error:?}");
}

#[tokio::test]
async fn names_like_a_taken_one_are_refused() {
    let server = TestServer::start().await;
    let base = server.http_url();
    let (alice, _) = register_and_login(&server, "alice").await;
    for name in [
        "ALICE",
        "Alice",
        FULLWIDTH_ALICE,
        ALL_CYRILLIC_ALICE,
        "aIice",
    ] {
        let answer = register(&base, name).await;
        assert_refused(&answer, 409, "conflict", "already exists");
    }
    // Mixed, so refused for that before anything is compared.
    let answer = register(&base, CYRILLIC_A_LICE).await;
    assert_refused(&answer, 400, "invalid", "mixes scripts (Cyrillic, Latin)");
    // Login compares folded names: another case or width is alice's own name.
    assert_eq!(login(&base, "ALICE").await.id, alice.id);
    assert_eq!(login(&base, FULLWIDTH_ALICE).await.id, alice.id);
    let look_alike = post_json(
        &server,
        "/api/token/",
        &credentials(ALL_CYRILLIC_ALICE, PASSWORD),
    )
    .await;
    assert_eq!(look_alike.status(), 401, "a look-alike is not alice");
}

#[tokio::test]
async fn mixed_scripts_are_refused_and_one_script_is_welcome() {
    let server = TestServer::start().await;
    let base = server.http_url();
    let answer = register(&base, MIXED_PAYPAL).await;
    assert_refused(&answer, 400, "invalid", "mixes scripts (Cyrillic, Latin)");
    let answer = register(&base, "山田taro").await;
    assert_refused(&answer, 400, "invalid", "mixes scripts (Han, Latin)");
    let decomposed = "jose\u{301}";
    for name in ["иван", "山田", "josé", "やまだ太郎", "Ελένη", "हिन्दी"]
    {
        let (user, _) = register_and_login(&server, name).await;
        assert_eq!(user.username, name, "shown as registered");
        assert_eq!(login(&base, name).await.id, user.id);
    }
    // The same josé with its accent as a combining mark: the same name.
    assert_refused(&register(&base, decomposed).await, 409, "conflict", "");
    assert_eq!(login(&base, decomposed).await.username, "josé");
    let answer = register(&base, "\u{301}jose").await;
    assert_refused(&answer, 400, "invalid", "combining mark");
}

#[tokio::test]
async fn two_instances_never_both_take_alike_names() {
    let servers = TestServer::cluster(2).await;
    let (a, b) = (servers[0].http_url(), servers[1].http_url());
    for (first, second) in [
        ("bob", "b0b"),
        ("coca", "\u{441}\u{43e}\u{441}\u{430}"),
        ("carol", "CAROL"),
        ("modern", "rnodern"),
    ] {
        let (one, two) = tokio::join!(register(&a, first), register(&b, second));
        let mut statuses = [one.0, two.0];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{first} / {second}: {one:?} {two:?}");
    }
}

#[tokio::test]
async fn accounts_that_collide_from_before_keep_working_and_are_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(dir.path()).await;
    let server = TestServer::start_on_url(&url, &[], Bus::Local).await;
    let (alice, _) = register_and_login(&server, "alice").await;
    server.stop().await;
    // Accounts made under the old rules (a unique lower-case name only), with alice's password,
    // and no keys, as the migration leaves every account.
    let insert = |name: &str| {
        format!(
            "INSERT INTO users (username, username_key, password_hash, created_at)
             SELECT '{name}', '{name}', password_hash, created_at FROM users WHERE id = $1"
        )
    };
    execute_sql(&url, &insert(CYRILLIC_A_LICE), &[alice.id]).await;
    execute_sql(&url, &insert(FULLWIDTH_ALICE), &[alice.id]).await;
    let unkeyed = "UPDATE users SET username_fold = NULL, username_skeleton = NULL";
    assert_eq!(execute_sql(&url, unkeyed, &[]).await, 3);

    let log = dir.path().join("server.log");
    let server = ServerProcess::start_url(&url, &log, &["--log-format", "json"], &[]).await;
    let base = server.http_url();
    let cyrillic = login(&base, CYRILLIC_A_LICE).await;
    let fullwidth = login(&base, FULLWIDTH_ALICE).await;
    assert_eq!(cyrillic.username, CYRILLIC_A_LICE);
    assert_eq!(fullwidth.username, FULLWIDTH_ALICE);
    // The name in lower case, the rule these accounts were made under, picks among them.
    assert_eq!(login(&base, "alice").await.id, alice.id);
    assert_eq!(login(&base, "ALICE").await.id, alice.id);
    assert_ne!(cyrillic.id, alice.id);
    assert_ne!(fullwidth.id, alice.id);

    let mut reported: Vec<(String, String)> = server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["level"] == "WARN")
        .map(|entry| entry["fields"].clone())
        .filter(|fields| fields["message"].as_str().unwrap_or("").contains("collide"))
        .map(|fields| (fields["key"].to_string(), fields["user_ids"].to_string()))
        .collect();
    reported.sort();
    let ids = |ids: &[i64]| format!("\"{ids:?}\"");
    assert_eq!(
        reported,
        [
            ("\"fold\"".to_string(), ids(&[alice.id, fullwidth.id])),
            (
                "\"skeleton\"".to_string(),
                ids(&[alice.id, cyrillic.id, fullwidth.id])
            ),
        ],
        "{}",
        server.log()
    );
    // New names like theirs are still refused.
    let answer = register(&base, "Alice").await;
    assert_refused(&answer, 409, "conflict", "already exists");
}
