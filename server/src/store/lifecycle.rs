//! A message's life after it is sent: edits, deletes (tombstones) and reactions. Each change
//! is one transaction that first locks the message's row, so that changes to one message
//! apply one after the other on both engines.

use chat_shared::{MAX_REACTIONS, Reaction, Role, Timestamp};

use super::membership::Refusal;
use super::messages::mentions_among_members;
use super::{Result, Store, StoreError};

/// A change to a message.
#[derive(Debug, Clone)]
pub enum Change {
    /// New content (already checked), with the names its `@` tokens may stand for.
    Edit {
        content: String,
        mentions: Vec<String>,
    },
    /// The message becomes a tombstone.
    Delete,
    /// The caller's reaction with `emoji` (already checked) is added or taken back.
    React { emoji: String, add: bool },
}

/// A change that was made: who is told of it (every current member).
#[derive(Debug)]
pub struct Changed {
    pub members: Vec<i64>,
}

/// The row a change starts from: the message and the caller's place in its conversation.
#[derive(sqlx::FromRow)]
struct Target {
    conversation_id: i64,
    sender_id: i64,
    is_system: bool,
    deleted: bool,
    kind: String,
    role: Option<String>,
}

/// Adds `user`'s reaction `emoji` to a message: `Err(None)` when it was there already,
/// `Err(Some(_))` when the message has [`MAX_REACTIONS`] other emoji.
macro_rules! react_on {
    ($tx:ident, $message_id:expr, $user:expr, $emoji:expr) => {{
        let emoji: &str = $emoji;
        let known: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT emoji FROM reactions WHERE message_id = $1")
                .bind($message_id)
                .fetch_all(&mut *$tx)
                .await?;
        if known.len() >= MAX_REACTIONS && !known.iter().any(|(e,)| e == emoji) {
            Ok::<_, StoreError>(Err(Some(Refusal::Invalid(format!(
                "a message has at most {MAX_REACTIONS} different reactions"
            )))))
        } else {
            let added: Option<i64> = sqlx::query_scalar(
                "INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)
                 ON CONFLICT (message_id, emoji, user_id) DO NOTHING RETURNING id",
            )
            .bind($message_id)
            .bind($user)
            .bind(emoji)
            .fetch_optional(&mut *$tx)
            .await?;
            Ok(added.map(|_| ()).ok_or(None))
        }
    }};
}

const NO_MESSAGE: Refusal = Refusal::NotFound("no such message");

