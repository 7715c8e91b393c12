//! Messages: the group insert of the writer (mentions resolved, members read for delivery).

use std::collections::{BTreeMap, HashMap, VecDeque};

use chat_shared::{ChatMessage, MessageStatus, Timestamp, UserRef};

use super::markers::{Marker, status_of};
use super::{Result, Store, StoreError};

/// A chat message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: i64,
    pub sender: UserRef,
    pub content: String,
    /// The lower-cased names its `@` tokens may stand for (`chat_shared::mention::candidates`);
    /// those of members become the message's mentions.
    pub mentions: Vec<String>,
}

/// A message the writer stored.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its place in the list given to [`Store::create_messages`].
    pub index: usize,
    /// Everyone in its conversation: its recipients, the sender included.
    pub participants: Vec<i64>,
    pub message: ChatMessage,
}

/// A stored message, before its status is known.
pub(super) struct MessageRow {
    pub(super) id: i64,
    pub(super) sender_id: i64,
    pub(super) username: String,
    pub(super) content: String,
    pub(super) created_at: i64,
    pub(super) is_system: bool,
    /// A system message's event, as JSON.
    pub(super) event: Option<String>,
    /// The members mentioned, as a JSON array.
    pub(super) mentions: Option<String>,
}

impl Store {
    /// Stores messages in one transaction, all or none, each becoming its conversation's newest
    /// activity and counting as unread for the other participant. A message whose sender is not
    /// in its conversation is not stored: the membership check is part of the insert, so
    /// sending costs no read before the write.
    ///
    /// Four statements whatever the number of messages: one multi-row `INSERT … SELECT`, one
    /// `UPDATE` of the conversations, one of the unread counts, and the commit. Returns the
    /// stored messages in id (commit) order, each with the index of its input; an index
    /// missing from the result is a message that was refused.
    pub async fn create_messages(&self, messages: Vec<NewMessage>) -> Result<Vec<StoredMessage>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let (inserted, pairs, groups, mentioned) = transaction!(self, tx => {
            // Mentions first, so that each message is inserted with its own: the names its
            // `@` tokens may stand for, among the members of its conversation.
            let mut mentioned: Vec<Option<Vec<i64>>> = vec![None; messages.len()];
            if messages.iter().any(|m| !m.mentions.is_empty()) {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT p.conversation_id, p.user_id, u.username_key
                     FROM participants p
                     JOIN conversations c ON c.id = p.conversation_id AND c.kind = 'group'
                     JOIN users u ON u.id = p.user_id
                     WHERE p.conversation_id IN (",
                );
                let mut list = select.separated(", ");
                for m in messages.iter().filter(|m| !m.mentions.is_empty()) {
                    list.push_bind(m.conversation_id);
                }
                select.push(") AND u.username_key IN (");
                let mut list = select.separated(", ");
                for name in messages.iter().flat_map(|m| &m.mentions) {
                    list.push_bind(name.as_str());
                }
                select.push(")");
                let members: Vec<(i64, i64, String)> = select
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                for (index, m) in messages.iter().enumerate() {
                    let ids: Vec<i64> = members
                        .iter()
                        .filter(|(conversation_id, _, key)| {
                            *conversation_id == m.conversation_id && m.mentions.contains(key)
                        })
                        .map(|&(_, user_id, _)| user_id)
                        .collect();
                    if !ids.is_empty() {
                        mentioned[index] = Some(ids);
                    }
                }
            }
            let encoded: Vec<Option<String>> = mentioned
                .iter()
                .map(|ids| ids.as_ref().map(|ids| serde_json::json!(ids).to_string()))
                .collect();
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO messages (conversation_id, sender_id, content, created_at, mentions)
                 SELECT v.column1, v.column2, v.column3, ",
            );
            insert.push_bind(now.0).push(", v.column5 FROM (");
            insert.push_values(messages.iter().enumerate(), |mut row, (index, m)| {
                row.push_bind(m.conversation_id)
                    .push_bind(m.sender.id)
                    .push_bind(m.content.as_str())
                    .push_bind(index as i64)
                    .push_bind(encoded[index].as_deref());
            });
            // Ordered, so that ids are given in the order the messages came (a join alone may
            // produce its rows in any order).
            insert.push(
                ") AS v JOIN participants p ON p.conversation_id = v.column1 AND p.user_id = v.column2
                 ORDER BY v.column4
                 RETURNING id, conversation_id, sender_id",
            );
            let rows: Vec<(i64, i64, i64)> = insert
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?;
            // Checked before the commit: a row that cannot be explained stores nothing.
            let inserted = match_inputs(&messages, rows)?;
            let mut pairs = Vec::new();
            let mut groups: Vec<(i64, i64)> = Vec::new();
            if !inserted.is_empty() {
                let mut newest: BTreeMap<i64, i64> = BTreeMap::new();
                for &(_, id, conversation_id) in &inserted {
                    let entry = newest.entry(conversation_id).or_default();
                    *entry = (*entry).max(id);
                }
                // Never moves a conversation's newest message back (another instance may
                // have committed a newer one meanwhile).
                let mut update = sqlx::QueryBuilder::new(
                    "UPDATE conversations SET
                       last_message_id = CASE WHEN last_message_id > v.column2
                                              THEN last_message_id ELSE v.column2 END,
                       last_activity_at = ",
                );
                update.push_bind(now.0).push(" FROM (");
                update.push_values(&newest, |mut row, (conversation_id, id)| {
                    row.push_bind(*conversation_id).push_bind(*id);
                });
                update.push(
                    ") AS v WHERE conversations.id = v.column1
                     RETURNING id, user_low, user_high",
                );
                let updated = update
                    .build_query_as::<(i64, Option<i64>, Option<i64>)>()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                // A pair's two people come back with the update; a group's members are read
                // in the same transaction, so that whoever the commit counts as a member (and
                // only they) receives the message.
                let mut group_ids = Vec::new();
                for (id, low, high) in updated {
                    match (low, high) {
                        (Some(low), Some(high)) => pairs.push((id, low, high)),
                        _ => group_ids.push(id),
                    }
                }
                if !group_ids.is_empty() {
                    let mut select = sqlx::QueryBuilder::new(
                        "SELECT conversation_id, user_id FROM participants WHERE conversation_id IN (",
                    );
                    let mut list = select.separated(", ");
                    for id in &group_ids {
                        list.push_bind(*id);
                    }
                    select.push(")");
                    groups = select
                        .build_query_as()
                        .persistent(false)
                        .fetch_all(&mut *tx)
                        .await?;
                }
                let others: HashMap<i64, (i64, i64)> = pairs
                    .iter()
                    .map(|&(id, low, high)| (id, (low, high)))
                    .collect();
                let mut unread: BTreeMap<(i64, i64), i64> = BTreeMap::new();
                for &(index, _, conversation_id) in &inserted {
                    let sender = messages[index].sender.id;
                    if let Some(&(low, high)) = others.get(&conversation_id) {
                        let reader = if sender == low { high } else { low };
                        *unread.entry((conversation_id, reader)).or_default() += 1;
                    }
                }
                if !unread.is_empty() {
                    let mut count = sqlx::QueryBuilder::new(
                        "UPDATE participants SET unread_count = unread_count + v.column3 FROM (",
                    );
                    count.push_values(&unread, |mut row, ((conversation_id, reader), n)| {
                        row.push_bind(*conversation_id).push_bind(*reader).push_bind(*n);
                    });
                    count.push(
                        ") AS v WHERE participants.conversation_id = v.column1
                           AND participants.user_id = v.column2",
                    );
                    count.build().persistent(false).execute(&mut *tx).await?;
                }
            }
            (inserted, pairs, groups, mentioned)
        });
        let mut members: HashMap<i64, Vec<i64>> = pairs
            .into_iter()
            .map(|(id, low, high)| (id, vec![low, high]))
            .collect();
        for (conversation_id, user_id) in groups {
            members.entry(conversation_id).or_default().push(user_id);
        }
        let mut mentioned = mentioned;
        // Each stored message takes its input's sender and content (no copies).
        let mut inputs: Vec<Option<NewMessage>> = messages.into_iter().map(Some).collect();
        let stored = inserted
            .into_iter()
            .filter_map(|(index, id, conversation_id)| {
                let NewMessage {
                    sender, content, ..
                } = inputs[index].take()?;
                Some(StoredMessage {
                    index,
                    participants: members.get(&conversation_id).cloned().unwrap_or_default(),
                    message: ChatMessage {
                        id,
                        conversation_id,
                        sender,
                        content,
                        timestamp: now,
                        is_system: false,
                        attachment: None,
                        status: Some(MessageStatus::Sent),
                        is_read: Some(false),
                        mentions: mentioned[index].take(),
                        event: None,
                    },
                })
            })
            .collect();
        Ok(stored)
    }
}

