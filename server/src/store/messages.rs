//! Messages: the group insert of the writer (mentions resolved, retries recognised by their
//! client ids, members read for delivery), and messages read back whole by id.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;

use chat_shared::{ChatMessage, MessageStatus, Reaction, ReplyRef, Timestamp, UserRef};

use super::markers::{Marker, status_of};
use super::sync::{MESSAGE as MESSAGE_EVENT, SERIALIZE_EVENTS};
use super::{Result, Store, StoreError};

/// How long a client id makes a send a retry (7 days).
pub const CLIENT_ID_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How often the writer prunes client ids past [`CLIENT_ID_KEPT_MS`] (hourly).
const PRUNE_EVERY_MS: i64 = 3600 * 1000;

/// The columns a [`MessageRow`] reads: `m` the message, `u` its sender, `r` and `ru` the
/// message it answers and that one's sender (see [`reply_join!`]).
macro_rules! message_columns {
    () => {
        "m.id, m.sender_id, u.username, m.content, m.created_at, m.is_system, m.event,
         m.mentions, m.edited_at, m.deleted, m.reactions, r.id AS reply_id,
         r.sender_id AS reply_sender_id, ru.username AS reply_username,
         SUBSTR(r.content, 1, 100) AS reply_excerpt, r.deleted AS reply_deleted"
    };
}

/// The joins [`message_columns!`] reads from, after `messages m`.
macro_rules! reply_join {
    () => {
        " JOIN users u ON u.id = m.sender_id
          LEFT JOIN messages r ON r.id = m.reply_to_id
          LEFT JOIN users ru ON ru.id = r.sender_id "
    };
}

/// For each `(conversation, names)` of `$asked` (a `&[(i64, &[String])]`), the ids of the
/// group's members whose lower-cased name is among `names` (the candidates of its `@` tokens),
/// or `None` when there are none, read on the transaction `$tx` of either engine.
macro_rules! mentions_among_members {
    ($tx:ident, $asked:expr) => {{
        let asked: &[(i64, &[String])] = $asked;
        let mut found: Vec<Option<Vec<i64>>> = vec![None; asked.len()];
        if asked.iter().any(|(_, names)| !names.is_empty()) {
            let mut select = sqlx::QueryBuilder::new(
                "SELECT p.conversation_id, p.user_id, u.username_key
                 FROM participants p
                 JOIN conversations c ON c.id = p.conversation_id AND c.kind = 'group'
                 JOIN users u ON u.id = p.user_id
                 WHERE p.conversation_id IN (",
            );
            let mut list = select.separated(", ");
            for (conversation_id, _) in asked.iter().filter(|(_, names)| !names.is_empty()) {
                list.push_bind(*conversation_id);
            }
            select.push(") AND u.username_key IN (");
            let mut list = select.separated(", ");
            for name in asked.iter().flat_map(|(_, names)| names.iter()) {
                list.push_bind(name.as_str());
            }
            select.push(")");
            let members: Vec<(i64, i64, String)> = select
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *$tx)
                .await?;
            for ((conversation, names), slot) in asked.iter().zip(found.iter_mut()) {
                let ids: Vec<i64> = members
                    .iter()
                    .filter(|(c, _, key)| c == conversation && names.contains(key))
                    .map(|&(_, user_id, _)| user_id)
                    .collect();
                if !ids.is_empty() {
                    *slot = Some(ids);
                }
            }
        }
        found
    }};
}
pub(super) use mentions_among_members;

/// A chat message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: i64,
    pub sender: UserRef,
    pub content: String,
    /// The lower-cased names its `@` tokens may stand for (`chat_shared::mention::candidates`);
    /// those of members become the message's mentions.
    pub mentions: Vec<String>,
    /// The message of the same conversation it answers, as its handler found it.
    pub reply_to: Option<ReplyRef>,
    /// The sender's id for this send: a retry of a send it already stored is answered with
    /// that message instead of being stored again.
    pub client_id: Option<String>,
}

