//! Sessions: one row per login, rotated through refresh tokens, ended by logout, by reuse of a
//! retired refresh token, by a password change or by deleting the account; each user's "sessions
//! valid after" time for tokens that name no session; account deletion (a tombstone whose name is
//! held for a while) and the upkeep that frees held names and forgets old sessions.

use chat_shared::{DELETED_USERNAME, Timestamp, UserRef};
use serde::{Deserialize, Serialize};

use super::{Result, Store};

/// The id and issue time of a session's next refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokens {
    pub refresh_jti: String,
    /// Unix seconds (the tokens' `iat`).
    pub issued_at: i64,
    /// When the refresh token expires, Unix milliseconds.
    pub expires_at: i64,
}

/// What a session's live refresh token is minted from (the same claims sign to the same bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTokens {
    pub sid: i64,
    pub refresh_jti: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// What presenting a refresh token to its session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The live token: retired now; these are its successors.
    Rotated(SessionTokens),
    /// The token the last rotation retired, again within the grace: the same successor.
    Replayed(SessionTokens),
    /// A retired token past the grace: the whole session is ended, as `Revocation` says.
    Reused(Revocation),
    /// No such session, or it has ended or expired.
    Refused,
}

/// Credentials that stopped being valid: sessions ended, and (`before`, Unix milliseconds) the
/// tokens without a session issued before a time. Also the signal that closes the sockets
/// opened with them, on every instance: it travels the bus as a frame of type [`Self::KIND`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub sessions: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

impl Revocation {
    /// Its `type` on the bus: not a chat frame (never sent to a client).
    pub const KIND: &'static str = "session.revoked";

    /// Whether credentials of session `sid` (or none), issued at `issued_at` (Unix seconds),
    /// are among those revoked.
    pub fn covers(&self, sid: Option<i64>, issued_at: i64) -> bool {
        match sid {
            Some(sid) => self.sessions.contains(&sid),
            None => self
                .before
                .is_some_and(|before| issued_at.saturating_mul(1000) < before),
        }
    }
}

/// Who a token that still stands acts as, and until when its session lives (Unix
/// milliseconds; `None` for a token of no session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub user: UserRef,
    pub session_expires_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    refresh_jti: String,
    issued_at: i64,
    expires_at: i64,
    previous_jti: Option<String>,
    rotated_at: Option<i64>,
    ended_at: Option<i64>,
}

/// What to do with a refresh token presented to its session, at `now` (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Rotate,
    Replay,
    Reuse,
    Refuse,
}

fn decide(session: &SessionRow, jti: &str, now: i64, grace_ms: i64) -> Decision {
    if session.ended_at.is_some() || session.expires_at <= now {
        return Decision::Refuse;
    }
    if jti == session.refresh_jti {
        return Decision::Rotate;
    }
    let within_grace = session
        .rotated_at
        .is_some_and(|at| now <= at.saturating_add(grace_ms));
    if session.previous_jti.as_deref() == Some(jti) && within_grace {
        Decision::Replay
    } else {
        // Any other token of this session was retired before: someone holds a copy.
        Decision::Reuse
    }
}

/// Ends every live session of `$user` but `$keep` (why: `$reason`) and moves the user's "sessions
/// valid after" to `$now`, in the transaction `$tx`; what was revoked.
macro_rules! end_sessions {
    ($tx:ident, $user:expr, $keep:expr, $reason:expr, $now:expr) => {{
        let (user, keep, now): (i64, Option<i64>, i64) = ($user, $keep, $now);
        sqlx::query("UPDATE users SET sessions_valid_after = $1 WHERE id = $2")
            .bind(now)
            .bind(user)
            .execute(&mut *$tx)
            .await?;
        let sessions: Vec<i64> = sqlx::query_scalar(
            "UPDATE sessions SET ended_at = $1, end_reason = $2
             WHERE user_id = $3 AND ended_at IS NULL AND id <> $4 RETURNING id",
        )
        .bind(now)
        .bind($reason)
        .bind(user)
        .bind(keep.unwrap_or(0))
        .fetch_all(&mut *$tx)
        .await?;
        Revocation {
            sessions,
            before: Some(now),
        }
    }};
}

impl Store {
    /// A new session for `user_id` holding `tokens`; `None` when the account is deleted.
    pub async fn create_session(
        &self,
        user_id: i64,
        tokens: &NewTokens,
    ) -> Result<Option<SessionTokens>> {
        let sid: Option<i64> = transaction!(self, tx => {
            sqlx::query_scalar(
                "INSERT INTO sessions
                   (user_id, created_at, refresh_jti, issued_at, expires_at)
                 SELECT id, $2, $3, $4, $5 FROM users WHERE id = $1 AND deleted_at IS NULL
                 RETURNING id",
            )
            .bind(user_id)
            .bind(Timestamp::now().0)
            .bind(&tokens.refresh_jti)
            .bind(tokens.issued_at)
            .bind(tokens.expires_at)
            .fetch_optional(&mut *tx)
            .await?
        });
        Ok(sid.map(|sid| SessionTokens {
            sid,
            refresh_jti: tokens.refresh_jti.clone(),
            issued_at: tokens.issued_at,
        }))
    }

