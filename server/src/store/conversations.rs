//! Conversations: the one conversation of a pair, and a user's list of them (pairs and groups).

use std::collections::HashMap;

use chat_shared::{
    ConversationKind, ConversationListItem, GroupInfo, LastMessage, Participant, Timestamp, UserRef,
};

use super::groups::{kind_named, role_named};
use super::markers::Marker;
use super::messages::{MessageRow, message_from};
use super::{Result, Store};

use chat_shared::{Conversation, Member};

/// A direct conversation's additions in `chat.conversation_started` and `chat.conversations`:
/// none, so that its frames are byte for byte what they were before groups, but `muted` when
/// the caller muted it (a client that never mutes never sees it).
fn direct_info(muted: bool) -> GroupInfo {
    GroupInfo {
        muted: muted.then_some(true),
        ..GroupInfo::default()
    }
}

/// A conversation as the list shows it: its shape, the caller's side and the newest message
/// (all `NULL` when there is none).
#[derive(sqlx::FromRow)]
struct ListRow {
    id: i64,
    kind: String,
    title: Option<String>,
    unread_count: i64,
    muted: bool,
    last_id: Option<i64>,
    last_sender: Option<i64>,
    last_sender_name: Option<String>,
    last_content: Option<String>,
    last_at: Option<i64>,
    last_is_system: Option<bool>,
    last_event: Option<String>,
    last_mentions: Option<String>,
    last_edited_at: Option<i64>,
    last_deleted: Option<bool>,
    last_reactions: Option<String>,
    last_reply_id: Option<i64>,
    last_reply_sender_id: Option<i64>,
    last_reply_username: Option<String>,
    last_reply_excerpt: Option<String>,
    last_reply_deleted: Option<bool>,
}

/// A participant of one of the caller's conversations, with their markers.
#[derive(sqlx::FromRow)]
struct ParticipantRow {
    conversation_id: i64,
    user_id: i64,
    username: String,
    role: String,
    last_read_id: i64,
    last_delivered_id: i64,
    last_seen: Option<i64>,
    presence_hidden: bool,
    online: bool,
}

