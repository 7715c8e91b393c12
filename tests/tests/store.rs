//! The store on its own (no server): what its SQLite set-up does in the background.

use std::time::{Duration, Instant};

use chat_server::store::{Durability, NewMessage, Page, Store};
use chat_shared::{Conversation, UserRef};

/// A store on a new SQLite file with ann and ben in a conversation.
async fn two_in_a_conversation(file: &std::path::Path) -> (Store, [UserRef; 2], Conversation) {
    let store = Store::connect(&format!("sqlite://{}", file.display()), Durability::Normal)
        .await
        .expect("store");
    let ann = store.create_user("ann", "x").await.expect("user");
    let ben = store.create_user("ben", "x").await.expect("user");
    let conversation = store
        .find_or_create_conversation(&ann, &ben)
        .await
        .expect("conversation");
    (store, [ann, ben], conversation)
}

/// The write-ahead log is copied into the database file by the store's own checkpoint
/// connection, without the writer running a checkpoint in a commit (its automatic threshold is
/// far above what this test writes): the database file grows while nothing but the store's
/// writes and its background task touch it.
#[tokio::test]
async fn the_log_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chat.db");
    let (store, [ann, ben], conversation) = two_in_a_conversation(&file).await;
    // Let a checkpoint take in the schema, then measure the file.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = std::fs::metadata(&file).expect("db file").len();

    for round in 0..50 {
        let group: Vec<NewMessage> = (0..40)
            .map(|i| {
                let sender = if i % 2 == 0 { ann.clone() } else { ben.clone() };
                let content = format!("round {round} message {i}: {}", "x".repeat(200));
                NewMessage::new(conversation.id, sender, content)
            })
            .collect();
        assert_eq!(
            store.create_messages(group).await.expect("stored").len(),
            40
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let grown = loop {
        let size = std::fs::metadata(&file).expect("db file").len();
        if size > before + 200 * 1024 || Instant::now() > deadline {
            break size;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        grown > before + 200 * 1024,
        "2,000 messages of ~230 bytes should reach the database file: {before} → {grown} bytes"
    );
    store.close().await;
}

/// History returns every content exactly as it was sent, whatever its characters (the page
/// travels from the database as JSON, so quotes, backslashes, control characters and any
/// Unicode must survive the round trip), oldest first across pages, each with its sender. Runs
/// on PostgreSQL too when `TEST_DATABASE_URL` is set.
#[tokio::test]
async fn history_returns_any_content_unchanged() {
    use proptest::strategy::{Strategy, ValueTree};

    let dir = tempfile::tempdir().expect("temp dir");
    let url = chat_e2e::fresh_database(dir.path()).await;
    let store = Store::connect(&url, Durability::Normal)
        .await
        .expect("store");
    let ann = store.create_user("ann", "x").await.expect("user");
    let ben = store
        .create_user("bén \"b\" \\ 😀", "x")
        .await
        .expect("user");
    let conversation = store
        .find_or_create_conversation(&ann, &ben)
        .await
        .expect("conversation");

    let mut contents: Vec<String> = vec![
        r#"quote " and backslash \ and slash /"#.into(),
        r#"{"type":"chat.message","content":"[1,2]"}"#.into(),
        (1u8..=31).chain([127]).map(char::from).collect(),
        "\\u0041 is not A; \\n is not a newline".into(),
        "emoji 😀👩‍👩‍👧, non-BMP 𝄞, RTL שלום, combining é, BOM \u{feff}, U+2028 \u{2028}".into(),
        "z".repeat(40_000),
    ];
    // And random strings of any Unicode (NUL excluded: the server refuses it).
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strings = proptest::arbitrary::any::<String>().prop_filter("no NUL", |s| !s.contains('\0'));
    for _ in 0..200 {
        contents.push(strings.new_tree(&mut runner).expect("a string").current());
    }
    let sent: Vec<(String, String)> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let sender = if i % 3 == 0 { &ben } else { &ann };
            (sender.username.clone(), c.clone())
        })
        .collect();
    for group in contents.chunks(17).enumerate().map(|(g, chunk)| {
        chunk
            .iter()
            .enumerate()
            .map(|(i, content)| {
                NewMessage::new(
                    conversation.id,
                    if (g * 17 + i) % 3 == 0 {
                        ben.clone()
                    } else {
                        ann.clone()
                    },
                    content.clone(),
                )
            })
            .collect::<Vec<_>>()
    }) {
        let n = group.len();
        assert_eq!(store.create_messages(group).await.expect("stored").len(), n);
    }

    let mut got = Vec::new();
    let mut before_id = None;
    loop {
        let Page {
            messages: page,
            has_more,
        } = store
            .messages(conversation.id, ann.id, before_id, 9)
            .await
            .expect("history")
            .expect("ann's conversation");
        assert!(page.len() <= 9);
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        before_id = page.first().map(|m| m.id);
        let mut older: Vec<(String, String)> = page
            .into_iter()
            .inspect(|m| assert!(!m.is_system))
            .map(|m| (m.sender.username, m.content))
            .collect();
        older.append(&mut got);
        got = older;
        if !has_more {
            break;
        }
    }
    assert_eq!(got.len(), sent.len());
    for (i, (got, sent)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(got, sent, "message {i}");
    }
    store.close().await;
}

/// After a burst has grown the write-ahead log past [`WAL_KEPT_BYTES`], the log file is emptied
/// once writes pause, and the store goes on working.
#[tokio::test]
async fn the_log_is_cut_back_after_a_burst() {
    use chat_server::store::WAL_KEPT_BYTES;

    let dir = tempfile::tempdir().expect("temp dir");
    let wal = dir.path().join("chat.db-wal");
    let (store, [ann, ben], conversation) =
        two_in_a_conversation(&dir.path().join("chat.db")).await;
    let message = |content: String| NewMessage::new(conversation.id, ann.clone(), content);
    // About 10 MB in 20 groups, faster than checkpoints can keep the log short.
    for round in 0..20 {
        let group: Vec<NewMessage> = (0..500)
            .map(|i| message(format!("{round} {i} {}", "w".repeat(1_000))))
            .collect();
        store.create_messages(group).await.expect("stored");
    }
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let grown = size(&wal);
    assert!(
        grown > WAL_KEPT_BYTES,
        "the burst should grow the log past {WAL_KEPT_BYTES} bytes: {grown}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let cut = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = size(&wal);
        if now <= WAL_KEPT_BYTES || Instant::now() > deadline {
            break now;
        }
    };
    assert!(
        cut <= WAL_KEPT_BYTES,
        "the log stayed at {cut} bytes (was {grown}), over {WAL_KEPT_BYTES}"
    );
    let stored = store
        .create_messages(vec![message("after the cut".into())])
        .await
        .expect("stored");
    let Page { messages: page, .. } = store
        .messages(conversation.id, ben.id, None, 1)
        .await
        .expect("history")
        .expect("ben's conversation");
    assert_eq!(page[0].id, stored[0].message.id);
    assert_eq!(page[0].content, "after the cut");
    store.close().await;
}
