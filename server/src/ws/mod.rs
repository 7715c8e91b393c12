//! One WebSocket connection: authenticate, register with the hub, read frames, write frames,
//! close when its credentials are revoked or run out.

mod auth;
mod caller;
mod expiry;
pub mod groups;
pub mod handle;
mod hello;
mod keepalive;
mod lifecycle;
mod presence;
pub mod receipts;
mod search;
pub mod sync;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Query, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chat_shared::{ClientMsg, ErrorCode, ServerMsg, UserRef, close};
use futures_util::future::Either;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::auth::TokenType;
use crate::config::Config;
use crate::conn::{ConnHandle, Outbox};
use crate::error::MESSAGE;
use crate::hub::Hub;
use crate::limits::{ConnectionSlot, FrameLimiter, FrameVerdict};
use crate::sessions::{self, Authorized};
use crate::state::AppState;
use caller::Caller;
use expiry::Expiry;
use handle::Pipeline;
use keepalive::Ending;
pub use keepalive::Heartbeat;

/// Bytes read from a socket at a time: each connection holds a buffer this big for as long as it
/// is open, so it is small (a chat frame is a few hundred bytes; larger ones take more reads).
const READ_BUFFER: usize = 1024;
/// Bytes of outgoing frames gathered before a write.
const WRITE_BUFFER: usize = 8 * 1024;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// GET /ws/chat/?token=… (also /ws/chat/<any id>/?token=…; the path id is ignored): the chat socket.
pub async fn upgrade(
    State(state): State<AppState>,
    Extension(heartbeat): Extension<Heartbeat>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.config) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let token = Query::<TokenQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|q| q.0.token);
    let user = match token {
        Some(token) => authenticate(&state, &token).await,
        None => Err((close::UNAUTHORIZED, "invalid or expired token")),
    };
    let config = &state.config;
    // The place is taken before the upgrade, so that simultaneous attempts cannot all get one.
    let admission = match user {
        Err(refusal) => Err(refusal),
        Ok(authorized) => match state
            .limits
            .connections
            .acquire(authorized.user.id, config.max_connections_per_user)
        {
            Some(slot) => Ok((authorized, slot)),
            None => {
                let user = authorized.user.id;
                tracing::info!(user, "too many connections; refusing one more");
                Err((close::POLICY, "too many connections for this user"))
            }
        },
    };
    // Registered with the hub before the handshake answer goes out, so a client never misses a
    // frame sent after its handshake completed; frames wait in the queue until the socket is up.
    // If the upgrade never completes, dropping the registration unregisters.
    let admission = admission.map(|(authorized, slot)| {
        let conn = ConnHandle::new(
            state.hub.next_conn_id(),
            authorized.user.id,
            config.send_queue as usize,
            usize::try_from(config.send_queue_bytes).unwrap_or(usize::MAX),
        );
        // Before it is registered, so that no revocation misses it.
        conn.set_credentials(authorized.credentials(config.socket_expiry));
        state.hub.register(conn.clone());
        let registration = Registration {
            hub: state.hub.clone(),
            conn,
            _slot: slot,
        };
        (authorized.user, registration)
    });
    let tracker = state.connections.clone();
    ws.max_message_size(config.max_frame_bytes)
        .max_frame_size(config.max_frame_bytes)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            // No `async` block around this match: it would hold the whole socket for as long
            // as the connection lives (see `connection`).
            tracker.track_future(match admission {
                Ok((user, registration)) => {
                    Either::Left(connection(socket, state, heartbeat, user, registration))
                }
                Err((code, reason)) => Either::Right(Box::pin(refuse(socket, code, reason))),
            })
        })
}

/// Browsers send `Origin`; only the server's own origin and the configured ones may connect.
/// Other clients send none and are let through: the token is what protects the socket.
fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own_host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    (own_host.is_some() && origin_host == own_host)
        || config
            .allowed_origins
            .iter()
            .any(|allowed| allowed.trim_end_matches('/') == origin)
}

/// Who a token acts as, or the close that refuses it: 4001 for a bad or revoked token or a
/// deleted user (log in again), 1013 when the database could not say (try again later, same
/// token).
async fn authenticate(state: &AppState, token: &str) -> Result<Authorized, (u16, &'static str)> {
    const INVALID: (u16, &str) = (close::UNAUTHORIZED, "invalid or expired token");
    match sessions::authorize(state, token, TokenType::Access).await {
        Ok(authorized) => authorized.ok_or(INVALID),
        Err(e) => {
            tracing::error!(error = %e, "looking up a connecting user");
            Err((
                close::TRY_AGAIN_LATER,
                "the server cannot check the token now",
            ))
        }
    }
}

