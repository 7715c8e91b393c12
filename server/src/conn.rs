//! One connection as the rest of the server sees it: its outgoing queue, bounded in frames and
//! in bytes, the switch that closes it when the queue overflows, and the credentials it runs
//! on, which a revocation closes it for.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use chat_shared::ServerMsg;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One open connection: its outgoing queue and the switch that closes it.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub user_id: i64,
    pub outbox: Arc<Outbox>,
    /// Cancelled when the connection must close because its queue overflowed.
    pub too_slow: CancellationToken,
    shared: Arc<Shared>,
}

/// What the connection's task and the rest of the server both change.
#[derive(Default)]
struct Shared {
    /// Whether the client said `chat.hello`: only then does it get the frames a client of the
    /// original protocol would not expect (`chat.presence`).
    greeted: AtomicBool,
    /// The credentials the connection runs on: what a revocation is matched against, and when
    /// they make the connection close.
    credentials: Mutex<Credentials>,
    /// Set once the credentials were revoked: why (the close reason).
    revoked: OnceLock<&'static str>,
    /// Wakes the connection's reader to close it.
    revoke: Notify,
}

/// The token a connection was opened or last renewed with, as far as a revocation cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Its session; `None` for a token minted elsewhere.
    pub sid: Option<i64>,
    /// When it was issued, Unix seconds.
    pub issued_at: i64,
    /// When the connection must close (or, with `--socket-expiry session`, look again), Unix
    /// milliseconds; `None`: never by time.
    pub deadline: Option<i64>,
}

/// Frames only a client that said `chat.hello` gets, live and in a sync.
pub const AFTER_HELLO: &[&str] = &["chat.presence"];

impl ConnHandle {
    /// A connection whose queue holds at most `capacity` frames, and takes no frame once it
    /// holds `max_bytes` (see [`Outbox`]).
    pub fn new(id: u64, user_id: i64, capacity: usize, max_bytes: usize) -> ConnHandle {
        ConnHandle {
            id,
            user_id,
            outbox: Arc::new(Outbox::new(capacity, max_bytes)),
            too_slow: CancellationToken::new(),
            shared: Arc::default(),
        }
    }

    /// The client said `chat.hello`.
    pub fn greet(&self) {
        self.shared.greeted.store(true, Ordering::Relaxed);
    }

    /// Whether the client said `chat.hello`.
    pub fn greeted(&self) -> bool {
        self.shared.greeted.load(Ordering::Relaxed)
    }

    /// The credentials the connection runs on.
    pub fn credentials(&self) -> Credentials {
        *self
            .shared
            .credentials
            .lock()
            .expect("credentials lock poisoned")
    }

    /// The connection runs on `credentials` from now on (opened, or renewed with `chat.auth`).
    pub fn set_credentials(&self, credentials: Credentials) {
        *self
            .shared
            .credentials
            .lock()
            .expect("credentials lock poisoned") = credentials;
    }

    /// Its credentials no longer stand: the connection's reader closes it with 4001 and
    /// `why`, after the frames already queued.
    pub fn revoke(&self, why: &'static str) {
        if self.shared.revoked.set(why).is_ok() {
            tracing::debug!(
                conn = self.id,
                user = self.user_id,
                why,
                "credentials revoked"
            );
            self.shared.revoke.notify_one();
        }
    }

    /// Completes, with the reason, once [`ConnHandle::revoke`] was called. Cancel-safe.
    pub async fn revoked(&self) -> &'static str {
        loop {
            if let Some(why) = self.shared.revoked.get() {
                return why;
            }
            self.shared.revoke.notified().await;
        }
    }

    /// Whether a frame of type `kind` is for this connection (see [`AFTER_HELLO`]).
    pub fn takes(&self, kind: &str) -> bool {
        self.greeted() || !AFTER_HELLO.contains(&kind)
    }

    /// Queues one frame without waiting; whether it was queued. A full queue means a client
    /// that does not read: it is closed rather than allowed to hold memory or delay anyone.
    /// `message` says whether the frame is a `chat.message` (one a client answers with receipts).
    pub fn push(&self, frame: Utf8Bytes, message: bool) -> bool {
        match self.outbox.push(frame, message) {
            Ok(()) => true,
            Err(Refused::Full) => {
                if !self.too_slow.is_cancelled() {
                    tracing::warn!(
                        conn = self.id,
                        user = self.user_id,
                        "send queue full; closing"
                    );
                }
                self.too_slow.cancel();
                false
            }
            Err(Refused::Closed) => false,
        }
    }

    /// Serializes and queues one frame for this connection only (a reply).
    pub fn send(&self, msg: &ServerMsg) {
        self.push(msg.to_json().into(), false);
    }
}

/// A connection's outgoing frames, oldest first: a bounded queue that holds no memory while
/// it is empty (a connection is idle most of its life, and there are many of them).
///
/// Bounded twice: at most `capacity` frames, and no frame is taken once the frames waiting
/// hold `max_bytes` or more. A frame is taken whenever the queue holds less than the budget,
/// however large it is, so the largest reply still reaches a client that reads (into an empty
/// queue at worst), and the queue never holds more than the budget plus one frame.
pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    capacity: usize,
    max_bytes: usize,
}