impl Store {
    /// Applies `change` to message `message_id` on behalf of `user`. `Ok(Err(_))` when it is
    /// refused (nothing changed); `Ok(Ok(None))` when it changes nothing (a reaction added
    /// twice, or taken back when there was none); otherwise the members to tell. Read the
    /// message as it now is with [`Store::messages_by_id`].
    pub async fn change_message(
        &self,
        user: i64,
        message_id: i64,
        change: Change,
    ) -> Result<std::result::Result<Option<Changed>, Refusal>> {
        let now = Timestamp::now();
        Ok(transaction!(self, tx => {
            // A write first: it locks the row (PostgreSQL) until the commit, so concurrent
            // changes of one message read each other's results.
            let locked: Option<i64> = sqlx::query_scalar(
                "UPDATE messages SET deleted = deleted WHERE id = $1 RETURNING id",
            )
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?;
            let target: Option<Target> = match locked {
                None => None,
                Some(_) => {
                    sqlx::query_as(
                        "SELECT m.conversation_id, m.sender_id, m.is_system, m.deleted, c.kind,
                                me.role
                         FROM messages m
                         JOIN conversations c ON c.id = m.conversation_id
                         JOIN participants me ON me.conversation_id = m.conversation_id
                                             AND me.user_id = $2
                         WHERE m.id = $1",
                    )
                    .bind(message_id)
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            match target.map(|t| allowed(&t, user, &change).map(|()| t)) {
                None => Err(NO_MESSAGE),
                Some(Err(refusal)) => Err(refusal),
                Some(Ok(target)) => {
                    let changed = match &change {
                        Change::Edit { content, mentions } => {
                            let asked = [(target.conversation_id, &mentions[..])];
                            let found = mentions_among_members!(tx, &asked);
                            let encoded = found
                                .into_iter()
                                .next()
                                .flatten()
                                .map(|ids| serde_json::json!(ids).to_string());
                            sqlx::query(
                                "UPDATE messages SET content = $2, edited_at = $3, mentions = $4,
                                                     search_text = $5
                                 WHERE id = $1",
                            )
                            .bind(message_id)
                            .bind(content.as_str())
                            .bind(now.0)
                            .bind(encoded)
                            .bind(crate::search::index_text(content))
                            .execute(&mut *tx)
                            .await?;
                            true
                        }
                        Change::Delete => {
                            sqlx::query(
                                "UPDATE messages SET content = '', deleted = TRUE, mentions = NULL,
                                                     reactions = NULL, search_text = NULL
                                 WHERE id = $1",
                            )
                            .bind(message_id)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query("DELETE FROM reactions WHERE message_id = $1")
                                .bind(message_id)
                                .execute(&mut *tx)
                                .await?;
                            // A pair's unread counts are kept in rows: the reader who had not
                            // read it yet has one fewer. A group's are counted when read.
                            if target.kind == "direct" {
                                sqlx::query(
                                    "UPDATE participants SET unread_count = unread_count - 1
                                     WHERE conversation_id = $1 AND user_id <> $2
                                       AND last_read_id < $3 AND unread_count > 0",
                                )
                                .bind(target.conversation_id)
                                .bind(target.sender_id)
                                .bind(message_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                            true
                        }
                        Change::React { emoji, add } => {
                            let changed = if *add {
                                react_on!(tx, message_id, user, emoji)?
                            } else {
                                sqlx::query_scalar::<_, i64>(
                                    "DELETE FROM reactions
                                     WHERE message_id = $1 AND user_id = $2 AND emoji = $3
                                     RETURNING id",
                                )
                                .bind(message_id)
                                .bind(user)
                                .bind(emoji.as_str())
                                .fetch_optional(&mut *tx)
                                .await?
                                .map(|_| ())
                                .ok_or(None)
                            };
                            match changed {
                                Ok(()) => {
                                    let rows: Vec<(String, i64)> = sqlx::query_as(
                                        "SELECT emoji, user_id FROM reactions
                                         WHERE message_id = $1 ORDER BY id",
                                    )
                                    .bind(message_id)
                                    .fetch_all(&mut *tx)
                                    .await?;
                                    let json = serde_json::to_string(&summarize(rows)).map_err(
                                        |e| StoreError::Inconsistent(format!("reactions: {e}")),
                                    )?;
                                    sqlx::query("UPDATE messages SET reactions = $2 WHERE id = $1")
                                        .bind(message_id)
                                        .bind(json)
                                        .execute(&mut *tx)
                                        .await?;
                                    true
                                }
                                Err(None) => false,
                                Err(Some(refusal)) => return Ok(Err(refusal)),
                            }
                        }
                    };
                    if changed {
                        let members: Vec<i64> = sqlx::query_scalar(
                            "SELECT user_id FROM participants WHERE conversation_id = $1",
                        )
                        .bind(target.conversation_id)
                        .fetch_all(&mut *tx)
                        .await?;
                        Ok(Some(Changed { members }))
                    } else {
                        Ok(None)
                    }
                }
            }
        }))
    }
}

/// Whether `user` may make `change` to the message: the sender edits; the sender, or a
/// group's owner or admin, deletes; any member reacts. System messages are neither edited nor
/// deleted, and a deleted message takes no change at all.
fn allowed(target: &Target, user: i64, change: &Change) -> std::result::Result<(), Refusal> {
    if target.deleted {
        return Err(Refusal::NotFound("the message was deleted"));
    }
    let own = target.sender_id == user && !target.is_system;
    match change {
        Change::Edit { .. } if target.is_system => {
            Err(Refusal::Forbidden("system messages cannot be edited"))
        }
        Change::Edit { .. } if !own => {
            Err(Refusal::Forbidden("only its sender can edit a message"))
        }
        Change::Delete if target.is_system => {
            Err(Refusal::Forbidden("system messages cannot be deleted"))
        }
        Change::Delete if !(own || (target.kind == "group" && manages(target))) => {
            Err(Refusal::Forbidden(
                "only its sender, or a group's owner or admin, can delete a message",
            ))
        }
        _ => Ok(()),
    }
}

/// Whether the caller's role in the group adds, removes and deletes others' messages.
fn manages(target: &Target) -> bool {
    target
        .role
        .as_deref()
        .and_then(Role::from_name)
        .is_some_and(Role::manages)
}

/// The reactions a message carries, from its `(emoji, user)` rows in the order they were made:
/// one item per emoji in the order of first use, users in the order they reacted.
fn summarize(rows: Vec<(String, i64)>) -> Vec<Reaction> {
    let mut reactions: Vec<Reaction> = Vec::new();
    for (emoji, user_id) in rows {
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => {
                reaction.count += 1;
                reaction.user_ids.push(user_id);
            }
            None => reactions.push(Reaction {
                emoji,
                count: 1,
                user_ids: vec![user_id],
            }),
        }
    }
    reactions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_keep_first_use_order_and_count_each_user() {
        let rows = vec![
            ("🎉".to_string(), 3),
            ("👍".to_string(), 1),
            ("🎉".to_string(), 1),
            ("👍".to_string(), 2),
            ("🎉".to_string(), 2),
        ];
        let summary = summarize(rows);
        assert_eq!(
            summary
                .iter()
                .map(|r| (r.emoji.as_str(), r.count, r.user_ids.clone()))
                .collect::<Vec<_>>(),
            vec![("🎉", 3, vec![3, 1, 2]), ("👍", 2, vec![1, 2])]
        );
        assert!(summarize(Vec::new()).is_empty());
    }

    fn target(sender_id: i64, kind: &str, role: &str) -> Target {
        Target {
            conversation_id: 1,
            sender_id,
            is_system: false,
            deleted: false,
            kind: kind.into(),
            role: Some(role.into()),
        }
    }

    #[test]
    fn who_may_change_a_message() {
        let edit = Change::Edit {
            content: "x".into(),
            mentions: Vec::new(),
        };
        let react = Change::React {
            emoji: "👍".into(),
            add: true,
        };
        // The sender edits and deletes its own; another member only reacts.
        assert!(allowed(&target(1, "direct", "member"), 1, &edit).is_ok());
        assert!(allowed(&target(1, "direct", "member"), 1, &Change::Delete).is_ok());
        assert!(matches!(
            allowed(&target(1, "direct", "member"), 2, &edit),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            allowed(&target(1, "direct", "member"), 2, &Change::Delete),
            Err(Refusal::Forbidden(_))
        ));
        assert!(allowed(&target(1, "direct", "member"), 2, &react).is_ok());
        // A group's owner and admins delete others' messages, never edit them.
        for role in ["owner", "admin"] {
            assert!(allowed(&target(1, "group", role), 2, &Change::Delete).is_ok());
            assert!(allowed(&target(1, "group", role), 2, &edit).is_err());
        }
        assert!(allowed(&target(1, "group", "member"), 2, &Change::Delete).is_err());
        // System messages: reactions only.
        let system = Target {
            is_system: true,
            ..target(1, "group", "owner")
        };
        assert!(allowed(&system, 1, &edit).is_err());
        assert!(allowed(&system, 1, &Change::Delete).is_err());
        assert!(allowed(&system, 1, &react).is_ok());
        // A tombstone: nothing.
        let gone = Target {
            deleted: true,
            ..target(1, "direct", "member")
        };
        for change in [edit, Change::Delete, react] {
            assert!(matches!(
                allowed(&gone, 1, &change),
                Err(Refusal::NotFound(_))
            ));
        }
    }
}
