//! Presence across instances: one task per instance turns the hub's arrivals and departures into
//! rows of the `presence` table (the store decides who came online or went offline, whatever
//! instance their other connections are on), keeps this instance's heartbeat, sweeps instances
//! that died without a goodbye, and pushes each transition to the users who share a
//! conversation with its subject.
//!
//! A departure waits `grace` first: a reconnect within it changes nothing, so a flaky network
//! does not flicker. An instance silent for `timeout` is dead: its users stop counting then (the
//! heartbeat comes every third of it, so a live one is never taken for dead by a slow beat).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use chat_shared::Timestamp;

use crate::hub::Arrivals;
use crate::state::AppState;
use crate::store::{PRESENCE_BATCH, PresenceChange};

/// How long a failed write of presence waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// This instance's presence: its id in the `instances` table, and its task's handle on the hub.
pub struct Presence {
    instance: i64,
    arrivals: Arc<Arrivals>,
}

impl Presence {
    /// Starts watching the hub (before any connection is accepted, so none is missed).
    pub fn watch(state: &AppState) -> Presence {
        Presence {
            instance: rand::random::<i64>() & i64::MAX,
            arrivals: state.hub.watch_arrivals(),
        }
    }

    /// Runs until `stop`, then says goodbye: this instance's users with no connection elsewhere
    /// go offline at once.
    pub async fn run(self, state: AppState, stop: CancellationToken) {
        let grace = state.config.presence_grace;
        let timeout = state.config.presence_timeout;
        let mut beat = tokio::time::interval(timeout / 3);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Users with a row for this instance, and those of them with no connection here since.
        let mut here: HashSet<i64> = HashSet::new();
        let mut leaving: HashMap<i64, Instant> = HashMap::new();
        // Users whose arrival or departure is still to be written (after a failed write).
        let mut pending: HashSet<i64> = HashSet::new();
        let mut retry_at: Option<Instant> = None;
        loop {
            let next_due = leaving.values().min().map(|since| *since + grace);
            let wake = [next_due, retry_at].into_iter().flatten().min();
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.arrivals.changed() => {}
                _ = beat.tick() => {
                    match state.store.instance_heartbeat(self.instance).await {
                        // Swept while stalled: every row of ours went with it.
                        Ok(false) if !here.is_empty() => {
                            tracing::warn!("this instance was taken for dead; announcing its users again");
                            pending.extend(here.drain());
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "presence heartbeat failed"),
                    }
                    let silent_since = Timestamp::now().0 - timeout.as_millis() as i64;
                    match state.store.sweep_instances(silent_since, self.instance).await {
                        Ok(changes) => announce(&state, changes).await,
                        Err(e) => tracing::warn!(error = %e, "sweeping dead instances failed"),
                    }
                }
                _ = sleep_until(wake) => {}
            }
            let now = Instant::now();
            let mut arrive = Vec::new();
            let mut leave = Vec::new();
            let changed = self.arrivals.take().into_iter().chain(pending.drain());
            for user_id in changed {
                if state.hub.has_user(user_id) {
                    leaving.remove(&user_id);
                    if !here.contains(&user_id) {
                        arrive.push(user_id);
                    }
                } else if here.contains(&user_id) {
                    leaving.entry(user_id).or_insert(now);
                }
            }
            leaving.retain(|&user_id, since| {
                let due = *since + grace <= now;
                if due && !state.hub.has_user(user_id) {
                    leave.push(user_id);
                }
                !due
            });
            retry_at = None;
            for batch in arrive.chunks(PRESENCE_BATCH) {
                match state.store.presence_arrive(self.instance, batch).await {
                    Ok(changes) => {
                        here.extend(batch);
                        announce(&state, changes).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "recording arrivals failed; trying again");
                        pending.extend(batch);
                        retry_at = Some(now + RETRY);
                    }
                }
            }
            for batch in leave.chunks(PRESENCE_BATCH) {
                match state.store.presence_leave(self.instance, batch).await {
                    Ok(changes) => {
                        for user_id in batch {
                            here.remove(user_id);
                        }
                        announce(&state, changes).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "recording departures failed; trying again");
                        pending.extend(batch);
                        retry_at = Some(now + RETRY);
                    }
                }
            }
        }
        match state.store.instance_gone(self.instance).await {
            Ok(changes) => announce(&state, changes).await,
            Err(e) => {
                tracing::warn!(error = %e, "presence goodbye failed; other instances will sweep this one")
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Pushes each change to everyone who shares a conversation with its user.
pub async fn announce(state: &AppState, changes: Vec<PresenceChange>) {
    for change in changes {
        match state.store.contacts(change.user_id).await {
            Ok(contacts) if !contacts.is_empty() => {
                state
                    .fanout
                    .push(&contacts, &change.frame, change.seq, None)
            }
            Ok(_) => {}
            // The event is recorded: a sync brings it.
            Err(e) => {
                tracing::warn!(error = %e, "finding whom to tell of a presence change failed")
            }
        }
    }
}