/// Closes a socket that may not chat (4001: no valid token; 1008: too many connections) before
/// any chat frame.
async fn refuse(mut socket: WebSocket, code: u16, reason: &'static str) {
    let close = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // Let the client answer the close, but never wait on it for long.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

/// A connection's place in the hub and among its user's connections, given up when dropped.
struct Registration {
    hub: Hub,
    conn: ConnHandle,
    _slot: ConnectionSlot,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(&self.conn);
    }
}

/// Runs an authenticated connection until the client leaves, is too slow, or the server stops.
///
/// Not an `async fn`: the socket is split before the connection's future is made, because an
/// `async fn` keeps room for its arguments for as long as it runs, and a whole `WebSocket` is
/// most of a kilobyte that every idle connection would carry (docs/performance.md).
fn connection(
    socket: WebSocket,
    state: AppState,
    heartbeat: Heartbeat,
    user: UserRef,
    registration: Registration,
) -> impl Future<Output = ()> {
    let (sink, stream) = socket.split();
    run_connection(sink, stream, state, heartbeat, user, registration)
}

async fn run_connection(
    sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    state: AppState,
    heartbeat: Heartbeat,
    user: UserRef,
    registration: Registration,
) {
    let conn = registration.conn.clone();
    let too_slow = conn.too_slow.clone();
    tracing::debug!(conn = conn.id, user = user.id, "connected");
    let ending = Arc::new(Ending::default());
    let mut socket_writer = tokio::spawn(write_frames(
        sink,
        conn.outbox.clone(),
        too_slow.clone(),
        state.shutdown.clone(),
        heartbeat,
        ending.clone(),
    ));
    let mut socket_writer_done = false;
    let mut limiter = FrameLimiter::new(&state.config, Instant::now());

    let caller = Caller { user, conn };
    let mut pipeline = Pipeline::default();
    let mut expiry = Expiry::default();
    expiry.follow(caller.conn.credentials().deadline);
    loop {
        tokio::select! {
            // In this order, so that receipts wait only while more frames are ready.
            biased;
            outcome = pipeline.next(), if !pipeline.is_empty() => {
                if let Some(outcome) = outcome {
                    handle::report(&state, &caller, MESSAGE, outcome);
                }
            }
            _ = too_slow.cancelled() => break,
            _ = state.shutdown.cancelled() => break,
            // Logged out, signed out everywhere, password changed, account deleted, a stolen
            // refresh token used, or another user's token in `chat.auth`.
            why = caller.conn.revoked() => {
                let _ = ending.set((close::UNAUTHORIZED, why));
                break;
            }
            // Boxed like a request, for the same reason.
            () = expiry.passed() => match Box::pin(expiry::recheck(&state, &caller)).await {
                Ok(()) => expiry.follow(caller.conn.credentials().deadline),
                Err(why) => {
                    let _ = ending.set((close::UNAUTHORIZED, why));
                    break;
                }
            },
            // The socket writer gave up on the peer (no pongs, or the socket failed): stop
            // reading.
            _ = &mut socket_writer => {
                socket_writer_done = true;
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    let request_type = match &message {
                        Message::Text(text) => ClientMsg::peek_type(text.as_str()),
                        _ => None,
                    };
                    let now = Instant::now();
                    let verdict = if request_type.as_deref().is_some_and(handle::is_receipt) {
                        limiter.check_receipt(now, caller.conn.outbox.messages_queued())
                    } else {
                        limiter.check(now)
                    };
                    match verdict {
                        FrameVerdict::Allow => {}
                        FrameVerdict::Limited => {
                            caller.conn.send(&ServerMsg::Error {
                                code: ErrorCode::RateLimited,
                                message: "too many frames; slow down".into(),
                                request_type,
                            });
                            continue;
                        }
                        FrameVerdict::Abusive => {
                            tracing::info!(conn = caller.conn.id, "rate limit abused; closing");
                            let _ = ending.set((close::POLICY, "rate limit exceeded repeatedly"));
                            break;
                        }
                    }
                    match message {
                        // Boxed: a request's state lives on the heap only while it runs, so
                        // an idle connection's task stays small.
                        Message::Text(text) => {
                            Box::pin(handle::dispatch(&state, &caller, &mut pipeline, text.as_str()))
                                .await;
                            // A `chat.auth` may have moved the deadline.
                            expiry.follow(caller.conn.credentials().deadline);
                        }
                        _ => caller.conn.send(&ServerMsg::Error {
                            code: ErrorCode::InvalidFrame,
                            message: "binary frames are not supported; send JSON text".into(),
                            request_type: None,
                        }),
                    }
                }
                Some(Ok(Message::Close(_))) | None => break,
                // The library answers pings; both still count toward the frame rate.
                Some(Ok(control @ (Message::Ping(_) | Message::Pong(_)))) => {
                    if matches!(control, Message::Pong(_)) {
                        ending.pong();
                    }
                    match limiter.check(Instant::now()) {
                        FrameVerdict::Allow => {}
                        FrameVerdict::Limited => caller.conn.send(&ServerMsg::Error {
                            code: ErrorCode::RateLimited,
                            message: "too many frames; slow down".into(),
                            request_type: None,
                        }),
                        FrameVerdict::Abusive => {
                            tracing::info!(conn = caller.conn.id, "ping flood; closing");
                            let _ = ending.set((close::POLICY, "rate limit exceeded repeatedly"));
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    if is_too_big(e) {
                        tracing::debug!(conn = caller.conn.id, "message too big; closing");
                        let _ = ending.set((close::TOO_BIG, "message too big"));
                    } else {
                        tracing::debug!(conn = caller.conn.id, "read failed");
                    }
                    break;
                }
            },
            // No further frame is ready: the receipts that came are applied together.
            () = std::future::ready(()), if pipeline.has_receipts() => {
                // Boxed like a request: the store's futures would otherwise make every idle
                // connection's task as large as the largest of them.
                Box::pin(pipeline.apply_receipts(&state, &caller)).await;
            }
        }
    }
    // Messages already handed over are stored and delivered (the echoes included) before the
    // connection lets go of its queue.
    Box::pin(pipeline.finish(&state, &caller)).await;
    drop(registration);
    tracing::debug!(conn = caller.conn.id, "disconnected");
    // The socket writer sends what is queued, then closes. Meanwhile what the client still sends is
    // read and dropped: a socket closed with unread input is reset, and a client that sent
    // more (one that does not read, say) would lose its close frame.
    caller.conn.outbox.close();
    if !socket_writer_done {
        let drain = async {
            while let Some(Ok(_)) = stream.next().await {}
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = &mut socket_writer => {}
            () = drain => {}
        }
    }
}

/// Whether a read failed because the client's message was over `--max-frame-bytes`.
fn is_too_big(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Most frames written with one flush.
const BURST: usize = 64;

/// Sends `first` and whatever else is already queued (up to [`BURST`] frames) with one flush:
/// one write for a burst instead of one per frame.
async fn send_burst(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Utf8Bytes,
    outbox: &Outbox,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..BURST {
        let Some(frame) = outbox.try_next() else {
            break;
        };
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await
}

/// What the socket writer sends next.
enum Outgoing {
    Frames(Utf8Bytes),
    Ping,
}

/// The only task that writes to the socket: drains the queue and pings at each heartbeat, then
/// closes (with the reader's reason when it ended the connection).
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Arc<Outbox>,
    too_slow: CancellationToken,
    shutdown: CancellationToken,
    mut heartbeat: Heartbeat,
    ending: Arc<Ending>,
) {
    const TOO_SLOW: Option<(u16, &str)> =
        Some((close::TRY_AGAIN_LATER, "too slow: send queue full"));
    const NO_PONG: Option<(u16, &str)> = Some((close::GOING_AWAY, "no answer to pings"));
    let mut beating = true;
    let close = loop {
        let next = tokio::select! {
            biased;
            _ = too_slow.cancelled() => break TOO_SLOW,
            frame = outbox.next() => match frame {
                Some(frame) => Outgoing::Frames(frame),
                None if ending.get().is_some() => break ending.get().copied(),
                None if shutdown.is_cancelled() => break Some((close::GOING_AWAY, "server shutting down")),
                None => break None,
            },
            // Queued frames go out first; then the client is told to reconnect elsewhere.
            _ = shutdown.cancelled() => break Some((close::GOING_AWAY, "server shutting down")),
            alive = heartbeat.beat(), if beating => {
                beating = alive;
                if !alive {
                    continue;
                }
                if ending.beat_is_fatal() {
                    break NO_PONG;
                }
                Outgoing::Ping
            }
        };
        let sent = {
            let mut sending = std::pin::pin!(async {
                match next {
                    Outgoing::Frames(first) => send_burst(&mut sink, first, &outbox).await,
                    Outgoing::Ping => sink.send(Message::Ping(Default::default())).await,
                }
            });
            loop {
                tokio::select! {
                    sent = &mut sending => break Ok(sent.is_ok()),
                    _ = too_slow.cancelled() => break Err(TOO_SLOW),
                    // A peer that reads nothing for as long leaves its pings unanswered too.
                    alive = heartbeat.beat(), if beating => {
                        beating = alive;
                        if alive && ending.beat_is_fatal() {
                            break Err(NO_PONG);
                        }
                    }
                }
            }
        };
        match sent {
            Ok(true) => {}
            Ok(false) => return,
            Err(close) => break close,
        }
    };
    if close == NO_PONG {
        tracing::debug!("peer left two pings unanswered; closing");
    }
    let goodbye = async {
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            sink.send(Message::Close(Some(frame))).await?;
        }
        sink.close().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
}
