//! The `chat` binary's everyday scripting end to end (issue 19): text from standard input or a
//! file, error codes as the protocol spells them, history paged through, unread counts and
//! shell completions. Each person is a config directory (`CHAT_CONFIG_DIR`) of the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use chat_e2e::{Person, TestServer, unique_name};
use serde_json::Value;

/// How long one run of the binary may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The `chat` binary (`$CHAT_BIN`, or built on first use).
fn chat_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| chat_e2e::workspace_binary("chat-tui", "chat", "CHAT_BIN"))
}

/// Exit code, standard output and standard error of one run.
#[derive(Debug)]
struct Ran {
    code: i32,
    out: String,
    err: String,
}

/// A config directory at one server URL.
struct Shell {
    config: tempfile::TempDir,
    server: String,
}

impl Shell {
    fn at(server: String) -> Shell {
        Shell {
            config: tempfile::tempdir().expect("config dir"),
            server,
        }
    }

    /// A new account registered with `chat register`; its username.
    async fn registered(server: &TestServer, prefix: &str) -> (Shell, String) {
        let shell = Shell::at(server.http_url());
        let name = unique_name(prefix);
        let ran = shell
            .run(
                &["register", &name, "--password-stdin"],
                "a-long-password\n",
            )
            .await;
        assert_eq!(ran.code, 0, "{ran:?}");
        (shell, name)
    }

