//! Presence: a row per user and instance holding a connection of theirs, the instances alive (a
//! heartbeat each; one that falls silent is swept with its rows), and the transitions between
//! online and offline. A transition is recorded as an event in its own transaction. On
//! PostgreSQL that transaction first takes a lock per user it changes (in id order, so that two
//! never wait for each other), and the events' lock only to insert the events: transitions of one
//! user on two instances are serialized, so the last event said about a user is always true.

use chat_shared::{PresenceStatus, ServerMsg, Timestamp};

use super::sync::{EventRow, SERIALIZE_EVENTS, event_rows};
use super::{Audience, EventBody, NewEvent, Result, Store};

/// Most users one transition transaction deals with.
pub const PRESENCE_BATCH: usize = 500;

/// A user came online, went offline, or changed whether others see it; recorded as the event
/// `seq`, for everyone who shares a conversation with them.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceChange {
    pub user_id: i64,
    pub frame: ServerMsg,
    pub seq: i64,
}

/// A transition found in a transaction, before its event is recorded.
struct Transition {
    user_id: i64,
    status: PresenceStatus,
    last_seen: Option<Timestamp>,
}

/// The event of each transition.
fn events(transitions: &[Transition]) -> (Vec<ServerMsg>, Vec<EventRow<'static>>) {
    let frames: Vec<ServerMsg> = transitions
        .iter()
        .map(|t| ServerMsg::Presence {
            user_id: t.user_id,
            status: t.status,
            last_seen: t.last_seen,
        })
        .collect();
    let events: Vec<NewEvent> = transitions
        .iter()
        .zip(&frames)
        .map(|(t, frame)| NewEvent {
            audience: Audience::Contacts(t.user_id),
            body: EventBody::Frame(Box::new(frame.clone())),
        })
        .collect();
    (frames, event_rows(&events))
}

/// Taken on PostgreSQL before a user's presence is read or changed, until the transaction ends.
const LOCK_USER: &str = "SELECT pg_advisory_xact_lock(7400132, $1::INT4)";

/// Takes [`LOCK_USER`] for each of `$users` (sorted by the caller) in `$tx` on PostgreSQL.
macro_rules! lock_users {
    ($tx:ident, $postgres:expr, $users:expr) => {
        if $postgres {
            for &user_id in $users {
                // The lock's key is 32 bits: ids beyond share a key, which only serializes more.
                sqlx::query(LOCK_USER)
                    .bind(user_id as i32)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    };
}

/// Records the events of `$transitions` in the transaction `$tx` (made at `$now`, holding the
/// users' locks); the changes.
macro_rules! record_transitions {
    ($tx:ident, $postgres:expr, $transitions:expr, $now:expr) => {{
        let transitions: &[Transition] = $transitions;
        if transitions.is_empty() {
            Vec::new()
        } else {
            if $postgres {
                sqlx::query(SERIALIZE_EVENTS).execute(&mut *$tx).await?;
            }
            let (frames, rows) = events(transitions);
            let seqs = insert_events!($tx, &rows, $now);
            transitions
                .iter()
                .zip(frames)
                .zip(seqs)
                .map(|((t, frame), seq)| PresenceChange {
                    user_id: t.user_id,
                    frame,
                    seq,
                })
                .collect::<Vec<_>>()
        }
    }};
}

/// Removes the instance `$id` and its rows in `$tx`; the users who, without it, have no
/// connection left anywhere, last seen at `$last_seen`, are pushed onto `$out`.
macro_rules! drop_instance {
    ($tx:ident, $postgres:expr, $id:expr, $last_seen:expr, $out:expr) => {{
        let users: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM presence WHERE instance_id = $1 ORDER BY user_id",
        )
        .bind($id)
        .fetch_all(&mut *$tx)
        .await?;
        lock_users!($tx, $postgres, &users);
        // The rows still there once the users are locked (another sweep may have been first).
        let users: Vec<i64> =
            sqlx::query_scalar("DELETE FROM presence WHERE instance_id = $1 RETURNING user_id")
                .bind($id)
                .fetch_all(&mut *$tx)
                .await?;
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        for user_id in users {
            if let Some(t) = gone!($tx, user_id, $last_seen) {
                $out.push(t);
            }
        }
    }};
}

/// For a user whose row on some instance was just deleted in `$tx`: when no connection is left
/// anywhere, their `last_seen` becomes `$at` and, unless they hide it, the offline transition.
macro_rules! gone {
    ($tx:ident, $user_id:expr, $at:expr) => {{
        let still: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $1)")
                .bind($user_id)
                .fetch_one(&mut *$tx)
                .await?;
        if still {
            None
        } else {
            let hidden: Option<bool> = sqlx::query_scalar(
                "UPDATE users SET last_seen = $2 WHERE id = $1 RETURNING presence_hidden",
            )
            .bind($user_id)
            .bind($at.0)
            .fetch_optional(&mut *$tx)
            .await?;
            match hidden {
                Some(false) => Some(Transition {
                    user_id: $user_id,
                    status: PresenceStatus::Offline,
                    last_seen: Some($at),
                }),
                _ => None,
            }
        }
    }};
}

