//! The network task: gets access tokens with the refresh token, keeps one WebSocket open, turns
//! frames into `Event::Server` (or `Event::Pushed`, with their `seq`), sends the `ClientMsg`s it
//! is handed, renews the socket's token in band before it expires (`renewal`), and reconnects
//! with backoff. Nothing else in the UI touches the socket, so drawing never waits on the
//! network. A refused refresh token ends the task with `AuthExpired` (at start) or
//! `SessionEnded` (once a connection has worked).

use std::time::{Duration, Instant};

use chat_shared::{ClientMsg, Pushed};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::event::{Event, NetStatus};
use crate::renewal::{Renewal, Renewed};
use crate::session::{self, Refresher};

/// Frames waiting to go out; the UI never blocks on a full queue, it reports it.
const OUTBOX: usize = 256;
/// First and largest wait between connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A ping goes out after this long without any frame; the socket is dropped after `DEAD`.
const PING_EVERY: Duration = Duration::from_secs(20);
const DEAD: Duration = Duration::from_secs(50);
/// How long to wait for the server to refuse a token before saying "connected".
const GRACE: Duration = Duration::from_millis(150);
/// A connection that stayed open this long was healthy: the next attempt starts from the
/// shortest wait again (shorter ones, e.g. closed by a rate limit, keep doubling it).
const STABLE: Duration = Duration::from_secs(60);
/// A socket open this long before a 4001 had been working: connect again without waiting.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Handle to the network task; dropping it stops the task.
#[derive(Debug)]
pub struct Net {
    outbox: mpsc::Sender<ClientMsg>,
    task: JoinHandle<()>,
}

impl Net {
    /// Starts the task for the session `refresher` keeps current.
    pub fn spawn(refresher: Refresher, events: mpsc::Sender<Event>) -> Net {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let task = tokio::spawn(run(refresher, rx, events));
        Net { outbox, task }
    }

    /// Queues a frame without waiting.
    pub fn send(&self, msg: ClientMsg) -> Result<(), String> {
        self.outbox.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => "too many frames waiting to be sent".to_owned(),
            mpsc::error::TrySendError::Closed(_) => "the network task has stopped".to_owned(),
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Doubling waits between attempts, with a little jitter so clients do not reconnect in step.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// A connection was open for `lived`: after a long, healthy one, start over from the
    /// shortest wait.
    fn connection_ended(&mut self, lived: Duration) {
        if lived >= STABLE {
            self.reset();
        }
    }

    fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Up to +20 %.
        base + base.mul_f64(f64::from(nanos % 1000) / 5000.0)
    }
}

/// Why one connection ended.
enum End {
    /// The UI is gone: stop.
    Stopped,
    /// The server closed the socket over its token (4001): expired, or its session ended.
    Unauthorized,
    /// A renewal's refresh token was refused: the session is over.
    Ended,
    Lost(String),
}

async fn run(
    refresher: Refresher,
    mut outbox: mpsc::Receiver<ClientMsg>,
    events: mpsc::Sender<Event>,
) {
    let mut backoff = Backoff::new();
    let mut renewal = Renewal::new(refresher);
    // Once a connection has opened, a refused refresh token means the session was ended while
    // we were using it (signed out elsewhere, password changed), not that it had expired.
    let mut worked = false;
    loop {
        if events
            .send(Event::Net(NetStatus::Connecting))
            .await
            .is_err()
        {
            return;
        }
        let reason = match renewal.token().await {
            Ok(token) => {
                let (end, lived) = connect(&token, &mut renewal, &mut outbox, &events).await;
                backoff.connection_ended(lived);
                worked |= lived > Duration::ZERO;
                match end {
                    End::Stopped => return,
                    End::Ended => {
                        let _ = events.send(Event::Net(NetStatus::SessionEnded)).await;
                        return;
                    }
                    End::Unauthorized => {
                        renewal.forget();
                        // A socket that worked was closed: its token expired or its session
                        // ended, and a refresh at once tells which. One closed at once waits.
                        if lived >= AT_ONCE {
                            continue;
                        }
                        "the server refused the access token".to_owned()
                    }
                    End::Lost(reason) => reason,
                }
            }
            Err(session::Error::SessionEnded) => {
                let status = if worked {
                    NetStatus::SessionEnded
                } else {
                    NetStatus::AuthExpired
                };
                let _ = events.send(Event::Net(status)).await;
                return;
            }
            Err(e) => e.to_string(),
        };
        let wait = backoff.next();
        let status = NetStatus::Disconnected {
            reason,
            retry_in: wait,
        };
        if events.send(Event::Net(status)).await.is_err() {
            return;
        }
        // Frames queued while offline are stale; the UI resends what matters on connect.
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                msg = outbox.recv() => if msg.is_none() { return },
            }
        }
    }
}

/// One connection, from opening the socket until it ends: why it ended, and how long it was
/// open (zero when it never opened, so a slow failure to connect does not count as healthy).
async fn connect(
    token: &str,
    renewal: &mut Renewal,
    outbox: &mut mpsc::Receiver<ClientMsg>,
    events: &mpsc::Sender<Event>,
) -> (End, Duration) {
    let url = renewal.api().ws_url(token);
    let (socket, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(pair) => pair,
        Err(e) => return (End::Lost(format!("cannot connect: {e}")), Duration::ZERO),
    };
    let opened = Instant::now();
    let end = session(socket, renewal, outbox, events).await;
    (end, opened.elapsed())
}

