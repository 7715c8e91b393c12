//! Fan-out across server instances: frames for users whose connections may live elsewhere.
//!
//! `Local` (one instance, nothing to do), `Memory` (instances in one process, for tests) and
//! `Redis` (pub/sub). With Redis each user has a channel `<prefix>:user:<id>`; an instance subscribes
//! to the channels of the users connected to it, and a frame is published once per recipient
//! user, never once per connection. Each payload carries its origin so an instance skips its own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, HubInner};
use crate::metrics::Metrics;

/// Frames waiting to be published before the bus counts as backed up and drops them.
const PUBLISH_QUEUE: usize = 16 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One frame for some users, on its way to the other instances.
struct Envelope {
    user_ids: Vec<i64>,
    frame: Utf8Bytes,
}

/// Where frames for other instances go.
#[derive(Clone, Default)]
pub enum Bus {
    /// A single instance.
    #[default]
    Local,
    /// Instances in one process that share this list (tests).
    Memory(MemoryBus),
    /// Redis pub/sub.
    Redis(RedisBus),
}

impl Bus {
    /// Hands a frame for `user_ids` to the other instances. Never waits.
    pub(crate) fn publish(
        &self,
        origin: u64,
        user_ids: &[i64],
        frame: &Utf8Bytes,
        metrics: &Metrics,
    ) {
        match self {
            Bus::Local => {}
            Bus::Memory(bus) => bus.publish(origin, user_ids, frame),
            Bus::Redis(bus) => {
                let envelope = Envelope {
                    user_ids: user_ids.to_vec(),
                    frame: frame.clone(),
                };
                if bus.queue.try_send(envelope).is_err() {
                    metrics.bus_dropped.inc();
                }
            }
        }
    }
}

/// An instance on a [`MemoryBus`]: its origin id and a weak handle to its hub.
type Peer = (u64, Weak<HubInner>);

/// In-process instances that deliver each other's frames.
#[derive(Clone, Default)]
pub struct MemoryBus {
    peers: Arc<Mutex<Vec<Peer>>>,
}

impl MemoryBus {
    pub(crate) fn join(&self, origin: u64, hub: Weak<HubInner>) {
        self.peers
            .lock()
            .expect("bus lock poisoned")
            .push((origin, hub));
    }

    fn publish(&self, origin: u64, user_ids: &[i64], frame: &Utf8Bytes) {
        let peers: Vec<Hub> = {
            let peers = self.peers.lock().expect("bus lock poisoned");
            peers
                .iter()
                .filter(|(peer, _)| *peer != origin)
                .filter_map(|(_, hub)| hub.upgrade().map(Hub::from_inner))
                .collect()
        };
        for hub in peers {
            hub.deliver_local(user_ids, frame, None);
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

    fn user_of(&self, channel: &str) -> Option<i64> {
        channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":user:")?
            .parse()
            .ok()
    }
}

/// Starts the Redis bus for `hub`: a publisher and a subscriber task, both ending with `stop`.
pub fn start_redis(
    url: &str,
    prefix: &str,
    stop: CancellationToken,
) -> anyhow::Result<(Bus, RedisTasks)> {
    let client = redis::Client::open(url)?;
    let channels = Channels {
        prefix: prefix.to_string(),
    };
    let (queue, envelopes) = mpsc::channel(PUBLISH_QUEUE);
    Ok((
        Bus::Redis(RedisBus { queue }),
        RedisTasks {
            client,
            channels,
            envelopes,
            stop,
        },
    ))
}

/// The Redis bus's tasks, ready to run once the hub exists.
pub struct RedisTasks {
    client: redis::Client,
    channels: Channels,
    envelopes: mpsc::Receiver<Envelope>,
    stop: CancellationToken,
}

impl RedisTasks {
    pub fn spawn(self, hub: Hub) {
        let origin = hub.origin();
        tokio::spawn(publish(
            self.client.clone(),
            self.channels.clone(),
            self.envelopes,
            origin,
            self.stop.clone(),
            hub.clone(),
        ));
        tokio::spawn(subscribe(self.client, self.channels, hub, self.stop));
    }
}

/// Drains the queue into PUBLISH commands, pipelined, in order.
async fn publish(
    client: redis::Client,
    channels: Channels,
    mut envelopes: mpsc::Receiver<Envelope>,
    origin: u64,
    stop: CancellationToken,
    hub: Hub,
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
            let payload = format!("{origin:016x} {}", envelope.frame.as_str());
            for user_id in &envelope.user_ids {
                pipe.publish(channels.of(*user_id), &payload).ignore();
            }
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "publishing to Redis failed; frames for other instances lost (history still has the messages)");
            hub.metrics().bus_dropped.inc();
        }
    }
}

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
async fn subscribe(client: redis::Client, channels: Channels, hub: Hub, stop: CancellationToken) {
    let origin = format!("{:016x}", hub.origin());
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                if connected_before {
                    hub.metrics().bus_reconnects.inc();
                    tracing::info!("reconnected to Redis; resubscribing");
                } else {
                    tracing::info!("subscribed to Redis");
                }
                connected_before = true;
                backoff = Duration::from_millis(100);
                let (mut sink, mut messages) = pubsub.split();
                let mut subscribed: HashSet<i64> = HashSet::new();
                let mut everyone = true;
                let lost = loop {
                    // Bring the subscriptions in line with who is connected here.
                    let changed = if everyone {
                        everyone = false;
                        hub.user_ids()
                    } else {
                        hub.take_presence_changes()
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
                    tokio::select! {
                        _ = stop.cancelled() => break false,
                        _ = hub.presence_changed() => {}
                        message = messages.next() => match message {
                            Some(message) => deliver(&hub, &channels, &origin, &message),
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
    let Some(user_id) = channels.user_of(message.get_channel_name()) else {
        return;
    };
    let Ok(payload) = message.get_payload::<String>() else {
        return;
    };
    let Some((origin, frame)) = payload.split_once(' ') else {
        return;
    };
    if origin != own_origin {
        hub.deliver_local(&[user_id], &Utf8Bytes::from(frame.to_string()), None);
    }
}
