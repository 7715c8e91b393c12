//! Property test of the read and delivery markers through the store's API on a temporary SQLite
//! database: after any sequence of sends, reads and deliveries (by the two participants and an
//! outsider), every status, unread count and reported change matches a simple model.

use chat_server::store::{Durability, NewMessage, Page, Store};
use chat_shared::{MessageStatus, UserRef};
use proptest::prelude::*;

/// The server reports at most this many status changes per read.
const STATUS_BATCH: usize = 100;

#[derive(Debug, Clone)]
enum Op {
    /// One writer group: each of users 0, 1 and 2 (the outsider, refused) sends a message,
    /// in this order, stored in one call.
    Send(Vec<usize>),
    /// User 0, 1 or 2 (the outsider) reads the conversation.
    Read(usize),
    /// User 0, 1 or 2 says a message arrived: the `pick`-th one, or a missing id past the end.
    Delivered(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(0usize..3, 1..5).prop_map(Op::Send),
        2 => (0usize..3).prop_map(Op::Read),
        3 => (0usize..3, any::<usize>()).prop_map(|(who, pick)| Op::Delivered(who, pick)),
    ]
}

/// What the store should hold: messages as `(id, sender index)` and each participant's markers.
#[derive(Default)]
struct Model {
    messages: Vec<(i64, usize)>,
    read: [i64; 2],
    delivered: [i64; 2],
}

impl Model {
    /// Messages of the other participant in `(after, up_to]`, newest first, as (id, sender id).
    fn changed(&self, reader: usize, after: i64, up_to: i64, users: &[UserRef]) -> Vec<(i64, i64)> {
        let mut changed: Vec<_> = self
            .messages
            .iter()
            .filter(|&&(id, sender)| sender != reader && id > after && id <= up_to)
            .map(|&(id, sender)| (id, users[sender].id))
            .collect();
        changed.reverse();
        changed.truncate(STATUS_BATCH);
        changed
    }

    fn status(&self, id: i64, sender: usize) -> MessageStatus {
        let other = 1 - sender;
        if self.read[other] >= id {
            MessageStatus::Seen
        } else if self.delivered[other].max(self.read[other]) >= id {
            MessageStatus::Delivered
        } else {
            MessageStatus::Sent
        }
    }

    fn unread(&self, reader: usize) -> i64 {
        self.messages
            .iter()
            .filter(|&&(id, sender)| sender != reader && id > self.read[reader])
            .count() as i64
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("chat.db").display());
    let store = Store::connect(&url, Durability::Normal)
        .await
        .expect("store");
    let mut users = Vec::new();
    for name in ["ann", "ben", "out"] {
        users.push(
            store
                .create_user(name, "not a real hash")
                .await
                .expect("user"),
        );
    }
    let conversation = store
        .find_or_create_conversation(&users[0], &users[1])
        .await
        .expect("conversation")
        .id;
    let mut model = Model::default();