/// An open socket, until it ends.
async fn session(
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    renewal: &mut Renewal,
    outbox: &mut mpsc::Receiver<ClientMsg>,
    events: &mpsc::Sender<Event>,
) -> End {
    let (mut sink, mut stream) = socket.split();
    // The server refuses a bad token by closing at once with 4001: wait a moment for that, so
    // a refused token never shows as connected.
    let first = match tokio::time::timeout(GRACE, stream.next()).await {
        Ok(frame) => match incoming(frame) {
            Ok(event) => event,
            Err(end) => return end,
        },
        Err(_) => None,
    };
    if events.send(Event::Net(NetStatus::Connected)).await.is_err() {
        return End::Stopped;
    }
    if let Some(event) = first
        && events.send(event).await.is_err()
    {
        return End::Stopped;
    }
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let out = tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match incoming(frame) {
                    // The renewal's own answers stay here.
                    Ok(Some(Event::Server(frame))) if renewal.answered(&frame) => {}
                    Ok(Some(event)) => {
                        if events.send(event).await.is_err() {
                            return End::Stopped;
                        }
                    }
                    Ok(None) => {}
                    Err(end) => return end,
                }
                continue;
            }
            msg = outbox.recv() => match msg {
                Some(msg) => msg,
                None => return End::Stopped,
            },
            () = renewal.due() => match renewal.renew().await {
                Renewed::Send(msg) => msg,
                // Tried again by itself; the socket works on until the token expires.
                Renewed::Later(_) => continue,
                Renewed::Ended => return End::Ended,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > DEAD {
                    return End::Lost("no answer from the server".into());
                }
                if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                    return End::Lost(e.to_string());
                }
                continue;
            }
        };
        let text = match serde_json::to_string(&out) {
            Ok(text) => text,
            Err(e) => {
                let warning = NetStatus::Warning(format!("cannot encode a frame: {e}"));
                if events.send(Event::Net(warning)).await.is_err() {
                    return End::Stopped;
                }
                continue;
            }
        };
        if let Err(e) = sink.send(Message::text(text)).await {
            return End::Lost(e.to_string());
        }
    }
}

/// What one read from the socket means: an event for the UI, nothing, or the end.
fn incoming(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<Event>, End> {
    match frame {
        None => Err(End::Lost("the server closed the connection".into())),
        Some(Err(e)) => Err(End::Lost(e.to_string())),
        Some(Ok(Message::Close(close))) => {
            let code = close.as_ref().map(|c| u16::from(c.code));
            if code == Some(chat_shared::close::UNAUTHORIZED) {
                return Err(End::Unauthorized);
            }
            Err(End::Lost(close.map_or_else(
                || "closed by the server".to_owned(),
                |c| format!("closed by the server ({} {})", u16::from(c.code), c.reason),
            )))
        }
        Some(Ok(Message::Text(text))) => Ok(Some(match serde_json::from_str::<Pushed>(&text) {
            Ok(Pushed {
                seq: Some(seq),
                frame,
            }) => Event::Pushed(seq, frame),
            Ok(Pushed { seq: None, frame }) => Event::Server(frame),
            Err(e) => Event::Net(NetStatus::Warning(format!(
                "unreadable frame from the server: {e}"
            ))),
        })),
        Some(Ok(_)) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new();
        let waits: Vec<Duration> = (0..10).map(|_| backoff.next()).collect();
        for (i, wait) in waits.iter().enumerate() {
            let base = (BACKOFF_MIN * 2u32.pow(i as u32)).min(BACKOFF_MAX);
            assert!(*wait >= base && *wait <= base.mul_f64(1.2), "{i}: {wait:?}");
        }
        backoff.reset();
        assert!(backoff.next() <= BACKOFF_MIN.mul_f64(1.2));
    }

    #[test]
    fn a_connection_open_a_minute_restarts_the_backoff_and_short_ones_do_not() {
        let mut backoff = Backoff::new();
        for _ in 0..6 {
            backoff.next();
        }
        // Six failures in a row: the next wait is 32 s. A short-lived connection (closed by a
        // rate limit, say) keeps the doubling going.
        backoff.connection_ended(Duration::from_secs(59));
        assert!(backoff.next() >= Duration::from_secs(30), "capped at 30 s");
        // A long session: the next attempt comes after the shortest wait, then doubles again.
        backoff.connection_ended(Duration::from_secs(60));
        assert!(backoff.next() <= BACKOFF_MIN.mul_f64(1.2));
        assert!(backoff.next() >= BACKOFF_MIN * 2);
        backoff.connection_ended(Duration::from_secs(3600));
        assert!(backoff.next() <= BACKOFF_MIN.mul_f64(1.2));
        backoff.connection_ended(Duration::ZERO);
        assert!(backoff.next() >= BACKOFF_MIN * 2);
    }
}