/// Marks the instance `$id` alive at `$now` in `$tx`; whether it was known (not swept).
macro_rules! beat {
    ($tx:ident, $id:expr, $now:expr) => {{
        let known = sqlx::query("UPDATE instances SET heartbeat_at = $2 WHERE id = $1")
            .bind($id)
            .bind($now.0)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            > 0;
        if !known {
            sqlx::query("INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2)")
                .bind($id)
                .bind($now.0)
                .execute(&mut *$tx)
                .await?;
        }
        known
    }};
}

impl Store {
    /// Marks the instance alive now; false when it was unknown (new, or swept as dead while it
    /// was stalled, its rows gone with it).
    pub async fn instance_heartbeat(&self, instance: i64) -> Result<bool> {
        let now = Timestamp::now();
        Ok(transaction!(self, tx => { beat!(tx, instance, now) }))
    }

    /// The users (at most [`PRESENCE_BATCH`]) have a connection on `instance` now; those who had
    /// none anywhere came online.
    pub async fn presence_arrive(
        &self,
        instance: i64,
        users: &[i64],
    ) -> Result<Vec<PresenceChange>> {
        let now = Timestamp::now();
        let postgres = self.is_postgres();
        let mut users = users.to_vec();
        users.sort_unstable();
        Ok(transaction!(self, tx => {
            lock_users!(tx, postgres, &users);
            beat!(tx, instance, now);
            let mut transitions = Vec::new();
            for &user_id in &users {
                let hidden: Option<bool> = sqlx::query_scalar(
                    "UPDATE users SET last_seen = $2 WHERE id = $1 RETURNING presence_hidden",
                )
                .bind(user_id)
                .bind(now.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(hidden) = hidden else {
                    continue; // the account is gone
                };
                let before: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $1)")
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await?;
                sqlx::query(
                    "INSERT INTO presence (user_id, instance_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(instance)
                .execute(&mut *tx)
                .await?;
                if !before && !hidden {
                    transitions.push(Transition {
                        user_id,
                        status: PresenceStatus::Online,
                        last_seen: Some(now),
                    });
                }
            }
            record_transitions!(tx, postgres, &transitions, now)
        }))
    }

    /// The users (at most [`PRESENCE_BATCH`]) have no connection left on `instance`; those
    /// with none anywhere went offline.
    pub async fn presence_leave(
        &self,
        instance: i64,
        users: &[i64],
    ) -> Result<Vec<PresenceChange>> {
        let now = Timestamp::now();
        let postgres = self.is_postgres();
        let mut users = users.to_vec();
        users.sort_unstable();
        Ok(transaction!(self, tx => {
            lock_users!(tx, postgres, &users);
            let mut transitions = Vec::new();
            for &user_id in &users {
                let deleted = sqlx::query(
                    "DELETE FROM presence WHERE user_id = $1 AND instance_id = $2",
                )
                .bind(user_id)
                .bind(instance)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if deleted > 0
                    && let Some(t) = gone!(tx, user_id, now)
                {
                    transitions.push(t);
                }
            }
            record_transitions!(tx, postgres, &transitions, now)
        }))
    }

    /// Forgets the instances (but `except`) silent since before `silent_since_ms` (Unix
    /// milliseconds): they died without a goodbye. Their users with no connection elsewhere went
    /// offline when the instance was last heard from. One transaction per dead instance.
    pub async fn sweep_instances(
        &self,
        silent_since_ms: i64,
        except: i64,
    ) -> Result<Vec<PresenceChange>> {
        let dead: Vec<(i64, i64)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT id, heartbeat_at FROM instances WHERE heartbeat_at < $1 AND id <> $2",
            )
            .bind(silent_since_ms)
            .bind(except)
            .fetch_all(pool)
            .await?
        });
        let postgres = self.is_postgres();
        let mut changes = Vec::new();
        for (id, heard) in dead {
            let now = Timestamp::now();
            changes.extend(transaction!(self, tx => {
                // Still silent (another instance may have swept it, or it came back).
                let silent: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM instances WHERE id = $1 AND heartbeat_at < $2)",
                )
                .bind(id)
                .bind(silent_since_ms)
                .fetch_one(&mut *tx)
                .await?;
                let mut transitions = Vec::new();
                if silent {
                    drop_instance!(tx, postgres, id, Timestamp(heard), transitions);
                }
                record_transitions!(tx, postgres, &transitions, now)
            }));
        }
        Ok(changes)
    }

    /// The instance stops (a goodbye): its rows go, and its users with no connection elsewhere
    /// go offline now.
    pub async fn instance_gone(&self, instance: i64) -> Result<Vec<PresenceChange>> {
        let now = Timestamp::now();
        let postgres = self.is_postgres();
        Ok(transaction!(self, tx => {
            let mut transitions = Vec::new();
            drop_instance!(tx, postgres, instance, now, transitions);
            record_transitions!(tx, postgres, &transitions, now)
        }))
    }

    /// Whether others see the user's presence.
    pub async fn presence_visible(&self, user: i64) -> Result<bool> {
        let hidden: Option<bool> = on!(self, read pool => {
            sqlx::query_scalar("SELECT presence_hidden FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(pool)
                .await?
        });
        Ok(!hidden.unwrap_or(false))
    }

    /// Shows or hides the user's presence; the change others are told of, if it changed: hiding
    /// reads as offline with no `last_seen`, showing as the user's presence now.
    pub async fn set_presence_visible(
        &self,
        user: i64,
        visible: bool,
    ) -> Result<Option<PresenceChange>> {
        let now = Timestamp::now();
        let postgres = self.is_postgres();
        Ok(transaction!(self, tx => {
            lock_users!(tx, postgres, &[user]);
            let state: Option<(bool, Option<i64>, bool)> = sqlx::query_as(
                "SELECT presence_hidden, last_seen,
                        EXISTS (SELECT 1 FROM presence WHERE user_id = $1)
                 FROM users WHERE id = $1",
            )
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            match state {
                Some((hidden, last_seen, online)) if hidden == visible => {
                    sqlx::query("UPDATE users SET presence_hidden = $2 WHERE id = $1")
                        .bind(user)
                        .bind(!visible)
                        .execute(&mut *tx)
                        .await?;
                    let transition = if visible {
                        Transition {
                            user_id: user,
                            status: if online {
                                PresenceStatus::Online
                            } else {
                                PresenceStatus::Offline
                            },
                            last_seen: last_seen.map(Timestamp),
                        }
                    } else {
                        Transition {
                            user_id: user,
                            status: PresenceStatus::Offline,
                            last_seen: None,
                        }
                    };
                    record_transitions!(tx, postgres, &[transition], now).pop()
                }
                _ => None,
            }
        }))
    }

    /// Everyone who shares a conversation with the user (but the user).
    pub async fn contacts(&self, user: i64) -> Result<Vec<i64>> {
        Ok(on!(self, read pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT b.user_id FROM participants a
                 JOIN participants b ON b.conversation_id = a.conversation_id
                 WHERE a.user_id = $1 AND b.user_id <> $1",
            )
            .bind(user)
            .fetch_all(pool)
            .await?
        }))
    }
}
