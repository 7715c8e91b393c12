//! All SQL: accounts, conversations, read and delivery markers, messages.
//!
//! One store over two engines: SQLite (the embedded default) and PostgreSQL (for scale-out). The
//! SQL below is written once in the dialect both accept (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`) and compiled for each engine's pool by [`on!`]. Methods speak the domain and
//! return `chat_shared` types; nothing outside this file sees sqlx.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chat_shared::{
    ChatMessage, Conversation, ConversationListItem, LastMessage, MessageStatus, Participant,
    Timestamp, UserRef,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

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

/// How long a request waits for a database connection before it fails (and says so).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most status notifications one event sends.
const STATUS_BATCH: i64 = 100;

#[derive(Clone)]
enum Pools {
    /// SQLite allows one writer at a time: writes share one connection (so a transaction that
    /// reads then writes never meets another writer's newer snapshot), reads use a small pool.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the engine's read or write pool; the body is compiled
/// once per engine, so the same SQL and row decoding serve both.
macro_rules! on {
    ($store:expr, read $pool:ident => $body:expr) => {
        match &$store.pools {
            Pools::Sqlite { read: $pool, .. } => $body,
            Pools::Postgres($pool) => $body,
        }
    };
    ($store:expr, write $pool:ident => $body:expr) => {
        match &$store.pools {
            Pools::Sqlite { write: $pool, .. } => $body,
            Pools::Postgres($pool) => $body,
        }
    };
}

/// The database behind the server.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
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

/// A chat message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: i64,
    pub sender: UserRef,
    pub content: String,
}

/// How hard SQLite works to keep a commit through a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of the server; a power loss
    /// may lose the last commits (never corrupts).
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged.
    Full,
}

/// `id, sender_id, username, content, created_at, is_system` of a message.
type MessageRow = (i64, i64, String, String, i64, bool);