struct Queue {
    frames: VecDeque<Utf8Bytes>,
    /// The bytes of `frames`.
    bytes: usize,
    /// `chat.message` frames ever queued: what receipts answer (see `FrameLimiter`).
    messages: u64,
    closed: bool,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Full,
    Closed,
}

/// A drained queue keeps at most this many slots of the burst that grew it.
const KEPT_SLOTS: usize = 4;

impl Outbox {
    fn new(capacity: usize, max_bytes: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                bytes: 0,
                messages: 0,
                closed: false,
            }),
            ready: Notify::new(),
            capacity,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("outbox lock poisoned")
    }

    fn push(&self, frame: Utf8Bytes, message: bool) -> Result<(), Refused> {
        {
            let mut queue = self.lock();
            if queue.closed {
                return Err(Refused::Closed);
            }
            if queue.frames.len() >= self.capacity || queue.bytes >= self.max_bytes {
                return Err(Refused::Full);
            }
            queue.bytes += frame.len();
            queue.messages += u64::from(message);
            queue.frames.push_back(frame);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// The oldest frame, without waiting.
    pub fn try_next(&self) -> Option<Utf8Bytes> {
        let mut queue = self.lock();
        let frame = queue.frames.pop_front();
        if let Some(frame) = &frame {
            queue.bytes -= frame.len();
        }
        if queue.frames.is_empty() && queue.frames.capacity() > KEPT_SLOTS {
            queue.frames.shrink_to(KEPT_SLOTS);
        }
        frame
    }

    /// How many `chat.message` frames were ever queued here.
    pub fn messages_queued(&self) -> u64 {
        self.lock().messages
    }

    /// The oldest frame, waiting for one; `None` once the outbox is closed and empty. Only one
    /// task (the connection's writer) takes frames. Cancel-safe.
    pub async fn next(&self) -> Option<Utf8Bytes> {
        loop {
            // A frame pushed between this look and the wait leaves a permit: no wake-up is lost.
            if let Some(frame) = self.try_next() {
                return Some(frame);
            }
            if self.lock().closed {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// Accepts no more frames; those queued are still handed out.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outbox_is_bounded_ordered_and_drains_after_close() {
        let outbox = Arc::new(Outbox::new(2, 1024));
        assert_eq!(outbox.push("a".into(), false), Ok(()));
        assert_eq!(outbox.push("b".into(), false), Ok(()));
        assert_eq!(outbox.push("c".into(), false), Err(Refused::Full));
        assert_eq!(outbox.next().await.as_deref(), Some("a"));
        assert_eq!(outbox.push("c".into(), false), Ok(()));
        outbox.close();
        assert_eq!(outbox.push("d".into(), false), Err(Refused::Closed));
        assert_eq!(outbox.next().await.as_deref(), Some("b"));
        assert_eq!(outbox.next().await.as_deref(), Some("c"));
        assert_eq!(outbox.next().await, None);
    }

    #[tokio::test]
    async fn a_waiting_outbox_wakes_for_each_frame_and_gives_back_its_memory() {
        let outbox = Arc::new(Outbox::new(1000, 1 << 20));
        let reader = tokio::spawn({
            let outbox = outbox.clone();
            async move {
                let mut got = Vec::new();
                while let Some(frame) = outbox.next().await {
                    got.push(frame.to_string());
                }
                got
            }
        });
        for i in 0..500 {
            assert_eq!(outbox.push(i.to_string().into(), false), Ok(()));
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        outbox.close();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the reader finished")
            .expect("reader");
        let want: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert_eq!(got, want);
        assert!(outbox.lock().frames.capacity() <= KEPT_SLOTS);
        assert_eq!(outbox.lock().bytes, 0);
    }

    #[tokio::test]
    async fn an_outbox_takes_frames_while_under_its_byte_budget() {
        let outbox = Outbox::new(100, 10);
        // Larger than the whole budget, into an empty queue: taken.
        assert_eq!(outbox.push("x".repeat(25).into(), false), Ok(()));
        assert_eq!(outbox.push("y".into(), false), Err(Refused::Full));
        assert_eq!(outbox.next().await.map(|f| f.len()), Some(25));
        // Under the budget, the frame that crosses it is the last one taken.
        assert_eq!(outbox.push("1234".into(), false), Ok(()));
        assert_eq!(outbox.push("5678".into(), false), Ok(()));
        assert_eq!(outbox.push("9abc".into(), false), Ok(()));
        assert_eq!(outbox.push("d".into(), false), Err(Refused::Full));
        assert_eq!(outbox.lock().bytes, 12);
        assert_eq!(outbox.next().await.as_deref(), Some("1234"));
        assert_eq!(outbox.push("d".into(), false), Ok(()));
        assert_eq!(outbox.lock().bytes, 9);
    }
}
