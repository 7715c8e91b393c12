//! Read and delivery markers: `chat.read` and `chat.delivered` move them, and a message's
//! status (sent, delivered, seen) follows from the other participants' markers.

use std::collections::{BTreeMap, HashSet};

use chat_shared::MessageStatus;

use super::{Result, Store};

/// Most status notifications one event sends.
const STATUS_BATCH: i64 = 100;

/// A participant's two markers: the newest message read, and the newest received.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marker {
    pub(super) user_id: i64,
    pub(super) read: i64,
    pub(super) delivered: i64,
}

/// Messages whose status changed for their senders: `(message id, sender id)`, newest first.
pub type StatusChanges = Vec<(i64, i64)>;

/// The result of `chat.read`.
pub struct ReadOutcome {
    pub participants: Vec<i64>,
    pub seen: StatusChanges,
}

/// What one batch of `chat.delivered` changed.
#[derive(Debug, Default)]
pub struct DeliveredBatch {
    /// Messages whose senders now see them delivered, newest first within each conversation.
    pub changes: StatusChanges,
    /// Ids of the batch that are no message in a conversation of the reader's.
    pub unknown: Vec<i64>,
}

impl Store {
    pub(super) async fn markers(&self, conversation_id: i64) -> Result<Vec<Marker>> {
        let rows: Vec<(i64, i64, i64)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT user_id, last_read_id, last_delivered_id FROM participants
                 WHERE conversation_id = $1 ORDER BY user_id",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(user_id, read, delivered)| Marker {
                user_id,
                read,
                delivered,
            })
            .collect())
    }

    /// Moves `reader`'s read (and delivery) marker to the newest message of the conversation.
    /// `None` when the reader is not in it.
    pub async fn mark_read(
        &self,
        conversation_id: i64,
        reader: i64,
    ) -> Result<Option<ReadOutcome>> {
        let moved: Option<(i64, i64)> = transaction!(self, tx => {
            let found: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT p.last_read_id, p.last_delivered_id, COALESCE(c.last_message_id, 0)
                 FROM participants p JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.conversation_id = $1 AND p.user_id = $2",
            )
            .bind(conversation_id)
            .bind(reader)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((read, delivered, newest)) = found
                && newest > read
            {
                sqlx::query(
                    "UPDATE participants SET last_read_id = $1, last_delivered_id = $2,
                       unread_count = unread_count - (
                         SELECT COUNT(*) FROM messages
                         WHERE conversation_id = $3 AND id > $5 AND id <= $1 AND sender_id <> $4)
                     WHERE conversation_id = $3 AND user_id = $4",
                )
                .bind(newest)
                .bind(delivered.max(newest))
                .bind(conversation_id)
                .bind(reader)
                .bind(read)
                .execute(&mut *tx)
                .await?;
            }
            found.map(|(read, _, newest)| (read, newest))
        });
        let Some((old, newest)) = moved else {
            return Ok(None);
        };
        let participants = self
            .markers(conversation_id)
            .await?
            .iter()
            .map(|m| m.user_id)
            .collect();
        let seen = self
            .changed_from_others(conversation_id, reader, old, newest)
            .await?;
        Ok(Some(ReadOutcome { participants, seen }))
    }

    /// Moves `reader`'s delivery marker up to `message_id`; the messages that became
    /// delivered. `None` when there is no such message in a conversation of the reader's.
    pub async fn mark_delivered(
        &self,
        message_id: i64,
        reader: i64,
    ) -> Result<Option<StatusChanges>> {
        let moved: Option<(i64, i64)> = transaction!(self, tx => {
            let found: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT p.conversation_id, p.last_delivered_id, p.last_read_id
                 FROM messages m JOIN participants p
                   ON p.conversation_id = m.conversation_id AND p.user_id = $2
                 WHERE m.id = $1",
            )
            .bind(message_id)
            .bind(reader)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((conversation_id, delivered, _)) = found
                && message_id > delivered
            {
                sqlx::query(
                    "UPDATE participants SET last_delivered_id = $1
                     WHERE conversation_id = $2 AND user_id = $3",
                )
                .bind(message_id)
                .bind(conversation_id)
                .bind(reader)
                .execute(&mut *tx)
                .await?;
            }
            found.map(|(conversation_id, delivered, read)| (conversation_id, delivered.max(read)))
        });
        let Some((conversation_id, old)) = moved else {
            return Ok(None);
        };
        if message_id <= old {
            return Ok(Some(Vec::new()));
        }
        let changed = self
            .changed_from_others(conversation_id, reader, old, message_id)
            .await?;
        Ok(Some(changed))
    }

    /// Moves `reader`'s delivery markers for a batch of `chat.delivered`, in one transaction:
    /// in each of the reader's conversations, up to the newest of the batch's messages there
    /// (never down). What changed for senders, and the ids that are no message of the reader's.
    pub async fn mark_delivered_batch(
        &self,
        message_ids: &[i64],
        reader: i64,
    ) -> Result<DeliveredBatch> {
        if message_ids.is_empty() {
            return Ok(DeliveredBatch::default());
        }
        // conversation → (newest of the batch there, the marker before, the read marker).
        let (moved, found): (Vec<(i64, i64, i64)>, HashSet<i64>) = on!(self, write pool => {
            let mut tx = pool.begin().await?;
            let mut select = sqlx::QueryBuilder::new(
                "SELECT m.id, p.conversation_id, p.last_delivered_id, p.last_read_id
                 FROM messages m JOIN participants p
                   ON p.conversation_id = m.conversation_id AND p.user_id = ",
            );
            select.push_bind(reader).push(" WHERE m.id IN (");
            let mut ids = select.separated(", ");
            for &id in message_ids {
                ids.push_bind(id);
            }
            select.push(")");
            let rows: Vec<(i64, i64, i64, i64)> = select
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?;
            let mut newest: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
            for &(id, conversation_id, delivered, read) in &rows {
                let entry = newest.entry(conversation_id).or_insert((id, delivered, read));
                entry.0 = entry.0.max(id);
            }
            let mut moved = Vec::new();
            for (&conversation_id, &(id, delivered, read)) in &newest {
                if id > delivered {
                    sqlx::query(
                        "UPDATE participants SET last_delivered_id = $1
                         WHERE conversation_id = $2 AND user_id = $3 AND last_delivered_id < $1",
                    )
                    .bind(id)
                    .bind(conversation_id)
                    .bind(reader)
                    .execute(&mut *tx)
                    .await?;
                }
                if id > delivered.max(read) {
                    moved.push((conversation_id, delivered.max(read), id));
                }
            }
            tx.commit().await?;
            (moved, rows.iter().map(|row| row.0).collect())
        });
        let mut batch = DeliveredBatch {
            unknown: message_ids
                .iter()
                .copied()
                .filter(|id| !found.contains(id))
                .collect(),
            ..DeliveredBatch::default()
        };
        for (conversation_id, old, newest) in moved {
            let changed = self
                .changed_from_others(conversation_id, reader, old, newest)
                .await?;
            batch.changes.extend(changed);
        }
        Ok(batch)
    }

    /// Messages of others in `(after, up_to]`, newest first, at most [`STATUS_BATCH`].
    async fn changed_from_others(
        &self,
        conversation_id: i64,
        reader: i64,
        after: i64,
        up_to: i64,
    ) -> Result<StatusChanges> {
        if up_to <= after {
            return Ok(Vec::new());
        }
        Ok(on!(self, read pool => {
            sqlx::query_as(
                "SELECT id, sender_id FROM messages
                 WHERE conversation_id = $1 AND id > $2 AND id <= $3 AND sender_id <> $4
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(conversation_id)
            .bind(after)
            .bind(up_to)
            .bind(reader)
            .bind(STATUS_BATCH)
            .fetch_all(pool)
            .await?
        }))
    }
}

/// Seen when every other participant has read it, delivered when every one has received it.
pub(super) fn status_of(message_id: i64, sender: i64, markers: &[Marker]) -> MessageStatus {
    let others = markers.iter().filter(|m| m.user_id != sender);
    let (mut read, mut delivered) = (true, true);
    for m in others {
        read &= m.read >= message_id;
        delivered &= m.delivered.max(m.read) >= message_id;
    }
    if read {
        MessageStatus::Seen
    } else if delivered {
        MessageStatus::Delivered
    } else {
        MessageStatus::Sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(user_id: i64, read: i64, delivered: i64) -> Marker {
        Marker {
            user_id,
            read,
            delivered,
        }
    }

    #[test]
    fn status_follows_the_other_participants_markers() {
        let markers = [marker(1, 10, 10), marker(2, 4, 7)];
        assert_eq!(status_of(4, 1, &markers), MessageStatus::Seen);
        assert_eq!(status_of(6, 1, &markers), MessageStatus::Delivered);
        assert_eq!(status_of(8, 1, &markers), MessageStatus::Sent);
        // user 2's own message is judged by user 1's markers
        assert_eq!(status_of(8, 2, &markers), MessageStatus::Seen);
    }
}
