//! Messages: the group insert of the writer, and history pages capped in rows and bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chat_shared::{ChatMessage, MessageStatus, Timestamp, UserRef};

use super::markers::{Marker, status_at, status_of};
use super::{Pools, Result, Store, StoreError};

/// A page of history, oldest first, and whether older messages remain.
#[derive(Debug)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}

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

/// One message of a history page as the page's JSON array holds it (fields in the order of the
/// SQL's JSON array): the message, the lowest markers of the participants who did not send it
/// (`NULL` when there are none), and the count of rows the page was chosen from (before any was
/// left out for its size).
#[derive(serde::Deserialize)]
struct PageRow {
    id: i64,
    sender_id: i64,
    username: String,
    content: String,
    created_at: i64,
    /// 0 or 1: JSON has no booleans in SQLite.
    is_system: i64,
    event: Option<String>,
    mentions: Option<String>,
    others_read: Option<i64>,
    others_delivered: Option<i64>,
    chosen: i64,
}

/// A history page as one JSON array of [`PageRow`]s, newest first, given the engine's names for
/// the JSON aggregate and the JSON array and its spelling of a text's JSON string (the only
/// words the engines spell differently here). Parameters: conversation, caller, `before_id`,
/// rows, bytes. Rows stop after the first one whose newer rows' contents already take more than
/// the given bytes: first counted in characters (cheap), then as JSON strings. Each count is at
/// most the message's bytes in its JSON (the engines escape what serde_json escapes, and count
/// characters, which are at least a byte), so the rows left out could never have fitted, and an
/// escape-heavy history does not make the engine build several times the page.
macro_rules! page_sql {
    ($json_agg:literal, $json_array:literal, $json_string:literal) => {
        concat!(
            "SELECT CAST(COALESCE(",
            $json_agg,
            "(",
            $json_array,
            "(id, sender_id, username, content, created_at, is_system, event, mentions,
                others_read, others_delivered, chosen) ORDER BY id DESC), '[]') AS TEXT)
             FROM (SELECT coarse.*,
                          SUM(LENGTH(",
            $json_string,
            ")) OVER (ORDER BY coarse.id DESC ROWS UNBOUNDED PRECEDING)
                            - LENGTH(",
            $json_string,
            ") AS newer_bytes
                   FROM (SELECT newest.*, COUNT(*) OVER () AS chosen,
                                SUM(LENGTH(newest.content)) OVER (ORDER BY newest.id DESC
                                                                  ROWS UNBOUNDED PRECEDING)
                                  - LENGTH(newest.content) AS newer_chars
                         FROM (SELECT m.id, m.sender_id, u.username, m.content, m.created_at,
                                      CASE WHEN m.is_system THEN 1 ELSE 0 END AS is_system,
                                      m.event, m.mentions,
                                      (SELECT MIN(o.last_read_id) FROM participants o
                                       WHERE o.conversation_id = m.conversation_id
                                         AND o.user_id <> m.sender_id) AS others_read,
                                      (SELECT MIN(CASE WHEN o.last_delivered_id > o.last_read_id
                                                       THEN o.last_delivered_id
                                                       ELSE o.last_read_id END)
                                       FROM participants o
                                       WHERE o.conversation_id = m.conversation_id
                                         AND o.user_id <> m.sender_id) AS others_delivered
                               FROM participants me
                               JOIN messages m ON m.conversation_id = me.conversation_id
                               JOIN users u ON u.id = m.sender_id
                               WHERE me.conversation_id = $1 AND me.user_id = $2 AND m.id < $3
                               ORDER BY m.id DESC LIMIT $4) AS newest) AS coarse
                   WHERE newer_chars <= $5) AS page
             WHERE newer_bytes <= $5"
        )
    };
}

/// Counts the bytes written to it: a value's JSON length without building the JSON.
#[derive(Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes of `message` as JSON.
fn json_len(message: &ChatMessage) -> Result<usize> {
    let mut count = ByteCount::default();
    serde_json::to_writer(&mut count, message)
        .map_err(|e| StoreError::Inconsistent(format!("a message's JSON: {e}")))?;
    Ok(count.0)
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

    /// A page of a conversation, oldest first: the newest `limit` messages older than
    /// `before_id`, and whether older ones remain. `None` when `user` may not see it.
    pub async fn messages(
        &self,
        conversation_id: i64,
        user: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Option<Page>> {
        self.messages_within(conversation_id, user, before_id, limit, usize::MAX)
            .await
    }

    /// Like [`Store::messages`], with the page also ending before the message that would take
    /// its messages' JSON (the array, commas included) past `max_bytes`; a page always holds
    /// its newest message, whatever its size. A page cut short says that more remain.
    pub async fn messages_within(
        &self,
        conversation_id: i64,
        user: i64,
        before_id: Option<i64>,
        limit: i64,
        max_bytes: usize,
    ) -> Result<Option<Page>> {
        // One statement: the caller's membership is a join, and each message carries the
        // markers of the participant who did not send it (its status). The page comes back as
        // one JSON value rather than 51 rows of 9 columns: from SQLite, each row and each value
        // costs a hand-over between threads and an allocation, which made up most of a page's
        // cost (docs/performance.md). An empty page is told apart from a conversation the
        // caller may not see afterwards.
        let sql = match &self.pools {
            Pools::Sqlite { .. } => {
                page_sql!(
                    "json_group_array",
                    "json_array",
                    "json_quote(coarse.content)"
                )
            }
            Pools::Postgres(_) => page_sql!(
                "json_agg",
                "json_build_array",
                "CAST(to_json(coarse.content) AS TEXT)"
            ),
        };
        let page: String = on!(self, read pool => {
            sqlx::query_scalar(sql)
                .bind(conversation_id)
                .bind(user)
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(limit + 1)
                .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await?
        });
        let rows: Vec<PageRow> = serde_json::from_str(&page)
            .map_err(|e| StoreError::Inconsistent(format!("a history page's JSON: {e}")))?;
        if rows.is_empty()
            && !self
                .markers(conversation_id)
                .await?
                .iter()
                .any(|m| m.user_id == user)
        {
            return Ok(None);
        }
        // The rows the page was chosen from: the limit's, plus one to tell whether more remain.
        let chosen = rows.first().map_or(0, |row| row.chosen);
        let mut bytes = "[]".len();
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.into_iter().take(limit as usize) {
            let status = status_at(
                row.id,
                row.others_read.unwrap_or(i64::MAX),
                row.others_delivered.unwrap_or(i64::MAX),
            );
            let message = MessageRow {
                id: row.id,
                sender_id: row.sender_id,
                username: row.username,
                content: row.content,
                created_at: row.created_at,
                is_system: row.is_system != 0,
                event: row.event,
                mentions: row.mentions,
            };
            let message = with_status(message, conversation_id, status)?;
            let size = json_len(&message)? + usize::from(!messages.is_empty());
            if !messages.is_empty() && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes += size;
            messages.push(message);
        }
        // Older rows than those kept: cut by the limit, by bytes, or left out by the query.
        let has_more = chosen > messages.len() as i64;
        messages.reverse();
        Ok(Some(Page { messages, has_more }))
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
fn with_status(
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
