//! Byte budgets: a connection's queue is bounded in bytes as well as frames, and a history page
//! in bytes as well as messages. A socket that asks for the largest page again and again and
//! never reads is closed (1013) with the server's memory bounded by the budget; a page cut by
//! bytes says so and the next one continues where it stopped; a client that reads gets the
//! largest replies there are.

use std::time::{Duration, Instant};

use chat_e2e::{Person, RecvError, TestServer, WAIT, WsClient};
use chat_server::store::NewMessage;
use chat_shared::{ChatMessage, ClientMsg, ServerMsg, UserRef};
use tokio_tungstenite::tungstenite::Message;

/// One test at a time: the memory test measures this process's RSS, which tests running beside
/// it (building 24 MB of history of their own) would inflate.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The longest message there is (`--max-message-chars`), of the character whose JSON is the
/// longest (`\u0001`, six bytes): 24 KB a message, 24 MB for a page of 1,000.
fn heaviest_content(tag: usize) -> String {
    let tag = format!("{tag:06}");
    format!("{tag}{}", "\u{1}".repeat(4000 - tag.len()))
}

/// Stores `contents` in `conversation` from `sender`, straight through the store (the server's
/// rate limits would make 1,000 messages take most of a minute).
async fn store_messages(
    server: &TestServer,
    conversation_id: i64,
    sender: &UserRef,
    contents: Vec<String>,
) {
    for chunk in contents.chunks(100) {
        let batch = chunk
            .iter()
            .map(|content| NewMessage::new(conversation_id, sender.clone(), content.clone()))
            .collect();
        let stored = server
            .state
            .store
            .create_messages(batch)
            .await
            .expect("store messages");
        assert_eq!(stored.len(), chunk.len());
    }
}

fn user(person: &Person) -> UserRef {
    UserRef {
        id: person.id,
        username: person.name.clone(),
    }
}

/// A page as its frame's length and its content.
async fn page(
    client: &mut WsClient,
    conversation_id: i64,
    before_id: Option<i64>,
) -> (usize, Vec<ChatMessage>, bool) {
    client
        .send(&ClientMsg::GetMessages {
            conversation_id,
            before_id,
            limit: None,
        })
        .await;
    loop {
        match client.next_message().await {
            Some(Message::Text(text)) => {
                if let Ok(ServerMsg::Messages {
                    messages, has_more, ..
                }) = serde_json::from_str(text.as_str())
                {
                    return (text.len(), messages, has_more.expect("has_more"));
                }
            }
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("expected a page, got {other:?}"),
        }
    }
}

