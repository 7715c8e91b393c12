//! Abuse limits: token buckets for frames per connection and for login / register attempts per
//! address and per username, the count of open connections per user, and the peer address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::config::Config;

/// A token bucket: holds up to `capacity` tokens, refilled at `per_second`; each event takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A zero capacity is raised to one so that the bucket can ever pass anything.
    pub fn new(capacity: u32, per_second: f64, now: Instant) -> TokenBucket {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            capacity,
            per_second: per_second.max(0.0),
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for an event that turned out not to count.
    pub fn refund(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    /// How long until a token is available (zero when one is).
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else if self.per_second <= 0.0 {
            Duration::MAX
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Whether the bucket has refilled completely, i.e. remembers nothing.
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// What to do with one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Handle it.
    Allow,
    /// Answer `chat.error` `rate_limited` and drop it.
    Limited,
    /// Too many limited frames: close the connection with 1008.
    Abusive,
}

/// Receipts a connection may send for each `chat.message` it was sent: `chat.delivered` and
/// `chat.read`.
pub const RECEIPTS_PER_MESSAGE: u64 = 2;

/// Frames per second for one connection, and the patience for a client that keeps exceeding it.
///
/// Receipts (`chat.delivered`, `chat.read`) and `chat.typing` have an allowance of their own,
/// so that a client answering every message it is sent is never limited for it: a bucket of
/// their own, plus [`RECEIPTS_PER_MESSAGE`] for each `chat.message` the connection was sent
/// (a receipt answers one). Only messages earn receipts, never replies, errors or receipts'
/// own effects, so receipts cannot earn receipts; messages are bounded by their senders' frame
/// limits.
#[derive(Debug)]
pub struct FrameLimiter {
    frames: TokenBucket,
    receipts: TokenBucket,
    /// Receipts earned by messages sent to the connection and not yet used, at most
    /// `earned_max` (twice the send queue: a client never owes more than its queue held).
    earned: u64,
    earned_max: u64,
    /// The count of messages sent to the connection when `earned` was last updated.
    messages_seen: u64,
    /// One token per limited frame, refilled at one per second: empty means sustained abuse.
    strikes: TokenBucket,
}

impl FrameLimiter {
    pub fn new(config: &Config, now: Instant) -> FrameLimiter {
        FrameLimiter {
            frames: TokenBucket::new(
                config.rate_limit_burst,
                f64::from(config.rate_limit_per_second),
                now,
            ),
            receipts: TokenBucket::new(
                config.receipt_burst,
                f64::from(config.receipt_per_second),
                now,
            ),
            earned: 0,
            earned_max: RECEIPTS_PER_MESSAGE * u64::from(config.send_queue),
            messages_seen: 0,
            strikes: TokenBucket::new(config.rate_limit_strikes, 1.0, now),
        }
    }

    /// Counts one frame arriving at `now`.
    pub fn check(&mut self, now: Instant) -> FrameVerdict {
        if self.frames.try_take(now) {
            FrameVerdict::Allow
        } else {
            self.strike(now)
        }
    }

    /// Counts one receipt or typing frame arriving at `now`, when `messages_sent` messages have
    /// been queued for the connection so far.
    pub fn check_receipt(&mut self, now: Instant, messages_sent: u64) -> FrameVerdict {
        let new = messages_sent.saturating_sub(self.messages_seen);
        self.messages_seen = self.messages_seen.max(messages_sent);
        self.earned = self
            .earned
            .saturating_add(new.saturating_mul(RECEIPTS_PER_MESSAGE))
            .min(self.earned_max);
        if self.earned > 0 {
            self.earned -= 1;
            FrameVerdict::Allow
        } else if self.receipts.try_take(now) {
            FrameVerdict::Allow
        } else {
            self.strike(now)
        }
    }

    fn strike(&mut self, now: Instant) -> FrameVerdict {
        if self.strikes.try_take(now) {
            FrameVerdict::Limited
        } else {
            FrameVerdict::Abusive
        }
    }
}

/// Most keys an [`AttemptLimiter`] remembers; past that, keys whose bucket is full are forgotten,
/// and if that is not enough, all are (memory stays bounded whatever the traffic).
const MAX_KEYS: usize = 100_000;

/// Attempts per key (an address or a username), each key with its own bucket.
#[derive(Debug)]
pub struct AttemptLimiter {
    burst: u32,
    per_second: f64,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl AttemptLimiter {
    pub fn new(burst: u32, per_minute: u32) -> AttemptLimiter {
        AttemptLimiter {
            burst,
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `key`, or says how long to wait.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| TokenBucket::new(self.burst, self.per_second, now));
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(bucket.wait_time(now))
        }
    }

    /// Gives back an attempt that turned out not to count (a successful login).
    pub fn refund(&self, key: &str, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.refund(now);
        }
    }
}

/// Open connections per user on this instance; a [`ConnectionSlot`] holds one until dropped.
#[derive(Debug, Default)]
pub struct ConnectionCounter {
    open: Mutex<HashMap<i64, u32>>,
}

impl ConnectionCounter {
    /// Reserves a connection for `user_id`, unless `max` are already open.
    pub fn acquire(self: &Arc<Self>, user_id: i64, max: u32) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.get(&user_id).copied().unwrap_or(0);
        if count >= max {
            return None;
        }
        open.insert(user_id, count + 1);
        Some(ConnectionSlot {
            counter: Arc::clone(self),
            user_id,
        })
    }
}

