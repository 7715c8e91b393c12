//! The `chat` binary's everyday scripting end to end (issue 19): text from standard input or a
//! file, error codes as the protocol spells them, history paged through, unread counts and
//! shell completions. Each person is a config directory (`CHAT_CONFIG_DIR`) of the real binary.

use chat_e2e::cli::{User, nowhere};
use chat_e2e::{Person, TestServer};

/// The contents of the conversation's messages, as `history --json` has them.
async fn contents(user: &User, with: &str) -> Vec<String> {
    let page = user.json_lines(&["history", "--with", with]).await;
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
    let (alice, _) = User::registered(&server, "alice").await;
    let (_bob, bob_name) = User::registered(&server, "bob").await;

    // No text and a pipe: standard input, one final line break dropped.
    let piped = alice
        .chat(&["send", "--to", &bob_name], "hi from a pipe\n")
        .await;
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(
        piped.stdout.contains(": hi from a pipe (sent)"),
        "{piped:?}"
    );
    // `-` reads standard input too, several lines kept as they are.
    let dash = alice
        .chat(&["send", "--to", &bob_name, "-"], "line one\nline two\n")
        .await;
    assert_eq!(dash.code, 0, "{dash:?}");
    let file = alice.config.path().join("note.txt");
    std::fs::write(&file, "from a file\n").expect("write");
    let path = file.display().to_string();
    let from_file = alice
        .chat(&["send", "--to", &bob_name, "--file", &path], "")
        .await;
    assert_eq!(from_file.code, 0, "{from_file:?}");
    assert_eq!(
        contents(&alice, &bob_name).await,
        ["hi from a pipe", "line one\nline two", "from a file"]
    );

    // 51 characters (of two bytes each) are refused before anything is sent.
    std::fs::write(&file, "é".repeat(51)).expect("write");
    let long = alice
        .chat(&["send", "--to", &bob_name, "--file", &path], "")
        .await;
    assert_eq!(long.code, 2, "{long:?}");
    assert!(
        long.stderr
            .contains("the message is 51 characters long; the server accepts at most 50"),
        "{long:?}"
    );
    let long = alice
        .chat(&["send", "--to", &bob_name], &"x".repeat(51))
        .await;
    assert_eq!(long.code, 2, "{long:?}");
    assert_eq!(contents(&alice, &bob_name).await.len(), 3);

    // Usage mistakes: text and a file, a missing file, an empty pipe.
    let both = alice
        .chat(&["send", "--to", &bob_name, "hi", "--file", &path], "")
        .await;
    assert_eq!(both.code, 2, "{both:?}");
    let missing = alice
        .chat(&["send", "--to", &bob_name, "--file", "/no/such/file"], "")
        .await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("cannot read /no/such/file"),
        "{missing:?}"
    );
    let empty = alice.chat(&["send", "--to", &bob_name], "").await;
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(empty.stderr.contains("the message is empty"), "{empty:?}");

    // Nobody by that name; no server at all.
    let nobody = alice.chat(&["send", "--to", "nobody-at-all"], "hi\n").await;
    assert_eq!(nobody.code, 2, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no user named nobody-at-all"),
        "{nobody:?}"
    );
    server.stop().await;
    let down = alice.chat(&["send", "--to", &bob_name], "hi\n").await;
    assert_eq!(down.code, 2, "{down:?}");
    assert!(down.stderr.contains("cannot reach the server"), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_name_the_protocols_codes() {
    let server = TestServer::start_with(&["--max-message-chars", "50"]).await;
    let (alice, _) = User::registered(&server, "alice").await;
    let (_bob, bob_name) = User::registered(&server, "bob").await;
    let sent = alice
        .json_lines(&["send", "--to", &bob_name, "hello"])
        .await;
    let id = sent[0]["id"].to_string();

    // The edit is checked by the server only: its refusal carries the code as on the wire.
    let long = "y".repeat(51);
    let edit = alice.chat(&["edit", &id, &long], "").await;
    assert_eq!(edit.code, 2, "{edit:?}");
    assert!(edit.stderr.contains("(invalid_content)"), "{edit:?}");
    assert!(!edit.stderr.contains("InvalidContent"), "{edit:?}");
    let reply = alice
        .chat(
            &["send", "--to", &bob_name, "x", "--reply-to", "999999"],
            "",
        )
        .await;
    assert_eq!(reply.code, 2, "{reply:?}");
    assert!(reply.stderr.contains("(not_found)"), "{reply:?}");
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
    let (alice, _) = User::registered(&server, "alice").await;
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
        .chat(&["history", "--with", &bob.name, "--all"], "")
        .await;
    assert_eq!(all.code, 0, "{all:?}");
    assert_eq!(all.stdout.lines().count(), 24, "{all:?}");
    // `[time] #id sender: m0 (sent)`, in order.
    for (line, text) in all.stdout.lines().zip(&expected) {
        assert!(line.contains(&format!(": {text} (")), "{line} for {text}");
    }
    assert_eq!(all.stderr, "");

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
        .chat(&["history", "--with", &bob.name, "--limit", "5"], "")
        .await;
    assert_eq!(newest.code, 0, "{newest:?}");
    assert_eq!(newest.stdout.lines().count(), 5);
    let next = ids[24 - 5].to_string();
    assert_eq!(
        newest.stderr,
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
        .chat(
            &["history", "--with", &bob.name, "--all", "--before", &next],
            "",
        )
        .await;
    assert_eq!(before.stdout.lines().count(), 19, "{before:?}");

    let stranger = User::registered(&server, "carol").await.0;
    let none = stranger.chat(&["history", "--with", &bob.name], "").await;
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no conversation with"), "{none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_the_total_and_each_conversation() {
    let server = TestServer::start().await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let (bob, bob_name) = User::registered(&server, "bob").await;
    let (carol, _) = User::registered(&server, "carol").await;

    let nothing = alice.chat(&["unread"], "").await;
    assert_eq!(
        (nothing.code, nothing.stdout.as_str()),
        (0, "0\n"),
        "{nothing:?}"
    );
    for text in ["one", "two"] {
        assert_eq!(
            bob.chat(&["send", "--to", &alice_name, text], "")
                .await
                .code,
            0
        );
    }
    let sent = carol
        .json_lines(&["send", "--to", &alice_name, "three"])
        .await;
    let carols = sent[0]["conversation_id"].as_i64().expect("id");

    let text = alice.chat(&["unread"], "").await;
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
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

    let logged_out = User::new(&server);
    let ran = logged_out.chat(&["unread"], "").await;
    assert_eq!(ran.code, 2, "{ran:?}");
    server.stop().await;
    let down = alice.chat(&["unread"], "").await;
    assert_eq!(down.code, 2, "{down:?}");
    assert!(down.stderr.contains("cannot reach the server"), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_bash_zsh_and_fish_without_any_setup() {
    // No server and an empty config directory: completions need neither.
    let shell = User::at(nowhere());
    let bash = shell.chat(&["completions", "bash"], "").await;
    assert_eq!(bash.code, 0, "{bash:?}");
    assert!(bash.stdout.contains("complete -F _chat"), "{}", bash.stdout);
    assert!(bash.stdout.contains("unread"), "{}", bash.stdout);
    let zsh = shell.chat(&["completions", "zsh"], "").await;
    assert!(zsh.stdout.starts_with("#compdef chat"), "{}", zsh.stdout);
    let fish = shell.chat(&["completions", "fish"], "").await;
    assert!(fish.stdout.contains("complete -c chat"), "{}", fish.stdout);
    let bad = shell.chat(&["completions", "tcsh"], "").await;
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_messages_of_ones_conversations_and_people_by_name() {
    let server = TestServer::start().await;
    let (alice, _) = User::registered(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let sent = alice
        .json_lines(&["send", "--to", &bob.name, "The deploy script is ready"])
        .await;
    let conversation = sent[0]["conversation_id"].as_i64().expect("id");
    let mut b = bob.connect(&server).await;
    b.say(conversation, "Le café: déploie-le").await;
    b.recv_message().await;
    b.say(conversation, "deployed, thanks").await;
    b.recv_message().await;

    // Newest first, the conversation named; the last word as a prefix (`déploie` is no
    // `deploy…`: accents aside, it is `deploie`).
    let found = alice.chat(&["search", "deploy"], "").await;
    assert_eq!(found.code, 0, "{found:?}");
    let lines: Vec<&str> = found.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{found:?}");
    let head = format!("[#{conversation} with {}] ", bob.name);
    assert!(lines.iter().all(|l| l.starts_with(&head)), "{found:?}");
    assert!(lines[0].contains(": deployed, thanks"), "{found:?}");
    assert!(
        lines[1].contains(": The deploy script is ready"),
        "{found:?}"
    );
    // One at most: the notice says more match.
    let one = alice.chat(&["search", "deploy", "--limit", "1"], "").await;
    assert_eq!(one.stdout.lines().count(), 1, "{one:?}");
    assert!(one.stderr.contains("more messages match"), "{one:?}");
    // JSON: the result with its snippet and highlights, by character.
    let hits = alice.json_lines(&["search", "CAFE"]).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["snippet"], "Le café: déploie-le");
    assert_eq!(hits[0]["highlights"], serde_json::json!([[3, 7]]));
    // Only what bob sent, only this conversation.
    let from = alice
        .json_lines(&["search", "deploy", "--from", &bob.name, "--with", &bob.name])
        .await;
    let said: Vec<&str> = from
        .iter()
        .map(|h| h["message"]["content"].as_str().expect("content"))
        .collect();
    assert_eq!(said, ["deployed, thanks"]);
    let none = alice.chat(&["search", "nowhere-to-be-found"], "").await;
    assert_eq!((none.code, none.stdout.as_str()), (0, ""), "{none:?}");
    assert!(none.stderr.contains("no message matches"), "{none:?}");
    let stranger = alice
        .chat(&["search", "x", "--with", "nobody-at-all"], "")
        .await;
    assert_eq!(stranger.code, 2, "{stranger:?}");
    // A query with no words is the server's invalid_field.
    let empty = alice.chat(&["search", "!!"], "").await;
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(empty.stderr.contains("invalid_field"), "{empty:?}");

    // People: `#id name`.
    let people = alice.chat(&["search", "--users", &bob.name], "").await;
    assert_eq!(
        people.stdout,
        format!("#{} {}\n", bob.id, bob.name),
        "{people:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_keep_accounts_and_servers_apart_in_one_config_directory() {
    let (home, work) = (TestServer::start().await, TestServer::start().await);
    // One config directory; the default profile on one server, `work` on the other.
    let (user, alice) = User::registered(&home, "alice").await;
    let bob = chat_e2e::unique_name("bob");
    let work_url = work.http_url();
    let at_work = ["--profile", "work", "--server", work_url.as_str()];
    let run = user
        .chat(
            &[&at_work[..], &["register", &bob, "--password-stdin"]].concat(),
            &format!("{}\n", chat_e2e::cli::CLI_PASSWORD),
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let me = user.json(&["whoami"]).await;
    assert_eq!(
        (me["username"].as_str(), me["server"].as_str()),
        (Some(alice.as_str()), Some(home.http_url().as_str()))
    );
    let whoami = [&at_work[..], &["--json", "whoami"]].concat();
    let run = user.chat(&whoami, "").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["username"].as_str(), Some(bob.as_str()));
    // Each profile keeps its own session file; logging out of one leaves the other.
    let profile_dir = user.config.path().join("profiles").join("work");
    assert!(profile_dir.join("session.toml").exists());
    let logout = [&at_work[..], &["logout"]].concat();
    assert_eq!(user.chat(&logout, "").await.code, 0);
    assert!(!profile_dir.join("session.toml").exists());
    assert_eq!(
        user.json(&["whoami"]).await["username"].as_str(),
        Some(alice.as_str())
    );
    // CHAT_PROFILE names it too; a name that is not one folder is refused before anything.
    let run = user
        .chat_env(&["whoami"], "", &[("CHAT_PROFILE", "work")])
        .await;
    assert_eq!(run.code, 2, "logged out of work: {run:?}");
    for bad in ["../escape", ".hidden", "a/b", ""] {
        let run = user.chat(&["--profile", bad, "whoami"], "").await;
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(
            run.stderr.contains("not a profile name"),
            "{bad:?}: {run:?}"
        );
    }
}
