//! All SQL: accounts, conversations, read and delivery markers, messages.
//!
//! Methods speak the domain and return `chat_shared` types; nothing outside this file sees sqlx.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chat_shared::{
    ChatMessage, Conversation, ConversationListItem, LastMessage, MessageStatus, Participant,
    Timestamp, UserRef,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds this value.
    #[error("already exists")]
    Conflict,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database behind the server.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A participant's two markers: the newest message read, and the newest received.
#[derive(Debug, Clone, Copy)]
struct Marker {
    user_id: i64,
    read: i64,
    delivered: i64,
}

/// Messages whose status changed for their senders: `(message id, sender id)`, newest first.
pub type StatusChanges = Vec<(i64, i64)>;

/// The result of `chat.read`.
pub struct ReadOutcome {
    pub participants: Vec<i64>,
    pub seen: StatusChanges,
}

/// The result of `chat.delivered`.
pub struct DeliveredOutcome {
    pub delivered: StatusChanges,
}

/// Most status notifications one event sends.
const STATUS_BATCH: i64 = 100;

impl Store {
    /// Opens (creating if missing) the database at `url` and applies the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Store { pool })
    }

    /// The file of a SQLite database URL, if it names one.
    pub fn sqlite_file(url: &str) -> Option<PathBuf> {
        let options = SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        (!path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
            .then(|| path.to_path_buf())
    }

    /// Closes every connection, waiting for writes in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// A new account; `StoreError::Conflict` when the name is taken in any letter case.
    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<UserRef> {
        let row = sqlx::query(
            "INSERT INTO users (username, username_key, password_hash, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(username.to_lowercase())
        .bind(password_hash)
        .bind(Timestamp::now().0)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Db(e),
        })?;
        Ok(UserRef {
            id: row.get(0),
            username: username.to_string(),
        })
    }

    /// The account named `username` (any letter case) and its password hash.
    pub async fn credentials(&self, username: &str) -> Result<Option<(UserRef, String)>> {
        let row =
            sqlx::query("SELECT id, username, password_hash FROM users WHERE username_key = $1")
                .bind(username.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| (user_at(&r, 0), r.get(2))))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRef>> {
        let row = sqlx::query("SELECT id, username FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_at(&r, 0)))
    }

    /// Up to 20 users other than `me` whose name contains `keyword` (any case, `%`/`_` literal).
    pub async fn search_users(&self, me: i64, keyword: &str) -> Result<Vec<UserRef>> {
        let pattern = format!("%{}%", escape_like(&keyword.to_lowercase()));
        let rows = sqlx::query(
            "SELECT id, username FROM users
             WHERE username_key LIKE $1 ESCAPE '\\' AND id <> $2
             ORDER BY username_key, id LIMIT 20",
        )
        .bind(pattern)
        .bind(me)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| user_at(r, 0)).collect())
    }

    /// Whether the two users share a conversation.
    pub async fn share_conversation(&self, a: i64, b: i64) -> Result<bool> {
        let (low, high) = (a.min(b), a.max(b));
        let row = sqlx::query("SELECT 1 FROM conversations WHERE user_low = $1 AND user_high = $2")
            .bind(low)
            .bind(high)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The one conversation of the pair, created when missing. The unique pair key, not a
    /// prior lookup, keeps it one when both people ask at once.
    pub async fn find_or_create_conversation(
        &self,
        me: &UserRef,
        other: &UserRef,
    ) -> Result<Conversation> {
        let (low, high) = (me.id.min(other.id), me.id.max(other.id));
        let now = Timestamp::now().0;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO conversations (user_low, user_high, created_at, last_activity_at)
             VALUES ($1, $2, $3, $3) ON CONFLICT (user_low, user_high) DO NOTHING",
        )
        .bind(low)
        .bind(high)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE user_low = $1 AND user_high = $2",
        )
        .bind(low)
        .bind(high)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO participants (conversation_id, user_id) VALUES ($1, $2), ($1, $3)
             ON CONFLICT (conversation_id, user_id) DO NOTHING",
        )
        .bind(id)
        .bind(low)
        .bind(high)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut participants = vec![me.clone(), other.clone()];
        participants.sort_by_key(|u| u.id);
        Ok(Conversation { id, participants })
    }

    /// The participants of a conversation `user` is in; `None` when it does not exist or `user`
    /// is not in it (the two look the same).
    pub async fn participants(&self, conversation_id: i64, user: i64) -> Result<Option<Vec<i64>>> {
        let markers = self.markers(conversation_id).await?;
        Ok(markers
            .iter()
            .any(|m| m.user_id == user)
            .then(|| markers.iter().map(|m| m.user_id).collect()))
    }

    async fn markers(&self, conversation_id: i64) -> Result<Vec<Marker>> {
        let rows = sqlx::query(
            "SELECT user_id, last_read_id, last_delivered_id FROM participants
             WHERE conversation_id = $1 ORDER BY user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Marker {
                user_id: r.get(0),
                read: r.get(1),
                delivered: r.get(2),
            })
            .collect())
    }

    /// Stores a message and makes it its conversation's newest activity.
    pub async fn create_message(
        &self,
        conversation_id: i64,
        sender: &UserRef,
        content: &str,
    ) -> Result<ChatMessage> {
        let now = Timestamp::now();
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, sender_id, content, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(conversation_id)
        .bind(sender.id)
        .bind(content)
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET last_message_id = $1, last_activity_at = $2 WHERE id = $3",
        )
        .bind(id)
        .bind(now.0)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ChatMessage {
            id,
            conversation_id,
            sender: sender.clone(),
            content: content.to_string(),
            timestamp: now,
            is_system: false,
            attachment: None,
            status: Some(MessageStatus::Sent),
            is_read: Some(false),
        })
    }

    /// A page of a conversation, oldest first: the newest `limit` messages older than
    /// `before_id`, and whether older ones remain. `None` when `user` may not see it.
    pub async fn messages(
        &self,
        conversation_id: i64,
        user: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Option<(Vec<ChatMessage>, bool)>> {
        let markers = self.markers(conversation_id).await?;
        if !markers.iter().any(|m| m.user_id == user) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.is_system
             FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.conversation_id = $1 AND m.id < $2
             ORDER BY m.id DESC LIMIT $3",
        )
        .bind(conversation_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() as i64 > limit;
        let mut messages: Vec<ChatMessage> = rows
            .iter()
            .take(limit as usize)
            .map(|r| message_at(r, conversation_id, &markers))
            .collect();
        messages.reverse();
        Ok(Some((messages, has_more)))
    }

    /// Every conversation of `user`, most recent activity first, with its newest message and
    /// the count of messages from others after `user`'s read marker.
    pub async fn conversations(&self, user: i64) -> Result<Vec<ConversationListItem>> {
        let rows = sqlx::query(
            "SELECT c.id, p.user_id, u.username, p.last_read_id, p.last_delivered_id
             FROM participants mine
             JOIN conversations c ON c.id = mine.conversation_id
             JOIN participants p ON p.conversation_id = c.id
             JOIN users u ON u.id = p.user_id
             WHERE mine.user_id = $1
             ORDER BY c.last_activity_at DESC, c.id DESC, p.user_id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        let mut order: Vec<i64> = Vec::new();
        let mut people: HashMap<i64, (Vec<Participant>, Vec<Marker>)> = HashMap::new();
        for r in &rows {
            let id: i64 = r.get(0);
            if order.last() != Some(&id) {
                order.push(id);
            }
            let entry = people.entry(id).or_default();
            entry.0.push(Participant {
                id: r.get(1),
                username: r.get(2),
            });
            entry.1.push(Marker {
                user_id: r.get(1),
                read: r.get(3),
                delivered: r.get(4),
            });
        }

        let last_rows = sqlx::query(
            "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.is_system, m.conversation_id
             FROM participants mine
             JOIN conversations c ON c.id = mine.conversation_id
             JOIN messages m ON m.id = c.last_message_id
             JOIN users u ON u.id = m.sender_id
             WHERE mine.user_id = $1",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        let mut last: HashMap<i64, ChatMessage> = HashMap::new();
        for r in &last_rows {
            let conversation_id: i64 = r.get(6);
            let markers = people
                .get(&conversation_id)
                .map(|p| p.1.as_slice())
                .unwrap_or(&[]);
            last.insert(conversation_id, message_at(r, conversation_id, markers));
        }

        let unread_rows = sqlx::query(
            "SELECT m.conversation_id, COUNT(*)
             FROM participants mine
             JOIN messages m ON m.conversation_id = mine.conversation_id AND m.id > mine.last_read_id
             WHERE mine.user_id = $1 AND m.sender_id <> $1
             GROUP BY m.conversation_id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        let unread: HashMap<i64, i64> = unread_rows.iter().map(|r| (r.get(0), r.get(1))).collect();

        Ok(order
            .into_iter()
            .map(|id| {
                let (participants, _) = people.remove(&id).unwrap_or_default();
                let unread_count = unread.get(&id).copied().unwrap_or(0);
                ConversationListItem {
                    id,
                    participants,
                    last_message: Some(last.remove(&id).map(LastMessage::from)),
                    unread_count: Some(unread_count),
                    has_unread: Some(unread_count > 0),
                }
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
        let mut tx = self.pool.begin().await?;
        let Some(old) = sqlx::query_scalar::<_, i64>(
            "SELECT last_read_id FROM participants WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation_id)
        .bind(reader)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let newest: i64 = sqlx::query_scalar(
            "SELECT COALESCE(last_message_id, 0) FROM conversations WHERE id = $1",
        )
        .bind(conversation_id)
        .fetch_one(&mut *tx)
        .await?;
        let participants: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM participants WHERE conversation_id = $1 ORDER BY user_id",
        )
        .bind(conversation_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut seen = Vec::new();
        if newest > old {
            sqlx::query(
                "UPDATE participants SET last_read_id = $1,
                     last_delivered_id = MAX(last_delivered_id, $1)
                 WHERE conversation_id = $2 AND user_id = $3",
            )
            .bind(newest)
            .bind(conversation_id)
            .bind(reader)
            .execute(&mut *tx)
            .await?;
            seen = changed_from_others(&mut tx, conversation_id, reader, old, newest).await?;
        }
        tx.commit().await?;
        Ok(Some(ReadOutcome { participants, seen }))
    }

    /// Moves `reader`'s delivery marker up to `message_id`. `None` when there is no such
    /// message in a conversation of the reader's.
    pub async fn mark_delivered(
        &self,
        message_id: i64,
        reader: i64,
    ) -> Result<Option<DeliveredOutcome>> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT p.conversation_id, MAX(p.last_delivered_id, p.last_read_id)
             FROM messages m JOIN participants p
               ON p.conversation_id = m.conversation_id AND p.user_id = $2
             WHERE m.id = $1",
        )
        .bind(message_id)
        .bind(reader)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let (conversation_id, old): (i64, i64) = (row.get(0), row.get(1));
        let mut delivered = Vec::new();
        if message_id > old {
            sqlx::query(
                "UPDATE participants SET last_delivered_id = $1 WHERE conversation_id = $2 AND user_id = $3",
            )
            .bind(message_id)
            .bind(conversation_id)
            .bind(reader)
            .execute(&mut *tx)
            .await?;
            delivered =
                changed_from_others(&mut tx, conversation_id, reader, old, message_id).await?;
        }
        tx.commit().await?;
        Ok(Some(DeliveredOutcome { delivered }))
    }
}

/// Messages of others in `(after, up_to]`, newest first, at most [`STATUS_BATCH`].
async fn changed_from_others(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    conversation_id: i64,
    reader: i64,
    after: i64,
    up_to: i64,
) -> Result<StatusChanges> {
    let rows = sqlx::query(
        "SELECT id, sender_id FROM messages
         WHERE conversation_id = $1 AND id > $2 AND id <= $3 AND sender_id <> $4
         ORDER BY id DESC LIMIT $5",
    )
    .bind(conversation_id)
    .bind(after)
    .bind(up_to)
    .bind(reader)
    .bind(STATUS_BATCH)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

fn user_at(row: &sqlx::sqlite::SqliteRow, first: usize) -> UserRef {
    UserRef {
        id: row.get(first),
        username: row.get(first + 1),
    }
}

/// A message from a row of `id, sender_id, username, content, created_at, is_system`, with its
/// status as its sender sees it.
fn message_at(
    row: &sqlx::sqlite::SqliteRow,
    conversation_id: i64,
    markers: &[Marker],
) -> ChatMessage {
    let id: i64 = row.get(0);
    let sender = user_at(row, 1);
    let status = status_of(id, sender.id, markers);
    ChatMessage {
        id,
        conversation_id,
        sender,
        content: row.get(3),
        timestamp: Timestamp(row.get(4)),
        is_system: row.get(5),
        attachment: None,
        status: Some(status),
        is_read: Some(status == MessageStatus::Seen),
    }
}

/// Seen when every other participant has read it, delivered when every one has received it.
fn status_of(message_id: i64, sender: i64, markers: &[Marker]) -> MessageStatus {
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

/// Escapes LIKE's wildcards so that they match themselves (with `ESCAPE '\'`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
