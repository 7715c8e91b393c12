//! All SQL: accounts, conversations, read and delivery markers, messages.
//!
//! One store over two engines: SQLite (the embedded default) and PostgreSQL (for scale-out). The
//! SQL below is written once in the dialect both accept (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`) and compiled for each engine's pool by [`on!`]; where the engines name a
//! function differently (the JSON aggregate of a history page), the statement is written once
//! with the names filled in per engine. Methods speak the domain and return `chat_shared` types;
//! nothing outside this file sees sqlx.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The database answered something the store cannot explain (a bug, never user input).
    #[error("inconsistent store: {0}")]
    Inconsistent(String),
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
        /// Runs the write-ahead log's checkpoints, see [`checkpoints`].
        checkpoint: SqlitePool,
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

/// Runs `$body` in a transaction `$tx` on the engine's write connection and commits it; the
/// value of `$body` (whose `?` may return any store error) is the result.
///
/// A connection whose transaction failed is closed, never given back to the pool: after a failed
/// `COMMIT` (a full disk, an I/O error) SQLite has rolled back while sqlx still counts an open
/// transaction, so the next `begin` on it would be a `SAVEPOINT` whose release commits nothing,
/// and every later write would be acknowledged and lost. The next write opens a fresh one. A
/// refused unique key ([`StoreError::Conflict`]) leaves the connection as it was and keeps it.
macro_rules! transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        on!($store, write pool => {
            let mut conn = pool.acquire().await?;
            let done: Result<_> = async {
                let mut $tx = sqlx::Connection::begin(&mut *conn).await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            if let Err(e) = &done
                && !matches!(e, StoreError::Conflict)
            {
                tracing::warn!(error = %e, "a write failed; its connection is replaced");
                conn.close_on_drop();
            }
            done?
        })
    };
}

/// The database behind the server.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    /// The last write probe, so that `/healthz` costs at most one write per [`PROBE_EVERY`].
    probe: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
}

/// How long a write probe's answer is reused.
const PROBE_EVERY: Duration = Duration::from_secs(1);

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

/// A message the writer stored.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its place in the list given to [`Store::create_messages`].
    pub index: usize,
    /// Everyone in its conversation: its recipients, the sender included.
    pub participants: Vec<i64>,
    pub message: ChatMessage,
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
/// A conversation as the list shows it: `id, unread_count`, the caller's `username, last_read_id,
/// last_delivered_id`, the other participant's `user_id, username, last_read_id,
/// last_delivered_id`, then the newest message's `id, sender_id, content, created_at, is_system`
/// (all `NULL` when there is none).
type ListRow = (
    i64,
    i64,
    String,
    i64,
    i64,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<bool>,
);

/// A [`MessageRow`] (`is_system` as 0 or 1) followed by the markers of the participant who did
/// not send it: `user_id, last_read_id, last_delivered_id`, and the count of rows the page was
/// chosen from (before any was left out for its size).
type PageRow = (i64, i64, String, String, i64, i64, i64, i64, i64, i64);

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
            "(id, sender_id, username, content, created_at, is_system,
                other_id, other_read, other_delivered, chosen) ORDER BY id DESC), '[]') AS TEXT)
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
                                      other.user_id AS other_id, other.last_read_id AS other_read,
                                      other.last_delivered_id AS other_delivered
                               FROM participants me
                               JOIN messages m ON m.conversation_id = me.conversation_id
                               JOIN users u ON u.id = m.sender_id
                               JOIN participants other
                                 ON other.conversation_id = m.conversation_id
                                AND other.user_id <> m.sender_id
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

