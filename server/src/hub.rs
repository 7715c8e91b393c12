//! Local delivery: which connections each user has open on this instance, delivery to their
//! queues, and closing those whose credentials were revoked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use chat_shared::ServerMsg;

use crate::conn::{ConnHandle, Credentials};
use crate::metrics::Metrics;
use crate::store::Revocation;

/// How long a revocation is remembered for connections that register after it arrived.
const REMEMBER_REVOCATIONS: Duration = Duration::from_secs(60);
/// At most this many remembered revocations (the oldest are forgotten first).
const MAX_REMEMBERED_REVOCATIONS: usize = 1024;

/// The hub's shared state; `Hub` is a cheap handle to it.
struct HubInner {
    // A std mutex: held only for map updates and non-blocking pushes, never across an await.
    conns: Mutex<HashMap<i64, Vec<ConnHandle>>>,
    /// Revocations that arrived lately, each with its user and arrival: a connection whose
    /// token was checked before a revocation was committed, and that registers (or renews)
    /// after the revocation arrived here, is closed by it too. Locked only under `conns`.
    recent_revocations: Mutex<VecDeque<(Instant, i64, Arc<Revocation>)>>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    /// Who is told of arrivals and departures (the Redis bus, presence).
    watchers: Mutex<Vec<Arc<Arrivals>>>,
}

/// The users who arrived (their first connection here opened) or left (their last one here
/// closed) since the watcher last looked: a set, so bounded by the number of users.
#[derive(Default)]
pub struct Arrivals {
    users: Mutex<HashSet<i64>>,
    changed: Notify,
}

impl Arrivals {
    fn note(&self, user_id: i64) {
        self.users
            .lock()
            .expect("hub lock poisoned")
            .insert(user_id);
        self.changed.notify_one();
    }

    /// Users who arrived or left since the last call (whether they are here now, the hub says).
    pub fn take(&self) -> Vec<i64> {
        self.users
            .lock()
            .expect("hub lock poisoned")
            .drain()
            .collect()
    }

    /// Completes when users arrived or left since the last [`Arrivals::take`].
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// User id → that user's open connections on this instance. Knows nothing of other instances:
/// the fan-out delivers here and to the bus.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// A hub that does not keep its connections alive (what the in-process bus holds).
#[derive(Clone)]
pub struct WeakHub(Weak<HubInner>);

impl WeakHub {
    pub fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(|inner| Hub { inner })
    }
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                conns: Mutex::default(),
                recent_revocations: Mutex::default(),
                next_id: AtomicU64::new(0),
                metrics,
                watchers: Mutex::default(),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.inner))
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<ConnHandle>>> {
        self.inner.conns.lock().expect("hub lock poisoned")
    }

    /// Adds a connection; it is closed at once if a revocation that arrived lately covers its
    /// credentials (its token was checked before the revocation was committed).
    pub fn register(&self, conn: ConnHandle) {
        let user_id = conn.user_id;
        let first = {
            let mut conns = self.conns();
            self.close_if_revoked_lately(&conn);
            let list = conns.entry(user_id).or_default();
            list.push(conn);
            list.len() == 1
        };
        self.inner.metrics.connections.inc();
        if first {
            self.note_arrival(user_id);
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
            self.note_arrival(conn.user_id);
        }
    }

    /// From now on, tells the returned watcher who arrives and leaves.
    pub fn watch_arrivals(&self) -> Arc<Arrivals> {
        let arrivals = Arc::new(Arrivals::default());
        self.inner
            .watchers
            .lock()
            .expect("hub lock poisoned")
            .push(arrivals.clone());
        arrivals
    }

    fn note_arrival(&self, user_id: i64) {
        for watcher in self
            .inner
            .watchers
            .lock()
            .expect("hub lock poisoned")
            .iter()
        {
            watcher.note(user_id);
        }
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

    /// Sends a serialized frame of type `kind` to the connections of `user_ids` on this
    /// instance only. A [`Revocation`] is no frame: it closes the connections it covers (it
    /// comes this way so that the bus carries it to every instance like any frame).
    pub fn deliver_local(
        &self,
        user_ids: &[i64],
        kind: &str,
        frame: &Utf8Bytes,
        except: Option<u64>,
    ) {
        if kind == Revocation::KIND {
            return self.revoke(user_ids, frame);
        }
        let message = kind == ServerMsg::MESSAGE;
        let mut queued = 0;
        {
            let conns = self.conns();
            for user_id in user_ids {
                for conn in conns.get(user_id).into_iter().flatten() {
                    if Some(conn.id) != except
                        && conn.takes(kind)
                        && conn.push(frame.clone(), message)
                    {
                        queued += 1;
                    }
                }
            }
        }
        self.inner.metrics.frames_out(kind, queued);
    }

    /// The connection goes on with `credentials` (renewed with `chat.auth`), unless a
    /// revocation that arrived lately covers them.
    pub fn renew(&self, conn: &ConnHandle, credentials: Credentials) {
        let _conns = self.conns();
        conn.set_credentials(credentials);
        self.close_if_revoked_lately(conn);
    }

    /// Closes the connections of `user_ids` here whose credentials the serialized
    /// [`Revocation`] covers, and remembers it for those that register or renew later.
    fn revoke(&self, user_ids: &[i64], revocation: &Utf8Bytes) {
        let Ok(revocation) = serde_json::from_str::<Revocation>(revocation.as_str()) else {
            tracing::warn!("a revocation that does not parse; ignored");
            return;
        };
        let conns = self.conns();
        for conn in user_ids.iter().filter_map(|id| conns.get(id)).flatten() {
            let credentials = conn.credentials();
            if revocation.covers(credentials.sid, credentials.issued_at) {
                conn.revoke("session ended");
            }
        }
        let now = Instant::now();
        let revocation = Arc::new(revocation);
        let mut recent = self.recent_revocations();
        forget_old_revocations(&mut recent, now);
        for &user_id in user_ids {
            if recent.len() == MAX_REMEMBERED_REVOCATIONS {
                recent.pop_front();
            }
            recent.push_back((now, user_id, revocation.clone()));
        }
    }

    /// Closes `conn` if a revocation remembered covers its credentials. Called under `conns`,
    /// so that a revocation arrives either before (remembered) or after (sees the connection).
    fn close_if_revoked_lately(&self, conn: &ConnHandle) {
        let mut recent = self.recent_revocations();
        forget_old_revocations(&mut recent, Instant::now());
        let credentials = conn.credentials();
        let revoked = recent.iter().any(|(_, user_id, revocation)| {
            *user_id == conn.user_id && revocation.covers(credentials.sid, credentials.issued_at)
        });
        if revoked {
            conn.revoke("session ended");
        }
    }

    fn recent_revocations(
        &self,
    ) -> std::sync::MutexGuard<'_, VecDeque<(Instant, i64, Arc<Revocation>)>> {
        self.inner
            .recent_revocations
            .lock()
            .expect("hub lock poisoned")
    }
}

