//! The `chat` binary's scripting subcommands end to end: the real binary as a child process
//! against a real server, each person with their own config directory (`CHAT_CONFIG_DIR`).
//!
//! The binary is `$CHAT_BIN` when set; otherwise it is built once with the `cargo` that runs
//! these tests, into the same target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chat_e2e::cli::{Run, User, chat_binary, workspace_root};
use chat_e2e::{PASSWORD, TestServer, register_and_login, unique_name};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_register_login_whoami_and_logout() {
    let server = TestServer::start().await;
    let alice = User::new(&server);
    let name = unique_name("alice");

    let me = alice.register(&name).await;
    assert_eq!(me["username"], name.as_str());
    assert!(me["id"].as_i64().is_some(), "{me}");

    let whoami = alice.chat(&["--json", "whoami"], "").await;
    assert_eq!(whoami.code, 0, "{whoami:?}");
    assert_eq!(whoami.json()["id"], me["id"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let session = alice.config.path().join("session.toml");
        let mode = std::fs::metadata(&session)
            .expect("session file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&session).expect("session text");
        assert!(
            !text.contains("a-long-password"),
            "the password must not be stored"
        );
    }

    let taken = alice
        .chat(
            &["register", &name.to_uppercase(), "--password-stdin"],
            "another-password\n",
        )
        .await;
    assert_eq!(taken.code, 2, "{taken:?}");
    assert!(taken.stderr.contains("taken"), "{taken:?}");

    let bad_name = alice
        .chat(
            &["register", "no spaces allowed", "--password-stdin"],
            "a-long-password\n",
        )
        .await;
    assert_eq!(bad_name.code, 2, "{bad_name:?}");
    assert!(bad_name.stderr.contains("rejected"), "{bad_name:?}");

    let wrong = alice
        .chat(&["login", &name, "--password-stdin"], "wrong-password\n")
        .await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("not authorized"), "{wrong:?}");

    // Without --password-stdin and with no terminal, the password comes from the environment.
    let no_source = alice.chat(&["login", &name], "").await;
    assert_eq!(no_source.code, 2, "{no_source:?}");
    assert!(
        no_source.stderr.contains("--password-stdin"),
        "{no_source:?}"
    );
    let from_env = alice
        .chat_env(
            &["login", &name],
            "",
            &[("CHAT_PASSWORD", "a-long-password")],
        )
        .await;
    assert_eq!(from_env.code, 0, "{from_env:?}");
    assert!(from_env.stdout.contains(&name), "{from_env:?}");

    let out = alice.chat(&["logout"], "").await;
    assert_eq!(out.code, 0, "{out:?}");
    let gone = alice.chat(&["whoami"], "").await;
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.stderr.contains("chat login"), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_then_history_and_conversations_on_both_sides() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new(&server), User::new(&server));
    let (alice_name, bob_name) = (unique_name("alice"), unique_name("Bob"));
    let alice_me = alice.register(&alice_name).await;
    let bob_me = bob.register(&bob_name).await;

    // The name matches case-insensitively; several words become one message.
    let sent = alice
        .chat(
            &[
                "--json",
                "send",
                "--to",
                &bob_name.to_lowercase(),
                "hello",
                "there",
            ],
            "",
        )
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let message = sent.json();
    assert_eq!(message["content"], "hello there");
    assert_eq!(message["sender"]["id"], alice_me["id"]);
    let conversation_id = message["conversation_id"].clone();

    let again = alice.chat(&["send", "--to", &bob_name, "second"], "").await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains(&format!("{alice_name}: second")),
        "{again:?}"
    );

    let history = bob
        .chat(&["--json", "history", "--with", &alice_name], "")
        .await;
    assert_eq!(history.code, 0, "{history:?}");
    let history = history.json();
    assert_eq!(history["conversation_id"], conversation_id);
    let contents: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(contents, ["hello there", "second"]);
    assert_eq!(history["has_more"], false);

    let newest = bob
        .chat(
            &["--json", "history", "--with", &alice_name, "--limit", "1"],
            "",
        )
        .await;
    let newest = newest.json();
    assert_eq!(newest["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(newest["messages"][0]["content"], "second");
    assert_eq!(newest["has_more"], true);

    let listed = bob.chat(&["--json", "conversations"], "").await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let listed = listed.json();
    assert_eq!(listed[0]["id"], conversation_id);
    assert_eq!(listed[0]["unread_count"], 2);
    assert_eq!(listed[0]["last_message"]["content"], "second");

    let text = bob.chat(&["conversations"], "").await;
    assert!(
        text.stdout
            .contains(&format!("with {alice_name} [2 unread]")),
        "{text:?}"
    );

    let nobody = alice
        .chat(&["send", "--to", "nobody-at-all", "hi"], "")
        .await;
    assert_eq!(nobody.code, 2, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no user named nobody-at-all"),
        "{nobody:?}"
    );

    let stranger = User::new(&server);
    stranger.register(&unique_name("carol")).await;
    let none = stranger.chat(&["history", "--with", &bob_name], "").await;
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no conversation with"), "{none:?}");
    let _ = bob_me;
}

/// Renames a user straight in the database, as an operator (or an older server without the
/// username rules) could: the clients must cope with any name the server hands them.
async fn rename_user(server: &TestServer, user_id: i64, name: &str) {
    use sqlx::Connection;
    const RENAME: &str = "UPDATE users SET username = $1 WHERE id = $2";
    let renamed = if server.database_url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&server.database_url)
            .await
            .expect("open the database");
        let done = sqlx::query(RENAME)
            .bind(name)
            .bind(user_id)
            .execute(&mut db);
        done.await.expect("rename").rows_affected()
    } else {
        let mut db = sqlx::SqliteConnection::connect(&server.database_url)
            .await
            .expect("open the database");
        let done = sqlx::query(RENAME)
            .bind(name)
            .bind(user_id)
            .execute(&mut db);
        done.await.expect("rename").rows_affected()
    };
    assert_eq!(renamed, 1);
}

