//! The baselines the scenarios are divided by: the store's raw insert rate (no server), a
//! WebSocket relay with no database on the server's stack (axum + tokio), and a bare
//! accept-and-hold WebSocket server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use chat_server::store::{Durability, NewMessage, Store};
use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ErrorCode, GroupInfo, Member, ServerMsg, Timestamp,
    UserRef,
};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;
use tokio::sync::mpsc;

use crate::report::{emit, per_sec};

/// The server's WebSocket limits and buffers, so the baselines run the same stack the same way.
const MAX_FRAME: usize = 64 * 1024;
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 8 * 1024;
const SEND_QUEUE: usize = 1024;

#[derive(Debug, Clone, Args)]
pub struct InsertArgs {
    /// Messages to insert in batched transactions.
    #[arg(long, default_value_t = 200_000)]
    pub messages: u64,
    /// Messages per transaction in the batched run.
    #[arg(long, default_value_t = 500)]
    pub batch: u64,
    /// Messages for the one-transaction-per-message run (what a server without group commit does).
    #[arg(long, default_value_t = 20_000)]
    pub single: u64,
    /// Conversations the messages are spread over (two senders in each).
    #[arg(long, default_value_t = 50)]
    pub conversations: u64,
    /// `synchronous=FULL` instead of NORMAL.
    #[arg(long)]
    pub full: bool,
    /// Directory for the scratch database (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
}

/// Stores messages through the server's own store (`Store::create_messages`, what its writer
/// calls), with no server around it: one message per transaction, then groups of `--batch`.
pub async fn insert(args: InsertArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let path = args.dir.join(format!(
        "chat-bench-insert-{:016x}.db",
        rand::random::<u64>()
    ));
    let result = insert_on(&path, &args).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    result
}

async fn insert_on(path: &std::path::Path, args: &InsertArgs) -> anyhow::Result<()> {
    let durability = if args.full {
        Durability::Full
    } else {
        Durability::Normal
    };
    let store = Store::connect(&format!("sqlite://{}", path.display()), durability).await?;
    // Pairs of users, each pair in one conversation, both sending: as `pairs` loads the server.
    let mut senders = Vec::new();
    for pair in 0..args.conversations {
        let a = store.create_user(&format!("a{pair}"), "x").await?;
        let b = store.create_user(&format!("b{pair}"), "x").await?;
        let conversation = store.find_or_create_conversation(&a, &b).await?;
        senders.push((conversation.id, a));
        senders.push((conversation.id, b));
    }
    let mut next = senders.iter().cycle().map(|(conversation_id, sender)| {
        NewMessage::new(
            *conversation_id,
            sender.clone(),
            "a baseline message of about sixty-four bytes of ordinary text.".into(),
        )
    });
    let mut rates = Vec::new();
    for (count, batch) in [(args.single, 1), (args.messages, args.batch)] {
        let started = Instant::now();
        let mut done = 0;
        while done < count {
            let group: Vec<NewMessage> = next
                .by_ref()
                .take(batch.min(count - done) as usize)
                .collect();
            let size = group.len();
            let stored = store.create_messages(group).await?;
            anyhow::ensure!(stored.len() == size, "the store refused a message");
            done += size as u64;
        }
        rates.push(per_sec(count, started.elapsed()));
    }
    store.close().await;
    let sync = if args.full { "FULL" } else { "NORMAL" };
    emit(
        "baseline-insert",
        &[format!(
            "baseline-insert (WAL, synchronous={sync}): {:.0} messages/s one per transaction, {:.0} messages/s in transactions of {}",
            rates[0], rates[1], args.batch
        )],
        json!({
            "synchronous": sync,
            "single_per_s": rates[0],
            "batch": args.batch,
            "batched_per_s": rates[1],
            "messages": args.messages,
            "ok": true,
        }),
    );
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Address to serve on (loopback).
    #[arg(long, default_value = "127.0.0.1:8100")]
    pub bind: SocketAddr,
    /// Secret the tokens are signed with (the same one given to the load's `--jwt-secret`).
    #[arg(long)]
    pub jwt_secret: String,
    /// Leave Nagle's algorithm on for accepted sockets (axum's default) instead of TCP_NODELAY.
    #[arg(long)]
    pub nagle: bool,
}

/// Each user's open connections: (connection id, queue).
type Queues = HashMap<i64, Vec<(u64, mpsc::Sender<Utf8Bytes>)>>;

/// The relay's state: user id → open connection queues, and the message id counter.
#[derive(Clone)]
struct Relay {
    key: Arc<DecodingKey>,
    conns: Arc<Mutex<Queues>>,
    next_conn: Arc<AtomicU64>,
    next_message: Arc<AtomicI64>,
}

