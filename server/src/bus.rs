//! Fan-out across server instances: frames for users whose connections may live elsewhere.
//!
//! `Local` (one instance, nothing to do), `Memory` (instances in one process, for tests) and
//! `Redis` (pub/sub). With Redis each user has a channel `<prefix>:user:<id>`; an instance subscribes
//! to the channels of the users connected to it, and a frame for a few users is published once per
//! recipient user, never once per connection. A frame for many (a message to a group) is published
//! once, on `<prefix>:all`, which every instance subscribes to, with the list of its recipients:
//! one PUBLISH whatever the group's size. Redis delivers one subscriber's messages in the order
//! they were published, across channels, so the two ways keep frames in order.
//!
//! Each payload is `<origin> <type> <frame>` (per user) or `<origin> <type> <ids> <frame>` (on
//! `all`, ids comma-separated): the publishing instance (so an instance skips its own), the
//! frame's `type` (so a receiver need not read the JSON), then the serialized frame.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chat_shared::{ServerMsg, Timestamp};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, WeakHub};
use crate::metrics::Metrics;
use crate::store::Store;

/// Frames waiting to be published before the bus counts as backed up and drops them.
const PUBLISH_QUEUE: usize = 16 * 1024;
/// Frames for at least this many users go out once on the `all` channel instead of once per user.
const BROADCAST_AT: usize = 8;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One frame for some users, on its way to the other instances.
struct Envelope {
    user_ids: Vec<i64>,
    kind: &'static str,
    frame: Utf8Bytes,
}

/// Which other instances this one shares its users with, as the caller gives it: none, or
/// the instances of one process (tests hand several servers one [`MemoryBus`]). With
/// `--redis-url` the instances meet in Redis instead.
#[derive(Clone, Default)]
pub enum Bus {
    /// A single instance.
    #[default]
    Local,
    /// Instances in one process that share this list (tests).
    Memory(MemoryBus),
}

/// This instance's place on its bus: where the fan-out hands frames for the other instances.
pub enum Link {
    Local,
    Memory { bus: MemoryBus, origin: u64 },
    Redis(RedisBus),
}

/// Joins this instance, whose connections are `hub`, to the other instances: through Redis at
/// `redis` (`(url, channel prefix)`, its tasks ending with `stop`), else on `bus`.
pub fn join(
    bus: Bus,
    redis: Option<(&str, &str)>,
    hub: &Hub,
    store: &Store,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<Link> {
    let origin = rand::random();
    if let Some((url, prefix)) = redis {
        return start_redis(
            url,
            prefix,
            origin,
            hub.clone(),
            store.clone(),
            metrics,
            stop,
        );
    }
    Ok(match bus {
        Bus::Local => Link::Local,
        Bus::Memory(bus) => {
            bus.peers
                .lock()
                .expect("bus lock poisoned")
                .push((origin, hub.downgrade()));
            Link::Memory { bus, origin }
        }
    })
}

impl Link {
    /// Hands a frame of type `kind` for `user_ids` to the other instances. Never waits.
    pub(crate) fn publish(
        &self,
        user_ids: &[i64],
        kind: &'static str,
        frame: &Utf8Bytes,
        metrics: &Metrics,
    ) {
        match self {
            Link::Local => {}
            Link::Memory { bus, origin } => bus.publish(*origin, user_ids, kind, frame),
            Link::Redis(bus) => {
                let envelope = Envelope {
                    user_ids: user_ids.to_vec(),
                    kind,
                    frame: frame.clone(),
                };
                if bus.queue.try_send(envelope).is_err() {
                    metrics.bus_dropped.inc();
                }
            }
        }
    }
}

/// In-process instances that deliver each other's frames.
#[derive(Clone, Default)]
pub struct MemoryBus {
    /// Each instance's origin id and its hub, held weakly (a stopped server goes away).
    peers: Arc<Mutex<Vec<(u64, WeakHub)>>>,
}

impl MemoryBus {
    fn publish(&self, origin: u64, user_ids: &[i64], kind: &str, frame: &Utf8Bytes) {
        let peers: Vec<Hub> = {
            let peers = self.peers.lock().expect("bus lock poisoned");
            peers
                .iter()
                .filter(|(peer, _)| *peer != origin)
                .filter_map(|(_, hub)| hub.upgrade())
                .collect()
        };
        for hub in peers {
            hub.deliver_local(user_ids, kind, frame, None);
        }
    }
}

/// The publishing side of the Redis bus: a bounded queue drained by one task.
#[derive(Clone)]
pub struct RedisBus {
    queue: mpsc::Sender<Envelope>,
}

/// Names the Redis channel of each user.
#[derive(Clone)]
struct Channels {
    prefix: String,
}

impl Channels {
    fn of(&self, user_id: i64) -> String {
        format!("{}:user:{user_id}", self.prefix)
    }

    /// The channel every instance subscribes to.
    fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn user_of(&self, channel: &str) -> Option<i64> {
        channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":user:")?
            .parse()
            .ok()
    }
}

