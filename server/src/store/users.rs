//! Accounts: creation (a name taken in no form: its letter case, width or look-alikes), credentials,
//! lookup and search, and the name keys of accounts made before there were any.

use chat_shared::{Timestamp, UserRef};

use super::{Pools, Result, Store, StoreError};
use crate::names::NameKeys;

/// Taken by every registration on PostgreSQL (released at its end): one at a time, each sees the
/// names the others stored, on every instance. SQLite has one writer already. Keyed by schema,
/// as the events' lock is.
const SERIALIZE_NAMES: &str = "SELECT pg_advisory_xact_lock(7400133, hashtext(current_schema()))";

/// Rows keyed per transaction at start.
const KEYING_BATCH: i64 = 500;

/// Most accounts one folded name may lead to at login (they exist only from before the keys).
const MAX_LOGIN_CANDIDATES: i64 = 16;

/// A key usernames are compared by (see [`crate::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKey {
    /// The folded name: the same name in another letter case or width.
    Fold,
    /// The folded confusable skeleton: names that look alike.
    Skeleton,
}

impl NameKey {
    pub fn as_str(self) -> &'static str {
        match self {
            NameKey::Fold => "fold",
            NameKey::Skeleton => "skeleton",
        }
    }

    fn column(self) -> &'static str {
        match self {
            NameKey::Fold => "username_fold",
            NameKey::Skeleton => "username_skeleton",
        }
    }
}

/// Existing accounts whose names share a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCollision {
    pub key: NameKey,
    /// The accounts, oldest first.
    pub user_ids: Vec<i64>,
}

