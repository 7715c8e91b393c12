//! `seed`: fills a SQLite file (server stopped) with users, conversations and messages in big
//! transactions, and writes a manifest beside it (`<db>.bench.json`) telling the scenarios
//! which ids hold what.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, ensure};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

use crate::report::{emit, per_sec};
use crate::users::PASSWORD;

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// The SQLite file to create (must not exist).
    #[arg(long)]
    pub db: PathBuf,
    /// Conversations to create.
    #[arg(long, default_value_t = 10_000)]
    pub conversations: u64,
    /// Of those, how many belong to one "hub" user (for `chat.get_conversations`).
    #[arg(long, default_value_t = 1_000)]
    pub hub_conversations: u64,
    /// Messages in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Of those, how many go to the one big conversation.
    #[arg(long, default_value_t = 100_000)]
    pub big_messages: u64,
    /// Extra users in no conversation, for `pairs`, `conns` and `handshake` (ids from
    /// `first_free_user` in the manifest).
    #[arg(long, default_value_t = 1_000)]
    pub free_users: u64,
}

/// What `seed` created, for the scenarios to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub username_prefix: String,
    pub password: String,
    pub users: u64,
    pub hub_user: i64,
    pub hub_conversations: u64,
    pub big_conversation: i64,
    /// The big conversation's two users.
    pub big_users: [i64; 2],
    pub big_messages: u64,
    /// Conversations outside the hub's, as `[id, low user, high user]`.
    pub other_conversations: Vec<[i64; 3]>,
    pub first_free_user: i64,
    pub free_users: u64,
    pub messages: u64,
}

impl Manifest {
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".bench.json");
        PathBuf::from(p)
    }

    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Opens (creating) a SQLite file with the server's pragmas and schema.
pub async fn open(path: &Path, full_sync: bool) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if full_sync {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&mut conn)
        .await
        .context("applying the server's migrations")?;
    Ok(conn)
}