/// Starts the Redis bus for `hub`: a publisher and a subscriber task, both ending with `stop`.
fn start_redis(
    url: &str,
    prefix: &str,
    origin: u64,
    hub: Hub,
    store: Store,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> anyhow::Result<Link> {
    let client = redis::Client::open(url)?;
    let channels = Channels {
        prefix: prefix.to_string(),
    };
    let (queue, envelopes) = mpsc::channel(PUBLISH_QUEUE);
    tokio::spawn(publish(
        client.clone(),
        channels.clone(),
        envelopes,
        origin,
        stop.clone(),
        metrics.clone(),
    ));
    tokio::spawn(subscribe(
        client, channels, origin, hub, store, metrics, stop,
    ));
    Ok(Link::Redis(RedisBus { queue }))
}

/// Drains the queue into PUBLISH commands, pipelined, in order.
async fn publish(
    client: redis::Client,
    channels: Channels,
    mut envelopes: mpsc::Receiver<Envelope>,
    origin: u64,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let Some(mut conn) = connect_manager(&client, &stop).await else {
        return;
    };
    let mut batch = Vec::with_capacity(256);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            n = envelopes.recv_many(&mut batch, 256) => if n == 0 { return },
        }
        let mut pipe = redis::pipe();
        for envelope in batch.drain(..) {
            let (kind, frame) = (envelope.kind, envelope.frame.as_str());
            if envelope.user_ids.len() >= BROADCAST_AT {
                let ids: Vec<String> = envelope.user_ids.iter().map(i64::to_string).collect();
                let payload = format!("{origin:016x} {kind} {} {frame}", ids.join(","));
                pipe.publish(channels.all(), &payload).ignore();
            } else {
                let payload = format!("{origin:016x} {kind} {frame}");
                for user_id in &envelope.user_ids {
                    pipe.publish(channels.of(*user_id), &payload).ignore();
                }
            }
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "publishing to Redis failed; frames for other instances lost (history still has the messages)");
            metrics.bus_dropped.inc();
        }
    }
}

/// How long before the link was last known good a sync hint reaches back: a frame committed
/// then may still have been on its way when the link went.
const HINT_MARGIN_MS: i64 = 2000;

async fn connect_manager(
    client: &redis::Client,
    stop: &CancellationToken,
) -> Option<redis::aio::ConnectionManager> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match redis::aio::ConnectionManager::new(client.clone()).await {
            Ok(conn) => return Some(conn),
            Err(e) => tracing::warn!(error = %e, "cannot reach Redis to publish; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Keeps one subscription per locally connected user and delivers what others publish.
/// Reconnects (and resubscribes to everyone) whenever the connection to Redis is lost.
async fn subscribe(
    client: redis::Client,
    channels: Channels,
    origin: u64,
    hub: Hub,
    store: Store,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    // Who arrives and leaves from now on; those here already are subscribed to below.
    let arrivals = hub.watch_arrivals();
    // When the link last answered (a frame from another instance, or a subscription made):
    // frames published a little before it could still have been lost with the link.
    let mut last_heard = Timestamp::now().0;
    let origin = format!("{origin:016x}");
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let connected_before_now = connected_before;
                let last_heard_before_loss = last_heard;
                if connected_before {
                    metrics.bus_reconnects.inc();
                    tracing::info!("reconnected to Redis; resubscribing");
                } else {
                    tracing::info!("subscribed to Redis");
                }
                connected_before = true;
                backoff = Duration::from_millis(100);
                let (mut sink, mut messages) = pubsub.split();
                let mut subscribed: HashSet<i64> = HashSet::new();
                let mut everyone = true;
                // After a reconnection, frames from other instances may have been lost: once
                // everyone here is subscribed again, their connections are told to sync.
                let mut hint = connected_before_now;
                let all = sink.subscribe(channels.all()).await;
                let lost = all.is_err()
                    || loop {
                        // Bring the subscriptions in line with who is connected here.
                        let changed = if everyone {
                            everyone = false;
                            hub.user_ids()
                        } else {
                            arrivals.take()
                        };
                        let mut failed = false;
                        for user_id in changed {
                            let here = hub.has_user(user_id);
                            let result = if here && subscribed.insert(user_id) {
                                sink.subscribe(channels.of(user_id)).await
                            } else if !here && subscribed.remove(&user_id) {
                                sink.unsubscribe(channels.of(user_id)).await
                            } else {
                                Ok(())
                            };
                            if result.is_err() {
                                failed = true;
                                break;
                            }
                        }
                        if failed {
                            break true;
                        }
                        last_heard = Timestamp::now().0;
                        if std::mem::take(&mut hint) {
                            // Sync from before the last moment the link was known good (a
                            // client's cursor may have moved past lost frames since).
                            let since = store
                                .seq_before(last_heard_before_loss - HINT_MARGIN_MS)
                                .await
                                .ok();
                            let frame = ServerMsg::SyncHint { since };
                            let users = hub.user_ids();
                            hub.deliver_local(&users, frame.kind(), &frame.to_json().into(), None);
                        }
                        tokio::select! {
                            _ = stop.cancelled() => break false,
                            _ = arrivals.changed() => {}
                            message = messages.next() => match message {
                                Some(message) => {
                                    last_heard = Timestamp::now().0;
                                    deliver(&hub, &channels, &origin, &message)
                                }
                                None => break true,
                            },
                        }
                    };
                if !lost {
                    return;
                }
                tracing::warn!("lost the Redis subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach Redis to subscribe; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn deliver(hub: &Hub, channels: &Channels, own_origin: &str, message: &redis::Msg) {
    let channel = message.get_channel_name();
    let broadcast = channel == channels.all();
    let user_id = channels.user_of(channel);
    if !broadcast && user_id.is_none() {
        return;
    }
    let Ok(payload) = message.get_payload::<String>() else {
        return;
    };
    let Some((origin, rest)) = payload.split_once(' ') else {
        return;
    };
    if origin == own_origin {
        return;
    }
    let Some((kind, rest)) = rest.split_once(' ') else {
        return;
    };
    let (user_ids, frame) = match user_id {
        Some(user_id) => (vec![user_id], rest),
        None => {
            let Some((ids, frame)) = rest.split_once(' ') else {
                return;
            };
            let ids: Option<Vec<i64>> = ids.split(',').map(|id| id.parse().ok()).collect();
            let Some(ids) = ids else {
                return;
            };
            (ids, frame)
        }
    };
    hub.deliver_local(&user_ids, kind, &Utf8Bytes::from(frame.to_string()), None);
}