impl Store {
    /// A new account; `StoreError::Conflict` when an account has the same folded name or
    /// confusable skeleton (see [`crate::names`]).
    ///
    /// The check is part of the insert, and registrations write one at a time (SQLite's one
    /// writer; PostgreSQL's [`SERIALIZE_NAMES`]), so two alike names registered at once on two
    /// instances cannot both succeed. The keys are not unique indexes: names from before them
    /// may collide (see [`Store::key_usernames`]).
    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<UserRef> {
        let keys = NameKeys::of(username);
        let postgres = self.is_postgres();
        let id: i64 = transaction!(self, tx => {
            if postgres {
                sqlx::query(SERIALIZE_NAMES).execute(&mut *tx).await?;
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users
                   (username, username_key, username_fold, username_skeleton, password_hash,
                    created_at)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE NOT EXISTS (SELECT 1 FROM users WHERE username_fold = $3)
                   AND NOT EXISTS (SELECT 1 FROM users WHERE username_skeleton = $4)
                 RETURNING id",
            )
            .bind(username)
            .bind(username.to_lowercase())
            .bind(&keys.fold)
            .bind(&keys.skeleton)
            .bind(password_hash)
            .bind(Timestamp::now().0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
                _ => StoreError::Db(e),
            })?;
            id.ok_or(StoreError::Conflict)?
        });
        Ok(UserRef {
            id,
            username: username.to_string(),
        })
    }

    /// The account `username` names (by its folded form: any letter case or width) and its
    /// password hash. Accounts from before the keys may share one; then the one whose name is
    /// `username` in lower case (the rule they were made under) wins, else the oldest.
    pub async fn credentials(&self, username: &str) -> Result<Option<(UserRef, String)>> {
        let rows: Vec<(i64, String, String)> = on!(self, read pool => {
            // A deleted account's tombstone holds its name but never logs in.
            sqlx::query_as(
                "SELECT id, username, password_hash FROM users
                 WHERE username_fold = $1 AND deleted_at IS NULL
                 ORDER BY id LIMIT $2",
            )
            .bind(crate::names::fold(username))
            .bind(MAX_LOGIN_CANDIDATES)
            .fetch_all(pool)
            .await?
        });
        let lower = username.to_lowercase();
        let exact = rows.iter().position(|row| row.1.to_lowercase() == lower);
        let row = rows.into_iter().nth(exact.unwrap_or(0));
        Ok(row.map(|(id, username, hash)| (UserRef { id, username }, hash)))
    }

    /// Computes the name keys of accounts that have none (made before them, or set to NULL to be
    /// computed again), then finds the accounts whose keys collide: they were accepted under the
    /// old rules and keep working, but an operator should know.
    pub async fn key_usernames(&self) -> Result<Vec<NameCollision>> {
        loop {
            let rows: Vec<(i64, String)> = on!(self, write pool => {
                sqlx::query_as(
                    "SELECT id, username FROM users
                     WHERE username_fold IS NULL OR username_skeleton IS NULL
                     ORDER BY id LIMIT $1",
                )
                .bind(KEYING_BATCH)
                .fetch_all(pool)
                .await?
            });
            if rows.is_empty() {
                break;
            }
            tracing::info!(accounts = rows.len(), "computing username keys");
            transaction!(self, tx => {
                for (id, username) in &rows {
                    let keys = NameKeys::of(username);
                    sqlx::query(
                        "UPDATE users SET username_fold = $1, username_skeleton = $2
                         WHERE id = $3",
                    )
                    .bind(&keys.fold)
                    .bind(&keys.skeleton)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            });
        }
        let mut collisions = self.collisions(NameKey::Fold).await?;
        collisions.extend(self.collisions(NameKey::Skeleton).await?);
        Ok(collisions)
    }

    /// The groups of accounts that share `key`.
    async fn collisions(&self, key: NameKey) -> Result<Vec<NameCollision>> {
        let column = key.column();
        let sql = format!(
            "SELECT {column}, id FROM users
             WHERE {column} IN (SELECT {column} FROM users GROUP BY {column} HAVING COUNT(*) > 1)
             ORDER BY {column}, id"
        );
        let rows: Vec<(String, i64)> = on!(self, read pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        let mut collisions: Vec<NameCollision> = Vec::new();
        let mut last: Option<String> = None;
        for (value, id) in rows {
            match collisions.last_mut() {
                Some(group) if last.as_ref() == Some(&value) => group.user_ids.push(id),
                _ => collisions.push(NameCollision {
                    key,
                    user_ids: vec![id],
                }),
            }
            last = Some(value);
        }
        Ok(collisions)
    }

    /// The account `id`, unless it was deleted.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRef>> {
        let row: Option<(i64, String)> = on!(self, read pool => {
            sqlx::query_as("SELECT id, username FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, username)| UserRef { id, username }))
    }

    /// Up to 20 users other than `me` whose name contains `keyword` (any case, `%`/`_` literal),
    /// those whose name starts with it first (by name, then id). Two steps, each on an index:
    /// names starting with it are a range of the unique `username_key` (so a keyword every name
    /// starts with costs 20 rows, not a sort of them all); the rest, when fewer than 20 do,
    /// come from the trigram index of each engine: FTS5's `trigram` table with GLOB on SQLite
    /// (its LIKE uses the index only without `ESCAPE`), `pg_trgm` with LIKE on PostgreSQL.
    pub async fn search_users(&self, me: i64, keyword: &str) -> Result<Vec<UserRef>> {
        const PAGE: i64 = 20;
        let keyword = keyword.to_lowercase();
        // Byte order on both engines (SQLite's BINARY, PostgreSQL's "C"): every name that
        // starts with the keyword lies in [keyword, keyword + U+10FFFF).
        let past = format!("{keyword}\u{10FFFF}");
        let mut rows: Vec<(i64, String)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT id, username FROM users
                 WHERE username_key >= $1 AND username_key < $2 AND id <> $3
                   AND deleted_at IS NULL
                 ORDER BY username_key, id LIMIT $4",
            )
            .bind(&keyword)
            .bind(&past)
            .bind(me)
            .bind(PAGE)
            .fetch_all(pool)
            .await?
        });
        let left = PAGE - rows.len() as i64;
        if left > 0 {
            let (sql, contains, starts) = match &self.pools {
                Pools::Sqlite { .. } => (
                    "SELECT u.id, u.username FROM user_search s JOIN users u ON u.id = s.rowid
                     WHERE s.username_key GLOB $1 AND NOT u.username_key GLOB $3
                       AND u.id <> $2 AND u.deleted_at IS NULL
                     ORDER BY u.username_key, u.id LIMIT $4",
                    format!("*{}*", escape_glob(&keyword)),
                    format!("{}*", escape_glob(&keyword)),
                ),
                Pools::Postgres(_) => (
                    "SELECT u.id, u.username FROM users u
                     WHERE u.username_key LIKE $1 ESCAPE '\\'
                       AND NOT u.username_key LIKE $3 ESCAPE '\\'
                       AND u.id <> $2 AND u.deleted_at IS NULL
                     ORDER BY u.username_key, u.id LIMIT $4",
                    format!("%{}%", escape_like(&keyword)),
                    format!("{}%", escape_like(&keyword)),
                ),
            };
            let rest: Vec<(i64, String)> = on!(self, read pool => {
                sqlx::query_as(sql)
                    .bind(&contains)
                    .bind(me)
                    .bind(&starts)
                    .bind(left)
                    .fetch_all(pool)
                    .await?
            });
            rows.extend(rest);
        }
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserRef { id, username })
            .collect())
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

/// Escapes GLOB's wildcards so that they match themselves (each in a one-character class).
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("a%b_c\\"), "a\\%b\\_c\\\\");
    }

    #[test]
    fn glob_wildcards_are_escaped() {
        assert_eq!(escape_glob("a*b?c[d]%_"), "a[*]b[?]c[[]d]%_");
    }
}