impl NewMessage {
    /// A plain message: its mentions read from its content, no reply, no client id.
    pub fn new(conversation_id: i64, sender: UserRef, content: String) -> NewMessage {
        NewMessage {
            conversation_id,
            sender,
            mentions: chat_shared::mention::candidates(&content),
            content,
            reply_to: None,
            client_id: None,
        }
    }
}

/// A message the writer stored, or the one a retry stands for.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its place in the list given to [`Store::create_messages`].
    pub index: usize,
    /// Who gets it: everyone in its conversation, the sender included; for a retry, only the
    /// sender.
    pub participants: Vec<i64>,
    pub message: ChatMessage,
    /// Whether it is the answer to a retry (stored earlier, not by this group).
    pub retry: bool,
    /// Its event's `seq` (none for the answer to a retry, which is no event).
    pub seq: Option<i64>,
}

/// A stored message, before its status is known.
#[derive(Debug, Default, sqlx::FromRow)]
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
    pub(super) edited_at: Option<i64>,
    pub(super) deleted: bool,
    /// The reactions, as the JSON array the message carries.
    pub(super) reactions: Option<String>,
    /// The message it answers (all `NULL` when none): id, sender, excerpt, deleted.
    pub(super) reply_id: Option<i64>,
    pub(super) reply_sender_id: Option<i64>,
    pub(super) reply_username: Option<String>,
    pub(super) reply_excerpt: Option<String>,
    pub(super) reply_deleted: Option<bool>,
}

impl MessageRow {
    /// The answered message as the reply carries it.
    fn reply(&mut self) -> Option<ReplyRef> {
        let (id, sender_id, username) = (
            self.reply_id?,
            self.reply_sender_id?,
            self.reply_username.take()?,
        );
        let deleted = self.reply_deleted.unwrap_or(false);
        Some(ReplyRef {
            id,
            sender: UserRef {
                id: sender_id,
                username,
            },
            excerpt: if deleted {
                String::new()
            } else {
                self.reply_excerpt.take().unwrap_or_default()
            },
            deleted,
        })
    }
}

/// A send whose client id its sender already used: the message it stands for.
#[derive(Debug, Clone, Copy)]
enum Retry {
    /// A message stored earlier, by its id.
    Of(i64),
    /// The message at this index of the same group (stored or refused with it).
    OfIndex(usize),
}