fn forget_old_revocations(recent: &mut VecDeque<(Instant, i64, Arc<Revocation>)>, now: Instant) {
    while recent
        .front()
        .is_some_and(|(at, ..)| now.duration_since(*at) > REMEMBER_REVOCATIONS)
    {
        recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_message_frames_earn_receipt_credit() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let conn = ConnHandle::new(hub.next_conn_id(), 7, 16, 1 << 20);
        hub.register(conn.clone());
        hub.deliver_local(&[7], ServerMsg::MESSAGE, &"{}".into(), None);
        hub.deliver_local(&[7], "chat.message_status", &"{}".into(), None);
        hub.deliver_local(&[7], "chat.read", &"{}".into(), None);
        assert_eq!(conn.outbox.messages_queued(), 1);
        assert!(conn.outbox.try_next().is_some());
        // The connection itself is skipped when it is the one excepted.
        hub.deliver_local(&[7], ServerMsg::MESSAGE, &"{}".into(), Some(conn.id));
        assert_eq!(conn.outbox.messages_queued(), 1);
    }

    #[test]
    fn a_revocation_closes_the_connections_it_covers_and_queues_nothing() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let conn = |sid, issued_at| {
            let conn = ConnHandle::new(hub.next_conn_id(), 7, 16, 1 << 20);
            conn.set_credentials(crate::conn::Credentials {
                sid,
                issued_at,
                deadline: None,
            });
            hub.register(conn.clone());
            conn
        };
        let (ended, kept, old, new) = (
            conn(Some(1), 0),
            conn(Some(2), 0),
            conn(None, 4),
            conn(None, 5),
        );
        let revocation = Revocation {
            sessions: vec![1],
            before: Some(5_000),
        };
        let frame = serde_json::to_string(&revocation).expect("json").into();
        hub.deliver_local(&[7], Revocation::KIND, &frame, None);
        let revoked = |c: &ConnHandle| {
            let mut revoked = std::pin::pin!(c.revoked());
            let waker = std::task::Waker::noop();
            revoked
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
                .is_ready()
        };
        assert_eq!(
            [&ended, &kept, &old, &new].map(revoked),
            [true, false, true, false]
        );
        assert!(ended.outbox.try_next().is_none());
    }

    fn is_revoked(conn: &ConnHandle) -> bool {
        let mut revoked = std::pin::pin!(conn.revoked());
        revoked
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
            .is_ready()
    }

    /// A token checked before a revocation was committed, whose connection registers (or
    /// renews with `chat.auth`) only after the revocation arrived: closed all the same.
    #[test]
    fn a_revocation_that_arrived_first_closes_connections_registered_or_renewed_after_it() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let credentials = |sid| crate::conn::Credentials {
            sid: Some(sid),
            issued_at: 0,
            deadline: None,
        };
        let revocation = Revocation {
            sessions: vec![1],
            before: None,
        };
        let frame = serde_json::to_string(&revocation).expect("json").into();
        hub.deliver_local(&[7], Revocation::KIND, &frame, None);
        let opened = |user_id, sid| {
            let conn = ConnHandle::new(hub.next_conn_id(), user_id, 16, 1 << 20);
            conn.set_credentials(credentials(sid));
            hub.register(conn.clone());
            conn
        };
        let (late, other_session, other_user) = (opened(7, 1), opened(7, 2), opened(8, 1));
        assert_eq!(
            [&late, &other_session, &other_user].map(is_revoked),
            [true, false, false]
        );
        // Renewed onto the revoked session after the revocation arrived.
        hub.renew(&other_session, credentials(1));
        assert!(is_revoked(&other_session));
    }
}
