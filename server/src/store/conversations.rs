//! Conversations: the one conversation of a pair, and a user's list of them.

use chat_shared::{
    Conversation, ConversationListItem, LastMessage, Participant, Timestamp, UserRef,
};

use super::markers::Marker;
use super::messages::{MessageRow, message_from};
use super::{Result, Store};

/// A conversation as the list shows it: the caller's side, the other participant's side, and
/// the newest message (all `NULL` when there is none).
#[derive(sqlx::FromRow)]
struct ListRow {
    id: i64,
    unread_count: i64,
    my_name: String,
    my_read: i64,
    my_delivered: i64,
    other_id: i64,
    other_name: String,
    other_read: i64,
    other_delivered: i64,
    last_id: Option<i64>,
    last_sender: Option<i64>,
    last_content: Option<String>,
    last_at: Option<i64>,
    last_is_system: Option<bool>,
}

impl Store {
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

    /// Every conversation of `user`, most recent activity first, with its newest message and
    /// the count of messages from others after `user`'s read marker.
    pub async fn conversations(&self, user: i64) -> Result<Vec<ConversationListItem>> {
        // One row per conversation (each has two participants): the caller's side, the other
        // side, and the newest message, if any.
        let rows: Vec<ListRow> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT c.id, mine.unread_count, me.username AS my_name,
                        mine.last_read_id AS my_read, mine.last_delivered_id AS my_delivered,
                        other.user_id AS other_id, them.username AS other_name,
                        other.last_read_id AS other_read,
                        other.last_delivered_id AS other_delivered,
                        m.id AS last_id, m.sender_id AS last_sender, m.content AS last_content,
                        m.created_at AS last_at, m.is_system AS last_is_system
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
                let markers = [
                    Marker {
                        user_id: user,
                        read: row.my_read,
                        delivered: row.my_delivered,
                    },
                    Marker {
                        user_id: row.other_id,
                        read: row.other_read,
                        delivered: row.other_delivered,
                    },
                ];
                let last = match (
                    row.last_id,
                    row.last_sender,
                    row.last_content,
                    row.last_at,
                    row.last_is_system,
                ) {
                    (Some(message_id), Some(sender), Some(content), Some(at), Some(system)) => {
                        let sender_name = if sender == user {
                            row.my_name.clone()
                        } else {
                            row.other_name.clone()
                        };
                        let message = MessageRow {
                            id: message_id,
                            sender_id: sender,
                            username: sender_name,
                            content,
                            created_at: at,
                            is_system: system,
                        };
                        Some(LastMessage::from(message_from(message, row.id, &markers)))
                    }
                    _ => None,
                };
                let mut participants = vec![
                    Participant {
                        id: user,
                        username: row.my_name,
                    },
                    Participant {
                        id: row.other_id,
                        username: row.other_name,
                    },
                ];
                participants.sort_by_key(|p| p.id);
                let unread_count = row.unread_count.max(0);
                ConversationListItem {
                    id: row.id,
                    participants,
                    last_message: Some(last),
                    unread_count: Some(unread_count),
                    has_unread: Some(unread_count > 0),
                }
            })
            .collect())
    }
}