impl Store {
    /// Stores messages in one transaction, all or none, each becoming its conversation's newest
    /// activity and counting as unread for the other participant. A message whose sender is not
    /// in its conversation is not stored: the membership check is part of the insert, so
    /// sending costs no read before the write. A message whose sender already used its
    /// `client_id` (in the last 7 days, or earlier in this group) is not stored either: it
    /// stands for that message, which is read back and given to its sender alone.
    ///
    /// Four statements whatever the number of messages: one multi-row `INSERT … SELECT`, one
    /// `UPDATE` of the conversations, one of the unread counts, and the commit (plus two for
    /// client ids when any message has one). Returns the stored messages in id (commit) order,
    /// then the retries, each with the index of its input; an index missing from the result is
    /// a message that was refused.
    pub async fn create_messages(&self, messages: Vec<NewMessage>) -> Result<Vec<StoredMessage>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let kept_since = now.0 - CLIENT_ID_KEPT_MS;
        let prune = now.0 - self.client_ids_pruned_at.load(Ordering::Relaxed) > PRUNE_EVERY_MS;
        let postgres = self.is_postgres();
        let (inserted, pairs, groups, mentioned, retries, seqs) = transaction!(self, tx => {
            // Retries first: they are answered, not stored.
            let mut retries: HashMap<usize, Retry> = HashMap::new();
            if messages.iter().any(|m| m.client_id.is_some()) {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT s.sender_id, s.client_id, s.message_id FROM sent_client_ids s
                     JOIN (",
                );
                select.push_values(
                    messages.iter().filter_map(|m| Some((m.sender.id, m.client_id.as_deref()?))),
                    |mut row, (sender, client_id)| {
                        row.push_bind(sender).push_bind(client_id);
                    },
                );
                select.push(
                    ") AS v ON s.sender_id = v.column1 AND s.client_id = v.column2
                     WHERE s.created_at >= ",
                );
                select.push_bind(kept_since);
                let known: Vec<(i64, String, i64)> = select
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut first: HashMap<(i64, &str), Retry> = known
                    .iter()
                    .map(|(sender, client_id, id)| ((*sender, client_id.as_str()), Retry::Of(*id)))
                    .collect();
                for (index, m) in messages.iter().enumerate() {
                    let Some(client_id) = m.client_id.as_deref() else {
                        continue;
                    };
                    match first.get(&(m.sender.id, client_id)) {
                        Some(retry) => {
                            retries.insert(index, *retry);
                        }
                        None => {
                            first.insert((m.sender.id, client_id), Retry::OfIndex(index));
                        }
                    }
                }
            }
            let fresh: Vec<usize> = (0..messages.len())
                .filter(|index| !retries.contains_key(index))
                .collect();
            // Mentions next, so that each message is inserted with its own: the names its
            // `@` tokens may stand for, among the members of its conversation.
            let mut mentioned: Vec<Option<Vec<i64>>> = vec![None; messages.len()];
            let asked: Vec<(i64, &[String])> = fresh
                .iter()
                .map(|&i| (messages[i].conversation_id, &messages[i].mentions[..]))
                .collect();
            let found = mentions_among_members!(tx, &asked);
            for (&index, ids) in fresh.iter().zip(found) {
                mentioned[index] = ids;
            }
            let encoded: Vec<Option<String>> = mentioned
                .iter()
                .map(|ids| ids.as_ref().map(|ids| serde_json::json!(ids).to_string()))
                .collect();
            let mut inserted = Vec::new();
            if !fresh.is_empty() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO messages
                       (conversation_id, sender_id, content, created_at, mentions, reply_to_id,
                        search_text)
                     SELECT v.column1, v.column2, v.column3, ",
                );
                insert
                    .push_bind(now.0)
                    .push(", v.column5, v.column6, v.column7 FROM (");
                insert.push_values(&fresh, |mut row, &index| {
                    let m = &messages[index];
                    row.push_bind(m.conversation_id)
                        .push_bind(m.sender.id)
                        .push_bind(m.content.as_str())
                        .push_bind(index as i64)
                        .push_bind(encoded[index].as_deref())
                        .push_bind(m.reply_to.as_ref().map(|r| r.id))
                        .push_bind(crate::search::index_text(&m.content));
                });
                // Ordered, so that ids are given in the order the messages came (a join alone
                // may produce its rows in any order).
                insert.push(
                    ") AS v JOIN participants p ON p.conversation_id = v.column1
                                               AND p.user_id = v.column2
                     ORDER BY v.column4
                     RETURNING id, conversation_id, sender_id",
                );
                let rows: Vec<(i64, i64, i64)> = insert
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                // Checked before the commit: a row that cannot be explained stores nothing.
                inserted = match_inputs(&messages, &fresh, rows)?;
            }
            let with_client_id: Vec<(i64, &str, i64)> = inserted
                .iter()
                .filter_map(|&(index, id, _)| {
                    let m = &messages[index];
                    Some((m.sender.id, m.client_id.as_deref()?, id))
                })
                .collect();
            if !with_client_id.is_empty() {
                // A row older than 7 days is taken over; a younger one can only be there if
                // another instance stored the same send since the look-up above, and then this
                // group stores nothing (its senders are told, and retry).
                let mut remember = sqlx::QueryBuilder::new(
                    "INSERT INTO sent_client_ids (sender_id, client_id, message_id, created_at) ",
                );
                remember.push_values(&with_client_id, |mut row, &(sender, client_id, id)| {
                    row.push_bind(sender)
                        .push_bind(client_id)
                        .push_bind(id)
                        .push_bind(now.0);
                });
                remember.push(
                    " ON CONFLICT (sender_id, client_id) DO UPDATE
                       SET message_id = excluded.message_id, created_at = excluded.created_at
                       WHERE sent_client_ids.created_at < ",
                );
                remember.push_bind(kept_since).push(" RETURNING message_id");
                let remembered: Vec<i64> = remember
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                if remembered.len() != with_client_id.len() {
                    return Err(StoreError::Inconsistent(
                        "a client id was stored by another instance at the same time".into(),
                    ));
                }
            }
            if prune {
                sqlx::query("DELETE FROM sent_client_ids WHERE created_at < $1")
                    .bind(kept_since)
                    .persistent(false)
                    .execute(&mut *tx)
                    .await?;
            }
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
            // Each message's event, last: on PostgreSQL the lock that orders events is held
            // from here to the commit only.
            let mut seqs: Vec<i64> = Vec::new();
            if !inserted.is_empty() {
                if postgres {
                    sqlx::query(SERIALIZE_EVENTS).execute(&mut *tx).await?;
                }
                let mut events = sqlx::QueryBuilder::new(
                    "INSERT INTO events (conversation_id, kind, message_id, created_at)
                     SELECT v.column1, v.column2, v.column3, v.column4 FROM (",
                );
                events.push_values(&inserted, |mut row, &(_, id, conversation_id)| {
                    row.push_bind(conversation_id)
                        .push_bind(MESSAGE_EVENT)
                        .push_bind(id)
                        .push_bind(now.0);
                });
                events.push(") AS v ORDER BY v.column3 RETURNING seq");
                seqs = events
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                if seqs.len() != inserted.len() {
                    return Err(StoreError::Inconsistent(
                        "a stored message without its event".into(),
                    ));
                }
                seqs.sort_unstable();
            }
            (inserted, pairs, groups, mentioned, retries, seqs)
        });
        if prune {
            self.client_ids_pruned_at.store(now.0, Ordering::Relaxed);
        }
        let mut members: HashMap<i64, Vec<i64>> = pairs
            .into_iter()
            .map(|(id, low, high)| (id, vec![low, high]))
            .collect();
        for (conversation_id, user_id) in groups {
            members.entry(conversation_id).or_default().push(user_id);
        }
        // The messages retries stand for, as they are now.
        let stored_ids: HashMap<usize, i64> = inserted.iter().map(|&(i, id, _)| (i, id)).collect();
        let retried: Vec<(usize, i64)> = retries
            .iter()
            .filter_map(|(&index, retry)| match *retry {
                Retry::Of(id) => Some((index, id)),
                Retry::OfIndex(first) => Some((index, *stored_ids.get(&first)?)),
            })
            .collect();
        let ids: Vec<i64> = retried.iter().map(|&(_, id)| id).collect();
        let mut originals: HashMap<i64, ChatMessage> = self
            .messages_by_id(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut mentioned = mentioned;
        // Each stored message takes its input's sender and content (no copies).
        let mut inputs: Vec<Option<NewMessage>> = messages.into_iter().map(Some).collect();
        let mut stored: Vec<StoredMessage> = inserted
            .into_iter()
            .zip(seqs)
            .filter_map(|((index, id, conversation_id), seq)| {
                let NewMessage {
                    sender,
                    content,
                    reply_to,
                    client_id,
                    ..
                } = inputs[index].take()?;
                Some(StoredMessage {
                    index,
                    participants: members.get(&conversation_id).cloned().unwrap_or_default(),
                    message: ChatMessage {
                        mentions: mentioned[index].take(),
                        reply_to: Some(reply_to.map(Box::new)),
                        client_id,
                        ..ChatMessage::new(id, conversation_id, sender, content, now)
                    },
                    retry: false,
                    seq: Some(seq),
                })
            })
            .collect();
        for (index, id) in retried {
            let (Some(input), Some(original)) = (inputs[index].take(), originals.get(&id)) else {
                continue;
            };
            stored.push(StoredMessage {
                index,
                participants: vec![input.sender.id],
                message: ChatMessage {
                    client_id: input.client_id,
                    ..original.clone()
                },
                retry: true,
                seq: None,
            });
        }
        originals.clear();
        Ok(stored)
    }
}

