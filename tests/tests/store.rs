//! The store on its own (no server): what its SQLite set-up does in the background.

use std::time::{Duration, Instant};

use chat_server::store::{Durability, NewMessage, Store};

/// The write-ahead log is copied into the database file by the store's own checkpoint
/// connection, without the writer running a checkpoint in a commit (its automatic threshold is
/// far above what this test writes): the database file grows while nothing but the store's
/// writes and its background task touch it.
#[tokio::test]
async fn the_log_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chat.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()), Durability::Normal)
        .await
        .expect("store");
    let ann = store.create_user("ann", "x").await.expect("user");
    let ben = store.create_user("ben", "x").await.expect("user");
    let conversation = store
        .find_or_create_conversation(&ann, &ben)
        .await
        .expect("conversation");
    // Let a checkpoint take in the schema, then measure the file.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = std::fs::metadata(&file).expect("db file").len();

    for round in 0..50 {
        let group: Vec<NewMessage> = (0..40)
            .map(|i| NewMessage {
                conversation_id: conversation.id,
                sender: if i % 2 == 0 { ann.clone() } else { ben.clone() },
                content: format!("round {round} message {i}: {}", "x".repeat(200)),
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
