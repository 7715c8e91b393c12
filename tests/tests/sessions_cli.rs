//! Sessions at the command line: the `chat` binary against a server that rotates refresh
//! tokens. Each command refreshes once; the session file must always hold the newest token, even
//! when two commands refresh at the same moment.

use std::time::Duration;

use chat_e2e::TestServer;
use chat_e2e::cli::{CLI_PASSWORD, User};

const PASSWORD: &str = CLI_PASSWORD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commands_refreshing_at_once_never_end_the_session() {
    // No grace at all: a retired refresh token presented again ends the session at once, so a
    // command that refreshed with a token another one had just rotated would log both out.
    let server = TestServer::start_with(&[
        "--access-token-lifetime",
        "1s",
        "--refresh-reuse-grace",
        "0s",
    ])
    .await;
    let (alice, _) = User::registered(&server, "alice").await;
    let mut last = alice.stored_refresh();
    for round in 0..8 {
        let (a, b) = tokio::join!(alice.chat(&["whoami"], ""), alice.chat(&["whoami"], ""));
        assert_eq!(a.code, 0, "round {round}: {a:?}");
        assert_eq!(b.code, 0, "round {round}: {b:?}");
        let now = alice.stored_refresh();
        assert_ne!(
            now, last,
            "round {round}: every refresh stores its successor"
        );
        last = now;
    }
    // Later, after the access tokens have expired: still signed in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = alice.chat(&["whoami"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server_then_forgets_it() {
    let server = TestServer::start().await;
    let (alice, name) = User::registered(&server, "alice").await;
    // A second device of the same account.
    let phone = User::new(&server);
    let run = phone.login(&name, PASSWORD).await;
    assert_eq!(run.code, 0, "{run:?}");
    let token = alice.stored_refresh();

    let run = alice.chat(&["logout"], "").await;
    assert_eq!((run.code, run.stdout.trim()), (0, "logged out"), "{run:?}");
    assert!(!alice.config.path().join("session.toml").exists());
    // The server ended that session: its refresh token is refused.
    let refresh = token
        .trim_start_matches("refresh = ")
        .trim_matches('"')
        .to_owned();
    let answer = chat_e2e::post_json(
        &server,
        "/api/token/refresh/",
        &serde_json::json!({ "refresh": refresh }),
    )
    .await;
    assert_eq!(answer.status().as_u16(), 401);
    // The other device goes on.
    let run = phone.chat(&["whoami"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    // Logged out already: nothing to do, no error.
    let run = alice.chat(&["logout"], "").await;
    assert_eq!(run.code, 0, "{run:?}");

    // --all ends the other device's session too.
    let run = alice.login(&name, PASSWORD).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = alice.chat(&["logout", "--all"], "").await;
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, "logged out everywhere"),
        "{run:?}"
    );
    let run = phone.chat(&["whoami"], "").await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("chat login"), "{run:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_forgets_the_session_even_when_the_server_is_gone() {
    let server = TestServer::start().await;
    let (alice, _) = User::registered(&server, "alice").await;
    server.stop().await;
    let run = alice.chat(&["logout"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("the server was not told"), "{run:?}");
    assert!(!alice.config.path().join("session.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_changes_it_keeps_this_session_and_ends_the_others() {
    let server = TestServer::start().await;
    let (alice, name) = User::registered(&server, "alice").await;
    let phone = User::new(&server);
    let run = phone.login(&name, PASSWORD).await;
    assert_eq!(run.code, 0, "{run:?}");

    let run = alice.password("not-the-password\nanother-password\n").await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("password not changed"), "{run:?}");
    let run = alice.password(&format!("{PASSWORD}\nshort\n")).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("password not changed"), "{run:?}");
    let run = alice.password(&format!("{PASSWORD}\n")).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("a password is empty"), "{run:?}");

    let run = alice
        .password(&format!("{PASSWORD}\nanother-password\n"))
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("password changed"), "{run:?}");
    // This session goes on; the other device is signed out; the new password logs in.
    let run = alice.chat(&["whoami"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = phone.chat(&["whoami"], "").await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = phone.login(&name, PASSWORD).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = phone.login(&name, "another-password").await;
    assert_eq!(run.code, 0, "{run:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_in_token_mode_outlives_three_token_lifetimes_and_shows_every_message_once() {
    // Each socket is closed (4001) at its token's `exp` unless renewed with chat.auth.
    let server =
        TestServer::start_with(&["--access-token-lifetime", "2s", "--socket-expiry", "token"])
            .await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let (bob, _) = User::registered(&server, "bob").await;
    let run = bob.chat(&["send", "--to", &alice_name, "hello"], "").await;
    assert_eq!(run.code, 0, "{run:?}");

    let mut tail = alice.start(&["tail"]);
    tail.notice("following events after seq").await;
    let started = tokio::time::Instant::now();
    let mut sent = Vec::new();
    for i in 0..10 {
        let text = format!("still here #{i}.");
        let run = bob.chat(&["send", "--to", &alice_name, &text], "").await;
        assert_eq!(run.code, 0, "{run:?}");
        sent.push(text);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(
        started.elapsed() > Duration::from_secs(6),
        "three lifetimes"
    );
    let lines = tail.output_with(&sent).await.to_vec();
    for text in &sent {
        let shown = lines.iter().filter(|l| l.contains(text.as_str())).count();
        assert_eq!(shown, 1, "{text:?} once in {lines:?}");
    }
    // Renewed in band: never cut off, so never connected again.
    let notices = tail.notices_now();
    assert!(
        !notices.iter().any(|n| n.contains("connect")),
        "{notices:?}"
    );
    let (code, _) = tail.interrupt().await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_ends_with_an_error_when_its_session_is_ended_elsewhere() {
    let server = TestServer::start().await;
    let (alice, name) = User::registered(&server, "alice").await;
    let mut tail = alice.start(&["tail"]);
    tail.notice("following events after seq").await;

    let phone = User::new(&server);
    let run = phone.login(&name, PASSWORD).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = phone.chat(&["logout", "--all"], "").await;
    assert_eq!(run.code, 0, "{run:?}");

    let (code, notices) = tail.exit().await;
    assert_eq!(code, 2, "{notices:?}");
    let last = notices.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.starts_with("chat: the session has ended") && last.contains("chat login"),
        "{notices:?}"
    );
}