/// What one batch of `chat.delivered` changed.
#[derive(Debug, Default)]
pub struct DeliveredBatch {
    /// Messages whose senders now see them delivered, newest first within each conversation.
    pub changes: StatusChanges,
    /// Ids of the batch that are no message in a conversation of the reader's.
    pub unknown: Vec<i64>,
}

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
            if let Some(file) = Store::sqlite_file(url) {
                create_private(&file)?;
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match durability {
                    Durability::Normal => SqliteSynchronous::Normal,
                    Durability::Full => SqliteSynchronous::Full,
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Reads come from the OS page cache through a memory map instead of a `pread`
                // copy per page, and each connection keeps more pages of its own.
                .pragma("mmap_size", (256 * 1024 * 1024).to_string())
                .pragma("cache_size", "-16384")
                // A page of history (51 rows) passes from the connection's thread in one go
                // instead of stalling it on the last row.
                .row_buffer_size(128);
            // The writer leaves checkpoints to their own connection (below); it only runs one
            // itself if the log grows far past what that connection keeps it to.
            let write = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(
                    options
                        .clone()
                        .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES.to_string()),
                )
                .await?;
            sqlx::migrate!("../migrations/sqlite").run(&write).await?;
            let checkpoint = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            let wal = Store::sqlite_file(url).map(|db| {
                let mut wal = db.into_os_string();
                wal.push("-wal");
                PathBuf::from(wal)
            });
            tokio::spawn(checkpoints(checkpoint.clone(), wal));
            let read = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.read_only(true))
                .await?;
            Pools::Sqlite {
                read,
                write,
                checkpoint,
            }
        };
        Ok(Store {
            pools,
            probe: Arc::default(),
        })
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
            Pools::Sqlite {
                read,
                write,
                checkpoint,
            } => {
                read.close().await;
                write.close().await;
                checkpoint.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }

    /// Whether the database takes writes: one small write (the `health` row), reused for
    /// [`PROBE_EVERY`]; callers meanwhile wait for the probe in flight and share its answer.
    pub async fn writable(&self) -> bool {
        let mut last = self.probe.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < PROBE_EVERY
        {
            return ok;
        }
        let probed: Result<()> = async {
            transaction!(self, tx => {
                sqlx::query("UPDATE health SET probed_at = $1 WHERE id = 1")
                    .bind(Timestamp::now().0)
                    .execute(&mut *tx)
                    .await?;
            });
            Ok(())
        }
        .await;
        if let Err(e) = &probed {
            tracing::warn!(error = %e, "the database cannot be written");
        }
        *last = Some((Instant::now(), probed.is_ok()));
        probed.is_ok()
    }

    /// A new account; `StoreError::Conflict` when the name is taken in any letter case.
    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<UserRef> {
        let id: i64 = transaction!(self, tx => {
            sqlx::query_scalar(
                "INSERT INTO users (username, username_key, password_hash, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(username)
            .bind(username.to_lowercase())
            .bind(password_hash)
            .bind(Timestamp::now().0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
                _ => StoreError::Db(e),
            })?
        });
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
        let id: i64 = transaction!(self, tx => {
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
            id
        });
        let mut participants = vec![me.clone(), other.clone()];
        participants.sort_by_key(|u| u.id);
        Ok(Conversation { id, participants })
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
        let (inserted, pairs) = transaction!(self, tx => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO messages (conversation_id, sender_id, content, created_at)
                 SELECT v.column1, v.column2, v.column3, ",
            );
            insert.push_bind(now.0).push(" FROM (");
            insert.push_values(messages.iter().enumerate(), |mut row, (index, m)| {
                row.push_bind(m.conversation_id)
                    .push_bind(m.sender.id)
                    .push_bind(m.content.as_str())
                    .push_bind(index as i64);
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
                pairs = update
                    .build_query_as::<(i64, i64, i64)>()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
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
            (inserted, pairs)
        });
        let members: HashMap<i64, [i64; 2]> = pairs
            .into_iter()
            .map(|(id, low, high)| (id, [low, high]))
            .collect();
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
                    participants: members
                        .get(&conversation_id)
                        .map(|pair| pair.to_vec())
                        .unwrap_or_default(),
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
    ) -> Result<Option<(Vec<ChatMessage>, bool)>> {
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
    ) -> Result<Option<(Vec<ChatMessage>, bool)>> {
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
        let chosen = rows.first().map_or(0, |row| row.9);
        let mut bytes = "[]".len();
        let mut messages: Vec<ChatMessage> = Vec::with_capacity(rows.len().min(limit as usize));
        for message in rows.into_iter().take(limit as usize).map(|row| {
            let (
                id,
                sender_id,
                username,
                content,
                created_at,
                is_system,
                other,
                read,
                delivered,
                _,
            ) = row;
            let other = Marker {
                user_id: other,
                read,
                delivered,
            };
            let row = (id, sender_id, username, content, created_at, is_system != 0);
            message_from(row, conversation_id, &[other])
        }) {
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
        Ok(Some((messages, has_more)))
    }

    /// Every conversation of `user`, most recent activity first, with its newest message and
    /// the count of messages from others after `user`'s read marker.
    pub async fn conversations(&self, user: i64) -> Result<Vec<ConversationListItem>> {
        // One row per conversation (each has two participants): the caller's side, the other
        // side, and the newest message, if any.
        let rows: Vec<ListRow> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT c.id, mine.unread_count, me.username, mine.last_read_id,
                        mine.last_delivered_id, other.user_id, them.username,
                        other.last_read_id, other.last_delivered_id,
                        m.id, m.sender_id, m.content, m.created_at, m.is_system
                 FROM participants mine
                 JOIN conversations c ON c.id = mine.conversation_id
                 JOIN users me ON me.id = mine.user_id
                 JOIN participants other ON other.conversation_id = c.id
                                        AND other.user_id <> mine.user_id
                 JOIN users them ON them.id = other.user_id
                 LEFT JOIN messages m ON m.id = c.last_message_id
                 WHERE mine.user_id = $1
                 ORDER BY c.last_activity_at DESC, c.id DESC",
            )
            .bind(user)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|row| {
                let (id, unread, my_name, my_read, my_delivered, other, other_name) =
                    (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
                let markers = [
                    Marker {
                        user_id: user,
                        read: my_read,
                        delivered: my_delivered,
                    },
                    Marker {
                        user_id: other,
                        read: row.7,
                        delivered: row.8,
                    },
                ];
                let last = match (row.9, row.10, row.11, row.12, row.13) {
                    (Some(message_id), Some(sender), Some(content), Some(at), Some(system)) => {
                        let sender_name = if sender == user {
                            my_name.clone()
                        } else {
                            other_name.clone()
                        };
                        let message = (message_id, sender, sender_name, content, at, system);
                        Some(LastMessage::from(message_from(message, id, &markers)))
                    }
                    _ => None,
                };
                let mut participants = vec![
                    Participant {
                        id: user,
                        username: my_name,
                    },
                    Participant {
                        id: other,
                        username: other_name,
                    },
                ];
                participants.sort_by_key(|p| p.id);
                let unread_count = unread.max(0);
                ConversationListItem {
                    id,
                    participants,
                    last_message: Some(last),
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

/// Creates the database file, when missing, readable by its owner only (it holds password
/// hashes and every message). SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// How often the write-ahead log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// Log pages past which the writer checkpoints in its own commit (SQLite's default is 1,000,
/// which puts a checkpoint, with its file syncs, inside a commit every few thousand messages).
const WAL_BACKSTOP_PAGES: u32 = 10_000;
/// A write-ahead log file larger than this is truncated once writes have paused for
/// [`QUIET_CHECKPOINTS`] checkpoints (while they go on it is reused from its start instead:
/// cutting it back and growing it again on every restart doubled the p99 of a message at
/// 10,000/s).
pub const WAL_KEPT_BYTES: u64 = 4 * 1024 * 1024;
/// Checkpoints in a row with no commit between them before the log is truncated.
const QUIET_CHECKPOINTS: u32 = 4;

/// Copies the write-ahead log into the database file from a connection of its own, every
/// [`CHECKPOINT_EVERY`], so that the writer's commits do not wait for checkpoints. `PASSIVE`
/// never blocks the writer or readers; the log restarts from its beginning once a checkpoint
/// has caught up. When writes pause with the log file over [`WAL_KEPT_BYTES`], a `TRUNCATE`
/// checkpoint empties it (a writer arriving meanwhile waits for the truncation, which has
/// nothing left to copy). Ends when the store is closed.
async fn checkpoints(pool: SqlitePool, wal: Option<PathBuf>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The database's version as this connection last saw it (it changes with every commit of
    // another connection), and for how many checkpoints in a row it stayed the same.
    let (mut last_version, mut quiet) = (None, 0);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // (busy, frames in the log, frames checkpointed), then the version.
        let done: std::result::Result<((i64, i64, i64), i64), sqlx::Error> = async {
            let checkpoint = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await?;
            let version = sqlx::query_scalar("PRAGMA data_version")
                .fetch_one(&pool)
                .await?;
            Ok((checkpoint, version))
        }
        .await;
        let ((_, frames, copied), version) = match done {
            Ok(done) => done,
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "checkpoint failed; retrying");
                continue;
            }
        };
        quiet = if last_version == Some(version) {
            quiet + 1
        } else {
            0
        };
        last_version = Some(version);
        let oversized = wal
            .as_deref()
            .and_then(|wal| std::fs::metadata(wal).ok())
            .is_some_and(|file| file.len() > WAL_KEPT_BYTES);
        if quiet >= QUIET_CHECKPOINTS
            && frames == copied
            && oversized
            && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await
        {
            tracing::warn!(error = %e, "truncating the log failed");
        }
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
