//! History pages: a conversation's messages, newest first from a point, capped in rows and in
//! the bytes of their JSON, with each message's status as its sender sees it.

use chat_shared::ChatMessage;

use std::collections::HashMap;

use super::markers::{lowest_markers, status_at};
use super::messages::{MessageRow, with_status};
use super::{Pools, Result, Store, StoreError};

/// A page of history, oldest first, and whether older messages remain.
#[derive(Debug)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}

/// One message of a history page as the page's JSON array holds it (fields in the order of the
/// SQL's JSON array): the message and the count of rows the page was chosen from (before any was
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
    edited_at: Option<i64>,
    /// 0 or 1, as `is_system`.
    deleted: i64,
    reactions: Option<String>,
    reply_id: Option<i64>,
    reply_sender_id: Option<i64>,
    reply_username: Option<String>,
    reply_excerpt: Option<String>,
    reply_deleted: Option<i64>,
    chosen: i64,
}

/// A history page as one JSON array of [`PageRow`]s, newest first, given the engine's names for
/// the JSON aggregate and the JSON array and its spelling of a text's JSON string (the only
/// words the engines spell differently here). Parameters: conversation, `before_id`, rows,
/// bytes. Rows stop after the first one whose newer rows' contents already take more than
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
                edited_at, deleted, reactions, reply_id, reply_sender_id, reply_username,
                reply_excerpt, reply_deleted, chosen)
                ORDER BY id DESC), '[]') AS TEXT)
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
                                      m.event, m.mentions, m.edited_at,
                                      CASE WHEN m.deleted THEN 1 ELSE 0 END AS deleted,
                                      m.reactions, r.id AS reply_id,
                                      r.sender_id AS reply_sender_id,
                                      ru.username AS reply_username,
                                      SUBSTR(r.content, 1, 100) AS reply_excerpt,
                                      CASE WHEN r.deleted THEN 1 ELSE 0 END AS reply_deleted
                               FROM messages m
                               JOIN users u ON u.id = m.sender_id
                               LEFT JOIN messages r ON r.id = m.reply_to_id
                               LEFT JOIN users ru ON ru.id = r.sender_id
                               WHERE m.conversation_id = $1 AND m.id < $2
                               ORDER BY m.id DESC LIMIT $3) AS newest) AS coarse
                   WHERE newer_chars <= $4) AS page
             WHERE newer_bytes <= $4"
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
        // Two statements: the members' markers (membership, and every message's status), then
        // the page as one JSON value rather than 51 rows of many columns: from SQLite, each
        // row and each value costs a hand-over between threads and an allocation, which made
        // up most of a page's cost (docs/performance.md).
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
        // The members' markers first: they say whether the caller may see the conversation,
        // and each message's status follows from them (read once per page, not per message).
        let markers = self.markers(conversation_id).await?;
        if !markers.iter().any(|m| m.user_id == user) {
            return Ok(None);
        }
        let page: String = on!(self, read pool => {
            sqlx::query_scalar(sql)
                .bind(conversation_id)
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(limit + 1)
                .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await?
        });
        let rows: Vec<PageRow> = serde_json::from_str(&page)
            .map_err(|e| StoreError::Inconsistent(format!("a history page's JSON: {e}")))?;
        // The rows the page was chosen from: the limit's, plus one to tell whether more remain.
        let chosen = rows.first().map_or(0, |row| row.chosen);
        let mut bytes = "[]".len();
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(rows.len().min(limit as usize));
        // Each sender's view: the lowest markers of everyone else.
        let mut lowest: HashMap<i64, (i64, i64)> = HashMap::new();
        for row in rows.into_iter().take(limit as usize) {
            let (read, delivered) = *lowest
                .entry(row.sender_id)
                .or_insert_with(|| lowest_markers(&markers, row.sender_id));
            let status = status_at(row.id, read, delivered);
            let message = MessageRow {
                id: row.id,
                sender_id: row.sender_id,
                username: row.username,
                content: row.content,
                created_at: row.created_at,
                is_system: row.is_system != 0,
                event: row.event,
                mentions: row.mentions,
                edited_at: row.edited_at,
                deleted: row.deleted != 0,
                reactions: row.reactions,
                reply_id: row.reply_id,
                reply_sender_id: row.reply_sender_id,
                reply_username: row.reply_username,
                reply_excerpt: row.reply_excerpt,
                reply_deleted: row.reply_deleted.map(|d| d != 0),
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
