//! Sessions at the command line: the `chat` binary against a server that rotates refresh
//! tokens. Each command refreshes once; the session file must always hold the newest token, even
//! when two commands refresh at the same moment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use chat_e2e::{TestServer, unique_name};
use tokio::sync::mpsc::UnboundedReceiver;

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

/// A `chat` command left running: its output and notices, a line at a time, as they come.
struct Running {
    child: std::process::Child,
    stdout: UnboundedReceiver<String>,
    stderr: UnboundedReceiver<String>,
    /// Every line of output read so far, and every notice.
    output: Vec<String>,
    notices: Vec<String>,
}

/// How long a running command may take to print what a test waits for.
const RUNNING_WAIT: Duration = Duration::from_secs(20);

impl User {
    /// Starts `chat ARGS`, standard input closed.
    fn start(&self, args: &[&str]) -> Running {
        let mut child = Command::new(chat_binary())
            .args(args)
            .env("CHAT_CONFIG_DIR", self.config.path())
            .env("CHAT_SERVER", &self.server)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat");
        let stdout = read_lines(child.stdout.take().expect("stdout"));
        let stderr = read_lines(child.stderr.take().expect("stderr"));
        Running {
            child,
            stdout,
            stderr,
            output: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// The lines of `stream`, read on a thread of their own.
fn read_lines(stream: impl std::io::Read + Send + 'static) -> UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Reads `lines` into `seen` until `done` holds for them; fails when they end or stop coming.
async fn read_until(
    lines: &mut UnboundedReceiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    while !done(seen) {
        match tokio::time::timeout(RUNNING_WAIT, lines.recv()).await {
            Ok(Some(line)) => seen.push(line),
            other => panic!("no line came ({other:?}) after {seen:?}"),
        }
    }
}

impl Running {
    /// Waits for a notice (a line on standard error) containing `text`.
    async fn notice(&mut self, text: &str) {
        read_until(&mut self.stderr, &mut self.notices, |seen| {
            seen.iter().any(|line| line.contains(text))
        })
        .await;
    }

    /// Waits until, for each of `texts`, a line of output contains it; all the output so far.
    async fn output_with(&mut self, texts: &[String]) -> &[String] {
        read_until(&mut self.stdout, &mut self.output, |seen| {
            texts
                .iter()
                .all(|text| seen.iter().any(|line| line.contains(text.as_str())))
        })
        .await;
        &self.output
    }

    /// Every notice printed so far.
    fn notices_now(&mut self) -> &[String] {
        while let Ok(line) = self.stderr.try_recv() {
            self.notices.push(line);
        }
        &self.notices
    }

    /// Waits for the command to end by itself: its exit code and every notice.
    async fn exit(mut self) -> (i32, Vec<String>) {
        let started = tokio::time::Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait for chat") {
                break status.code().unwrap_or(-1);
            }
            if started.elapsed() > RUNNING_WAIT {
                let _ = self.child.kill();
                panic!("chat did not end; notices: {:?}", self.notices_now());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Standard error to its end (the reading thread ends with it).
        while let Some(line) = self.stderr.recv().await {
            self.notices.push(line);
        }
        (code, self.notices)
    }

    /// Ctrl-C, then the exit code and every notice.
    async fn interrupt(self) -> (i32, Vec<String>) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT");
        self.exit().await
    }
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
