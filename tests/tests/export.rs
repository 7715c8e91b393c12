//! `chat export` end to end (issue 19): a conversation of 2,500 messages with replies and edits
//! exported as JSON lines (equal to the history read page by page over the socket) and as
//! Markdown (every message once, in order, with its reply and edit), to standard output and to a
//! file that appears only when complete.

use chat_e2e::cli::{CLI_PASSWORD, User};
use chat_e2e::{Person, TestServer};
use chat_shared::{ChatMessage, ClientMsg, ServerMsg};

const MESSAGES: usize = 2_500;
/// Sends in flight at once while seeding.
const WINDOW: usize = 200;

/// Bob says `m1`…`m2499` to `conversation` (alice said `m0`, id `first`): every tenth answers
/// an earlier one, every seventh is then edited. Returns how many were edited.
async fn seed(b: &mut chat_e2e::WsClient, conversation: i64, first: i64) -> usize {
    let mut ids = vec![first];
    let mut sent = 1;
    while sent < MESSAGES {
        let batch = (MESSAGES - sent).min(WINDOW);
        let newest = *ids.last().expect("m0");
        for i in sent..sent + batch {
            b.send(&ClientMsg::Message {
                conversation_id: conversation,
                content: format!("m{i}"),
                reply_to: (i % 10 == 0).then_some(newest),
                client_id: None,
            })
            .await;
        }
        for _ in 0..batch {
            ids.push(b.recv_message().await.id);
        }
        sent += batch;
    }
    let mut edited = 0;
    for (i, id) in ids.iter().enumerate().skip(1).step_by(7) {
        b.send(&ClientMsg::Edit {
            message_id: *id,
            content: format!("m{i} (fixed)"),
        })
        .await;
        edited += 1;
    }
    for _ in 0..edited {
        b.recv_until(|f| matches!(f, ServerMsg::MessageUpdated { .. }).then_some(()))
            .await;
    }
    edited
}

/// The whole history as alice's socket pages it (`before_id`), oldest first.
async fn paged(a: &mut chat_e2e::WsClient, conversation: i64) -> Vec<ChatMessage> {
    let mut all: Vec<ChatMessage> = Vec::new();
    let mut before = None;
    loop {
        let (messages, has_more) = a.page(conversation, before, Some(100)).await;
        before = messages.first().map(|m| m.id);
        all.splice(0..0, messages);
        if has_more != Some(true) {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_conversation_exports_whole_as_json_lines_and_markdown() {
    let flags = [
        "--rate-limit-per-second",
        "100000",
        "--rate-limit-burst",
        "100000",
    ];
    let server = TestServer::start_with(&flags).await;
    let (alice, alice_name) = User::registered(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let first = alice.json_lines(&["send", "--to", &bob.name, "m0"]).await;
    let conversation = first[0]["conversation_id"].as_i64().expect("id");
    let first_id = first[0]["id"].as_i64().expect("id");
    let mut b = bob.connect(&server).await;
    let edited = seed(&mut b, conversation, first_id).await;

    // JSON lines: exactly the messages the socket pages through, in order.
    let lines = alice
        .json_lines(&["export", "--with", &bob.name, "--format", "jsonl"])
        .await;
    let exported: Vec<ChatMessage> = lines
        .into_iter()
        .map(|l| serde_json::from_value(l).expect("a message object"))
        .collect();
    let login = chat_e2e::post_json(
        &server,
        "/api/token/",
        &chat_e2e::credentials(&alice_name, CLI_PASSWORD),
    )
    .await;
    let tokens: chat_shared::rest::TokenPair = login.json().await.expect("alice logs in");
    let mut a = chat_e2e::WsClient::connect(&server.ws_url(&tokens.access)).await;
    let expected = paged(&mut a, conversation).await;
    assert_eq!(expected.len(), MESSAGES);
    assert_eq!(exported, expected);
    assert_eq!(
        exported.iter().filter(|m| m.edited().is_some()).count(),
        edited
    );
    assert_eq!(
        exported.iter().filter(|m| m.reply().is_some()).count(),
        MESSAGES / 10 - 1
    );

    // Markdown, to a file: each message once, in order, quoted; replies and edits shown.
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("bob.md");
    let out_arg = out.to_str().expect("utf-8 path");
    let ran = alice
        .chat(&["export", "--with", &bob.name, "--out", out_arg], "")
        .await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr
            .contains(&format!("exported {MESSAGES} messages")),
        "{ran:?}"
    );
    let markdown = std::fs::read_to_string(&out).expect("the export");
    assert!(!dir.path().join("bob.md.partial").exists());
    assert!(markdown.starts_with(&format!("# Conversation #{conversation} (")));
    assert!(markdown.contains(&alice_name) && markdown.contains(&bob.name));
    let quoted: Vec<&str> = markdown
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .collect();
    let said: Vec<String> = expected.iter().map(|m| m.content.clone()).collect();
    assert_eq!(quoted, said);
    assert_eq!(markdown.matches(" · edited ").count(), edited);
    assert_eq!(markdown.matches("↪ reply to #").count(), MESSAGES / 10 - 1);
    assert!(markdown.ends_with(&format!("\n---\n{MESSAGES} messages.\n")));

    // Someone with no such conversation: an error, and no file left behind.
    let ghost = dir.path().join("ghost.md");
    let ran = alice
        .chat(
            &[
                "export",
                "--with",
                "nobody-at-all",
                "--out",
                ghost.to_str().expect("utf-8"),
            ],
            "",
        )
        .await;
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("no conversation with"), "{ran:?}");
    assert!(!ghost.exists() && !dir.path().join("ghost.md.partial").exists());
    server.stop().await;
}