/// Pairs each row an insert returned, `(id, conversation, sender)`, with the index of the
/// message it stored, among the `inserted` indices of `messages`. `RETURNING` promises no order,
/// but the insert gives ids in input order and stores all or none of one sender's messages to
/// one conversation (membership is per sender and conversation), so in id order the k-th row
/// of a (conversation, sender) is its k-th message. The result is `(index, id, conversation)`
/// in id order.
fn match_inputs(
    messages: &[NewMessage],
    inserted: &[usize],
    mut rows: Vec<(i64, i64, i64)>,
) -> Result<Vec<(usize, i64, i64)>> {
    rows.sort_unstable_by_key(|row| row.0);
    // (conversation, sender) → the indices of its messages not yet matched, in input order.
    let mut inputs: HashMap<(i64, i64), VecDeque<usize>> = HashMap::new();
    for &index in inserted {
        let m = &messages[index];
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

/// A message with the given status (its event, mentions and reactions decoded).
pub(super) fn with_status(
    mut row: MessageRow,
    conversation_id: i64,
    status: MessageStatus,
) -> Result<ChatMessage> {
    let id = row.id;
    let decode = |what: &str, e: serde_json::Error| {
        StoreError::Inconsistent(format!("message {id}'s {what}: {e}"))
    };
    let event = match &row.event {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| decode("event", e))?),
        None => None,
    };
    let mentions = match &row.mentions {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| decode("mentions", e))?),
        None => None,
    };
    let reactions: Vec<Reaction> = match &row.reactions {
        Some(json) => serde_json::from_str(json).map_err(|e| decode("reactions", e))?,
        None => Vec::new(),
    };
    let reply_to = row.reply().map(Box::new);
    Ok(ChatMessage {
        is_system: row.is_system,
        status: Some(status),
        is_read: Some(status == MessageStatus::Seen),
        mentions,
        event,
        reply_to: Some(reply_to),
        edited_at: Some(row.edited_at.map(Timestamp)),
        deleted: Some(row.deleted),
        reactions: Some(reactions),
        ..ChatMessage::new(
            id,
            conversation_id,
            UserRef {
                id: row.sender_id,
                username: row.username,
            },
            row.content,
            Timestamp(row.created_at),
        )
    })
}