    /// Presents the refresh token `jti` of `user_id` to session `sid`: rotated to `next`,
    /// answered again within `grace_ms` of its retirement, or (past it) taken for a stolen copy
    /// and the session ended. Rotations of one session happen one after the other.
    pub async fn rotate(
        &self,
        user_id: i64,
        sid: i64,
        jti: &str,
        next: &NewTokens,
        grace_ms: i64,
    ) -> Result<Rotation> {
        let now = Timestamp::now().0;
        // SQLite has one writer at a time; PostgreSQL locks the row.
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let select = format!(
            "SELECT refresh_jti, issued_at, expires_at, previous_jti, rotated_at,
                    ended_at
             FROM sessions WHERE id = $1 AND user_id = $2{lock}"
        );
        let rotation = transaction!(self, tx => {
            let row: Option<SessionRow> = sqlx::query_as(&select)
                .bind(sid)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(Rotation::Refused);
            };
            match decide(&row, jti, now, grace_ms) {
                Decision::Refuse => Rotation::Refused,
                Decision::Replay => Rotation::Replayed(SessionTokens {
                    sid,
                    refresh_jti: row.refresh_jti,
                    issued_at: row.issued_at,
                }),
                Decision::Rotate => {
                    sqlx::query(
                        "UPDATE sessions SET previous_jti = refresh_jti, rotated_at = $1,
                           refresh_jti = $2, issued_at = $3, expires_at = $4
                         WHERE id = $5",
                    )
                    .bind(now)
                    .bind(&next.refresh_jti)
                    .bind(next.issued_at)
                    .bind(next.expires_at)
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
                    Rotation::Rotated(SessionTokens {
                        sid,
                        refresh_jti: next.refresh_jti.clone(),
                        issued_at: next.issued_at,
                    })
                }
                Decision::Reuse => {
                    sqlx::query(
                        "UPDATE sessions SET ended_at = $1, end_reason = 'reuse' WHERE id = $2",
                    )
                    .bind(now)
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
                    Rotation::Reused(Revocation {
                        sessions: vec![sid],
                        before: None,
                    })
                }
            }
        });
        Ok(rotation)
    }

    /// Ends session `sid` of `user_id` (a logout); `None` when it had ended already.
    pub async fn end_session(&self, user_id: i64, sid: i64) -> Result<Option<Revocation>> {
        let ended = transaction!(self, tx => {
            sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = 'logout'
                 WHERE id = $2 AND user_id = $3 AND ended_at IS NULL",
            )
            .bind(Timestamp::now().0)
            .bind(sid)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok((ended > 0).then(|| Revocation {
            sessions: vec![sid],
            before: None,
        }))
    }

    /// Ends every session of `user_id` and every token issued to it before now.
    pub async fn end_all_sessions(&self, user_id: i64) -> Result<Revocation> {
        let now = Timestamp::now().0;
        Ok(transaction!(self, tx => {
            end_sessions!(tx, user_id, None, "logout_all", now)
        }))
    }

    /// Replaces the password hash of `user_id` and ends every session and token of it but the
    /// session `keep` (the caller's).
    pub async fn change_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep: Option<i64>,
    ) -> Result<Revocation> {
        let now = Timestamp::now().0;
        Ok(transaction!(self, tx => {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            end_sessions!(tx, user_id, keep, "password", now)
        }))
    }

    /// Deletes the account `user_id`: the row stays as a tombstone named
    /// [`DELETED_USERNAME`] (its messages and conversations stay readable to the others) with
    /// no usable password; its name stays taken until [`Store::free_held_names`] frees it.
    /// `None` when it was deleted already.
    pub async fn delete_account(&self, user_id: i64) -> Result<Option<Revocation>> {
        let now = Timestamp::now().0;
        Ok(transaction!(self, tx => {
            // "!" is no password hash (Django's unusable password); presence is hidden, so
            // nobody sees when a deleted account was last online.
            let deleted = sqlx::query(
                "UPDATE users SET username = $1, password_hash = '!', deleted_at = $2,
                   presence_hidden = $3
                 WHERE id = $4 AND deleted_at IS NULL",
            )
            .bind(DELETED_USERNAME)
            .bind(now)
            .bind(true)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 0 {
                return Ok(None);
            }
            Some(end_sessions!(tx, user_id, None, "deleted", now))
        }))
    }

    /// The password hash of `user_id`, unless the account was deleted.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        Ok(on!(self, read pool => {
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Who a token of `user_id`, of session `sid` (or none) and issued at `issued_at` (Unix
    /// seconds), acts as, if it still stands: its session alive, or, without one, issued no
    /// earlier than the user's "sessions valid after"; never for a deleted account.
    pub async fn standing(
        &self,
        user_id: i64,
        sid: Option<i64>,
        issued_at: i64,
    ) -> Result<Option<Standing>> {
        let row: Option<(i64, String, Option<i64>)> = on!(self, read pool => {
            match sid {
                Some(sid) => sqlx::query_as(
                    "SELECT u.id, u.username, s.expires_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.user_id = $2 AND s.ended_at IS NULL
                       AND s.expires_at > $3 AND u.deleted_at IS NULL",
                )
                .bind(sid)
                .bind(user_id)
                .bind(Timestamp::now().0)
                .fetch_optional(pool)
                .await?,
                None => sqlx::query_as(
                    "SELECT id, username, CAST(NULL AS BIGINT) FROM users
                     WHERE id = $1 AND deleted_at IS NULL AND sessions_valid_after <= $2",
                )
                .bind(user_id)
                .bind(issued_at.saturating_mul(1000))
                .fetch_optional(pool)
                .await?,
            }
        });
        Ok(row.map(|(id, username, session_expires_at)| Standing {
            user: UserRef { id, username },
            session_expires_at,
        }))
    }

    /// Frees the names of accounts deleted more than `hold_ms` ago (their tombstones keep a key
    /// no name can have), and forgets sessions that ended or expired more than a day ago. How
    /// many names were freed.
    pub async fn free_held_names(&self, hold_ms: i64) -> Result<u64> {
        const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;
        let now = Timestamp::now().0;
        Ok(transaction!(self, tx => {
            sqlx::query(
                "DELETE FROM sessions WHERE COALESCE(ended_at, expires_at) < $1",
            )
            .bind(now - FORGET_AFTER_MS)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE users SET username_key = '#deleted:' || CAST(id AS TEXT),
                                  username_fold = '#deleted:' || CAST(id AS TEXT),
                                  username_skeleton = '#deleted:' || CAST(id AS TEXT)
                 WHERE deleted_at IS NOT NULL AND deleted_at <= $1
                   AND username_key NOT LIKE '#deleted:%'",
            )
            .bind(now.saturating_sub(hold_ms))
            .execute(&mut *tx)
            .await?
            .rows_affected()
        }))
    }
}

