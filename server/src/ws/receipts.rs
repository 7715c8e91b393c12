//! One connection's receipts and typing: `chat.delivered` and `chat.read` wait here to be
//! applied together, coalesced, and a `chat.typing` that repeats the last one relayed to the
//! same receiver within `--typing-interval` is dropped.
//!
//! A client may answer every message it is sent with a receipt or two (TutorMove's does): one
//! transaction for each would make a burst of messages cost its receiver a burst of writes.
//! Waiting receipts are applied when the connection has no further frame ready, before any
//! other request is handled, or once `--receipt-batch` of them wait: all deliveries in one
//! transaction (in each conversation, only the newest counts), each conversation read once.

use std::time::{Duration, Instant};

/// The request types of receipts, in their `chat.error`s.
pub const DELIVERED: &str = "chat.delivered";
pub const READ: &str = "chat.read";

/// Receivers whose last relayed typing state is remembered; past this, the oldest is forgotten
/// (which at worst relays one repeat).
const TYPING_TRACKED: usize = 16;

/// Where a typing frame goes: to the other person of a direct conversation (`receiver_id`), or
/// to the other members of a conversation (`conversation_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingTo {
    User(i64),
    Conversation(i64),
}

/// Receipts waiting to be applied, and the typing states last relayed.
#[derive(Default)]
pub struct Receipts {
    /// Distinct message ids, in arrival order.
    delivered: Vec<i64>,
    /// Distinct conversation ids, in arrival order.
    read: Vec<i64>,
    /// `(receiver, is_typing, when)` of the last typing frame relayed to each receiver.
    typing: Vec<(TypingTo, bool, Instant)>,
}

impl Receipts {
    /// How many receipts wait (repeats counted once).
    pub fn len(&self) -> usize {
        self.delivered.len() + self.read.len()
    }

    pub fn is_empty(&self) -> bool {
        self.delivered.is_empty() && self.read.is_empty()
    }

    /// A `chat.delivered` of `message_id`, to apply with the others.
    pub fn delivered(&mut self, message_id: i64) {
        if !self.delivered.contains(&message_id) {
            self.delivered.push(message_id);
        }
    }

    /// A `chat.read` of `conversation_id`, applied once however often it came.
    pub fn read(&mut self, conversation_id: i64) {
        if !self.read.contains(&conversation_id) {
            self.read.push(conversation_id);
        }
    }

    /// Whether a typing frame to `receiver` should be relayed: it changes what the receiver
    /// was last told (so `false` after `true` always goes), or that was `interval` ago.
    pub fn typing_due(
        &mut self,
        receiver: TypingTo,
        is_typing: bool,
        now: Instant,
        interval: Duration,
    ) -> bool {
        self.typing
            .retain(|&(_, _, at)| now.saturating_duration_since(at) < interval);
        if self.typing.is_empty() {
            // An idle connection keeps no allocation.
            self.typing = Vec::new();
        }
        !self
            .typing
            .iter()
            .any(|&(to, state, _)| to == receiver && state == is_typing)
    }

    /// Remembers a typing frame relayed to `receiver`.
    pub fn typing_relayed(&mut self, receiver: TypingTo, is_typing: bool, now: Instant) {
        self.typing.retain(|&(to, _, _)| to != receiver);
        if self.typing.len() >= TYPING_TRACKED {
            self.typing.remove(0);
        }
        self.typing.push((receiver, is_typing, now));
    }

    /// The receipts waiting, to apply: message ids delivered and conversations read, each
    /// once, in arrival order. Taken rather than cleared: a connection keeps no memory of its
    /// last burst.
    pub fn take(&mut self) -> (Vec<i64>, Vec<i64>) {
        (
            std::mem::take(&mut self.delivered),
            std::mem::take(&mut self.read),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_are_coalesced() {
        let mut receipts = Receipts::default();
        assert!(receipts.is_empty());
        for id in [5, 6, 5, 7, 6] {
            receipts.delivered(id);
        }
        for conversation in [1, 1, 2, 1] {
            receipts.read(conversation);
        }
        assert_eq!(receipts.delivered, [5, 6, 7]);
        assert_eq!(receipts.read, [1, 2]);
        assert_eq!(receipts.len(), 5);
    }

    #[test]
    fn typing_repeats_within_the_interval_are_dropped_and_changes_go_through() {
        let mut receipts = Receipts::default();
        let interval = Duration::from_secs(1);
        let t0 = Instant::now();
        assert!(receipts.typing_due(TypingTo::User(9), true, t0, interval));
        receipts.typing_relayed(TypingTo::User(9), true, t0);
        let soon = t0 + Duration::from_millis(300);
        assert!(!receipts.typing_due(TypingTo::User(9), true, soon, interval));
        // Another receiver is tracked apart.
        assert!(receipts.typing_due(TypingTo::User(8), true, soon, interval));
        // Stopping is always told, and stopping twice is not.
        assert!(receipts.typing_due(TypingTo::User(9), false, soon, interval));
        receipts.typing_relayed(TypingTo::User(9), false, soon);
        assert!(!receipts.typing_due(TypingTo::User(9), false, soon, interval));
        assert!(receipts.typing_due(TypingTo::User(9), true, soon, interval));
        // After the interval, a repeat refreshes the receiver's indicator.
        receipts.typing_relayed(TypingTo::User(9), true, soon);
        assert!(receipts.typing_due(TypingTo::User(9), true, soon + interval, interval));
        assert!(receipts.typing.is_empty());
    }

    #[test]
    fn typing_state_is_bounded() {
        let mut receipts = Receipts::default();
        let now = Instant::now();
        for receiver in 0..100 {
            receipts.typing_relayed(TypingTo::Conversation(receiver), true, now);
        }
        assert_eq!(receipts.typing.len(), TYPING_TRACKED);
        assert!(!receipts.typing_due(
            TypingTo::Conversation(99),
            true,
            now,
            Duration::from_secs(1)
        ));
        // A user and a conversation with the same id are told apart.
        assert!(receipts.typing_due(TypingTo::User(99), true, now, Duration::from_secs(1)));
    }
}