    for op in ops {
        match op {
            Op::Send(senders) => {
                // Identical contents on purpose: the store must still pair each row with a
                // message of its sender.
                let group: Vec<NewMessage> = senders
                    .iter()
                    .map(|&who| NewMessage::new(conversation, users[who].clone(), "hi".into()))
                    .collect();
                let stored = store.create_messages(group).await.expect("send");
                let members: Vec<usize> = (0..senders.len()).filter(|&i| senders[i] != 2).collect();
                let indices: Vec<usize> = stored.iter().map(|s| s.index).collect();
                let mut sorted = indices.clone();
                sorted.sort();
                prop_assert_eq!(sorted, members, "stored all but the outsider's");
                let last = model.messages.last().map_or(0, |m| m.0);
                let mut previous = last;
                for s in &stored {
                    prop_assert!(s.message.id > previous, "ids grow in the order returned");
                    previous = s.message.id;
                    prop_assert_eq!(s.message.sender.id, users[senders[s.index]].id);
                    let mut participants = s.participants.clone();
                    participants.sort();
                    prop_assert_eq!(participants, vec![users[0].id, users[1].id]);
                    model.messages.push((s.message.id, senders[s.index]));
                }
            }
            Op::Read(who) => {
                let outcome = store
                    .mark_read(conversation, users[who].id)
                    .await
                    .expect("read");
                if who == 2 {
                    prop_assert!(outcome.is_none(), "an outsider read");
                    continue;
                }
                let outcome = outcome.expect("a participant reads");
                let newest = model.messages.last().map_or(0, |m| m.0);
                let old = model.read[who];
                // In a pair, every message a read changes becomes seen.
                let expected: Vec<_> = model
                    .changed(who, old, newest, &users)
                    .into_iter()
                    .map(|(id, sender)| (id, sender, MessageStatus::Seen))
                    .collect();
                if newest > old {
                    model.read[who] = newest;
                    model.delivered[who] = model.delivered[who].max(newest);
                }
                let mut participants = outcome.participants.clone();
                participants.sort();
                prop_assert_eq!(participants, vec![users[0].id, users[1].id]);
                prop_assert_eq!(outcome.seen, expected, "seen after a read by {}", who);
            }
            Op::Delivered(who, pick) => {
                let target = model
                    .messages
                    .get(pick % (model.messages.len() + 1))
                    .map(|&(id, _)| id);
                let id = target.unwrap_or_else(|| model.messages.last().map_or(0, |m| m.0) + 1000);
                let changes = store
                    .mark_delivered(id, users[who].id)
                    .await
                    .expect("delivered");
                if who == 2 || target.is_none() {
                    prop_assert!(changes.is_none(), "outsider or missing message");
                    continue;
                }
                let changes = changes.expect("a participant's message");
                let old = model.delivered[who].max(model.read[who]);
                let expected: Vec<_> = if id > old {
                    model.changed(who, old, id, &users)
                } else {
                    Vec::new()
                }
                .into_iter()
                .map(|(id, sender)| (id, sender, MessageStatus::Delivered))
                .collect();
                model.delivered[who] = model.delivered[who].max(id);
                prop_assert_eq!(changes, expected, "delivered {} by {}", id, who);
            }
        }
        // Both participants see the statuses and unread counts the model predicts.
        for (who, user) in users.iter().enumerate().take(2) {
            let Page { messages, has_more } = store
                .messages(conversation, user.id, None, 1000)
                .await
                .expect("history")
                .expect("a participant's history");
            prop_assert!(!has_more);
            let got: Vec<_> = messages
                .iter()
                .map(|m| (m.id, m.status, m.is_read))
                .collect();
            let want: Vec<_> = model
                .messages
                .iter()
                .map(|&(id, sender)| {
                    let status = model.status(id, sender);
                    (id, Some(status), Some(status == MessageStatus::Seen))
                })
                .collect();
            prop_assert_eq!(got, want, "statuses as {} sees them", who);
            let list = store.conversations(user.id).await.expect("list");
            prop_assert_eq!(list.len(), 1);
            let unread = model.unread(who);
            prop_assert_eq!(list[0].unread_count, Some(unread));
            prop_assert_eq!(list[0].has_unread, Some(unread > 0));
            // The list's newest message carries its status and its sender.
            let last = list[0].last_message.clone().flatten();
            let want_last = model
                .messages
                .last()
                .map(|&(id, sender)| (id, Some(model.status(id, sender)), users[sender].clone()));
            let got_last = last.map(|l| (l.message.id, l.message.status, l.message.sender));
            prop_assert_eq!(got_last, want_last, "last message as {} sees it", who);
        }
        prop_assert!(
            store
                .messages(conversation, users[2].id, None, 10)
                .await
                .expect("history")
                .is_none()
        );
        prop_assert!(
            store
                .conversations(users[2].id)
                .await
                .expect("list")
                .is_empty()
        );
    }
    store.close().await;
    Ok(())
}

proptest! {
    // Each case opens a database; a few dozen cases keep the test within seconds.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn markers_statuses_and_unread_counts_follow_the_model(
        ops in prop::collection::vec(op(), 1..25)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(ops))?;
    }
}
