//! Accounts: creation (a unique key in any letter case), credentials, lookup and search.

use chat_shared::{Timestamp, UserRef};

use super::{Result, Store, StoreError};

impl Store {
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
            // A deleted account's tombstone holds its name but never logs in.
            sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username_key = $1 AND deleted_at IS NULL")
                .bind(username.to_lowercase())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, username, hash)| (UserRef { id, username }, hash)))
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

    /// Up to 20 users other than `me` whose name contains `keyword` (any case, `%`/`_` literal).
    pub async fn search_users(&self, me: i64, keyword: &str) -> Result<Vec<UserRef>> {
        let pattern = format!("%{}%", escape_like(&keyword.to_lowercase()));
        let rows: Vec<(i64, String)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT id, username FROM users
                 WHERE username_key LIKE $1 ESCAPE '\\' AND id <> $2 AND deleted_at IS NULL
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

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