/// Pairs each row an insert returned, `(id, conversation, sender)`, with the index of the
/// message it stored. `RETURNING` promises no order, but the insert gives ids in input order and
/// stores all or none of one sender's messages to one conversation (membership is per sender and
/// conversation), so in id order the k-th row of a (conversation, sender) is its k-th message.
/// The result is `(index, id, conversation)` in id order.
fn match_inputs(
    messages: &[NewMessage],
    mut rows: Vec<(i64, i64, i64)>,
) -> Result<Vec<(usize, i64, i64)>> {
    rows.sort_unstable_by_key(|row| row.0);
    // (conversation, sender) → the indices of its messages not yet matched, in input order.
    let mut inputs: HashMap<(i64, i64), VecDeque<usize>> = HashMap::new();
    for (index, m) in messages.iter().enumerate() {
        inputs
            .entry((m.conversation_id, m.sender.id))
            .or_default()
            .push_back(index);
    }
    let mut matched = Vec::with_capacity(rows.len());
    for (id, conversation_id, sender_id) in rows {
        let index = inputs
            .get_mut(&(conversation_id, sender_id))
            .and_then(VecDeque::pop_front)
            .ok_or_else(|| {
                StoreError::Inconsistent(format!("stored message {id} matches no message sent"))
            })?;
        matched.push((index, id, conversation_id));
    }
    Ok(matched)
}

/// A message with its status as its sender sees it, given everyone's markers.
pub(super) fn message_from(
    row: MessageRow,
    conversation_id: i64,
    markers: &[Marker],
) -> Result<ChatMessage> {
    let status = status_of(row.id, row.sender_id, markers);
    with_status(row, conversation_id, status)
}

/// A message with the given status (its event and mentions decoded).
pub(super) fn with_status(
    row: MessageRow,
    conversation_id: i64,
    status: MessageStatus,
) -> Result<ChatMessage> {
    let decode = |what: &str, e: serde_json::Error| {
        StoreError::Inconsistent(format!("message {}'s {what}: {e}", row.id))
    };
    let event = match &row.event {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| decode("event", e))?),
        None => None,
    };
    let mentions = match &row.mentions {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| decode("mentions", e))?),
        None => None,
    };
    Ok(ChatMessage {
        id: row.id,
        conversation_id,
        sender: UserRef {
            id: row.sender_id,
            username: row.username,
        },
        content: row.content,
        timestamp: Timestamp(row.created_at),
        is_system: row.is_system,
        attachment: None,
        status: Some(status),
        is_read: Some(status == MessageStatus::Seen),
        mentions,
        event,
    })
}
