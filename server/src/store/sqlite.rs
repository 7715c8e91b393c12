//! SQLite's upkeep: its connection options and pools, the database file's mode, and the task
//! that checkpoints the write-ahead log.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{ACQUIRE_TIMEOUT, Durability, Pools, Store};

/// The SQLite pools for the database at `url`, created (mode 0600) and migrated when new, and
/// the checkpoint task started.
pub(super) async fn pools(url: &str, durability: Durability) -> anyhow::Result<Pools> {
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
    migrate(&options).await?;
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
    Ok(Pools::Sqlite {
        read,
        write,
        checkpoint,
    })
}

/// Applies the migrations not yet applied, on a connection of their own with foreign keys off: a
/// migration that rebuilds a table (SQLite's way to change a column's constraints) drops the old
/// one, which with foreign keys on would first delete every row that refers to it. Every key is
/// checked afterwards; a database with a dangling one is not opened.
async fn migrate(options: &SqliteConnectOptions) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn =
        sqlx::SqliteConnection::connect_with(&options.clone().foreign_keys(false)).await?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&mut conn)
        .await?;
    let dangling: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check")
            .fetch_all(&mut conn)
            .await?;
    conn.close().await?;
    if let Some((table, row)) = dangling.first() {
        anyhow::bail!(
            "after migrating, {} row(s) refer to rows that do not exist (first: {table} row {row:?})",
            dangling.len()
        );
    }
    Ok(())
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