/// Rows per multi-row INSERT (5 columns each: well under SQLite's bind limit).
const ROWS_PER_STATEMENT: usize = 200;
/// Rows per transaction.
const ROWS_PER_TX: usize = 50_000;

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    ensure!(
        !args.db.exists(),
        "{} exists; seed a new file",
        args.db.display()
    );
    ensure!(
        args.conversations > args.hub_conversations,
        "--conversations must exceed --hub-conversations (one more holds the big conversation)"
    );
    ensure!(
        args.messages >= args.big_messages,
        "--messages must be at least --big-messages"
    );
    let started = Instant::now();
    let mut conn = open(&args.db, false).await?;
    let prefix = "bench".to_string();
    // One argon2 hash serves every account: the PHC string carries its salt, so each verifies.
    let hash = Argon2::default()
        .hash_password(
            PASSWORD.as_bytes(),
            &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
        )
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string();

    // Users: 1 is the hub, 2..=1+H its partners, then two per other conversation, then free ones.
    let h = args.hub_conversations;
    let others = args.conversations - h;
    let conv_users = 1 + h + 2 * others;
    let users = conv_users + args.free_users;
    let now = chrono_ms();
    let mut tx = sqlx::Connection::begin(&mut conn).await?;
    for chunk in chunk_ranges(1, users, ROWS_PER_STATEMENT as u64) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) ",
        );
        q.push_values(chunk, |mut b, id| {
            let name = format!("{prefix}{id}");
            b.push_bind(id as i64)
                .push_bind(name.clone())
                .push_bind(name)
                .push_bind(hash.clone())
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await?;
    }
    // Conversations 1..=H: hub with 2..=1+H; then (low, high) pairs.
    let pair_of = |c: u64| -> (i64, i64) {
        if c <= h {
            (1, 1 + c as i64)
        } else {
            let j = (c - h - 1) as i64;
            let low = 2 + h as i64 + 2 * j;
            (low, low + 1)
        }
    };
    for chunk in chunk_ranges(1, args.conversations, ROWS_PER_STATEMENT as u64) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO conversations (id, user_low, user_high, created_at, last_activity_at) ",
        );
        q.push_values(chunk.clone(), |mut b, c| {
            let (low, high) = pair_of(c);
            b.push_bind(c as i64)
                .push_bind(low)
                .push_bind(high)
                .push_bind(now)
                .push_bind(now);
        });
        q.build().execute(&mut *tx).await?;
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO participants (conversation_id, user_id) ");
        q.push_values(
            chunk.flat_map(|c| {
                let (low, high) = pair_of(c);
                [(c as i64, low), (c as i64, high)]
            }),
            |mut b, (c, u)| {
                b.push_bind(c).push_bind(u);
            },
        );
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;

    // Messages: the first `big` to conversation H+1, the rest round-robin over all the others.
    let big = h + 1;
    let small: Vec<u64> = (1..=args.conversations).filter(|&c| c != big).collect();
    let mut written = 0u64;
    while written < args.messages {
        let mut tx = sqlx::Connection::begin(&mut conn).await?;
        let end = (written + ROWS_PER_TX as u64).min(args.messages);
        for chunk in chunk_ranges(written, end - 1, ROWS_PER_STATEMENT as u64) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO messages (conversation_id, sender_id, content, created_at, search_text) ",
            );
            q.push_values(chunk, |mut b, n| {
                let c = if n < args.big_messages {
                    big
                } else {
                    small[((n - args.big_messages) % small.len() as u64) as usize]
                };
                let (low, high) = pair_of(c);
                let sender = if n % 2 == 0 { low } else { high };
                let content = format!("seeded message {n} with some ordinary chat text");
                let words = chat_server::search::index_text(&content);
                b.push_bind(c as i64)
                    .push_bind(sender)
                    .push_bind(content)
                    .push_bind(now + n as i64)
                    .push_bind(words);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        written = end;
    }
    sqlx::query(
        "UPDATE conversations SET
           last_message_id = (SELECT MAX(id) FROM messages m WHERE m.conversation_id = conversations.id),
           last_activity_at = COALESCE(
             (SELECT MAX(created_at) FROM messages m WHERE m.conversation_id = conversations.id),
             created_at)",
    )
    .execute(&mut conn)
    .await?;
    // Nothing is read yet: every message counts as unread for the other participant.
    sqlx::query(
        "UPDATE participants SET unread_count = (
           SELECT COUNT(*) FROM messages m
           WHERE m.conversation_id = participants.conversation_id
             AND m.id > participants.last_read_id AND m.sender_id <> participants.user_id)",
    )
    .execute(&mut conn)
    .await?;
    conn.close().await?;

    let manifest = Manifest {
        username_prefix: prefix,
        password: PASSWORD.into(),
        users,
        hub_user: 1,
        hub_conversations: h,
        big_conversation: big as i64,
        big_users: [pair_of(big).0, pair_of(big).1],
        big_messages: args.big_messages,
        other_conversations: (h + 2..=args.conversations)
            .map(|c| {
                let (low, high) = pair_of(c);
                [c as i64, low, high]
            })
            .collect(),
        first_free_user: conv_users as i64 + 1,
        free_users: args.free_users,
        messages: args.messages,
    };
    let path = Manifest::path_for(&args.db);
    std::fs::write(&path, serde_json::to_string(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let elapsed = started.elapsed();
    emit(
        "seed",
        &[
            format!(
                "seeded {}: {users} users, {} conversations, {} messages ({} in conversation {big}) in {:.1}s",
                args.db.display(),
                args.conversations,
                args.messages,
                args.big_messages,
                elapsed.as_secs_f64()
            ),
            format!(
                "manifest {}; free users from id {} (use --first-user {})",
                path.display(),
                manifest.first_free_user,
                manifest.first_free_user
            ),
        ],
        json!({
            "db": args.db.display().to_string(),
            "users": users,
            "conversations": args.conversations,
            "messages": args.messages,
            "messages_per_s": per_sec(args.messages, elapsed),
            "first_free_user": manifest.first_free_user,
            "secs": elapsed.as_secs_f64(),
        }),
    );
    Ok(())
}

/// Unix milliseconds now.
fn chrono_ms() -> i64 {
    chat_shared::Timestamp::now().0
}

/// `first..=last` in consecutive ranges of at most `size`.
fn chunk_ranges(
    first: u64,
    last: u64,
    size: u64,
) -> impl Iterator<Item = std::ops::RangeInclusive<u64>> {
    (first..=last)
        .step_by(size as usize)
        .map(move |start| start..=(start + size - 1).min(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_exactly() {
        let chunks: Vec<_> = chunk_ranges(1, 450, 200).collect();
        assert_eq!(chunks, vec![1..=200, 201..=400, 401..=450]);
        assert_eq!(chunk_ranges(0, 0, 200).count(), 1);
    }

    #[tokio::test]
    async fn seeds_the_shape_the_manifest_describes() {
        let dir = std::env::temp_dir().join(format!("chat-bench-seed-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        run(SeedArgs {
            db: db.clone(),
            conversations: 30,
            hub_conversations: 10,
            messages: 1_000,
            big_messages: 400,
            free_users: 5,
        })
        .await
        .unwrap();
        let m = Manifest::load(&Manifest::path_for(&db)).unwrap();
        assert_eq!(m.users, 1 + 10 + 2 * 20 + 5);
        assert_eq!(m.first_free_user, 52);
        assert_eq!(m.other_conversations.len(), 19);
        let mut conn = open(&db, false).await.unwrap();
        let big: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = ?")
                .bind(m.big_conversation)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(big, 400);
        let hub: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM participants WHERE user_id = 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(hub, 10);
        let dangling: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE last_message_id IS NULL")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(dangling, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
