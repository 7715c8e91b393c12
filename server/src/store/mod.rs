//! The database: one store over two engines, SQLite (the embedded default) and PostgreSQL (for
//! scale-out), one file per domain (`users`, `conversations`, `groups` with the rules of
//! `membership`, `messages`, `lifecycle` (edits, deletes, reactions), `history`, `markers`, `sync`
//! (events), `presence`, `search` (messages), `sessions` (logins, rotation, revocation,
//! deletion)) and one for
//! SQLite's upkeep (`sqlite`: options, file mode, checkpoints).
//!
//! The SQL is written once in the dialect both engines accept (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`) and compiled for each engine's pool by [`on!`]; where the engines name a
//! function differently (the JSON aggregate of a history page), the statement is written once
//! with the names filled in per engine. Methods speak the domain and return `chat_shared` types
//! or the small types of their domain file; nothing outside this folder sees sqlx.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_shared::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

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
            $crate::store::Pools::Sqlite { read: $pool, .. } => $body,
            $crate::store::Pools::Postgres($pool) => $body,
        }
    };
    ($store:expr, write $pool:ident => $body:expr) => {
        match &$store.pools {
            $crate::store::Pools::Sqlite { write: $pool, .. } => $body,
            $crate::store::Pools::Postgres($pool) => $body,
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
            let done: $crate::store::Result<_> = async {
                let mut $tx = sqlx::Connection::begin(&mut *conn).await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            if let Err(e) = &done
                && !matches!(e, $crate::store::StoreError::Conflict)
            {
                tracing::warn!(error = %e, "a write failed; its connection is replaced");
                conn.close_on_drop();
                $store.write_failed();
            }
            done?
        })
    };
}

// Declared after the macros above, which they use (a `macro_rules!` is visible to the code that
// follows it, child modules included). `sync` comes first: its `insert_events!` is used by
// `presence`.
#[macro_use]
mod sync;
mod conversations;
mod groups;
mod history;
mod lifecycle;
mod markers;
mod membership;
mod messages;
mod presence;
mod search;
mod sessions;
mod sqlite;
mod users;

pub use groups::{GroupChange, Receipts};
pub use history::Page;
pub use lifecycle::{Change, Changed};
pub use markers::{DeliveredBatch, ReadOutcome, StatusChanges};
pub use membership::{GroupOp, Refusal};
pub use messages::{NewMessage, StoredMessage};
pub use presence::{PRESENCE_BATCH, PresenceChange};
pub use search::SearchScope;
pub use sessions::{
    NewTokens, Revocation, Rotation, SessionTokens, Standing, free_held_names_every,
};
pub use sqlite::WAL_KEPT_BYTES;
pub use sync::{Audience, EventBody, NewEvent, SyncPage, prune_events_every};
pub use users::{NameCollision, NameKey};

/// The database behind the server.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    /// The last write probe, so that `/healthz` costs at most one write per [`PROBE_EVERY`].
    probe: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
    /// When a write last failed: `/healthz` answers 503 for [`FAILURE_REMEMBERED`] after one,
    /// whatever a probe says (on a full disk a small probe may slip into a page freed earlier
    /// while the writes that matter fail).
    failed: Arc<std::sync::Mutex<Option<Instant>>>,
    /// When the writer last pruned client ids older than 7 days (Unix milliseconds).
    client_ids_pruned_at: Arc<std::sync::atomic::AtomicI64>,
}

/// How long a failed write keeps `/healthz` unhealthy.
const FAILURE_REMEMBERED: Duration = Duration::from_secs(2);

/// How long a write probe's answer is reused.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How hard SQLite works to keep a commit through a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit survives a crash of the server; a power loss
    /// may lose the last commits (never corrupts).
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged.
    Full,
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
            sqlite::pools(url, durability).await?
        };
        Ok(Store {
            pools,
            probe: Arc::default(),
            failed: Arc::default(),
            client_ids_pruned_at: Arc::default(),
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

    /// Whether the database is PostgreSQL.
    fn is_postgres(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }

    /// Notes that a write failed (see [`Store::writable`]).
    fn write_failed(&self) {
        *self.failed.lock().expect("failure time lock poisoned") = Some(Instant::now());
    }

    /// Whether the database takes writes: no write failed in the last [`FAILURE_REMEMBERED`],
    /// and one small write (the `health` row), reused for
    /// [`PROBE_EVERY`]; callers meanwhile wait for the probe in flight and share its answer.
    pub async fn writable(&self) -> bool {
        let failed = *self.failed.lock().expect("failure time lock poisoned");
        if failed.is_some_and(|at| at.elapsed() < FAILURE_REMEMBERED) {
            return false;
        }
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
}
