//! The one WebSocket client of the end-to-end tests. Most calls fail the test when the server
//! does not answer as expected; the `try_` calls return what happened instead, for tests in
//! which a closed or silent socket is an answer (crashes, budgets, pings, refused handshakes).

use std::time::Duration;

use chat_shared::{ChatMessage, ClientMsg, ErrorCode, Pushed, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

/// Why no frame was read.
#[derive(Debug)]
pub enum RecvError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// The server closed the connection: its close frame, or `None` when the stream just ended.
    Closed(Option<CloseFrame>),
    /// The socket failed.
    Socket(Error),
}

/// A protocol client over a real socket.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `seq` of the last frame received (`None` when it had none).
    pub seq: Option<i64>,
}

impl WsClient {
    /// Connects to `url`; fails the test if the handshake fails.
    pub async fn connect(url: &str) -> WsClient {
        WsClient::try_connect(url)
            .await
            .expect("WebSocket handshake")
    }

    /// Connects with `request` (a URL, or a request with its own headers); the handshake's
    /// error when the server refuses it.
    pub async fn try_connect(request: impl IntoClientRequest + Unpin) -> Result<WsClient, Error> {
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { stream, seq: None })
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.try_send(msg).await.expect("send frame");
    }

    /// Sends a frame; the error when the socket is gone.
    pub async fn try_send(&mut self, msg: &ClientMsg) -> Result<(), Error> {
        self.stream.send(Message::text(encode(msg))).await
    }

    /// Sends any text, valid or not.
    pub async fn send_raw(&mut self, text: &str) {
        self.send_message(Message::text(text)).await;
    }

    /// Sends any WebSocket message (a ping, a pong, ...).
    pub async fn send_message(&mut self, message: Message) {
        self.stream.send(message).await.expect("send frame");
    }

    /// Sends `frames` in one write, so that the server reads them together.
    pub async fn send_together(&mut self, frames: &[ClientMsg]) {
        for frame in frames {
            let text = Message::text(encode(frame));
            self.stream.feed(text).await.expect("feed frame");
        }
        self.stream.flush().await.expect("flush frames");
    }

    /// The next raw WebSocket message, or `None` when the stream ended or failed; fails the
    /// test if none arrives within [`WAIT`].
    pub async fn next_message(&mut self) -> Option<Message> {
        match self.try_next_message(Instant::now() + WAIT).await {
            Ok(message) => Some(message),
            Err(RecvError::Timeout) => panic!("no message within {WAIT:?}"),
            Err(_) => None,
        }
    }

    /// The next raw WebSocket message before `deadline`, close frames included; a stream that
    /// ended is `Closed(None)`.
    pub async fn try_next_message(&mut self, deadline: Instant) -> Result<Message, RecvError> {
        match tokio::time::timeout_at(deadline, self.stream.next()).await {
            Ok(Some(Ok(message))) => Ok(message),
            Ok(Some(Err(error))) => Err(RecvError::Socket(error)),
            Ok(None) => Err(RecvError::Closed(None)),
            Err(_) => Err(RecvError::Timeout),
        }
    }

    /// The next chat frame; fails the test if none arrives in time.
    pub async fn recv(&mut self) -> ServerMsg {
        self.recv_until(Some).await
    }

    /// The next chat frame before `deadline`, pings and pongs skipped. A frame that is not a
    /// server message fails the test: that is a broken server, not a gone one.
    pub async fn try_recv(&mut self, deadline: Instant) -> Result<ServerMsg, RecvError> {
        loop {
            match self.try_next_message(deadline).await? {
                Message::Text(text) => {
                    let value: serde_json::Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("a server frame that is not JSON {text}: {e}"));
                    crate::schema::check_server_frame(&value);
                    let pushed: Pushed = serde_json::from_value(value)
                        .unwrap_or_else(|e| panic!("bad server frame {text}: {e}"));
                    self.seq = pushed.seq;
                    return Ok(pushed.frame);
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(frame) => return Err(RecvError::Closed(frame)),
                other => panic!("expected a chat frame, got {other:?}"),
            }
        }
    }

    /// Says `chat.hello` (after which presence frames come too) and returns the `chat.welcome`,
    /// skipping frames that arrive before it.
    pub async fn hello(&mut self) -> ServerMsg {
        self.send(&ClientMsg::Hello {
            client: "e2e".into(),
            version: "1.0".into(),
        })
        .await;
        self.recv_until(|f| matches!(f, ServerMsg::Welcome { .. }).then_some(f))
            .await
    }

    /// The next frame as raw JSON.
    pub async fn recv_json(&mut self) -> serde_json::Value {
        serde_json::to_value(self.recv().await).expect("json")
    }

    /// Skips frames until one matches `pick`; fails after [`WAIT`].
    pub async fn recv_until<T>(&mut self, pick: impl FnMut(ServerMsg) -> Option<T>) -> T {
        self.recv_until_within(WAIT, pick).await
    }

    /// Skips frames until one matches `pick`; fails after `wait`, or if the connection ends.
    pub async fn recv_until_within<T>(
        &mut self,
        wait: Duration,
        mut pick: impl FnMut(ServerMsg) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_recv(deadline).await {
                Ok(frame) => {
                    if let Some(found) = pick(frame) {
                        return found;
                    }
                }
                Err(RecvError::Timeout) => panic!("awaited frame did not arrive within {wait:?}"),
                Err(other) => panic!("expected a chat frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be a `chat.message`.
    pub async fn expect_message(&mut self) -> ChatMessage {
        match self.recv().await {
            ServerMsg::Message { message } => message,
            other => panic!("expected chat.message, got {other:?}"),
        }
    }

    /// The next `chat.message`, other frames skipped.
    pub async fn recv_message(&mut self) -> ChatMessage {
        self.recv_until(|frame| match frame {
            ServerMsg::Message { message } => Some(message),
            _ => None,
        })
        .await
    }

    /// The next frame, which must be a `chat.error`: its code, message and request type.
    pub async fn recv_error(&mut self) -> (ErrorCode, String, Option<String>) {
        match self.recv().await {
            ServerMsg::Error {
                code,
                message,
                request_type,
            } => (code, message, request_type),
            other => panic!("expected chat.error, got {other:?}"),
        }
    }

    /// The next frame, which must be a `chat.error` with `code` and `request_type` and a
    /// message; the message.
    pub async fn expect_error(&mut self, code: ErrorCode, request_type: Option<&str>) -> String {
        let (got, message, got_type) = self.recv_error().await;
        assert_eq!(got, code, "{message}");
        assert_eq!(got_type.as_deref(), request_type);
        assert!(!message.is_empty());
        message
    }

    /// Sends a chat message (its echo and the rest are left to read).
    pub async fn say(&mut self, conversation_id: i64, content: &str) {
        self.send(&ClientMsg::message(conversation_id, content))
            .await;
    }

    /// Starts (or fetches) the conversation with user `other`; its id. Frames that arrive
    /// before the answer are skipped.
    pub async fn start_conversation(&mut self, other: i64) -> i64 {
        self.send(&ClientMsg::StartConversation { receiver_id: other })
            .await;
        self.recv_until(|f| match f {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await
    }

    /// The newest page of a conversation's history (`chat.get_messages` without paging), frames
    /// before the answer skipped.
    pub async fn history(&mut self, conversation_id: i64) -> Vec<ChatMessage> {
        self.send(&ClientMsg::GetMessages {
            conversation_id,
            before_id: None,
            limit: None,
        })
        .await;
        self.recv_until(|frame| match frame {
            ServerMsg::Messages { messages, .. } => Some(messages),
            _ => None,
        })
        .await
    }

    /// One page of a conversation (`chat.get_messages` with `before_id` and `limit`), other
    /// frames skipped: its messages, oldest first, and `has_more`.
    pub async fn page(
        &mut self,
        conversation_id: i64,
        before_id: Option<i64>,
        limit: Option<i64>,
    ) -> (Vec<ChatMessage>, Option<bool>) {
        self.send(&ClientMsg::GetMessages {
            conversation_id,
            before_id,
            limit,
        })
        .await;
        self.recv_until(|f| match f {
            ServerMsg::Messages {
                messages, has_more, ..
            } => Some((messages, has_more)),
            _ => None,
        })
        .await
    }

    /// Sends one message and waits for its echo (known by its content; other frames skipped).
    pub async fn said(&mut self, conversation_id: i64, content: &str) -> ChatMessage {
        self.send(&ClientMsg::message(conversation_id, content))
            .await;
        self.recv_until(|frame| match frame {
            ServerMsg::Message { message } if message.content == content => Some(message),
            _ => None,
        })
        .await
    }

    /// Sends one message and waits for its echo; the round trip.
    pub async fn round_trip(&mut self, conversation_id: i64, content: &str) -> Duration {
        let sent = std::time::Instant::now();
        self.said(conversation_id, content).await;
        sent.elapsed()
    }

    /// Fails if any chat frame arrives within `window`.
    pub async fn expect_silence(&mut self, window: Duration) {
        if let Ok(message) = self.try_next_message(Instant::now() + window).await {
            panic!("expected no frame, got {message:?}");
        }
    }

    /// Waits for the server to close the connection; its close frame, if it sent one.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_message().await {
                Some(Message::Close(frame)) => return frame,
                Some(Message::Ping(_) | Message::Pong(_)) => continue,
                None => return None,
                Some(other) => panic!("expected close, got {other:?}"),
            }
        }
    }

    /// Closes from our side.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

fn encode(msg: &ClientMsg) -> String {
    let value = serde_json::to_value(msg).expect("client frames serialize");
    crate::schema::check_client_frame(&value);
    value.to_string()
}

/// Waits until the bus carries frames between the two: with Redis, subscriptions are made in
/// the background, so a frame published before the receiver's instance has subscribed is not
/// seen live (it is in the history). Typing is sent until one gets through.
pub async fn until_linked(from: &mut WsClient, to: &mut WsClient, receiver: i64) {
    for _ in 0..50 {
        from.send(&ClientMsg::Typing {
            receiver_id: Some(receiver),
            conversation_id: None,
            is_typing: false,
        })
        .await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(100), to.recv()).await {
            // An instance that got its Redis link back tells its connections to sync.
            if matches!(frame, ServerMsg::SyncHint { .. }) {
                continue;
            }
            assert!(matches!(frame, ServerMsg::Typing { .. }), "{frame:?}");
            // Drain the rest of the probes.
            while tokio::time::timeout(Duration::from_millis(150), to.recv())
                .await
                .is_ok()
            {}
            return;
        }
    }
    panic!("the instances never linked");
}
