//! Read and delivery markers: `chat.read` and `chat.delivered` move them, and a message's
//! status (sent, delivered, seen) follows from the other participants' markers.

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// Messages whose status changed for their senders: `(message id, sender id, new status)`,
/// newest first.
pub type StatusChanges = Vec<(i64, i64, MessageStatus)>;

/// The result of `chat.read`.
pub struct ReadOutcome {
    /// Everyone in the conversation.
    pub participants: Vec<i64>,
    /// Whether it is a group (whose members are not each told of every read).
    pub group: bool,
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

    /// The markers of several conversations at once (one query), by conversation; a
    /// conversation without members is left out.
    pub(super) async fn markers_of(
        &self,
        conversation_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<Marker>>> {
        let mut found: HashMap<i64, Vec<Marker>> = HashMap::new();
        if conversation_ids.is_empty() {
            return Ok(found);
        }
        let rows: Vec<(i64, i64, i64, i64)> = on!(self, read pool => {
            let mut select = sqlx::QueryBuilder::new(
                "SELECT conversation_id, user_id, last_read_id, last_delivered_id FROM participants
                 WHERE conversation_id IN (",
            );
            let mut list = select.separated(", ");
            for id in conversation_ids {
                list.push_bind(*id);
            }
            select.push(") ORDER BY conversation_id, user_id");
            select.build_query_as().persistent(false).fetch_all(pool).await?
        });
        for (conversation_id, user_id, read, delivered) in rows {
            found.entry(conversation_id).or_default().push(Marker {
                user_id,
                read,
                delivered,
            });
        }
        Ok(found)
    }

    /// The members of a conversation (none when there is no such conversation).
    pub async fn member_ids(&self, conversation_id: i64) -> Result<Vec<i64>> {
        Ok(self
            .markers(conversation_id)
            .await?
            .iter()
            .map(|m| m.user_id)
            .collect())
    }

    /// Moves `reader`'s read (and delivery) marker to the newest message of the conversation.
    /// `None` when the reader is not in it.
    pub async fn mark_read(
        &self,
        conversation_id: i64,
        reader: i64,
    ) -> Result<Option<ReadOutcome>> {
        let moved: Option<(Marker, i64, bool)> = transaction!(self, tx => {
            let found: Option<(i64, i64, i64, String)> = sqlx::query_as(
                "SELECT p.last_read_id, p.last_delivered_id, COALESCE(c.last_message_id, 0), c.kind
                 FROM participants p JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.conversation_id = $1 AND p.user_id = $2",
            )
            .bind(conversation_id)
            .bind(reader)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((read, delivered, newest, _)) = &found
                && newest > read
            {
                sqlx::query(
                    "UPDATE participants SET last_read_id = $1, last_delivered_id = $2,
                       unread_count = unread_count - (
                         SELECT COUNT(*) FROM messages
                         WHERE conversation_id = $3 AND id > $5 AND id <= $1 AND sender_id <> $4)
                     WHERE conversation_id = $3 AND user_id = $4",
                )
                .bind(*newest)
                .bind((*delivered).max(*newest))
                .bind(conversation_id)
                .bind(reader)
                .bind(*read)
                .execute(&mut *tx)
                .await?;
            }
            match found {
                Some((read, delivered, newest, kind)) => {
                    let before = Marker { user_id: reader, read, delivered };
                    Some((before, newest, kind == "group"))
                }
                None => None,
            }
        });
        let Some((before, newest, group)) = moved else {
            return Ok(None);
        };
        let markers = self.markers(conversation_id).await?;
        let seen = self
            .changed_from_others(conversation_id, before, before.read, newest, Some(&markers))
            .await?;
        let participants = markers.iter().map(|m| m.user_id).collect();
        Ok(Some(ReadOutcome {
            participants,
            group,
            seen,
        }))
    }

    /// Moves `reader`'s delivery marker up to `message_id`; the messages that became
    /// delivered. `None` when there is no such message in a conversation of the reader's.
    pub async fn mark_delivered(
        &self,
        message_id: i64,
        reader: i64,
    ) -> Result<Option<StatusChanges>> {
        let moved: Option<(i64, Marker)> = transaction!(self, tx => {
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
            found.map(|(conversation_id, delivered, read)| {
                (conversation_id, Marker { user_id: reader, read, delivered })
            })
        });
        let Some((conversation_id, before)) = moved else {
            return Ok(None);
        };
        let old = before.delivered.max(before.read);
        if message_id <= old {
            return Ok(Some(Vec::new()));
        }
        let changed = self
            .changed_from_others(conversation_id, before, old, message_id, None)
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
        let (moved, found): (Vec<(i64, Marker, i64)>, HashSet<i64>) = on!(self, write pool => {
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
                    let before = Marker { user_id: reader, read, delivered };
                    moved.push((conversation_id, before, id));
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
        for (conversation_id, before, newest) in moved {
            let old = before.delivered.max(before.read);
            let changed = self
                .changed_from_others(conversation_id, before, old, newest, None)
                .await?;
            batch.changes.extend(changed);
        }
        Ok(batch)
    }

    /// The messages of others in `(after, up_to]` (newest first, at most [`STATUS_BATCH`])
    /// whose status changed when the reader's markers moved from `before` to theirs in
    /// `markers` (read here when not given), each with its new status. In a pair every one changes; in a group only those
    /// the reader was the last to receive or read.
    async fn changed_from_others(
        &self,
        conversation_id: i64,
        before: Marker,
        after: i64,
        up_to: i64,
        markers: Option<&[Marker]>,
    ) -> Result<StatusChanges> {
        if up_to <= after {
            return Ok(Vec::new());
        }
        let reader = before.user_id;
        let candidates: Vec<(i64, i64)> = on!(self, read pool => {
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
        });
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // Everyone's markers, read only when some message may have changed (the caller may
        // have them already).
        let fetched;
        let markers = match markers {
            Some(markers) => markers,
            None => {
                fetched = self.markers(conversation_id).await?;
                &fetched[..]
            }
        };
        let earlier: Vec<Marker> = markers
            .iter()
            .map(|m| if m.user_id == reader { before } else { *m })
            .collect();
        Ok(candidates
            .into_iter()
            .filter_map(|(id, sender)| {
                let now = status_of(id, sender, markers);
                (now != status_of(id, sender, &earlier)).then_some((id, sender, now))
            })
            .collect())
    }
}

/// Seen when every other participant has read it, delivered when every one has received it.
pub(super) fn status_of(message_id: i64, sender: i64, markers: &[Marker]) -> MessageStatus {
    let (read, delivered) = lowest_markers(markers, sender);
    status_at(message_id, read, delivered)
}

/// The lowest read marker and the lowest delivery marker (a read counts as delivered) of
/// everyone but `sender`; `i64::MAX` for both when there is no one else.
pub(super) fn lowest_markers(markers: &[Marker], sender: i64) -> (i64, i64) {
    let others = markers.iter().filter(|m| m.user_id != sender);
    let (mut read, mut delivered) = (i64::MAX, i64::MAX);
    for m in others {
        read = read.min(m.read);
        delivered = delivered.min(m.delivered.max(m.read));
    }
    (read, delivered)
}

/// A message's status given the lowest read marker and the lowest delivery marker (a read
/// counts as delivered) of everyone but its sender.
pub(super) fn status_at(message_id: i64, read_by_all: i64, delivered_to_all: i64) -> MessageStatus {
    if read_by_all >= message_id {
        MessageStatus::Seen
    } else if delivered_to_all >= message_id {
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