impl Store {
    /// The direct conversation of the two users, if they have one.
    pub async fn direct_conversation(&self, a: i64, b: i64) -> Result<Option<i64>> {
        let (low, high) = (a.min(b), a.max(b));
        Ok(on!(self, read pool => {
            sqlx::query_scalar("SELECT id FROM conversations WHERE user_low = $1 AND user_high = $2")
                .bind(low)
                .bind(high)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The one conversation of the pair, created when missing, as `me` sees it. The unique pair
    /// key, not a prior lookup, keeps it one when both people ask at once.
    pub async fn find_or_create_conversation(
        &self,
        me: &UserRef,
        other: &UserRef,
    ) -> Result<Conversation> {
        let (low, high) = (me.id.min(other.id), me.id.max(other.id));
        let now = Timestamp::now().0;
        let (id, muted): (i64, bool) = transaction!(self, tx => {
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
                "INSERT INTO participants (conversation_id, user_id, joined_at)
                 VALUES ($1, $2, $4), ($1, $3, $4)
                 ON CONFLICT (conversation_id, user_id) DO NOTHING",
            )
            .bind(id)
            .bind(low)
            .bind(high)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let muted: bool = sqlx::query_scalar(
                "SELECT muted FROM participants WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(me.id)
            .fetch_one(&mut *tx)
            .await?;
            (id, muted)
        });
        let mut participants: Vec<Member> = [me, other]
            .map(|user| Member {
                id: user.id,
                username: user.username.clone(),
                role: None,
            })
            .into();
        participants.sort_by_key(|m| m.id);
        Ok(Conversation {
            id,
            participants,
            info: direct_info(muted),
        })
    }

    /// Every conversation of `user`, most recent activity first, with its participants, its
    /// newest message and the count of messages from others after `user`'s read marker.
    ///
    /// A pair's count is kept in the caller's participant row by the writer; a group's is
    /// counted here (so that a message to a large group updates one row, not one per member),
    /// system messages left out.
    pub async fn conversations(&self, user: i64) -> Result<Vec<ConversationListItem>> {
        let (rows, participants, group_unread): (
            Vec<ListRow>,
            Vec<ParticipantRow>,
            Vec<(i64, i64)>,
        ) = on!(self, read pool => {
            let rows = sqlx::query_as(
                "SELECT c.id, c.kind, c.title, mine.unread_count, mine.muted,
                        m.id AS last_id, m.sender_id AS last_sender,
                        sender.username AS last_sender_name, m.content AS last_content,
                        m.created_at AS last_at, m.is_system AS last_is_system,
                        m.event AS last_event, m.mentions AS last_mentions,
                        m.edited_at AS last_edited_at, m.deleted AS last_deleted,
                        m.reactions AS last_reactions, r.id AS last_reply_id,
                        r.sender_id AS last_reply_sender_id,
                        ru.username AS last_reply_username,
                        SUBSTR(r.content, 1, 100) AS last_reply_excerpt,
                        r.deleted AS last_reply_deleted
                 FROM participants mine
                 JOIN conversations c ON c.id = mine.conversation_id
                 LEFT JOIN messages m ON m.id = c.last_message_id
                 LEFT JOIN users sender ON sender.id = m.sender_id
                 LEFT JOIN messages r ON r.id = m.reply_to_id
                 LEFT JOIN users ru ON ru.id = r.sender_id
                 WHERE mine.user_id = $1
                 ORDER BY c.last_activity_at DESC, c.id DESC",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            let participants = sqlx::query_as(
                "SELECT p.conversation_id, p.user_id, u.username, p.role,
                        p.last_read_id, p.last_delivered_id, u.last_seen, u.presence_hidden,
                        EXISTS (SELECT 1 FROM presence pr WHERE pr.user_id = p.user_id) AS online
                 FROM participants mine
                 JOIN participants p ON p.conversation_id = mine.conversation_id
                 JOIN users u ON u.id = p.user_id
                 WHERE mine.user_id = $1
                 ORDER BY p.conversation_id, p.user_id",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            let group_unread = sqlx::query_as(
                "SELECT m.conversation_id, COUNT(*)
                 FROM participants mine
                 JOIN conversations c ON c.id = mine.conversation_id AND c.kind = 'group'
                 JOIN messages m ON m.conversation_id = mine.conversation_id
                                AND m.id > mine.last_read_id
                 WHERE mine.user_id = $1 AND m.sender_id <> $1 AND NOT m.is_system
                   AND NOT m.deleted
                 GROUP BY m.conversation_id",
            )
            .bind(user)
            .fetch_all(pool)
            .await?;
            (rows, participants, group_unread)
        });
        let group_unread: HashMap<i64, i64> = group_unread.into_iter().collect();
        let mut by_conversation: HashMap<i64, Vec<ParticipantRow>> = HashMap::new();
        for p in participants {
            by_conversation
                .entry(p.conversation_id)
                .or_default()
                .push(p);
        }
        rows.into_iter()
            .map(|row| {
                let members = by_conversation.remove(&row.id).unwrap_or_default();
                let kind = kind_named(&row.kind)?;
                let markers: Vec<Marker> = members
                    .iter()
                    .map(|p| Marker {
                        user_id: p.user_id,
                        read: p.last_read_id,
                        delivered: p.last_delivered_id,
                    })
                    .collect();
                let last = match (
                    row.last_id,
                    row.last_sender,
                    row.last_sender_name,
                    row.last_content,
                    row.last_at,
                    row.last_is_system,
                ) {
                    (
                        Some(id),
                        Some(sender_id),
                        Some(username),
                        Some(content),
                        Some(created_at),
                        Some(is_system),
                    ) => {
                        let message = MessageRow {
                            id,
                            sender_id,
                            username,
                            content,
                            created_at,
                            is_system,
                            event: row.last_event,
                            mentions: row.last_mentions,
                            edited_at: row.last_edited_at,
                            deleted: row.last_deleted.unwrap_or(false),
                            reactions: row.last_reactions,
                            reply_id: row.last_reply_id,
                            reply_sender_id: row.last_reply_sender_id,
                            reply_username: row.last_reply_username,
                            reply_excerpt: row.last_reply_excerpt,
                            reply_deleted: row.last_reply_deleted,
                        };
                        Some(LastMessage::from(message_from(message, row.id, &markers)?))
                    }
                    _ => None,
                };
                let unread_count = match kind {
                    ConversationKind::Direct => row.unread_count.max(0),
                    ConversationKind::Group => group_unread.get(&row.id).copied().unwrap_or(0),
                };
                let member_count = members.len() as i64;
                let group = kind == ConversationKind::Group;
                let participants = members
                    .into_iter()
                    .map(|p| {
                        // Presence, unless they hide it from others.
                        let shown = !p.presence_hidden || p.user_id == user;
                        Ok(Participant {
                            id: p.user_id,
                            username: p.username,
                            role: if group {
                                Some(role_named(&p.role)?)
                            } else {
                                None
                            },
                            online: shown.then_some(p.online),
                            last_seen: p.last_seen.filter(|_| shown).map(Timestamp),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let info = if group {
                    GroupInfo {
                        kind: Some(kind),
                        title: Some(row.title),
                        member_count: Some(member_count),
                        muted: Some(row.muted),
                    }
                } else {
                    direct_info(row.muted)
                };
                Ok(ConversationListItem {
                    id: row.id,
                    participants,
                    last_message: Some(last),
                    unread_count: Some(unread_count),
                    has_unread: Some(unread_count > 0),
                    info,
                })
            })
            .collect()
    }
}
