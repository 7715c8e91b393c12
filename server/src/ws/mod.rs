//! One WebSocket connection: authenticate, register with the hub, read frames, write frames.

pub mod handle;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chat_shared::{ErrorCode, ServerMsg, UserRef};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::TokenType;
use crate::config::Config;
use crate::hub::ConnHandle;
use crate::state::AppState;
use handle::Session;

/// Close code for a missing, invalid or expired token: the client should log in again.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// GET /ws/chat/?token=… (also /ws/chat/<any id>/?token=…; the path id is ignored): the chat socket.
pub async fn upgrade(
    State(state): State<AppState>,
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
        None => None,
    };
    let config = &state.config;
    let tracker = state.connections.clone();
    ws.max_message_size(config.max_frame_bytes)
        .max_frame_size(config.max_frame_bytes)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                match user {
                    Some(user) => connection(socket, state, user).await,
                    None => refuse(socket).await,
                }
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

async fn authenticate(state: &AppState, token: &str) -> Option<UserRef> {
    let user_id = state.keys.verify(token, TokenType::Access)?;
    match state.store.user_by_id(user_id).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "looking up a connecting user");
            None
        }
    }
}

/// Closes an unauthenticated socket with 4001 before any chat frame.
async fn refuse(mut socket: WebSocket) {
    let close = CloseFrame {
        code: CLOSE_UNAUTHORIZED,
        reason: "invalid or expired token".into(),
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

/// Runs an authenticated connection until the client leaves, is too slow, or the server stops.
async fn connection(socket: WebSocket, state: AppState, user: UserRef) {
    let (sink, mut stream) = socket.split();
    let (queue, frames) = mpsc::channel(state.config.send_queue as usize);
    let conn = ConnHandle::new(state.hub.next_conn_id(), user.id, queue);
    let too_slow = conn.too_slow.clone();
    state.hub.register(conn.clone());
    tracing::debug!(conn = conn.id, user = user.id, "connected");
    let writer = tokio::spawn(write_frames(
        sink,
        frames,
        too_slow.clone(),
        state.shutdown.clone(),
    ));

    let session = Session { user, conn };
    loop {
        tokio::select! {
            _ = too_slow.cancelled() => break,
            _ = state.shutdown.cancelled() => break,
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => handle::dispatch(&state, &session, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => session.conn.send(&ServerMsg::Error {
                    code: ErrorCode::InvalidFrame,
                    message: "binary frames are not supported; send JSON text".into(),
                    request_type: None,
                }),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {} // pings are answered by the library
                Some(Err(e)) => {
                    tracing::debug!(conn = session.conn.id, error = %e, "read failed");
                    break;
                }
            }
        }
    }
    state.hub.unregister(&session.conn);
    tracing::debug!(conn = session.conn.id, "disconnected");
    // Dropping the last queue sender lets the writer flush what is queued and finish.
    drop(session);
    let _ = writer.await;
}

/// The only task that writes to the socket: drains the queue, then closes.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut frames: mpsc::Receiver<Utf8Bytes>,
    too_slow: CancellationToken,
    shutdown: CancellationToken,
) {
    let close = loop {
        let frame = tokio::select! {
            biased;
            _ = too_slow.cancelled() => break Some((CLOSE_TRY_AGAIN_LATER, "too slow: send queue full")),
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None if shutdown.is_cancelled() => break Some((CLOSE_GOING_AWAY, "server shutting down")),
                None => break None,
            },
            // Queued frames go out first; then the client is told to reconnect elsewhere.
            _ = shutdown.cancelled() => break Some((CLOSE_GOING_AWAY, "server shutting down")),
        };
        tokio::select! {
            sent = sink.send(Message::Text(frame)) => if sent.is_err() { return },
            _ = too_slow.cancelled() => break Some((CLOSE_TRY_AGAIN_LATER, "too slow: send queue full")),
        }
    };
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