    /// `chat ARGS` with `stdin` piped in.
    async fn run(&self, args: &[&str], stdin: &str) -> Ran {
        let mut command = Command::new(chat_binary());
        command
            .args(args)
            .env("CHAT_CONFIG_DIR", self.config.path())
            .env("CHAT_SERVER", &self.server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.to_owned();
        let child = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("start chat");
            let mut input = child.stdin.take().expect("stdin");
            let _ = input.write_all(stdin.as_bytes());
            drop(input);
            child.wait_with_output().expect("chat output")
        });
        let output = tokio::time::timeout(RUN_LIMIT, child)
            .await
            .unwrap_or_else(|_| panic!("chat {args:?} ran longer than {RUN_LIMIT:?}"))
            .expect("chat runner");
        Ran {
            code: output.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&output.stdout).into_owned(),
            err: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `chat --json ARGS`, which must succeed; its standard output as JSON lines.
    async fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let args: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        let ran = self.run(&args, "").await;
        assert_eq!(ran.code, 0, "{ran:?}");
        ran.out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// A URL where no server listens.
fn nowhere() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

/// The contents of the conversation's messages, as `history --json` has them.
async fn contents(shell: &Shell, with: &str) -> Vec<String> {
    let page = shell.json_lines(&["history", "--with", with]).await;
    page[0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_standard_input_or_a_file_and_refuses_too_long_text_before_sending() {
    let server = TestServer::start_with(&["--max-message-chars", "50"]).await;
    let (alice, _) = Shell::registered(&server, "alice").await;
    let (_bob, bob_name) = Shell::registered(&server, "bob").await;

    // No text and a pipe: standard input, one final line break dropped.
    let piped = alice
        .run(&["send", "--to", &bob_name], "hi from a pipe\n")
        .await;
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(piped.out.contains(": hi from a pipe (sent)"), "{piped:?}");
    // `-` reads standard input too, several lines kept as they are.
    let dash = alice
        .run(&["send", "--to", &bob_name, "-"], "line one\nline two\n")
        .await;
    assert_eq!(dash.code, 0, "{dash:?}");
    let file = alice.config.path().join("note.txt");
    std::fs::write(&file, "from a file\n").expect("write");
    let path = file.display().to_string();
    let from_file = alice
        .run(&["send", "--to", &bob_name, "--file", &path], "")
        .await;
    assert_eq!(from_file.code, 0, "{from_file:?}");
    assert_eq!(
        contents(&alice, &bob_name).await,
        ["hi from a pipe", "line one\nline two", "from a file"]
    );

    // 51 characters (of two bytes each) are refused before anything is sent.
    std::fs::write(&file, "é".repeat(51)).expect("write");
    let long = alice
        .run(&["send", "--to", &bob_name, "--file", &path], "")
        .await;
    assert_eq!(long.code, 2, "{long:?}");
    assert!(
        long.err
            .contains("the message is 51 characters long; the server accepts at most 50"),
        "{long:?}"
    );
    let long = alice
        .run(&["send", "--to", &bob_name], &"x".repeat(51))
        .await;
    assert_eq!(long.code, 2, "{long:?}");
    assert_eq!(contents(&alice, &bob_name).await.len(), 3);

    // Usage mistakes: text and a file, a missing file, an empty pipe.
    let both = alice
        .run(&["send", "--to", &bob_name, "hi", "--file", &path], "")
        .await;
    assert_eq!(both.code, 2, "{both:?}");
    let missing = alice
        .run(&["send", "--to", &bob_name, "--file", "/no/such/file"], "")
        .await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.err.contains("cannot read /no/such/file"),
        "{missing:?}"
    );
    let empty = alice.run(&["send", "--to", &bob_name], "").await;
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(empty.err.contains("the message is empty"), "{empty:?}");

    // Nobody by that name; no server at all.
    let nobody = alice.run(&["send", "--to", "nobody-at-all"], "hi\n").await;
    assert_eq!(nobody.code, 2, "{nobody:?}");
    assert!(
        nobody.err.contains("no user named nobody-at-all"),
        "{nobody:?}"
    );
    server.stop().await;
    let down = alice.run(&["send", "--to", &bob_name], "hi\n").await;
    assert_eq!(down.code, 2, "{down:?}");
    assert!(down.err.contains("cannot reach the server"), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_name_the_protocols_codes() {
    let server = TestServer::start_with(&["--max-message-chars", "50"]).await;
    let (alice, _) = Shell::registered(&server, "alice").await;
    let (_bob, bob_name) = Shell::registered(&server, "bob").await;
    let sent = alice
        .json_lines(&["send", "--to", &bob_name, "hello"])
        .await;
    let id = sent[0]["id"].to_string();

    // The edit is checked by the server only: its refusal carries the code as on the wire.
    let long = "y".repeat(51);
    let edit = alice.run(&["edit", &id, &long], "").await;
    assert_eq!(edit.code, 2, "{edit:?}");
    assert!(edit.err.contains("(invalid_content)"), "{edit:?}");
    assert!(!edit.err.contains("InvalidContent"), "{edit:?}");
    let reply = alice
        .run(
            &["send", "--to", &bob_name, "x", "--reply-to", "999999"],
            "",
        )
        .await;
    assert_eq!(reply.code, 2, "{reply:?}");
    assert!(reply.err.contains("(not_found)"), "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_back_through_everything_and_notices_go_to_standard_error() {
    // Pages of 7: 24 messages take four.
    let flags = [
        "--history-limit",
        "7",
        "--rate-limit-per-second",
        "1000",
        "--rate-limit-burst",
        "1000",
    ];
    let server = TestServer::start_with(&flags).await;
    let (alice, _) = Shell::registered(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let first = alice.json_lines(&["send", "--to", &bob.name, "m0"]).await;
    let conversation = first[0]["conversation_id"].as_i64().expect("id");
    let mut b = bob.connect(&server).await;
    for i in 1..24 {
        b.say(conversation, &format!("m{i}")).await;
        b.recv_message().await;
    }
    let expected: Vec<String> = (0..24).map(|i| format!("m{i}")).collect();

    let all = alice
        .run(&["history", "--with", &bob.name, "--all"], "")
        .await;
    assert_eq!(all.code, 0, "{all:?}");
    assert_eq!(all.out.lines().count(), 24, "{all:?}");
    // `[time] #id sender: m0 (sent)`, in order.
    for (line, text) in all.out.lines().zip(&expected) {
        assert!(line.contains(&format!(": {text} (")), "{line} for {text}");
    }
    assert_eq!(all.err, "");

    let lines = alice
        .json_lines(&["history", "--with", &bob.name, "--all"])
        .await;
    let ids: Vec<i64> = lines
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    let said: Vec<&str> = lines
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(said, expected);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // One page: the notice names the next page and goes to standard error.
    let newest = alice
        .run(&["history", "--with", &bob.name, "--limit", "5"], "")
        .await;
    assert_eq!(newest.code, 0, "{newest:?}");
    assert_eq!(newest.out.lines().count(), 5);
    let next = ids[24 - 5].to_string();
    assert_eq!(
        newest.err,
        format!("(older messages exist; --before {next} or --all shows them)\n")
    );
    let older = alice
        .json_lines(&[
            "history", "--with", &bob.name, "--before", &next, "--limit", "3",
        ])
        .await;
    let said: Vec<&str> = older[0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(said, ["m16", "m17", "m18"]);
    // --all from a message back: everything older, still oldest first.
    let before = alice
        .run(
            &["history", "--with", &bob.name, "--all", "--before", &next],
            "",
        )
        .await;
    assert_eq!(before.out.lines().count(), 19, "{before:?}");

    let stranger = Shell::registered(&server, "carol").await.0;
    let none = stranger.run(&["history", "--with", &bob.name], "").await;
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.err.contains("no conversation with"), "{none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_the_total_and_each_conversation() {
    let server = TestServer::start().await;
    let (alice, alice_name) = Shell::registered(&server, "alice").await;
    let (bob, bob_name) = Shell::registered(&server, "bob").await;
    let (carol, _) = Shell::registered(&server, "carol").await;

    let nothing = alice.run(&["unread"], "").await;
    assert_eq!(
        (nothing.code, nothing.out.as_str()),
        (0, "0\n"),
        "{nothing:?}"
    );
    for text in ["one", "two"] {
        assert_eq!(
            bob.run(&["send", "--to", &alice_name, text], "").await.code,
            0
        );
    }
    let sent = carol
        .json_lines(&["send", "--to", &alice_name, "three"])
        .await;
    let carols = sent[0]["conversation_id"].as_i64().expect("id");

    let text = alice.run(&["unread"], "").await;
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.out.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], "3");
    // Most recent first.
    assert!(
        lines[1].starts_with(&format!("1 #{carols} with ")),
        "{text:?}"
    );
    assert!(
        lines[2].starts_with("2 #") && lines[2].ends_with(&bob_name),
        "{text:?}"
    );

    let json = alice.json_lines(&["unread"]).await;
    assert_eq!(json[0]["total"], 3);
    assert_eq!(json[0]["conversations"][0]["id"], carols);
    assert_eq!(json[0]["conversations"][1]["unread"], 2);
    assert_eq!(json[0]["conversations"][1]["muted"], false);

    let logged_out = Shell::at(server.http_url());
    let ran = logged_out.run(&["unread"], "").await;
    assert_eq!(ran.code, 2, "{ran:?}");
    server.stop().await;
    let down = alice.run(&["unread"], "").await;
    assert_eq!(down.code, 2, "{down:?}");
    assert!(down.err.contains("cannot reach the server"), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_bash_zsh_and_fish_without_any_setup() {
    // No server and an empty config directory: completions need neither.
    let shell = Shell::at(nowhere());
    let bash = shell.run(&["completions", "bash"], "").await;
    assert_eq!(bash.code, 0, "{bash:?}");
    assert!(bash.out.contains("complete -F _chat"), "{}", bash.out);
    assert!(bash.out.contains("unread"), "{}", bash.out);
    let zsh = shell.run(&["completions", "zsh"], "").await;
    assert!(zsh.out.starts_with("#compdef chat"), "{}", zsh.out);
    let fish = shell.run(&["completions", "fish"], "").await;
    assert!(fish.out.contains("complete -c chat"), "{}", fish.out);
    let bad = shell.run(&["completions", "tcsh"], "").await;
    assert_eq!(bad.code, 2, "{bad:?}");
}