/// Longest the non-reader may stay connected: the time to build the few pages its budget
/// holds (a debug build on PostgreSQL takes most of a second for one of these pages).
const CLOSED_WITHIN: Duration = Duration::from_secs(60);
/// Pages the non-reader asks for (the frame rate limit's burst).
const ASKS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_asking_for_big_pages_without_reading_is_closed_within_its_budget() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // Default budgets: 4 MiB per queue, 1 MiB per page. The talker may chat at any rate.
    let server = TestServer::start_with(&[
        "--rate-limit-per-second",
        "100000",
        "--rate-limit-burst",
        "100000",
    ])
    .await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mallory = Person::new(&server, "mallory").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let talk = a.start_conversation(bob.id).await;
    let big = a.start_conversation(mallory.id).await;
    store_messages(
        &server,
        big,
        &user(&alice),
        (0..1000).map(heaviest_content).collect(),
    )
    .await;

    // Mallory's socket: sending after the server gave up is no failure.
    let mut m = mallory.connect(&server).await;
    let connections = || server.state.hub.connection_count();
    assert_eq!(connections(), 3);
    for i in 0..5 {
        a.round_trip(talk, &format!("warm-up {i}")).await;
    }
    // The big page read once by each of SQLite's read connections (four), at once, so that
    // their caches and the file's mapping are part of the baseline, not of the growth.
    let mut readers = Vec::new();
    for _ in 0..4 {
        readers.push(alice.connect(&server).await);
    }
    futures_util::future::join_all(readers.iter_mut().map(|r| page(r, big, None))).await;
    for r in readers {
        r.close().await;
    }
    while connections() != 3 {
        tokio::task::yield_now().await;
    }
    let rss_start = chat_e2e::resident_kib();
    let ask = ClientMsg::GetMessages {
        conversation_id: big,
        before_id: None,
        limit: None,
    };
    for _ in 0..ASKS {
        if m.try_send(&ask).await.is_err() {
            break;
        }
    }
    // Alice and Bob chat on while the server deals with Mallory.
    let mut rss_peak = rss_start;
    let mut trips = Vec::new();
    let asked = Instant::now();
    while connections() == 3 {
        assert!(
            asked.elapsed() < CLOSED_WITHIN,
            "the non-reader is still connected after {:?}",
            asked.elapsed()
        );
        let content = format!("during {}", trips.len());
        trips.push(a.round_trip(talk, &content).await);
        rss_peak = rss_peak.max(chat_e2e::resident_kib());
    }
    let closed_after = asked.elapsed();
    let rss_growth_mib = rss_peak.saturating_sub(rss_start) as f64 / 1024.0;

    // The server gives a closing slow reader a second to take its close frame: read now.
    let mut pages = 0;
    let close = loop {
        match m.try_next_message(tokio::time::Instant::now() + WAIT).await {
            Ok(Message::Text(_)) => pages += 1,
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(RecvError::Socket(e)) => panic!("reading the non-reader's socket: {e}"),
            Err(RecvError::Closed(frame)) => break frame,
            Err(RecvError::Timeout) => panic!("no close within {WAIT:?}"),
        }
    };
    let close = close.expect("the non-reader gets a close frame");
    assert_eq!(u16::from(close.code), 1013, "{close:?}");
    assert!(pages < ASKS, "closed after all {pages} pages were queued");

    // Others are unaffected, after as during.
    for i in 0..10 {
        a.round_trip(talk, &format!("after {i}")).await;
    }
    b.send(&ClientMsg::GetConversations {}).await;
    b.recv_until(|frame| matches!(frame, ServerMsg::Conversations { .. }).then_some(()))
        .await;
    trips.sort();
    eprintln!(
        "non-reader closed with 1013 {:?} after asking, {pages} of {ASKS} pages sent; RSS grew \
         {rss_growth_mib:.1} MiB at most; talker's median round trip meanwhile {:?} ({} trips)",
        closed_after,
        trips[trips.len() / 2],
        trips.len()
    );
    // Queued, 100 pages of 1 MiB would be 100 MiB (2.4 GB uncapped). The budget holds 4 MiB
    // plus one page; the rest of the growth is the few pages built before the close (each a
    // few copies of a page for a moment: the database's JSON, its rows, the frame), which the
    // allocator keeps.
    assert!(
        rss_growth_mib < 48.0,
        "memory grew by {rss_growth_mib:.1} MiB"
    );
}

