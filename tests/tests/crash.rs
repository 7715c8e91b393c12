//! Crash safety with the real binary: SIGKILL in the middle of a load, restart on the same
//! database, and every message whose echo its sender received is in the history once, in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_e2e::WsClient;
use chat_e2e::server_process::ServerProcess;
use chat_shared::rest::TokenPair;
use chat_shared::{ClientMsg, ServerMsg};

/// Senders, each in its own conversation with the one receiver.
const SENDERS: usize = 3;
/// Messages sent before waiting for their echoes.
const WINDOW: usize = 8;
/// The kill comes once this many echoes have arrived in all.
const KILL_AFTER: usize = 120;

/// How long a client waits for a frame before it counts the connection as gone.
const SILENCE: Duration = Duration::from_secs(10);

/// The next chat frame, or `None` when the connection is gone (or silent for [`SILENCE`]): a
/// failure here is an answer, not a test failure.
async fn next_frame(client: &mut WsClient) -> Option<ServerMsg> {
    let deadline = tokio::time::Instant::now() + SILENCE;
    client.try_recv(deadline).await.ok()
}

async fn start(client: &mut WsClient, other: i64) -> i64 {
    client
        .send(&ClientMsg::StartConversation { receiver_id: other })
        .await;
    match next_frame(client).await {
        Some(ServerMsg::ConversationStarted { conversation }) => conversation.id,
        other => panic!("expected conversation_started, got {other:?}"),
    }
}