/// Serves `/ws/chat/?token=` speaking enough of the protocol for every scenario, storing nothing:
/// a conversation id encodes its pair, and messages go straight to both users' queues.
pub async fn relay(args: RelayArgs) -> anyhow::Result<()> {
    let app = relay_router(args.jwt_secret.as_bytes());
    serve(args.bind, app, "baseline-relay", !args.nagle).await
}

fn relay_router(secret: &[u8]) -> Router {
    let relay = Relay {
        key: Arc::new(DecodingKey::from_secret(secret)),
        conns: Arc::default(),
        next_conn: Arc::default(),
        next_message: Arc::new(AtomicI64::new(1)),
    };
    Router::new()
        .route("/ws/chat/", get(relay_upgrade))
        .with_state(relay)
}

async fn serve(bind: SocketAddr, app: Router, name: &str, nodelay: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    crate::net::raise_fd_limit(1_048_576)?;
    let addr = listener.local_addr()?;
    emit(
        name,
        &[format!(
            "{name}: listening on {addr}, pid {}",
            std::process::id()
        )],
        json!({ "listening": addr.to_string(), "pid": std::process::id() }),
    );
    if nodelay {
        // Small frames go out at once instead of waiting for the previous segment's ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await?;
    } else {
        axum::serve(listener, app).await?;
    }
    Ok(())
}

fn user_of(key: &DecodingKey, token: &str) -> Option<i64> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).ok()?;
    (data.claims["token_type"] == "access").then_some(())?;
    data.claims["user_id"].as_i64()
}

async fn relay_upgrade(
    State(relay): State<Relay>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let user = query.get("token").and_then(|t| user_of(&relay.key, t));
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |mut socket| async move {
            match user {
                Some(user) => relay_connection(socket, relay, user).await,
                None => {
                    let close = CloseFrame {
                        code: chat_shared::close::UNAUTHORIZED,
                        reason: "invalid or expired token".into(),
                    };
                    let _ = socket.send(Message::Close(Some(close))).await;
                }
            }
        })
}

/// A conversation id for the pair: the smaller id in the high half.
fn pair_conversation(a: i64, b: i64) -> i64 {
    (a.min(b) << 32) | a.max(b)
}

fn pair_of(conversation: i64) -> (i64, i64) {
    (conversation >> 32, conversation & 0xffff_ffff)
}

async fn relay_connection(socket: WebSocket, relay: Relay, me: i64) {
    let (mut sink, mut stream) = socket.split();
    let (queue, mut frames) = mpsc::channel::<Utf8Bytes>(SEND_QUEUE);
    let conn = relay.next_conn.fetch_add(1, Ordering::Relaxed);
    relay
        .conns
        .lock()
        .expect("relay lock")
        .entry(me)
        .or_default()
        .push((conn, queue.clone()));
    // As the server writes: what is queued goes out with one flush (up to 64 frames).
    let writer = tokio::spawn(async move {
        let mut burst = Vec::with_capacity(64);
        while frames.recv_many(&mut burst, 64).await > 0 {
            let mut sent = Ok(());
            for frame in burst.drain(..) {
                if sent.is_ok() {
                    sent = sink.feed(Message::Text(frame)).await;
                }
            }
            if sent.is_err() || sink.flush().await.is_err() {
                break;
            }
        }
    });
    let reply = |msg: &ServerMsg| {
        let _ = queue.try_send(msg.to_json().into());
    };
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else {
            if matches!(frame, Message::Close(_)) {
                break;
            }
            continue;
        };
        let msg = match ClientMsg::parse(text.as_str()) {
            Ok((_, msg)) => msg,
            Err(e) => {
                reply(&e.into());
                continue;
            }
        };
        match msg {
            ClientMsg::Message {
                conversation_id,
                content,
                ..
            } => {
                let (low, high) = pair_of(conversation_id);
                if me != low && me != high {
                    reply(&not_found("chat.message"));
                    continue;
                }
                let sender = UserRef {
                    id: me,
                    username: format!("u{me}"),
                };
                let id = relay.next_message.fetch_add(1, Ordering::Relaxed);
                let message =
                    ChatMessage::new(id, conversation_id, sender, content, Timestamp::now());
                // Serialized once; both users' connections get the same bytes.
                let bytes: Utf8Bytes = ServerMsg::Message { message }.to_json().into();
                let conns = relay.conns.lock().expect("relay lock");
                for user in [low, high] {
                    for (_, q) in conns.get(&user).into_iter().flatten() {
                        let _ = q.try_send(bytes.clone());
                    }
                }
            }
            ClientMsg::StartConversation { receiver_id } if receiver_id != me => {
                let conversation = Conversation {
                    id: pair_conversation(me, receiver_id),
                    participants: [me, receiver_id]
                        .iter()
                        .map(|&id| Member {
                            id,
                            username: format!("u{id}"),
                            role: None,
                        })
                        .collect(),
                    info: GroupInfo::default(),
                };
                reply(&ServerMsg::ConversationStarted { conversation });
            }
            ClientMsg::SearchUser { .. } => reply(&ServerMsg::SearchResults { results: vec![] }),
            ClientMsg::GetConversations {} => reply(&ServerMsg::Conversations {
                conversations: vec![],
            }),
            ClientMsg::GetMessages {
                conversation_id, ..
            } => reply(&ServerMsg::Messages {
                messages: vec![],
                conversation_id: Some(conversation_id),
                has_more: Some(false),
            }),
            _ => reply(&not_found("other")),
        }
    }
    {
        let mut conns = relay.conns.lock().expect("relay lock");
        if let Some(list) = conns.get_mut(&me) {
            list.retain(|(id, _)| *id != conn);
            if list.is_empty() {
                conns.remove(&me);
            }
        }
    }
    drop(queue);
    let _ = writer.await;
}

