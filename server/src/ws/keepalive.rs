//! WebSocket keepalive: one shared heartbeat that every connection's writer listens to (no timer
//! per connection), and each connection's count of pings its peer has not answered.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Pings a peer may leave unanswered; at the next beat it is taken for dead and closed.
pub const MISSED_PONGS: u8 = 2;

/// A connection's view of the heartbeat: changes once per `--ws-ping-interval`.
pub struct Heartbeat(watch::Receiver<()>);

/// A copy waits for the next beat, not for the ones before it was made (a plain `watch` clone
/// would see them as one pending change and ping a new connection at once).
impl Clone for Heartbeat {
    fn clone(&self) -> Heartbeat {
        let mut receiver = self.0.clone();
        receiver.mark_unchanged();
        Heartbeat(receiver)
    }
}

impl Heartbeat {
    /// A heartbeat every `interval`, and the task that beats it until `stop` is cancelled.
    pub fn start(
        interval: Duration,
        stop: CancellationToken,
    ) -> (Heartbeat, impl Future<Output = ()> + Send + 'static) {
        let (beat, heartbeat) = watch::channel(());
        let task = async move {
            let start = tokio::time::Instant::now() + interval;
            let mut ticks = tokio::time::interval_at(start, interval);
            // After a stall, one beat, not a burst that would count several missed pongs at once.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => beat.send_replace(()),
                    _ = stop.cancelled() => break,
                }
            }
        };
        (Heartbeat(heartbeat), task)
    }

    /// Waits for the next beat; `false` when the heartbeat has stopped (the server is stopping).
    pub async fn beat(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

/// What the reader and the writer of one connection tell each other: why the reader ended it
/// (for the writer's close frame), and how many pings the peer has not answered.
#[derive(Default)]
pub struct Ending {
    reason: OnceLock<(u16, &'static str)>,
    unanswered: AtomicU8,
}

impl Ending {
    /// Records why the reader ends the connection; the first reason wins.
    pub fn set(&self, reason: (u16, &'static str)) -> Result<(), (u16, &'static str)> {
        self.reason.set(reason)
    }

    /// The reader's reason, once it has one.
    pub fn get(&self) -> Option<&(u16, &'static str)> {
        self.reason.get()
    }

    /// The peer answered: it is alive.
    pub fn pong(&self) {
        self.unanswered.store(0, Ordering::Relaxed);
    }

    /// Counts a beat: `true` when the peer has already left [`MISSED_PONGS`] pings unanswered
    /// (close it), else one more ping is owed an answer.
    pub fn beat_is_fatal(&self) -> bool {
        let unanswered = self.unanswered.load(Ordering::Relaxed);
        if unanswered >= MISSED_PONGS {
            return true;
        }
        self.unanswered.store(unanswered + 1, Ordering::Relaxed);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_dead_at_the_beat_after_two_unanswered_pings() {
        let ending = Ending::default();
        assert!(!ending.beat_is_fatal(), "first ping");
        assert!(!ending.beat_is_fatal(), "second ping");
        assert!(ending.beat_is_fatal(), "two pings unanswered");
    }

    #[test]
    fn a_pong_forgives_the_pings_before_it() {
        let ending = Ending::default();
        assert!(!ending.beat_is_fatal());
        assert!(!ending.beat_is_fatal());
        ending.pong();
        assert!(!ending.beat_is_fatal());
        assert!(!ending.beat_is_fatal());
        assert!(ending.beat_is_fatal());
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_beats_once_per_interval_until_stopped() {
        let stop = CancellationToken::new();
        let (mut heartbeat, task) = Heartbeat::start(Duration::from_secs(30), stop.clone());
        let task = tokio::spawn(task);
        let start = tokio::time::Instant::now();
        assert!(heartbeat.beat().await);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        assert!(heartbeat.beat().await);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        stop.cancel();
        task.await.expect("heartbeat task");
        assert!(!heartbeat.beat().await, "a stopped heartbeat says so");
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_waits_for_the_next_beat() {
        let stop = CancellationToken::new();
        let (heartbeat, task) = Heartbeat::start(Duration::from_secs(30), stop.clone());
        tokio::spawn(task);
        // Beats pass while nobody listens on the original, as in the router's extension.
        tokio::time::sleep(Duration::from_secs(95)).await;
        let start = tokio::time::Instant::now();
        let mut copy = heartbeat.clone();
        assert!(copy.beat().await);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(25),
            "the beat at 120 s"
        );
        stop.cancel();
    }
}