/// Runs [`Store::free_held_names`] at start and then every `every` until `stop`.
pub async fn free_held_names_every(
    store: Store,
    hold: std::time::Duration,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store.free_held_names(hold_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(names = n, "freed the names of deleted accounts"),
            Err(e) => tracing::warn!(error = %e, "freeing held names failed; trying again later"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionRow {
        SessionRow {
            refresh_jti: "live".into(),
            issued_at: 100,
            expires_at: 1_000_000,
            previous_jti: Some("retired".into()),
            rotated_at: Some(100_000),
            ended_at: None,
        }
    }

    #[test]
    fn the_live_token_rotates_and_the_retired_one_replays_only_within_the_grace() {
        let s = session();
        assert_eq!(decide(&s, "live", 100_500, 10_000), Decision::Rotate);
        assert_eq!(decide(&s, "retired", 110_000, 10_000), Decision::Replay);
        assert_eq!(decide(&s, "retired", 110_001, 10_000), Decision::Reuse);
        // Older tokens of the session are never replayed.
        assert_eq!(decide(&s, "older", 100_001, 10_000), Decision::Reuse);
    }

    #[test]
    fn an_ended_or_expired_session_refuses_every_token() {
        let ended = SessionRow {
            ended_at: Some(1),
            ..session()
        };
        assert_eq!(decide(&ended, "live", 100_500, 10_000), Decision::Refuse);
        assert_eq!(decide(&ended, "retired", 100_500, 10_000), Decision::Refuse);
        assert_eq!(
            decide(&session(), "live", 1_000_000, 10_000),
            Decision::Refuse
        );
    }

    #[test]
    fn a_revocation_covers_its_sessions_and_sessionless_tokens_issued_before() {
        let revocation = Revocation {
            sessions: vec![3, 4],
            before: Some(5_000),
        };
        assert!(revocation.covers(Some(3), 9));
        assert!(!revocation.covers(Some(5), 1));
        // Issued in second 4 (before 5,000 ms), or in second 5 (not before it).
        assert!(revocation.covers(None, 4));
        assert!(!revocation.covers(None, 5));
        let one_session = Revocation {
            sessions: vec![3],
            before: None,
        };
        assert!(!one_session.covers(None, 0));
    }
}