fn not_found(kind: &str) -> ServerMsg {
    ServerMsg::Error {
        code: ErrorCode::NotFound,
        message: "the relay baseline does not do this".into(),
        request_type: Some(kind.into()),
    }
}

#[derive(Debug, Clone, Args)]
pub struct HoldArgs {
    /// Address to serve on (loopback).
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub bind: SocketAddr,
}

/// Accepts any `/ws/chat/` upgrade with the server's buffer sizes and holds it; one task per
/// connection, answering each text frame with an empty `chat.search_results` so clients can
/// confirm the socket is live.
pub async fn hold(args: HoldArgs) -> anyhow::Result<()> {
    let app = Router::new().route(
        "/ws/chat/",
        get(|ws: WebSocketUpgrade| async move {
            ws.max_message_size(MAX_FRAME)
                .max_frame_size(MAX_FRAME)
                .read_buffer_size(READ_BUFFER)
                .write_buffer_size(WRITE_BUFFER)
                .on_upgrade(|mut socket| async move {
                    while let Some(Ok(frame)) = socket.recv().await {
                        if let Message::Text(_) = frame {
                            let empty = ServerMsg::SearchResults { results: vec![] }.to_json();
                            if socket.send(Message::Text(empty.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                })
        }),
    );
    serve(args.bind, app, "baseline-hold", true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole `pairs` scenario against the in-process relay: every message arrives once, in
    /// order, on both sides.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pairs_run_clean_against_the_relay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, relay_router(b"k")).await });
        let args = crate::pairs::PairsArgs {
            target: crate::users::Target {
                server: addr,
                jwt_secret: Some("k".into()),
                first_user: 1,
                source_addrs: 2,
            },
            pairs: 3,
            rate: 300,
            window: 1,
            duration: std::time::Duration::from_millis(500),
            content_bytes: 64,
            no_verify: true,
            user_offset: 0,
        };
        let outcome = crate::pairs::run_pairs(&args).await.unwrap();
        let j = &outcome.json;
        assert!(outcome.ok, "{:?}", outcome.human);
        assert_eq!(j["sent"], 150);
        assert_eq!(j["delivered"], 150);
        assert_eq!(j["echoed"], 150);
        assert_eq!(j["latency"]["count"], 150);

        // A token signed with another secret is refused with 4001, which `confirm` reports.
        let dialer = crate::net::Dialer::new(addr, 1);
        let mut ws = dialer.ws(&crate::users::mint(b"wrong", 1)).await.unwrap();
        let err = crate::net::confirm(&mut ws, std::time::Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("4001"), "{err:#}");
    }

    #[test]
    fn pair_ids_round_trip_in_either_order() {
        let c = pair_conversation(70_001, 12);
        assert_eq!(c, pair_conversation(12, 70_001));
        assert_eq!(pair_of(c), (12, 70_001));
    }

    #[test]
    fn relay_accepts_only_access_tokens_signed_with_its_secret() {
        let key = DecodingKey::from_secret(b"s3cret");
        assert_eq!(user_of(&key, &crate::users::mint(b"s3cret", 9)), Some(9));
        assert_eq!(user_of(&key, &crate::users::mint(b"other", 9)), None);
        assert_eq!(user_of(&key, "garbage"), None);
    }
}