/// Sends numbered messages in windows until the connection dies; the numbers echoed back.
async fn load(
    mut client: WsClient,
    conversation_id: i64,
    tag: String,
    echoed: Arc<AtomicUsize>,
) -> Vec<usize> {
    let mut acknowledged = Vec::new();
    let mut next = 0;
    loop {
        for i in next..next + WINDOW {
            let frame = ClientMsg::message(conversation_id, format!("{tag}:{i}"));
            // A send can fail once the server is gone; the echoes tell what counted.
            if client.try_send(&frame).await.is_err() {
                return acknowledged;
            }
        }
        next += WINDOW;
        while acknowledged.len() < next {
            match next_frame(&mut client).await {
                Some(ServerMsg::Message { message }) => {
                    let (t, i) = message.content.split_once(':').expect("tag:number");
                    assert_eq!(t, tag);
                    acknowledged.push(i.parse().expect("number"));
                    echoed.fetch_add(1, Ordering::Relaxed);
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => return acknowledged,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("chat.db");
    // Rate limits are not under test here.
    let flags = [
        "--rate-limit-per-second",
        "10000",
        "--rate-limit-burst",
        "10000",
    ];
    let mut server = ServerProcess::start(&database, &flags, &[]).await;
    let (receiver, receiver_tokens) = server.person("rcv").await;
    let mut senders = Vec::new();
    for n in 0..SENDERS {
        let (_, tokens) = server.person(&format!("snd{n}_")).await;
        let mut client = server.connect(&tokens).await;
        let conversation = start(&mut client, receiver.id).await;
        senders.push((tokens, client, conversation, format!("s{n}")));
    }
    // The receiver stays connected through the load and records what reaches it.
    let mut inbox = server.connect(&receiver_tokens).await;
    let echoed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut conversations = Vec::new();
    for (tokens, client, conversation, tag) in senders {
        conversations.push((tokens, conversation, tag.clone()));
        tasks.push(tokio::spawn(load(
            client,
            conversation,
            tag,
            echoed.clone(),
        )));
    }
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(frame) = next_frame(&mut inbox).await {
            if let ServerMsg::Message { message } = frame {
                seen.push(message.content);
            }
        }
        seen
    });
    while echoed.load(Ordering::Relaxed) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let mut acknowledged = HashMap::new();
    for (task, (_, _, tag)) in tasks.into_iter().zip(&conversations) {
        acknowledged.insert(tag.clone(), task.await.expect("load task"));
    }
    let received_before = reader.await.expect("reader task");
    let total: usize = acknowledged.values().map(Vec::len).sum();
    assert!(total >= KILL_AFTER);

    // Restart on the same database; everyone reconnects and catches up.
    let server = ServerProcess::start(&database, &flags, &[]).await;
    let mut inbox = server.connect(&receiver_tokens).await;
    let mut stored_total = 0;
    for (tokens, conversation, tag) in &conversations {
        let mut client = server.connect(tokens).await;
        let numbers = history(&mut client, *conversation, tag).await;
        // The receiver catches up on exactly the same history.
        assert_eq!(history(&mut inbox, *conversation, tag).await, numbers);
        // Stored in the order sent, each once: 0, 1, 2, … with no gap and no repeat.
        assert_eq!(numbers, (0..numbers.len()).collect::<Vec<_>>(), "{tag}");
        let acked = &acknowledged[tag];
        assert_eq!(acked, &(0..acked.len()).collect::<Vec<_>>(), "{tag} echoes");
        // Every acknowledged message is there; at most the unacknowledged window more.
        assert!(
            numbers.len() >= acked.len(),
            "{tag}: lost acknowledged messages"
        );
        assert!(
            numbers.len() <= acked.len() + WINDOW,
            "{tag}: phantom messages"
        );
        stored_total += numbers.len();
    }
    // What reached the receiver live before the crash is a prefix of each conversation.
    for content in &received_before {
        let (tag, i) = content.split_once(':').expect("tag:number");
        let i: usize = i.parse().expect("number");
        assert!(i < acknowledged[tag].len() + WINDOW);
    }
    eprintln!(
        "killed after {total} acknowledged messages ({stored_total} stored, {} seen live)",
        received_before.len()
    );
}

/// A conversation's whole history as the numbers of its `tag:number` messages.
async fn history(client: &mut WsClient, conversation_id: i64, tag: &str) -> Vec<usize> {
    let request = ClientMsg::GetMessages {
        conversation_id,
        before_id: None,
        limit: None,
    };
    client.send(&request).await;
    let Some(ServerMsg::Messages { messages, .. }) = next_frame(client).await else {
        panic!("expected history");
    };
    messages
        .iter()
        .map(|m| {
            let (t, i) = m.content.split_once(':').expect("tag:number");
            assert_eq!(t, tag, "a message in the wrong conversation");
            i.parse().expect("number")
        })
        .collect()
}

/// One steady client's connection: what it knew at connect time and what reached it live.
struct Session {
    /// Newest message id per conversation when it connected (from its history).
    baseline: HashMap<i64, i64>,
    /// `(conversation, id)` of every `chat.message` received live, in arrival order.
    received: Vec<(i64, i64)>,
}

#[derive(Default)]
struct SoakTotals {
    connections: usize,
    sent: usize,
    /// `user:seq` contents whose echo came back.
    acknowledged: Vec<String>,
    voluntary_disconnects: usize,
    sessions: Vec<Session>,
}

fn soak_setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every message of a conversation, oldest first, page by page.
async fn full_history(
    client: &mut WsClient,
    conversation_id: i64,
) -> Vec<chat_shared::ChatMessage> {
    let mut all = Vec::new();
    let mut before_id = None;
    loop {
        let request = ClientMsg::GetMessages {
            conversation_id,
            before_id,
            limit: Some(500),
        };
        client.send(&request).await;
        let page = loop {
            match next_frame(client).await.expect("history") {
                ServerMsg::Messages {
                    messages, has_more, ..
                } => break (messages, has_more.unwrap_or(false)),
                _ => continue,
            }
        };
        let (mut messages, has_more) = page;
        before_id = messages.first().map(|m| m.id);
        messages.append(&mut all);
        all = messages;
        if !has_more || before_id.is_none() {
            return all;
        }
    }
}

/// One soak client: connects, chats, and (unless steady) leaves at random, until `deadline`.
#[allow(clippy::too_many_arguments)]
async fn soak_client(
    index: usize,
    tokens: TokenPair,
    conversations: Vec<i64>,
    steady: bool,
    address: Arc<std::sync::RwLock<String>>,
    deadline: tokio::time::Instant,
    totals: Arc<std::sync::Mutex<SoakTotals>>,
) {
    use rand::Rng;
    let mut seq = 0usize;
    while tokio::time::Instant::now() < deadline {
        let url = format!(
            "ws://{}/ws/chat/?token={}",
            address.read().expect("address").clone(),
            tokens.access
        );
        let Ok(mut ws) = WsClient::try_connect(url).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        totals.lock().expect("totals").connections += 1;
        let mut session = Session {
            baseline: HashMap::new(),
            received: Vec::new(),
        };
        if steady {
            let mut complete = true;
            for &conversation in &conversations {
                let request = ClientMsg::GetMessages {
                    conversation_id: conversation,
                    before_id: None,
                    limit: Some(1),
                };
                if ws.try_send(&request).await.is_err() {
                    complete = false;
                    break;
                }
                let newest = loop {
                    match next_frame(&mut ws).await {
                        Some(ServerMsg::Messages { messages, .. }) => {
                            break Some(messages.last().map_or(0, |m| m.id));
                        }
                        Some(ServerMsg::Message { message }) => {
                            session.received.push((message.conversation_id, message.id));
                        }
                        Some(_) => {}
                        None => break None,
                    }
                };
                match newest {
                    Some(id) => {
                        session.baseline.insert(conversation, id);
                    }
                    None => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                continue;
            }
        }
        'session: while tokio::time::Instant::now() < deadline {
            let leave = !steady && rand::rng().random_bool(0.05);
            if leave {
                totals.lock().expect("totals").voluntary_disconnects += 1;
                ws.close().await;
                break;
            }
            let conversation = conversations[rand::rng().random_range(0..conversations.len())];
            let content = format!("u{index}:{seq}");
            seq += 1;
            let frame = ClientMsg::message(conversation, content.clone());
            if ws.try_send(&frame).await.is_err() {
                break;
            }
            totals.lock().expect("totals").sent += 1;
            loop {
                match next_frame(&mut ws).await {
                    Some(ServerMsg::Message { message }) => {
                        session.received.push((message.conversation_id, message.id));
                        if message.content == content {
                            totals.lock().expect("totals").acknowledged.push(content);
                            break;
                        }
                    }
                    Some(_) => {}
                    None => break 'session,
                }
            }
            let pause = rand::rng().random_range(0..30);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        if steady {
            totals.lock().expect("totals").sessions.push(session);
        }
    }
}

/// The long load-and-fault run (`scripts/soak.sh`): many clients chatting and leaving at random
/// while the server is killed once (SIGKILL) and stopped once (SIGTERM), each time restarted on
/// the same database. Settings: SOAK_SECONDS (90), SOAK_USERS (24), SOAK_STEADY (6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run with scripts/soak.sh"]
async fn soak_with_restarts_loses_nothing() {
    let seconds = soak_setting("SOAK_SECONDS", 90);
    let users = soak_setting("SOAK_USERS", 24).max(3) as usize;
    let steady = (soak_setting("SOAK_STEADY", 6) as usize).min(users);
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("chat.db");
    let flags = [
        "--rate-limit-per-second",
        "10000",
        "--rate-limit-burst",
        "10000",
        "--auth-ip-burst",
        "10000",
        "--access-token-lifetime",
        "1h",
    ];
    let mut server = ServerProcess::start(&database, &flags, &[]).await;
    // Users in a ring: each talks with the next, so every conversation has two busy people.
    let mut people = Vec::new();
    for i in 0..users {
        people.push(server.person(&format!("soak{i}_")).await);
    }
    let mut conversations_of = vec![Vec::new(); users];
    let mut conversations = Vec::new();
    for i in 0..users {
        let j = (i + 1) % users;
        let mut ws = server.connect(&people[i].1).await;
        let conversation = start(&mut ws, people[j].0.id).await;
        conversations_of[i].push(conversation);
        conversations_of[j].push(conversation);
        conversations.push(conversation);
        ws.close().await;
    }

    let address = Arc::new(std::sync::RwLock::new(server.addr.to_string()));
    let totals = Arc::new(std::sync::Mutex::new(SoakTotals::default()));
    let start_time = tokio::time::Instant::now();
    let deadline = start_time + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, (_, tokens)) in people.iter().enumerate() {
        tasks.push(tokio::spawn(soak_client(
            i,
            tokens.clone(),
            conversations_of[i].clone(),
            i < steady,
            address.clone(),
            deadline,
            totals.clone(),
        )));
    }
    // Fault 1: SIGKILL at a third; fault 2: SIGTERM at two thirds. Each time, restart.
    tokio::time::sleep_until(start_time + Duration::from_secs(seconds / 3)).await;
    server.kill();
    server = ServerProcess::start(&database, &flags, &[]).await;
    *address.write().expect("address") = server.addr.to_string();
    tokio::time::sleep_until(start_time + Duration::from_secs(2 * seconds / 3)).await;
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "graceful stop failed: {status:?}");
    server = ServerProcess::start(&database, &flags, &[]).await;
    *address.write().expect("address") = server.addr.to_string();
    for task in tasks {
        task.await.expect("soak client");
    }

    // Every acknowledged message is stored exactly once; nothing is stored twice.
    let reader = server.connect(&people[0].1).await;
    let mut stored: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for i in 0..users {
        let mut ws = server.connect(&people[i].1).await;
        let conversation = conversations[i];
        let history = full_history(&mut ws, conversation).await;
        stored.insert(
            conversation,
            history.into_iter().map(|m| (m.id, m.content)).collect(),
        );
        ws.close().await;
    }
    reader.close().await;
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for messages in stored.values() {
        for (_, content) in messages {
            *copies.entry(content.as_str()).or_default() += 1;
        }
    }
    let duplicated = copies.values().filter(|&&n| n > 1).count();
    let totals = totals.lock().expect("totals");
    let lost: Vec<_> = totals
        .acknowledged
        .iter()
        .filter(|c| !copies.contains_key(c.as_str()))
        .collect();
    // Each sender's messages are stored in the order sent, in each of its conversations.
    let mut last_seq: HashMap<(i64, &str), usize> = HashMap::new();
    let mut misordered = 0;
    for (&conversation, messages) in &stored {
        for (_, content) in messages {
            let (user, seq) = content.split_once(':').expect("user:seq");
            let seq: usize = seq.parse().expect("seq");
            let before = last_seq.insert((conversation, user), seq);
            if before.is_some_and(|before| before >= seq) {
                misordered += 1;
            }
        }
    }
    // Every steady session received every message of its conversations stored between its
    // baseline and the last one it saw, each once; and how many arrived out of id order.
    let mut missed = 0;
    let mut repeated = 0;
    let mut inversions = 0;
    for session in &totals.sessions {
        for (&conversation, &baseline) in &session.baseline {
            let live: Vec<i64> = session
                .received
                .iter()
                .filter(|(c, id)| *c == conversation && *id > baseline)
                .map(|(_, id)| *id)
                .collect();
            let Some(&newest) = live.iter().max() else {
                continue;
            };
            let expected: Vec<i64> = stored[&conversation]
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| *id > baseline && *id <= newest)
                .collect();
            let mut sorted = live.clone();
            sorted.sort_unstable();
            sorted.dedup();
            repeated += live.len() - sorted.len();
            missed += expected
                .iter()
                .filter(|id| sorted.binary_search(id).is_err())
                .count();
            inversions += live.windows(2).filter(|w| w[0] > w[1]).count();
        }
    }
    let stored_total: usize = stored.values().map(Vec::len).sum();
    eprintln!(
        "soak: {seconds} s, {users} users ({steady} steady), {} connections, {} sent, {} \
         acknowledged, {stored_total} stored; faults: 1 SIGKILL, 1 SIGTERM, {} random \
         disconnects; lost {}, duplicated {duplicated}, misordered {misordered}; steady \
         sessions {}: missed {missed}, repeated {repeated}, out of order {inversions}",
        totals.connections,
        totals.sent,
        totals.acknowledged.len(),
        totals.voluntary_disconnects,
        lost.len(),
        totals.sessions.len(),
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(duplicated, 0);
    assert_eq!(misordered, 0);
    assert_eq!(missed, 0);
    assert_eq!(repeated, 0);
    assert!(totals.acknowledged.len() > users, "the load barely ran");
}