impl Store {
    /// Opens the database at `url` (`sqlite://…`, created when missing, or `postgres://…`) and
    /// applies the migrations.
    pub async fn connect(url: &str, durability: Durability) -> anyhow::Result<Store> {
        let pools = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            sqlx::migrate!("../migrations/postgres").run(&pool).await?;
            Pools::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match durability {
                    Durability::Normal => SqliteSynchronous::Normal,
                    Durability::Full => SqliteSynchronous::Full,
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("../migrations/sqlite").run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.read_only(true))
                .await?;
            Pools::Sqlite { read, write }
        };
        Ok(Store { pools })
    }

    /// The file of a SQLite database URL, if it names one.
    pub fn sqlite_file(url: &str) -> Option<PathBuf> {
        if url.starts_with("postgres") {
            return None;
        }
        let options = SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        (!path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
            .then(|| path.to_path_buf())
    }

    /// Closes every connection, waiting for writes in flight.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        on!(self, read pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// A new account; `StoreError::Conflict` when the name is taken in any letter case.
    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<UserRef> {
        let inserted: std::result::Result<i64, sqlx::Error> = on!(self, write pool => {
            sqlx::query_scalar(
                "INSERT INTO users (username, username_key, password_hash, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(username)
            .bind(username.to_lowercase())
            .bind(password_hash)
            .bind(Timestamp::now().0)
            .fetch_one(pool)
            .await
        });
        let id = inserted.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Db(e),
        })?;
        Ok(UserRef {
            id,
            username: username.to_string(),
        })
    }

    /// The account named `username` (any letter case) and its password hash.
    pub async fn credentials(&self, username: &str) -> Result<Option<(UserRef, String)>> {
        let row: Option<(i64, String, String)> = on!(self, read pool => {
            sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username_key = $1")
                .bind(username.to_lowercase())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, username, hash)| (UserRef { id, username }, hash)))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRef>> {
        let row: Option<(i64, String)> = on!(self, read pool => {
            sqlx::query_as("SELECT id, username FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, username)| UserRef { id, username }))
    }

    /// Up to 20 users other than `me` whose name contains `keyword` (any case, `%`/`_` literal).
    pub async fn search_users(&self, me: i64, keyword: &str) -> Result<Vec<UserRef>> {
        let pattern = format!("%{}%", escape_like(&keyword.to_lowercase()));
        let rows: Vec<(i64, String)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT id, username FROM users
                 WHERE username_key LIKE $1 ESCAPE '\\' AND id <> $2
                 ORDER BY username_key, id LIMIT 20",
            )
            .bind(&pattern)
            .bind(me)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserRef { id, username })
            .collect())
    }

    /// Whether the two users share a conversation.
    pub async fn share_conversation(&self, a: i64, b: i64) -> Result<bool> {
        let (low, high) = (a.min(b), a.max(b));
        let found: Option<i64> = on!(self, read pool => {
            sqlx::query_scalar("SELECT id FROM conversations WHERE user_low = $1 AND user_high = $2")
                .bind(low)
                .bind(high)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
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
        let id: i64 = on!(self, write pool => {
            let mut tx = pool.begin().await?;
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
            id
        });
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

    /// Stores messages in one transaction, each becoming its conversation's newest activity;
    /// all or none. Returned in the order given, with their ids.
    pub async fn create_messages(&self, messages: &[NewMessage]) -> Result<Vec<ChatMessage>> {
        let now = Timestamp::now();
        let ids: Vec<i64> = on!(self, write pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(messages.len());
            for m in messages {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO messages (conversation_id, sender_id, content, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(m.conversation_id)
                .bind(m.sender.id)
                .bind(&m.content)
                .bind(now.0)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE conversations SET last_message_id = $1, last_activity_at = $2
                     WHERE id = $3",
                )
                .bind(id)
                .bind(now.0)
                .bind(m.conversation_id)
                .execute(&mut *tx)
                .await?;
                ids.push(id);
            }
            tx.commit().await?;
            ids
        });
        Ok(messages
            .iter()
            .zip(ids)
            .map(|(m, id)| ChatMessage {
                id,
                conversation_id: m.conversation_id,
                sender: m.sender.clone(),
                content: m.content.clone(),
                timestamp: now,
                is_system: false,
                attachment: None,
                status: Some(MessageStatus::Sent),
                is_read: Some(false),
            })
            .collect())
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
        let rows: Vec<MessageRow> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.is_system
                 FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.conversation_id = $1 AND m.id < $2
                 ORDER BY m.id DESC LIMIT $3",
            )
            .bind(conversation_id)
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit + 1)
            .fetch_all(pool)
            .await?
        });
        let has_more = rows.len() as i64 > limit;
        let mut messages: Vec<ChatMessage> = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| message_from(row, conversation_id, &markers))
            .collect();
        messages.reverse();
        Ok(Some((messages, has_more)))
    }

    /// Every conversation of `user`, most recent activity first, with its newest message and
    /// the count of messages from others after `user`'s read marker.
    pub async fn conversations(&self, user: i64) -> Result<Vec<ConversationListItem>> {
        let (people, last_rows, unread_rows) = on!(self, read pool => {
            let people: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(
                "SELECT c.id, p.user_id, u.username, p.last_read_id, p.last_delivered_id
                 FROM participants mine
                 JOIN conversations c ON c.id = mine.conversation_id
                 JOIN participants p ON p.conversation_id = c.id
                 JOIN users u ON u.id = p.user_id
                 WHERE mine.user_id = $1
                 ORDER BY c.last_activity_at DESC, c.id DESC, p.user_id",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            let last: Vec<(i64, i64, String, String, i64, bool, i64)> = sqlx::query_as(
                "SELECT m.id, m.sender_id, u.username, m.content, m.created_at, m.is_system,
                        m.conversation_id
                 FROM participants mine
                 JOIN conversations c ON c.id = mine.conversation_id
                 JOIN messages m ON m.id = c.last_message_id
                 JOIN users u ON u.id = m.sender_id
                 WHERE mine.user_id = $1",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            let unread: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT m.conversation_id, COUNT(*)
                 FROM participants mine
                 JOIN messages m ON m.conversation_id = mine.conversation_id
                                AND m.id > mine.last_read_id
                 WHERE mine.user_id = $1 AND m.sender_id <> $1
                 GROUP BY m.conversation_id",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            (people, last, unread)
        });

        let mut order: Vec<i64> = Vec::new();
        let mut members: HashMap<i64, (Vec<Participant>, Vec<Marker>)> = HashMap::new();
        for (id, user_id, username, read, delivered) in people {
            if order.last() != Some(&id) {
                order.push(id);
            }
            let entry = members.entry(id).or_default();
            entry.0.push(Participant {
                id: user_id,
                username,
            });
            entry.1.push(Marker {
                user_id,
                read,
                delivered,
            });
        }
        let mut last: HashMap<i64, ChatMessage> = HashMap::new();
        for (id, sender_id, username, content, created_at, is_system, conversation_id) in last_rows
        {
            let markers = members
                .get(&conversation_id)
                .map(|m| m.1.as_slice())
                .unwrap_or(&[]);
            let row = (id, sender_id, username, content, created_at, is_system);
            last.insert(conversation_id, message_from(row, conversation_id, markers));
        }
        let unread: HashMap<i64, i64> = unread_rows.into_iter().collect();

        Ok(order
            .into_iter()
            .map(|id| {
                let (participants, _) = members.remove(&id).unwrap_or_default();
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
        let moved: Option<(i64, i64)> = on!(self, write pool => {
            let mut tx = pool.begin().await?;
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
                    "UPDATE participants SET last_read_id = $1, last_delivered_id = $2
                     WHERE conversation_id = $3 AND user_id = $4",
                )
                .bind(newest)
                .bind(delivered.max(newest))
                .bind(conversation_id)
                .bind(reader)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
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
        let moved: Option<(i64, i64)> = on!(self, write pool => {
            let mut tx = pool.begin().await?;
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
            tx.commit().await?;
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

/// A message with its status as its sender sees it.
fn message_from(row: MessageRow, conversation_id: i64, markers: &[Marker]) -> ChatMessage {
    let (id, sender_id, username, content, created_at, is_system) = row;
    let status = status_of(id, sender_id, markers);
    ChatMessage {
        id,
        conversation_id,
        sender: UserRef {
            id: sender_id,
            username,
        },
        content,
        timestamp: Timestamp(created_at),
        is_system,
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
