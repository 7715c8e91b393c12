//! Open-loop schedules kept to the microsecond. tokio's timer wakes on whole milliseconds (a
//! sleep ends on the next tick, half a millisecond late on average), and an open-loop generator
//! counts latency from when a message was due, so that rounding would be charged to the server.
//! A pacer thread sleeps with the operating system's high-resolution timer instead and releases
//! each send when it is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Sends spread evenly over time: send `i` of the whole run is due at `start + i / rate` and
/// belongs to sender `i mod senders`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub deadline: Instant,
    /// Sends per second over all senders.
    pub rate: u64,
    pub senders: u64,
}

impl Schedule {
    /// When sender `sender`'s `seq`-th send is due; `None` when that is at or past the deadline.
    pub fn due(&self, sender: u64, seq: u64) -> Option<Instant> {
        let i = seq.checked_mul(self.senders)?.checked_add(sender)?;
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate.max(1));
        let due = self.start + Duration::from_nanos(u64::try_from(nanos).ok()?);
        (due < self.deadline).then_some(due)
    }

    /// Starts the pacer thread (it ends at the deadline) and returns one permit source per
    /// sender: a sender takes a permit before each send, and gets one when that send is due.
    pub fn start_pacer(self) -> Vec<Arc<Semaphore>> {
        let slots: Vec<Arc<Semaphore>> = (0..self.senders)
            .map(|_| Arc::new(Semaphore::new(0)))
            .collect();
        let pacer = slots.clone();
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || {
                for seq in 0u64.. {
                    for (sender, slot) in pacer.iter().enumerate() {
                        let Some(due) = self.due(sender as u64, seq) else {
                            return;
                        };
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        slot.add_permits(1);
                    }
                }
            })
            .expect("starting the pacer thread");
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spread_evenly_and_stop_at_the_deadline() {
        let start = Instant::now();
        let s = Schedule {
            start,
            deadline: start + Duration::from_millis(10),
            rate: 10_000,
            senders: 4,
        };
        assert_eq!(s.due(0, 0), Some(start));
        assert_eq!(s.due(3, 0), Some(start + Duration::from_micros(300)));
        assert_eq!(s.due(1, 2), Some(start + Duration::from_micros(900)));
        // 100 sends fit in 10 ms: the last is sender 3's 25th.
        assert_eq!(s.due(3, 24), Some(start + Duration::from_micros(9_900)));
        assert_eq!(s.due(0, 25), None);
    }

    #[tokio::test]
    async fn the_pacer_releases_each_send_once_it_is_due() {
        let start = Instant::now() + Duration::from_millis(5);
        let s = Schedule {
            start,
            deadline: start + Duration::from_millis(20),
            rate: 1_000,
            senders: 2,
        };
        let slots = s.start_pacer();
        for seq in 0..10 {
            for (sender, slot) in slots.iter().enumerate() {
                let due = s.due(sender as u64, seq).expect("within the deadline");
                slot.acquire().await.expect("open").forget();
                assert!(Instant::now() >= due, "released early: {seq} of {sender}");
            }
        }
        assert_eq!(s.due(0, 10), None);
    }
}