/// Control characters in text output other than the newlines between lines.
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_neutralises_escape_sequences_and_json_stays_exact() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new(&server), User::new(&server));
    let alice_name = unique_name("alice");
    let bob_name = unique_name("bob");
    alice.register(&alice_name).await;
    let bob_me = bob.register(&bob_name).await;
    // A window title change (OSC … BEL), clear screen (CSI), a bare carriage return that would
    // overwrite the line, a bell, and C1 CSI / OSC.
    let content = "hi\u{1b}]0;owned\u{7} \u{1b}[2J\rfake \u{7}bell \u{9b}31mred\u{9d}0;t";
    let shown =
        "hi\u{FFFD}]0;owned\u{FFFD} \u{FFFD}[2J\u{FFFD}fake \u{FFFD}bell \u{FFFD}31mred\u{FFFD}0;t";

    let sent = bob.chat(&["send", "--to", &alice_name, content], "").await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(controls(&sent.stdout), Vec::<char>::new(), "{sent:?}");
    assert!(
        sent.stdout.contains(&format!("{bob_name}: {shown} (sent)")),
        "{sent:?}"
    );

    let sent = bob
        .chat(&["--json", "send", "--to", &alice_name, content], "")
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json()["content"], content);

    let evil_name = format!("{bob_name}\u{1b}[31m\u{9b}2J\u{7}");
    let evil_shown = format!("{bob_name}\u{FFFD}[31m\u{FFFD}2J\u{FFFD}");
    let bob_id = bob_me["id"].as_i64().expect("bob's id");
    rename_user(&server, bob_id, &evil_name).await;

    let history = alice.chat(&["history", "--with", &evil_name], "").await;
    assert_eq!(history.code, 0, "{history:?}");
    assert_eq!(controls(&history.stdout), Vec::<char>::new(), "{history:?}");
    assert!(
        history
            .stdout
            .matches(&format!("{evil_shown}: {shown} ("))
            .count()
            == 2,
        "{history:?}"
    );
    let listed = alice.chat(&["conversations"], "").await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(controls(&listed.stdout), Vec::<char>::new(), "{listed:?}");
    assert!(
        listed.stdout.contains(&format!(
            "with {evil_shown} [2 unread]: {evil_shown}: {shown}"
        )),
        "{listed:?}"
    );

    // JSON keeps every byte as the server sent it.
    let history = alice
        .chat(&["--json", "history", "--with", &evil_name], "")
        .await;
    assert_eq!(history.code, 0, "{history:?}");
    let history = history.json();
    assert_eq!(history["messages"][0]["content"], content);
    assert_eq!(
        history["messages"][0]["sender"]["username"],
        evil_name.as_str()
    );
    let listed = alice.chat(&["--json", "conversations"], "").await.json();
    assert_eq!(listed[0]["last_message"]["content"], content);
    assert_eq!(
        listed[0]["last_message"]["sender_username"],
        evil_name.as_str()
    );
    let names: Vec<&str> = listed[0]["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["user__username"].as_str())
        .collect();
    assert!(names.contains(&evil_name.as_str()), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipe_sends_lines_and_prints_every_frame_as_a_line() {
    let server = TestServer::start().await;
    let alice = User::new(&server);
    alice.register(&unique_name("alice")).await;
    let (bob, _) = register_and_login(&server, &unique_name("bob")).await;

    let input = format!(
        "{}\nnot json\n\n{}\n",
        serde_json::json!({"type": "chat.search_user", "keyword": bob.username}),
        serde_json::json!({"type": "chat.get_conversations"}),
    );
    let run = alice.chat(&["pipe", "--linger-ms", "500"], &input).await;
    assert_eq!(run.code, 0, "{run:?}");
    let frames = run.lines();
    assert_eq!(frames.len(), 3, "{run:?}");
    assert_eq!(frames[0]["type"], "chat.search_results");
    assert_eq!(frames[0]["results"][0]["id"], bob.id);
    assert_eq!(frames[1]["type"], "chat.error");
    assert_eq!(frames[1]["code"], "invalid_json");
    assert_eq!(frames[2]["type"], "chat.conversations");
    let _ = PASSWORD;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_checks_pass_twice_and_write_junit() {
    let server = TestServer::start().await;
    let runner = User::new(&server);
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("examples/checks"))
        .expect("examples/checks")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "{scripts:?}");
    let junit = runner.config.path().join("junit.xml");
    let mut args: Vec<String> = vec![
        "check".into(),
        "--junit".into(),
        junit.display().to_string(),
    ];
    args.extend(scripts.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    for round in 0..2 {
        // The second round proves the scripts re-run on the same server ({run} names).
        let run = runner.chat(&args, "").await;
        assert_eq!(run.code, 0, "round {round}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains(&format!("check: {} passed, 0 failed", scripts.len())),
            "{}",
            run.stdout
        );
    }
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(xml.contains("<testsuites"), "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    assert_eq!(
        xml.matches("<testsuite ").count(),
        scripts.len(),
        "one suite per script"
    );
}

/// A script whose third step (line 15) expects the wrong value of `is_typing`; CI's
/// `.ci/checks.sh` runs the same file.
const WRONG: &str = include_str!("../data/wrong-check.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_script_fails_naming_its_step_with_expected_and_arrived() {
    let server = TestServer::start().await;
    let runner = User::new(&server);
    let script = runner.config.path().join("wrong.toml");
    std::fs::write(&script, WRONG).expect("write script");
    let junit = runner.config.path().join("junit.xml");
    let script_arg = script.display().to_string();
    let junit_arg = junit.display().to_string();

    let run = runner
        .chat(&["check", &script_arg, "--junit", &junit_arg], "")
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "FAIL    3 bob sees alice stop typing ({script_arg}:15)"
        )),
        "{out}"
    );
    assert!(out.contains("no matching frame within 700 ms"), "{out}");
    assert!(
        out.contains(r#"expected: {"type":"chat.typing","is_typing":false"#),
        "{out}"
    );
    // The frame that arrived, as the server relays it (naming the conversation).
    assert!(
        out.contains(r#"{"type":"chat.typing","conversation_id":"#)
            && out.contains(r#""is_typing":true,"sender_id":"#),
        "{out}"
    );
    assert!(
        out.contains("/is_typing: expected false, got true"),
        "{out}"
    );
    assert!(
        out.contains("skip    4 bob sends chat.get_conversations"),
        "{out}"
    );
    assert!(out.contains("step 3 of 4 (line 15)"), "{out}");
    assert!(out.contains("check: 0 passed, 1 failed"), "{out}");

    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(xml.contains(r#"failures="1""#), "{xml}");
    assert!(
        xml.contains("step 3 (line 15): no matching frame within 700 ms"),
        "{xml}"
    );
    assert!(xml.contains("<skipped/>"), "{xml}");

    let json = runner.chat(&["--json", "check", &script_arg], "").await;
    assert_eq!(json.code, 1, "{json:?}");
    let report = json.json();
    assert_eq!(report["failed"], 1);
    let steps = &report["files"][0]["steps"];
    assert_eq!(steps[2]["status"], "failed");
    assert_eq!(steps[2]["line"], 15);
    assert_eq!(steps[3]["status"], "skipped");
}

/// Two ways to fail besides a missing frame: an unwanted frame, and the server closing early.
const UNWANTED: &str = r#"
[actors.alice]
[actors.bob]

[[steps]]
actor = "alice"
send = { type = "chat.start_conversation", receiver_id = "{bob.id}" }
expect = "chat.conversation_started"
capture = { conv = "/conversation/id" }

[[steps]]
actor = "alice"
send = { type = "chat.message", conversation_id = "{conv}", content = "hi" }

[[steps]]
name = "bob wrongly expects silence"
actor = "bob"
expect_none = "chat.message"
within_ms = 2000
"#;

const STILL_OPEN: &str = r#"
[actors.alice]

[[steps]]
name = "alice wrongly expects to be thrown out"
actor = "alice"
expect_close = 4001
timeout_ms = 300
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwanted_frames_open_connections_and_failed_setup_are_reported() {
    let server = TestServer::start().await;
    let runner = User::new(&server);
    let dir = runner.config.path();
    let unwanted = dir.join("unwanted.toml");
    let still_open = dir.join("still_open.toml");
    std::fs::write(&unwanted, UNWANTED).expect("write");
    std::fs::write(&still_open, STILL_OPEN).expect("write");

    let run = runner
        .chat(&["check", &unwanted.display().to_string()], "")
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("FAIL    3 bob wrongly expects silence"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(r#"expected no frame matching {"type":"chat.message"} within 2000 ms, but got: {"type":"chat.message""#),
        "{}",
        run.stdout
    );

    let run = runner
        .chat(&["check", &still_open.display().to_string()], "")
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("the connection was still open after 300 ms"),
        "{}",
        run.stdout
    );

    // A fixed username registers once; the second run of the same script cannot set up.
    let fixed = dir.join("fixed.toml");
    let name = unique_name("fixed");
    std::fs::write(
        &fixed,
        format!("[actors.a]\nusername = \"{name}\"\n\n[[steps]]\nactor = \"a\"\nsend = {{ type = \"chat.get_conversations\" }}\nexpect = \"chat.conversations\"\n"),
    )
    .expect("write");
    let fixed_arg = fixed.display().to_string();
    let first = runner.chat(&["check", &fixed_arg], "").await;
    assert_eq!(first.code, 0, "{first:?}");
    let junit = dir.join("setup.xml");
    let second = runner
        .chat(
            &["check", &fixed_arg, "--junit", &junit.display().to_string()],
            "",
        )
        .await;
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second.stdout.contains(&format!(
            "ERROR setting up actors: actor a: cannot register \"{name}\": username taken"
        )),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("put {run} in usernames"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("skip    1"), "{}", second.stdout);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains(r#"<testcase name="setup""#), "{xml}");
    assert!(xml.contains("<error"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_connection_errors_exit_2() {
    let server = TestServer::start().await;
    let user = User::new(&server);

    let invalid = user.config.path().join("invalid.toml");
    std::fs::write(
        &invalid,
        "[actors.a]\n\n[[steps]]\nactor = \"zed\"\nsend = {}\n",
    )
    .expect("write");
    let run = user
        .chat(&["check", &invalid.display().to_string()], "")
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("step 1 (line 3): no actor \"zed\""),
        "{run:?}"
    );

    let missing = user.chat(&["check", "/no/such/script.toml"], "").await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stdout.contains("cannot read /no/such/script.toml"),
        "{missing:?}"
    );

    let no_target = user.chat(&["send", "hello"], "").await;
    assert_eq!(no_target.code, 2, "{no_target:?}");
    assert!(no_target.stderr.contains("--to"), "{no_target:?}");

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let unreachable = user
        .chat(
            &[
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "login",
                "x",
                "--password-stdin",
            ],
            "a-long-password\n",
        )
        .await;
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("cannot reach the server"),
        "{unreachable:?}"
    );
    let script = workspace_root().join("examples/checks/auth.toml");
    let no_server = user
        .chat(
            &[
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "check",
                &script.display().to_string(),
            ],
            "",
        )
        .await;
    assert_eq!(no_server.code, 2, "{no_server:?}");
    assert!(
        no_server.stderr.contains("cannot reach the server"),
        "{no_server:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_create_send_history_rename_add_remove_and_leave() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = (
        User::new(&server),
        User::new(&server),
        User::new(&server),
        User::new(&server),
    );
    let alice_name = unique_name("alice");
    let bob_name = unique_name("bob");
    let carol_name = unique_name("carol");
    let dave_name = unique_name("dave");
    let alice_me = alice.register(&alice_name).await;
    let bob_me = bob.register(&bob_name).await;
    let carol_me = carol.register(&carol_name).await;
    dave.register(&dave_name).await;

    // Usernames resolve case-insensitively, as for --to; the answer is the group object.
    let members = format!("{},{carol_name}", bob_name.to_uppercase());
    let group = alice
        .json(&["group", "create", "Deploys", "--members", &members])
        .await;
    assert_eq!(group["kind"], "group");
    assert_eq!(group["title"], "Deploys");
    assert_eq!(group["member_count"], 3);
    let roles: Vec<(&Value, &str)> = group["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|m| (&m["id"], m["role"].as_str().expect("role")))
        .collect();
    assert_eq!(
        roles,
        [
            (&alice_me["id"], "owner"),
            (&bob_me["id"], "member"),
            (&carol_me["id"], "member")
        ]
    );
    let id = group["id"].as_i64().expect("group id");
    let id_text = id.to_string();

    // Members send by title (any case) and by id; everyone reads the same history.
    let sent = bob
        .chat(&["send", "--group", "deploys", "shipping", "now"], "")
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(
        sent.stdout
            .contains(&format!("{bob_name}: shipping now (sent)")),
        "{sent:?}"
    );
    let sent = carol
        .json(&["send", "--group", &format!("#{id}"), "ok"])
        .await;
    assert_eq!(sent["conversation_id"], id);

    let history = alice.json(&["history", "--group", &id_text]).await;
    assert_eq!(history["conversation_id"], id);
    let messages = history["messages"].as_array().expect("messages");
    let kinds: Vec<(bool, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["is_system"] == true,
                m["content"].as_str().expect("content"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (
                true,
                format!("{alice_name} created the group \u{201c}Deploys\u{201d}").as_str()
            ),
            (false, "shipping now"),
            (false, "ok")
        ]
    );
    let text = alice.chat(&["history", "--group", "Deploys"], "").await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "* {alice_name} created the group \u{201c}Deploys\u{201d}"
        )),
        "{text:?}"
    );
    assert!(
        text.stdout.contains(&format!("{carol_name}: ok")),
        "{text:?}"
    );

    // The list shows the group's title and size; --json is the server's item.
    let listed = alice.chat(&["conversations"], "").await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(
        listed.stdout.contains(&format!(
            "#{id} \u{201c}Deploys\u{201d} (3 members) [2 unread]: {carol_name}: ok"
        )),
        "{listed:?}"
    );
    let listed = alice.json(&["conversations"]).await;
    let item = &listed[0];
    assert_eq!(item["id"], id);
    assert_eq!(
        (
            &item["kind"],
            &item["title"],
            &item["member_count"],
            &item["muted"]
        ),
        (
            &Value::from("group"),
            &Value::from("Deploys"),
            &Value::from(3),
            &Value::from(false)
        )
    );
    assert_eq!(item["participants"][0]["user__id"], alice_me["id"]);
    assert_eq!(item["participants"][0]["role"], "owner");

    // A member may not rename: the refusal names the protocol's code.
    let refused = bob.chat(&["group", "rename", "Deploys", "Mine"], "").await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("the server refused chat.rename_group")
            && refused.stderr.contains("(forbidden)"),
        "{refused:?}"
    );
    let renamed = alice
        .chat(&["group", "rename", "Deploys", "Deploy", "team"], "")
        .await;
    assert_eq!(renamed.code, 0, "{renamed:?}");
    assert_eq!(
        renamed.stdout.trim(),
        format!(
            "#{id} \u{201c}Deploy team\u{201d} (3 members: {alice_name} (owner), {bob_name}, {carol_name})"
        )
    );

    // A second group of the same title makes the title ambiguous: the error lists both ids.
    let other = alice.json(&["group", "create", "Deploy team"]).await;
    let other_id = other["id"].as_i64().expect("id");
    let ambiguous = alice
        .chat(&["send", "--group", "Deploy team", "which?"], "")
        .await;
    assert_eq!(ambiguous.code, 2, "{ambiguous:?}");
    assert!(
        ambiguous.stderr.contains(&format!(
            "2 groups are titled Deploy team: #{id}, #{other_id}; give the id instead"
        )),
        "{ambiguous:?}"
    );

    let added = alice.json(&["group", "add", &id_text, &dave_name]).await;
    assert_eq!(added["member_count"], 4);
    let dave_sees = dave.chat(&["history", "--group", &id_text], "").await;
    assert_eq!(dave_sees.code, 0, "{dave_sees:?}");
    assert!(dave_sees.stdout.contains("shipping now"), "{dave_sees:?}");

    let removed = alice.json(&["group", "remove", &id_text, &dave_name]).await;
    assert_eq!(removed["member_count"], 3);
    assert!(
        removed["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .all(|m| m["username"] != dave_name.as_str()),
        "{removed}"
    );
    let gone = dave.chat(&["history", "--group", &id_text], "").await;
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.stderr.contains("you are in no group"), "{gone:?}");
    let not_member = alice
        .chat(&["group", "remove", &id_text, &dave_name], "")
        .await;
    assert_eq!(not_member.code, 2, "{not_member:?}");
    assert!(
        not_member.stderr.contains("no member named"),
        "{not_member:?}"
    );

    let left = carol.chat(&["group", "leave", &id_text], "").await;
    assert_eq!(left.code, 0, "{left:?}");
    assert_eq!(
        left.stdout.trim(),
        format!("left #{id} \u{201c}Deploy team\u{201d}")
    );
    let after = bob.chat(&["history", "--group", &id_text], "").await;
    assert!(
        after
            .stdout
            .contains(&format!("* {alice_name} removed {dave_name}"))
            && after.stdout.contains(&format!("* {carol_name} left")),
        "{after:?}"
    );

    let both = alice
        .chat(&["send", "--to", &bob_name, "--group", &id_text, "hi"], "")
        .await;
    assert_eq!(both.code, 2, "{both:?}");
    assert!(both.stderr.contains("cannot be used with"), "{both:?}");
}

/// The ids of a `chat --json history` answer's messages, with their content and `deleted`.
fn stored(history: &Value) -> Vec<(i64, String, bool)> {
    history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().expect("id"),
                m["content"].as_str().expect("content").to_owned(),
                m["deleted"] == true,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_reply_retry_edit_react_delete_and_history() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new(&server), User::new(&server));
    let (alice_name, bob_name) = (unique_name("alice"), unique_name("bob"));
    let alice_id = alice.register(&alice_name).await["id"].clone();
    let bob_id = bob.register(&bob_name).await["id"].clone();

    // Every send carries a client id, made up when not given.
    let first = alice.json(&["send", "--to", &bob_name, "lunch?"]).await;
    assert!(
        first["client_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("cli-")),
        "{first}"
    );
    let m1 = first["id"].as_i64().expect("id");

    // A reply shows what it answers, in text and in JSON.
    let reply = bob
        .chat(
            &[
                "send",
                "--to",
                &alice_name,
                "sure",
                "--reply-to",
                &format!("#{m1}"),
            ],
            "",
        )
        .await;
    assert_eq!(reply.code, 0, "{reply:?}");
    assert!(
        reply
            .stdout
            .contains(&format!("{bob_name}: sure (reply to #{m1}) (sent)")),
        "{reply:?}"
    );
    let history = bob.json(&["history", "--with", &alice_name]).await;
    let m2 = history["messages"][1]["id"].as_i64().expect("reply id");
    assert_eq!(history["messages"][1]["reply_to"]["id"], m1);
    assert_eq!(history["messages"][1]["reply_to"]["excerpt"], "lunch?");
    let nowhere = bob
        .chat(
            &["send", "--to", &alice_name, "x", "--reply-to", "999999"],
            "",
        )
        .await;
    assert_eq!(nowhere.code, 2, "{nowhere:?}");
    assert!(
        nowhere.stderr.contains("the server refused chat.message")
            && nowhere.stderr.contains("(not_found)"),
        "{nowhere:?}"
    );

    // The same --client-id twice stores one message; the second answer is the first message.
    let once = bob
        .json(&["send", "--to", &alice_name, "see you", "--client-id", "k-1"])
        .await;
    let twice = bob
        .chat(
            &[
                "--json",
                "send",
                "--to",
                &alice_name,
                "see you!",
                "--client-id",
                "k-1",
            ],
            "",
        )
        .await;
    assert_eq!(twice.code, 0, "{twice:?}");
    let twice_message = twice.json();
    assert_eq!(
        (&twice_message["id"], &twice_message["content"]),
        (&once["id"], &Value::from("see you"))
    );
    assert_eq!(twice_message["client_id"], "k-1");
    assert!(
        twice.stderr.contains("client id k-1 was used before"),
        "{twice:?}"
    );
    let m3 = once["id"].as_i64().expect("id");
    let history = alice.json(&["history", "--with", &bob_name]).await;
    assert_eq!(
        stored(&history)
            .iter()
            .map(|(id, ..)| *id)
            .collect::<Vec<_>>(),
        [m1, m2, m3],
        "{history}"
    );
    let too_long = "k".repeat(65);
    let refused = bob
        .chat(
            &["send", "--to", &alice_name, "x", "--client-id", &too_long],
            "",
        )
        .await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("at most 64 characters"),
        "{refused:?}"
    );

    // Only the sender edits.
    let edited = alice
        .json(&["edit", &m1.to_string(), "lunch", "at", "12:30?"])
        .await;
    assert_eq!(edited["content"], "lunch at 12:30?");
    assert!(edited["edited_at"].is_string(), "{edited}");
    let text = alice
        .chat(&["edit", &m1.to_string(), "lunch at 1?"], "")
        .await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout
            .trim()
            .ends_with(&format!("#{m1} {alice_name}: lunch at 1? (edited) (sent)")),
        "{text:?}"
    );
    let forbidden = bob.chat(&["edit", &m1.to_string(), "mine"], "").await;
    assert_eq!(forbidden.code, 2, "{forbidden:?}");
    assert!(
        forbidden.stderr.contains("the server refused chat.edit")
            && forbidden.stderr.contains("(forbidden)"),
        "{forbidden:?}"
    );
    assert_eq!(forbidden.stdout, "", "{forbidden:?}");

    // Reactions from both count; a repeat or a removal of nothing is "no change", at once.
    let m2_text = m2.to_string();
    let reacted = alice.chat(&["react", &m2_text, "👍"], "").await;
    assert_eq!(reacted.code, 0, "{reacted:?}");
    assert!(
        reacted.stdout.trim().ends_with("(sent) [👍 1]"),
        "{reacted:?}"
    );
    let both = bob.json(&["react", &m2_text, "👍"]).await;
    assert_eq!(
        both["reactions"],
        serde_json::json!([{"emoji": "👍", "count": 2, "user_ids": [alice_id, bob_id]}])
    );
    let started = Instant::now();
    let again = alice
        .chat(&["react", &m2_text, "👍", "--timeout-ms", "60000"], "")
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        again.stdout.trim(),
        format!("no change: #{m2} already has your 👍")
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited for the timeout"
    );
    let removed = alice.chat(&["react", &m2_text, "👍", "--remove"], "").await;
    assert_eq!(removed.code, 0, "{removed:?}");
    assert!(
        removed.stdout.trim().ends_with("(sent) [👍 1]"),
        "{removed:?}"
    );
    let nothing = alice
        .json(&["react", &m2_text, "👍", "--remove", "--timeout-ms", "60000"])
        .await;
    assert_eq!(
        nothing,
        serde_json::json!({"message_id": m2, "changed": false})
    );
    let bad = alice.chat(&["react", &m2_text, "thumbs up"], "").await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("white space"), "{bad:?}");

    // The sender deletes; the other side may not; a tombstone cannot change.
    let m3_text = m3.to_string();
    let not_hers = alice.chat(&["delete", &m3_text], "").await;
    assert_eq!(not_hers.code, 2, "{not_hers:?}");
    assert!(
        not_hers.stderr.contains("the server refused chat.delete")
            && not_hers.stderr.contains("(forbidden)"),
        "{not_hers:?}"
    );
    let deleted = bob.chat(&["delete", &m3_text], "").await;
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(
        deleted
            .stdout
            .trim()
            .ends_with(&format!("#{m3} {bob_name} (message deleted)")),
        "{deleted:?}"
    );
    for args in [
        vec!["delete", m3_text.as_str()],
        vec!["edit", m3_text.as_str(), "back"],
        vec!["react", m3_text.as_str(), "👍"],
    ] {
        let gone = bob.chat(&args, "").await;
        assert_eq!(gone.code, 2, "{args:?}: {gone:?}");
        assert!(gone.stderr.contains("(not_found)"), "{args:?}: {gone:?}");
    }

    // History: text shows it all; JSON is the message objects, the tombstone without content.
    let text = alice.chat(&["history", "--with", &bob_name], "").await;
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(
        lines[0].ends_with(&format!("#{m1} {alice_name}: lunch at 1? (edited) (sent)")),
        "{text:?}"
    );
    assert!(
        lines[1].ends_with(&format!(
            "#{m2} {bob_name}: sure (reply to #{m1}) (sent) [👍 1]"
        )),
        "{text:?}"
    );
    assert!(
        lines[2].ends_with(&format!("#{m3} {bob_name} (message deleted)")),
        "{text:?}"
    );
    let history = alice.json(&["history", "--with", &bob_name]).await;
    assert_eq!(stored(&history)[2], (m3, String::new(), true), "{history}");
    let listed = alice.chat(&["conversations"], "").await;
    assert!(
        listed
            .stdout
            .contains(&format!(": {bob_name} (message deleted)")),
        "{listed:?}"
    );
}