impl Store {
    /// The messages with these ids, as they are now, each with its status as its sender sees
    /// it (ids that name no message are left out), in id order.
    pub async fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<ChatMessage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, MessageRow)> = on!(self, read pool => {
            let mut select = sqlx::QueryBuilder::new(concat!(
                "SELECT m.conversation_id, ",
                message_columns!(),
                " FROM messages m",
                reply_join!(),
                "WHERE m.id IN ("
            ));
            let mut list = select.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            select.push(") ORDER BY m.id");
            select
                .build()
                .persistent(false)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    use sqlx::{FromRow, Row};
                    Ok((row.try_get(0)?, MessageRow::from_row(row)?))
                })
                .collect::<std::result::Result<_, sqlx::Error>>()?
        });
        // Every conversation's markers in one query (a search's page spans many).
        let mut conversations: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        let markers = self.markers_of(&conversations).await?;
        let mut messages = Vec::with_capacity(rows.len());
        for (conversation_id, row) in rows {
            let known = markers.get(&conversation_id).map_or(&[][..], Vec::as_slice);
            messages.push(message_from(row, conversation_id, known)?);
        }
        Ok(messages)
    }

    /// The message `id` of `conversation_id` as a reply to it carries it; `None` when there is
    /// no such message there or it was deleted.
    pub async fn reply_target(&self, conversation_id: i64, id: i64) -> Result<Option<ReplyRef>> {
        let row: Option<(i64, String, String)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT m.sender_id, u.username, SUBSTR(m.content, 1, 100)
                 FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.id = $1 AND m.conversation_id = $2 AND NOT m.deleted",
            )
            .bind(id)
            .bind(conversation_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(sender_id, username, excerpt)| ReplyRef {
            id,
            sender: UserRef {
                id: sender_id,
                username,
            },
            excerpt,
            deleted: false,
        }))
    }
}