/// One reserved connection; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    user_id: i64,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

/// Every limit's shared state for one server, kept in its `AppState`.
#[derive(Debug)]
pub struct Limits {
    /// Registrations and failed logins per peer address.
    pub per_address: AttemptLimiter,
    /// Failed logins per username (lower-cased).
    pub per_username: AttemptLimiter,
    /// Every login per peer address, successful ones included, at a higher allowance: valid
    /// credentials cannot be used to keep the password hashers busy either.
    pub logins_per_address: AttemptLimiter,
    pub connections: Arc<ConnectionCounter>,
}

impl Limits {
    pub fn new(config: &Config) -> Limits {
        Limits {
            per_address: AttemptLimiter::new(config.auth_ip_burst, config.auth_ip_per_minute),
            per_username: AttemptLimiter::new(config.auth_user_burst, config.auth_user_per_minute),
            logins_per_address: AttemptLimiter::new(
                config.auth_ip_login_burst,
                config.auth_ip_login_per_minute,
            ),
            connections: Arc::default(),
        }
    }
}

/// The peer's IP address, when the server was started with connection info (`serve` does).
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_passes_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 2.0, start);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert_eq!(bucket.wait_time(start), Duration::from_millis(500));
        let later = start + Duration::from_millis(500);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(later));
        // Never more than the capacity, however long it rested.
        let much_later = later + Duration::from_secs(3600);
        assert!((0..3).all(|_| bucket.try_take(much_later)));
        assert!(!bucket.try_take(much_later));
    }

    #[test]
    fn refunds_never_exceed_the_capacity() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(1, 0.0, now);
        bucket.refund(now);
        assert!(bucket.try_take(now));
        assert!(!bucket.try_take(now));
        assert_eq!(bucket.wait_time(now), Duration::MAX);
        bucket.refund(now);
        assert!(bucket.try_take(now));
    }

    #[test]
    fn a_frame_limiter_limits_then_gives_up_on_sustained_abuse() {
        let config = Config::from_args([
            "chat-server",
            "--rate-limit-per-second",
            "1",
            "--rate-limit-burst",
            "2",
            "--rate-limit-strikes",
            "3",
        ])
        .unwrap();
        let now = Instant::now();
        let mut limiter = FrameLimiter::new(&config, now);
        let verdicts: Vec<_> = (0..6).map(|_| limiter.check(now)).collect();
        use FrameVerdict::*;
        assert_eq!(verdicts, [Allow, Allow, Limited, Limited, Limited, Abusive]);
        // A pause lets both buckets recover.
        let later = now + Duration::from_secs(5);
        assert_eq!(limiter.check(later), Allow);
    }

    #[test]
    fn receipts_have_their_own_allowance_earned_by_messages_sent() {
        let config = Config::from_args([
            "chat-server",
            "--rate-limit-burst",
            "1",
            "--receipt-burst",
            "2",
            "--receipt-per-second",
            "1",
            "--rate-limit-strikes",
            "2",
            "--send-queue",
            "3",
        ])
        .unwrap();
        let now = Instant::now();
        let mut limiter = FrameLimiter::new(&config, now);
        use FrameVerdict::*;
        // Receipts do not use the frame bucket, nor frames the receipt bucket.
        assert_eq!(limiter.check(now), Allow);
        assert_eq!(limiter.check_receipt(now, 0), Allow);
        assert_eq!(limiter.check_receipt(now, 0), Allow);
        assert_eq!(limiter.check_receipt(now, 0), Limited);
        // Each message sent earns two, up to twice the queue (6), however many were sent.
        let earned: Vec<_> = (0..8).map(|_| limiter.check_receipt(now, 1000)).collect();
        assert_eq!(
            earned,
            [Allow, Allow, Allow, Allow, Allow, Allow, Limited, Abusive]
        );
        // The same count again earns nothing more.
        let later = now + Duration::from_secs(10);
        assert_eq!(limiter.check_receipt(later, 1000), Allow);
        assert_eq!(limiter.check_receipt(later, 1000), Allow);
        assert_eq!(limiter.check_receipt(later, 1000), Limited);
        assert_eq!(limiter.check_receipt(later, 1001), Allow);
        assert_eq!(limiter.check_receipt(later, 1001), Allow);
        assert_eq!(limiter.check_receipt(later, 1001), Limited);
    }

    #[test]
    fn attempts_are_counted_per_key() {
        let limiter = AttemptLimiter::new(2, 60);
        let now = Instant::now();
        assert!(limiter.take("a", now).is_ok());
        assert!(limiter.take("a", now).is_ok());
        let wait = limiter.take("a", now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(limiter.take("b", now).is_ok());
        limiter.refund("a", now);
        assert!(limiter.take("a", now).is_ok());
    }

    #[test]
    fn connection_slots_are_freed_when_dropped() {
        let counter = Arc::new(ConnectionCounter::default());
        let first = counter.acquire(7, 2).unwrap();
        let _second = counter.acquire(7, 2).unwrap();
        assert!(counter.acquire(7, 2).is_none());
        assert!(counter.acquire(8, 2).is_some());
        drop(first);
        assert!(counter.acquire(7, 2).is_some());
    }
}
