//! Sessions at the command line: the `chat` binary against a server that rotates refresh
//! tokens. Each command refreshes once; the session file must always hold the newest token, even
//! when two commands refresh at the same moment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use chat_e2e::{TestServer, unique_name};

const PASSWORD: &str = "a-long-password";

fn chat_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| chat_e2e::workspace_binary("chat-tui", "chat", "CHAT_BIN"))
}

/// One person at the command line: their own config directory.
struct User {
    config: tempfile::TempDir,
    server: String,
}

/// What one run of `chat` did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl User {
    fn new(server: &TestServer) -> User {
        User {
            config: tempfile::tempdir().expect("config dir"),
            server: server.http_url(),
        }
    }

    /// `chat ARGS` with `stdin`, to its end (the command's own timeouts bound it).
    async fn chat(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = Command::new(chat_binary());
        command
            .args(args)
            .env("CHAT_CONFIG_DIR", self.config.path())
            .env("CHAT_SERVER", &self.server)
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_USERNAME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.to_owned();
        let output: Output = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().expect("start chat");
            let mut input = child.stdin.take().expect("stdin");
            let _ = input.write_all(stdin.as_bytes());
            drop(input);
            child.wait_with_output().expect("chat output")
        })
        .await
        .expect("chat runner");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Registers `prefix…` and logs in; the username.
    async fn registered(server: &TestServer, prefix: &str) -> (User, String) {
        let user = User::new(server);
        let name = unique_name(prefix);
        let run = user
            .chat(
                &["register", &name, "--password-stdin"],
                &format!("{PASSWORD}\n"),
            )
            .await;
        assert_eq!(run.code, 0, "{run:?}");
        (user, name)
    }

    /// `chat login NAME --password-stdin` with `password`.
    async fn login(&self, name: &str, password: &str) -> Run {
        self.chat(
            &["login", name, "--password-stdin"],
            &format!("{password}\n"),
        )
        .await
    }

    /// `chat password --password-stdin` with these lines.
    async fn password(&self, lines: &str) -> Run {
        self.chat(&["password", "--password-stdin"], lines).await
    }

    /// The refresh token in the session file.
    fn stored_refresh(&self) -> String {
        let text =
            std::fs::read_to_string(self.config.path().join("session.toml")).expect("session file");
        let line = text
            .lines()
            .find(|l| l.starts_with("refresh"))
            .expect("a refresh line");
        line.to_owned()
    }
}

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
