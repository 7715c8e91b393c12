//! One chat WebSocket for the CLI: connect, send text, receive under a deadline.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long connecting (TCP plus the upgrade) and one send may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest frame accepted: a full `chat.messages` page of 1000 long messages fits.
const MAX_MESSAGE: usize = 32 << 20;

/// Why the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the connection failed: {0}")]
    Broken(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// What a receive produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A text frame, as sent.
    Text(String),
    /// The server closed the connection (code and reason when it gave them).
    Closed { code: Option<u16>, reason: String },
    /// Nothing arrived before the deadline.
    Timeout,
}

/// A connected chat socket.
pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    closed: bool,
    /// When the server was last heard from: any frame, its pings and pongs included.
    heard: Instant,
}

impl Socket {
    /// Connects to a `ws://…/ws/chat/?token=…` URL.
    pub async fn connect(url: &str) -> Result<Socket, SocketError> {
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE);
        config.max_frame_size = Some(MAX_MESSAGE);
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
        // Never show the token in an error message.
        let shown = url.split('?').next().unwrap_or(url).to_owned();
        match timeout(IO_TIMEOUT, connect).await {
            Err(_) => Err(SocketError::Connect {
                url: shown,
                reason: format!("timed out after {IO_TIMEOUT:?}"),
            }),
            Ok(Err(e)) => Err(SocketError::Connect {
                url: shown,
                reason: e.to_string(),
            }),
            Ok(Ok((stream, _response))) => Ok(Socket {
                stream,
                closed: false,
                heard: Instant::now(),
            }),
        }
    }

    /// Sends one text frame (any text: scripts may send invalid JSON on purpose).
    pub async fn send_text(&mut self, text: &str) -> Result<(), SocketError> {
        self.send(Message::text(text)).await
    }

    /// Sends a WebSocket ping; its pong counts as hearing from the server (see
    /// [`Socket::heard_at`]).
    pub async fn ping(&mut self) -> Result<(), SocketError> {
        self.send(Message::Ping(Vec::new().into())).await
    }

    async fn send(&mut self, message: Message) -> Result<(), SocketError> {
        match timeout(IO_TIMEOUT, self.stream.send(message)).await {
            Err(_) => Err(SocketError::Timeout(IO_TIMEOUT)),
            Ok(Err(e)) => Err(SocketError::Broken(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// When the server last sent anything (a frame, a ping or a pong): a connection that has
    /// been quiet for long may be dead without a close.
    pub fn heard_at(&self) -> Instant {
        self.heard
    }

    /// The next text frame, a close, or [`Incoming::Timeout`] at `deadline`. Pings are answered
    /// by tungstenite itself; binary frames are shown as text when they are UTF-8.
    pub async fn recv_until(&mut self, deadline: Instant) -> Result<Incoming, SocketError> {
        if self.closed {
            return Ok(Incoming::Closed {
                code: None,
                reason: "already closed".to_owned(),
            });
        }
        loop {
            let next = match timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(Incoming::Timeout),
                Ok(next) => next,
            };
            if let Some(Ok(_)) = next {
                self.heard = Instant::now();
            }
            match next {
                None => {
                    self.closed = true;
                    return Ok(Incoming::Closed {
                        code: None,
                        reason: "the connection ended".to_owned(),
                    });
                }
                Some(Err(e)) => {
                    self.closed = true;
                    return Err(SocketError::Broken(e.to_string()));
                }
                Some(Ok(Message::Text(text))) => return Ok(Incoming::Text(text.to_string())),
                Some(Ok(Message::Binary(bytes))) => {
                    return Ok(Incoming::Text(String::from_utf8_lossy(&bytes).into_owned()));
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = true;
                    return Ok(Incoming::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Closes politely, waiting a moment for the server's answer.
    pub async fn close(mut self) {
        if !self.closed {
            let _ = timeout(Duration::from_secs(2), self.stream.close(None)).await;
        }
    }
}