/// A proxy for one server that, on the first connection whose server side sends a
/// `chat.message` frame, drops that connection instead of passing the frame on: the message is
/// stored, but the client never sees its echo. Returns its address and how many connections
/// carried a `chat.message` (the first one cut).
async fn echo_cutting_proxy(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let cuts = Arc::new(AtomicUsize::new(0));
    let counted = cuts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let cuts = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_in, mut client_out) = client.into_split();
                let (mut server_in, mut server_out) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_in, &mut server_out).await;
                });
                // Server frames are not masked: the echo's type is there to see.
                let mut seen = Vec::new();
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_in.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    seen.extend_from_slice(&buffer[..n]);
                    const ECHO: &[u8] = b"\"type\":\"chat.message\",";
                    let echo = seen.windows(ECHO.len()).any(|w| w == ECHO);
                    if echo && cuts.fetch_add(1, Ordering::SeqCst) == 0 {
                        break;
                    }
                    seen.drain(..seen.len().saturating_sub(32));
                    if client_out.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                upstream.abort();
            });
        }
    });
    (addr, cuts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_echo_is_lost_is_sent_again_and_stored_once() {
    let server = TestServer::start().await;
    let (proxy, echoes) = echo_cutting_proxy(server.addr).await;
    let alice = User {
        config: tempfile::tempdir().expect("config dir"),
        server: format!("http://{proxy}"),
    };
    let bob = User::new(&server);
    let (alice_name, bob_name) = (unique_name("alice"), unique_name("bob"));
    alice.register(&alice_name).await;
    bob.register(&bob_name).await;

    let sent = alice
        .chat(&["--json", "send", "--to", &bob_name, "only once"], "")
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    // The first connection's echo was cut off; the resend's answer came on a second one.
    assert_eq!(echoes.load(std::sync::atomic::Ordering::SeqCst), 2);
    let message = sent.json();
    assert_eq!(message["content"], "only once");
    let history = bob.json(&["history", "--with", &alice_name]).await;
    assert_eq!(
        stored(&history),
        [(
            message["id"].as_i64().expect("id"),
            "only once".to_owned(),
            false
        )],
        "{history}"
    );
}

/// How long a test waits for `chat tail` to print a line or a notice (a reconnection waits
/// a few seconds of backoff).
const TAIL_WAIT: Duration = Duration::from_secs(30);

/// A `chat tail` running in the background: its lines and notices as they come.
struct Tail {
    child: std::process::Child,
    stdout: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every notice read so far, for failure messages.
    notices: Vec<String>,
}

impl Tail {
    /// Starts `chat ARGS` (a `tail`) as `user` and waits until it follows.
    async fn start(user: &User, args: &[&str]) -> Tail {
        let mut child = user
            .command(chat_binary(), args, &[])
            .spawn()
            .expect("start chat tail");
        let lines = |stream: Box<dyn std::io::Read + Send>| {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
            receiver
        };
        let stdout = lines(Box::new(child.stdout.take().expect("stdout")));
        let stderr = lines(Box::new(child.stderr.take().expect("stderr")));
        let mut tail = Tail {
            child,
            stdout,
            stderr,
            notices: Vec::new(),
        };
        tail.notice("following events after seq").await;
        tail
    }

    /// The next line of output.
    async fn line(&mut self) -> String {
        match tokio::time::timeout(TAIL_WAIT, self.stdout.recv()).await {
            Ok(Some(line)) => line,
            other => panic!(
                "no line from chat tail ({other:?}); notices: {:?}",
                self.notices
            ),
        }
    }

    /// The next line of output, a JSON frame.
    async fn frame(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The next `chat.message` frame's message, other frames passed over.
    async fn message(&mut self) -> Value {
        loop {
            let frame = self.frame().await;
            if frame["type"] == "chat.message" {
                return frame;
            }
        }
    }

    /// Waits for a notice (a line on standard error) containing `text`.
    async fn notice(&mut self, text: &str) {
        loop {
            match tokio::time::timeout(TAIL_WAIT, self.stderr.recv()).await {
                Ok(Some(line)) => {
                    self.notices.push(line.clone());
                    if line.contains(text) {
                        return;
                    }
                }
                other => panic!(
                    "no notice {text:?} ({other:?}); notices: {:?}",
                    self.notices
                ),
            }
        }
    }

    /// Ctrl-C: the exit code, with what it printed since the last line read.
    async fn interrupt(mut self) -> Run {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
        let code = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            loop {
                if let Some(status) = self.child.try_wait().expect("wait for chat tail") {
                    return status.code().unwrap_or(-1);
                }
                if started.elapsed() > Duration::from_secs(10) {
                    let _ = self.child.kill();
                    panic!("chat tail did not stop on SIGINT");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .expect("waiting for chat tail");
        let rest = |receiver: &mut tokio::sync::mpsc::UnboundedReceiver<String>| {
            let mut lines = Vec::new();
            while let Ok(line) = receiver.try_recv() {
                lines.push(line + "\n");
            }
            lines.concat()
        };
        // The reader threads see the end of the pipes once the process is gone.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Run {
            code,
            stdout: rest(&mut self.stdout),
            stderr: self.notices.concat() + &rest(&mut self.stderr),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_a_message_from_another_and_its_sender_sees_it_delivered() {
    let server = TestServer::start().await;
    let (alice, _) = User::registered(&server, "alice").await;
    let (bob, bob_name) = User::registered(&server, "bob").await;

    let mut bob_tail = Tail::start(&bob, &["--json", "tail"]).await;
    let mut alice_tail = Tail::start(&alice, &["--json", "tail"]).await;
    let sent = alice
        .json(&["send", "--to", &bob_name, "hello", "bob"])
        .await;
    let id = sent["id"].as_i64().expect("id");

    let frame = bob_tail.frame().await;
    assert_eq!(frame["type"], "chat.message", "{frame}");
    assert_eq!(frame["message"]["id"], id);
    assert_eq!(frame["message"]["content"], "hello bob");
    assert!(frame["seq"].as_i64().is_some(), "{frame}");

    // Bob's tail answered with chat.delivered: Alice's tail sees her message's status change.
    let echo = alice_tail.message().await;
    assert_eq!(echo["message"]["id"], id);
    let status = alice_tail.frame().await;
    assert_eq!(status["type"], "chat.message_status", "{status}");
    assert_eq!(
        (status["message_id"].as_i64(), status["status"].as_str()),
        (Some(id), Some("delivered"))
    );
    let history = alice.json(&["history", "--with", &bob_name]).await;
    assert_eq!(history["messages"][0]["status"], "delivered", "{history}");

    for tail in [bob_tail, alice_tail] {
        let run = tail.interrupt().await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.contains("chat tail --since"), "{run:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_catches_up_after_its_connection_is_cut_printing_each_message_once_in_order() {
    // Access tokens outlive the cut by little: connecting again needs a fresh one.
    let server = TestServer::start_with(&["--access-token-lifetime", "2s"]).await;
    let proxy = chat_e2e::proxy::FaultProxy::start(server.addr).await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let bob = User {
        config: tempfile::tempdir().expect("config dir"),
        server: format!("http://{}", proxy.addr),
    };
    let bob_name = unique_name("bob");
    bob.register(&bob_name).await;

    let mut tail = Tail::start(&bob, &["--json", "tail", "--with", &alice_name]).await;
    alice.json(&["send", "--to", &bob_name, "one"]).await;
    let mut seen = vec![tail.message().await];

    proxy.cut();
    tail.notice("connecting again").await;
    for text in ["two", "three", "four"] {
        alice.json(&["send", "--to", &bob_name, text]).await;
    }
    // Past the access token's lifetime: the next connection must use a new one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.resume();
    tail.notice("connected again").await;
    alice.json(&["send", "--to", &bob_name, "five"]).await;
    while seen.len() < 5 {
        seen.push(tail.message().await);
    }
    let texts: Vec<&str> = seen
        .iter()
        .map(|f| f["message"]["content"].as_str().expect("content"))
        .collect();
    assert_eq!(texts, ["one", "two", "three", "four", "five"]);
    let seqs: Vec<i64> = seen
        .iter()
        .map(|f| f["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let run = tail.interrupt().await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains("\"chat.message\""),
        "a message printed twice: {run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_from_start_replays_earlier_messages_and_since_goes_on_after_a_seq() {
    let server = TestServer::start().await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let (bob, bob_name) = User::registered(&server, "bob").await;
    for text in ["first", "second"] {
        alice.json(&["send", "--to", &bob_name, text]).await;
    }

    let mut all = Tail::start(&bob, &["--json", "tail", "--from-start"]).await;
    let first = all.message().await;
    assert_eq!(first["message"]["content"], "first");
    assert_eq!(all.message().await["message"]["content"], "second");
    assert_eq!(all.interrupt().await.code, 0);

    let seq = first["seq"].as_i64().expect("seq").to_string();
    let mut after = Tail::start(&bob, &["tail", "--since", &seq]).await;
    let line = after.line().await;
    assert!(
        line.ends_with(&format!("{alice_name}: second (delivered)")),
        "{line}"
    );
    let run = after.interrupt().await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("first"), "{run:?}");

    let both = bob
        .chat(&["tail", "--since", "3", "--from-start"], "")
        .await;
    assert_eq!(both.code, 2, "{both:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_into_a_reader_that_goes_away_exits_0_quietly() {
    let server = TestServer::start().await;
    let (alice, _) = User::registered(&server, "alice").await;
    let (bob, bob_name) = User::registered(&server, "bob").await;
    alice.json(&["send", "--to", &bob_name, "only line"]).await;

    // `head` exits after one line; the tail then has nothing more to write and must notice
    // by itself that nobody reads any more.
    let started = Instant::now();
    let script = r#"set -o pipefail; "$0" --json tail --from-start | head -1"#;
    let bin = chat_binary().display().to_string();
    let run = bob
        .run(
            bob.command(Path::new("bash"), &["-c", script, &bin], &[]),
            "",
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
    assert_eq!(run.lines().len(), 1, "{run:?}");
    assert_eq!(run.lines()[0]["message"]["content"], "only line");
    assert!(
        run.stderr
            .lines()
            .all(|l| l.starts_with("chat: following events after seq")),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_with_a_user_shows_only_that_conversation_and_all_names_each() {
    let server = TestServer::start().await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let (bob, bob_name) = User::registered(&server, "bob").await;
    let (carol, carol_name) = User::registered(&server, "carol").await;

    let mut with_alice = Tail::start(&bob, &["tail", "--with", &alice_name]).await;
    let mut everything = Tail::start(&bob, &["tail"]).await;
    carol.json(&["send", "--to", &bob_name, "from carol"]).await;
    let sent = alice.json(&["send", "--to", &bob_name, "from alice"]).await;
    let id = sent["id"].as_i64().expect("id");
    alice
        .json(&["edit", &id.to_string(), "from alice, edited"])
        .await;

    let line = with_alice.line().await;
    assert!(
        line.ends_with(&format!("#{id} {alice_name}: from alice (sent)")),
        "{line}"
    );
    assert_eq!(
        with_alice.line().await,
        format!("#{id} edited by {alice_name}: from alice, edited")
    );
    let run = with_alice.interrupt().await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("carol"), "{run:?}");

    let carols = everything.line().await;
    assert!(carols.starts_with("[#"), "{carols}");
    assert!(
        carols.contains(&format!(" with {carol_name}] [")) && carols.ends_with("from carol (sent)"),
        "{carols}"
    );
    let alices = everything.line().await;
    assert!(
        alices.contains(&format!(" with {alice_name}] [")),
        "{alices}"
    );
    assert_eq!(everything.interrupt().await.code, 0);
}
