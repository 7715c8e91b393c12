//! Local fan-out: which connections each user has open here, and delivery to their queues.
//! Frames for users are also handed to the [`Bus`] for the other instances.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use chat_shared::ServerMsg;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::metrics::Metrics;

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

    /// Queues one frame without waiting; whether it was queued. A full queue means a client
    /// that does not read: it is closed rather than allowed to hold memory or delay anyone.
    pub fn push(&self, frame: Utf8Bytes) -> bool {
        match self.queue.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
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
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Serializes and queues one frame for this connection only (a reply).
    pub fn send(&self, msg: &ServerMsg) {
        self.push(msg.to_json().into());
    }
}

/// The hub's shared state; `Hub` is a cheap handle to it.
pub struct HubInner {
    // A std mutex: held only for map updates and non-blocking pushes, never across an await.
    conns: Mutex<HashMap<i64, Vec<ConnHandle>>>,
    next_id: AtomicU64,
    /// This instance's id on the bus.
    origin: u64,
    bus: Bus,
    metrics: Arc<Metrics>,
    /// Users who arrived or left since the bus last looked (only kept when a bus needs it).
    presence: Mutex<HashSet<i64>>,
    presence_changed: Notify,
}

/// User id → that user's open connections on this instance.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Hub {
    pub fn new(bus: Bus, metrics: Arc<Metrics>) -> Hub {
        let hub = Hub {
            inner: Arc::new(HubInner {
                conns: Mutex::default(),
                next_id: AtomicU64::new(0),
                origin: rand::random(),
                bus,
                metrics,
                presence: Mutex::default(),
                presence_changed: Notify::new(),
            }),
        };
        if let Bus::Memory(memory) = &hub.inner.bus {
            memory.join(hub.inner.origin, Arc::downgrade(&hub.inner));
        }
        hub
    }

    pub(crate) fn from_inner(inner: Arc<HubInner>) -> Hub {
        Hub { inner }
    }

    pub fn origin(&self) -> u64 {
        self.inner.origin
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<ConnHandle>>> {
        self.inner.conns.lock().expect("hub lock poisoned")
    }

    pub fn register(&self, conn: ConnHandle) {
        let user_id = conn.user_id;
        let first = {
            let mut conns = self.conns();
            let list = conns.entry(user_id).or_default();
            list.push(conn);
            list.len() == 1
        };
        self.inner.metrics.connections.inc();
        if first {
            self.note_presence(user_id);
        }
    }

    pub fn unregister(&self, conn: &ConnHandle) {
        let (removed, last) = {
            let mut conns = self.conns();
            match conns.get_mut(&conn.user_id) {
                Some(list) => {
                    let before = list.len();
                    list.retain(|c| c.id != conn.id);
                    let removed = list.len() < before;
                    let last = list.is_empty();
                    if last {
                        conns.remove(&conn.user_id);
                    }
                    (removed, last)
                }
                None => (false, false),
            }
        };
        if removed {
            self.inner.metrics.connections.dec();
        }
        if last {
            self.note_presence(conn.user_id);
        }
    }

    fn note_presence(&self, user_id: i64) {
        if matches!(self.inner.bus, Bus::Redis(_)) {
            self.inner
                .presence
                .lock()
                .expect("hub lock poisoned")
                .insert(user_id);
            self.inner.presence_changed.notify_one();
        }
    }

    /// Users who arrived or left since the last call.
    pub fn take_presence_changes(&self) -> Vec<i64> {
        let mut presence = self.inner.presence.lock().expect("hub lock poisoned");
        presence.drain().collect()
    }

    /// Completes when users arrived or left.
    pub async fn presence_changed(&self) {
        self.inner.presence_changed.notified().await;
    }

    /// Every user with a connection here.
    pub fn user_ids(&self) -> Vec<i64> {
        self.conns().keys().copied().collect()
    }

    pub fn has_user(&self, user_id: i64) -> bool {
        self.conns().contains_key(&user_id)
    }

    /// How many connections are open here.
    pub fn connection_count(&self) -> usize {
        self.conns().values().map(Vec::len).sum()
    }

    /// Sends `msg` to every connection of every user in `user_ids`, here and on the other
    /// instances, but the connection `except`. Serialized once; every queue gets the same bytes.
    pub fn deliver(&self, user_ids: &[i64], msg: &ServerMsg, except: Option<u64>) {
        let frame: Utf8Bytes = msg.to_json().into();
        self.deliver_local(user_ids, &frame, except);
        self.inner
            .bus
            .publish(self.inner.origin, user_ids, &frame, &self.inner.metrics);
    }

    /// Sends a serialized frame to the connections of `user_ids` on this instance only.
    pub fn deliver_local(&self, user_ids: &[i64], frame: &Utf8Bytes, except: Option<u64>) {
        let mut queued = 0;
        {
            let conns = self.conns();
            for user_id in user_ids {
                for conn in conns.get(user_id).into_iter().flatten() {
                    if Some(conn.id) != except && conn.push(frame.clone()) {
                        queued += 1;
                    }
                }
            }
        }
        self.inner.metrics.frames_out(frame.as_str(), queued);
    }
}
