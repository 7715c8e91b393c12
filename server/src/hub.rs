//! Local fan-out: which connections each user has open here, and delivery to their queues.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use chat_shared::ServerMsg;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One open connection as the hub sees it: its queue and the switch that closes it.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub user_id: i64,
    queue: mpsc::Sender<Utf8Bytes>,
    /// Cancelled when the connection must close because its queue overflowed.
    pub too_slow: CancellationToken,
}

impl ConnHandle {
    pub fn new(id: u64, user_id: i64, queue: mpsc::Sender<Utf8Bytes>) -> ConnHandle {
        ConnHandle {
            id,
            user_id,
            queue,
            too_slow: CancellationToken::new(),
        }
    }

    /// Queues one frame without waiting. A full queue means a client that does not read:
    /// it is closed rather than allowed to hold memory or delay anyone else.
    pub fn push(&self, frame: Utf8Bytes) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(frame) {
            if !self.too_slow.is_cancelled() {
                tracing::warn!(
                    conn = self.id,
                    user = self.user_id,
                    "send queue full; closing"
                );
            }
            self.too_slow.cancel();
        }
    }

    /// Serializes and queues one frame.
    pub fn send(&self, msg: &ServerMsg) {
        self.push(msg.to_json().into());
    }
}

/// User id → that user's open connections on this instance.
#[derive(Clone, Default)]
pub struct Hub {
    // A std mutex: held only for map updates and non-blocking pushes, never across an await.
    conns: Arc<Mutex<HashMap<i64, Vec<ConnHandle>>>>,
    next_id: Arc<AtomicU64>,
}

impl Hub {
    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, conn: ConnHandle) {
        let mut conns = self.conns.lock().expect("hub lock poisoned");
        conns.entry(conn.user_id).or_default().push(conn);
    }

    pub fn unregister(&self, conn: &ConnHandle) {
        let mut conns = self.conns.lock().expect("hub lock poisoned");
        if let Some(list) = conns.get_mut(&conn.user_id) {
            list.retain(|c| c.id != conn.id);
            if list.is_empty() {
                conns.remove(&conn.user_id);
            }
        }
    }

    /// How many connections are open here.
    pub fn connection_count(&self) -> usize {
        let conns = self.conns.lock().expect("hub lock poisoned");
        conns.values().map(Vec::len).sum()
    }

    /// Sends `msg` to every connection of every user in `user_ids` but the connection `except`.
    /// The frame is serialized once; every queue gets the same bytes.
    pub fn deliver(&self, user_ids: &[i64], msg: &ServerMsg, except: Option<u64>) {
        let frame: Utf8Bytes = msg.to_json().into();
        let conns = self.conns.lock().expect("hub lock poisoned");
        for user_id in user_ids {
            for conn in conns.get(user_id).into_iter().flatten() {
                if Some(conn.id) != except {
                    conn.push(frame.clone());
                }
            }
        }
    }
}