#[tokio::test]
async fn a_page_cut_by_bytes_says_so_and_the_next_continues_where_it_stopped() {
    let _alone = ONE_AT_A_TIME.lock().await;
    const CAP: usize = 16 * 1024;
    let server = TestServer::start_with(&["--history-page-bytes", "16384"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    // Sizes from a few bytes to more than a whole page (one message alone is 24 KB), and
    // characters that JSON escapes or spells in several bytes.
    let contents: Vec<String> = (0..120)
        .map(|i| match i {
            57 => heaviest_content(i),
            _ => format!("{i:04} {}", "é\"\\\n".repeat((i * 37) % 700)),
        })
        .collect();
    store_messages(&server, conversation, &user(&alice), contents.clone()).await;

    let mut seen: Vec<ChatMessage> = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let (bytes, messages, has_more) = page(&mut a, conversation, before).await;
        pages += 1;
        assert!(!messages.is_empty(), "a page holds at least one message");
        if messages.len() > 1 {
            assert!(bytes <= CAP, "a page of {bytes} bytes");
        }
        before = Some(messages[0].id);
        let mut older = messages;
        older.append(&mut seen);
        seen = older;
        if !has_more {
            break;
        }
        assert!(pages < 200, "paging does not end");
    }
    let got: Vec<&str> = seen.iter().map(|m| m.content.as_str()).collect();
    let want: Vec<&str> = contents.iter().map(String::as_str).collect();
    assert_eq!(
        got, want,
        "every message once, in order, across {pages} pages"
    );
    assert!(
        pages >= 10,
        "cut by bytes: {pages} pages of a 1,000-message limit"
    );

    // Page by page again: each page cut short would have passed the cap with the next message.
    let mut before = None;
    loop {
        let (bytes, messages, has_more) = page(&mut a, conversation, before).await;
        if !has_more {
            break;
        }
        let oldest = messages[0].id;
        let next = seen
            .iter()
            .rev()
            .find(|m| m.id < oldest)
            .expect("an older message");
        let next_bytes = serde_json::to_string(next).expect("json").len() + 1;
        assert!(
            bytes + next_bytes > CAP,
            "a page of {bytes} bytes ended before a message of {next_bytes}"
        );
        before = Some(oldest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_client_gets_the_largest_page_and_a_long_conversation_list() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // Default budgets: 4 MiB per queue, 1 MiB per page.
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    store_messages(
        &server,
        conversation,
        &user(&bob),
        (0..1000).map(heaviest_content).collect(),
    )
    .await;
    // 300 more conversations, each with a 24 KB newest message: a list of some 7 MB, more than
    // the whole queue's budget.
    let store = &server.state.store;
    for i in 0..300 {
        let other = store
            .create_user(&chat_e2e::unique_name("friend"), "not a hash")
            .await
            .expect("user");
        let started = store
            .find_or_create_conversation(&user(&alice), &other)
            .await
            .expect("conversation");
        store_messages(&server, started.id, &other, vec![heaviest_content(i)]).await;
    }

    let (bytes, messages, has_more) = page(&mut a, conversation, None).await;
    assert!(
        has_more && bytes <= 1024 * 1024,
        "{bytes} bytes, {}",
        messages.len()
    );
    assert!(messages.len() > 10, "{} messages", messages.len());
    a.send(&ClientMsg::GetConversations {}).await;
    let list = loop {
        match a.next_message().await {
            Some(Message::Text(text)) if text.as_str().contains("\"chat.conversations\"") => {
                break text;
            }
            Some(Message::Text(_) | Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("expected the conversation list, got {other:?}"),
        }
    };
    assert!(
        list.len() > 4 * 1024 * 1024,
        "a list of {} bytes",
        list.len()
    );
    let Ok(ServerMsg::Conversations { conversations }) = serde_json::from_str(list.as_str()) else {
        panic!("not a conversation list");
    };
    assert_eq!(conversations.len(), 301);
    // Page after page while messages arrive: still connected.
    let (_, older, _) = page(&mut a, conversation, Some(messages[0].id)).await;
    let newest_older = older.last().expect("an older page").id;
    assert!(newest_older < messages[0].id);
    a.round_trip(conversation, "still here").await;
}

#[tokio::test]
async fn a_page_cap_larger_than_the_queue_budget_is_refused_at_start() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("chat.db").display());
    let config = chat_server::Config::from_args([
        "chat-server",
        "--database-url",
        &url,
        "--jwt-secret",
        chat_e2e::TEST_SECRET,
        "--send-queue-bytes",
        "65536",
        "--history-page-bytes",
        "65537",
    ])
    .expect("each flag alone is valid");
    let Err(error) = chat_server::build_state(config).await else {
        panic!("a server started with pages larger than its queue budget");
    };
    let error = error.to_string();
    assert!(
        error.contains("--history-page-bytes (65537) must not exceed --send-queue-bytes (65536)"),
        "{error}"
    );
}
