//! Groups: creating one and changing its members, roles and title (the rules are
//! [`super::membership`]'s; this file reads the group and writes what they decide), muting a
//! conversation, a conversation as one member sees it, and who has read or received a message.

use std::collections::HashSet;

use chat_shared::{
    ChatMessage, Conversation, ConversationKind, GroupInfo, Member, Role, Timestamp, UserRef,
};

use super::membership::{self, GroupOp, MemberRow, Refusal};
use super::{Result, Store, StoreError};

/// What a group change did: the group as it is now (`muted` left out: it is each member's own),
/// who muted it, who is no longer in it, and the system messages it stored, oldest first.
#[derive(Debug)]
pub struct GroupChange {
    pub conversation: Conversation,
    pub muted: HashSet<i64>,
    pub gone: Vec<i64>,
    pub events: Vec<ChatMessage>,
}

/// Who has read and who has received a message, its sender left out.
#[derive(Debug, Default)]
pub struct Receipts {
    pub read_by: Vec<UserRef>,
    pub delivered_to: Vec<UserRef>,
}

/// A member row as read from the database.
#[derive(sqlx::FromRow)]
struct MemberDbRow {
    user_id: i64,
    username: String,
    role: String,
    muted: bool,
}

impl MemberDbRow {
    fn into_member(self) -> Result<MemberRow> {
        Ok(MemberRow {
            role: role_named(&self.role)?,
            user: UserRef {
                id: self.user_id,
                username: self.username,
            },
            muted: self.muted,
        })
    }
}

pub(super) fn role_named(name: &str) -> Result<Role> {
    Role::from_name(name).ok_or_else(|| StoreError::Inconsistent(format!("a role named {name:?}")))
}

pub(super) fn kind_named(name: &str) -> Result<ConversationKind> {
    match name {
        "direct" => Ok(ConversationKind::Direct),
        "group" => Ok(ConversationKind::Group),
        other => Err(StoreError::Inconsistent(format!(
            "a conversation kind {other:?}"
        ))),
    }
}

/// The statement that reads a conversation's members, in the order they joined.
const MEMBERS: &str = "SELECT p.user_id, u.username, p.role, p.muted
                       FROM participants p JOIN users u ON u.id = p.user_id
                       WHERE p.conversation_id = $1 ORDER BY p.joined_at, p.user_id";

/// A conversation object from its members: the participants sorted by id (as the protocol has
/// them), with `muted` left for the caller to fill in.
pub(super) fn conversation_of(
    id: i64,
    kind: ConversationKind,
    title: Option<String>,
    members: &[MemberRow],
) -> Conversation {
    let mut participants: Vec<Member> = members
        .iter()
        .map(|m| Member {
            id: m.user.id,
            username: m.user.username.clone(),
            role: Some(m.role),
        })
        .collect();
    participants.sort_by_key(|m| m.id);
    Conversation {
        id,
        participants,
        info: GroupInfo {
            kind: Some(kind),
            title: Some(title),
            member_count: Some(members.len() as i64),
            muted: None,
        },
    }
}

impl Store {
    /// The accounts among `ids` (each once, in no particular order), deleted ones left out.
    pub async fn users_by_ids(&self, ids: &[i64]) -> Result<Vec<UserRef>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String)> = on!(self, read pool => {
            let mut select = sqlx::QueryBuilder::new("SELECT id, username FROM users WHERE deleted_at IS NULL AND id IN (");
            let mut list = select.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            select.push(")");
            select.build_query_as().persistent(false).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserRef { id, username })
            .collect())
    }

    /// The groups `user_id` is a member of, oldest first.
    pub async fn groups_of(&self, user_id: i64) -> Result<Vec<i64>> {
        Ok(on!(self, read pool => {
            sqlx::query_scalar(
                "SELECT p.conversation_id FROM participants p
                 JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.user_id = $1 AND c.kind = 'group'
                 ORDER BY p.conversation_id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Applies `op` by `by` to the group `conversation_id` (`None` to create one), with at most
    /// `max_members` members afterwards. One transaction: the group's row is locked first, so
    /// changes to one group happen one after the other and each sees the one before.
    pub async fn change_group(
        &self,
        conversation_id: Option<i64>,
        by: &UserRef,
        op: GroupOp,
        max_members: usize,
    ) -> Result<std::result::Result<GroupChange, Refusal>> {
        let now = Timestamp::now();
        let changed = transaction!(self, tx => {
            let (existing, members, title) = match conversation_id {
                None => (None, Vec::new(), String::new()),
                Some(id) => {
                    sqlx::query("UPDATE conversations SET kind = kind WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let found: Option<(String, Option<String>)> =
                        sqlx::query_as("SELECT kind, title FROM conversations WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let rows: Vec<MemberDbRow> = sqlx::query_as(MEMBERS)
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let members = rows
                        .into_iter()
                        .map(MemberDbRow::into_member)
                        .collect::<Result<Vec<_>>>()?;
                    match found {
                        Some((kind, title))
                            if kind_named(&kind)? == ConversationKind::Group =>
                        {
                            (Some(id), members, title.unwrap_or_default())
                        }
                        // A refusal returns before the commit: nothing is kept.
                        Some(_) if members.iter().any(|m| m.user.id == by.id) => {
                            return Ok(Err(Refusal::Invalid(
                                "that conversation is not a group".into(),
                            )));
                        }
                        _ => return Ok(Err(Refusal::NotFound("no such conversation"))),
                    }
                }
            };
            let plan = match membership::plan(op, by, &members, max_members) {
                Ok(plan) => plan,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let id = match existing {
                Some(id) => id,
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO conversations (created_at, last_activity_at, kind, title)
                         VALUES ($1, $1, 'group', $2) RETURNING id",
                    )
                    .bind(now.0)
                    .bind(plan.title.as_deref())
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            if !plan.delete.is_empty() {
                let mut delete = sqlx::QueryBuilder::new(
                    "DELETE FROM participants WHERE conversation_id = ",
                );
                delete.push_bind(id).push(" AND user_id IN (");
                let mut list = delete.separated(", ");
                for user_id in &plan.delete {
                    list.push_bind(*user_id);
                }
                delete.push(")");
                delete.build().persistent(false).execute(&mut *tx).await?;
            }
            for (user_id, role) in &plan.roles {
                sqlx::query(
                    "UPDATE participants SET role = $1 WHERE conversation_id = $2 AND user_id = $3",
                )
                .bind(role.as_str())
                .bind(id)
                .bind(*user_id)
                .execute(&mut *tx)
                .await?;
            }
            if let (Some(title), Some(_)) = (&plan.title, existing) {
                sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                    .bind(title)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if !plan.insert.is_empty() {
                // Newcomers start with what was said before them read: the whole history is
                // theirs to scroll, not theirs to owe.
                let newest: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(last_message_id, 0) FROM conversations WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO participants
                       (conversation_id, user_id, role, joined_at, last_read_id, last_delivered_id) ",
                );
                insert.push_values(&plan.insert, |mut row, (user, role)| {
                    row.push_bind(id)
                        .push_bind(user.id)
                        .push_bind(role.as_str())
                        .push_bind(now.0)
                        .push_bind(newest)
                        .push_bind(newest);
                });
                insert.build().persistent(false).execute(&mut *tx).await?;
            }
            let mut ids: Vec<i64> = Vec::new();
            if !plan.events.is_empty() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO messages
                       (conversation_id, sender_id, content, created_at, is_system, event) ",
                );
                let mut encoded = Vec::with_capacity(plan.events.len());
                for (event, _) in &plan.events {
                    encoded.push(serde_json::to_string(event).map_err(|e| {
                        StoreError::Inconsistent(format!("an event's JSON: {e}"))
                    })?);
                }
                insert.push_values(plan.events.iter().zip(&encoded), |mut row, ((_, content), json)| {
                    row.push_bind(id)
                        .push_bind(by.id)
                        .push_bind(content.as_str())
                        .push_bind(now.0)
                        .push_bind(true)
                        .push_bind(json.as_str());
                });
                insert.push(" RETURNING id");
                ids = insert
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                // One multi-row VALUES insert numbers its rows in order.
                ids.sort_unstable();
                sqlx::query(
                    "UPDATE conversations SET last_message_id = $1, last_activity_at = $2
                     WHERE id = $3",
                )
                .bind(ids.last().copied())
                .bind(now.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Ok((id, title, members, plan, ids))
        });
        let (id, title, members, plan, ids) = match changed {
            Ok(done) => done,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let after = plan.apply(&members);
        let title = plan.title.clone().unwrap_or(title);
        let events = plan
            .events
            .into_iter()
            .zip(ids)
            .map(|((event, content), message_id)| ChatMessage {
                is_system: true,
                event: Some(event),
                ..ChatMessage::new(message_id, id, by.clone(), content, now)
            })
            .collect();
        Ok(Ok(GroupChange {
            conversation: conversation_of(id, ConversationKind::Group, Some(title), &after),
            muted: after
                .iter()
                .filter(|m| m.muted)
                .map(|m| m.user.id)
                .collect(),
            gone: plan.delete,
            events,
        }))
    }

    /// A conversation as `viewer` sees it (their `muted`); `None` when they are not in it.
    pub async fn conversation(
        &self,
        conversation_id: i64,
        viewer: i64,
    ) -> Result<Option<Conversation>> {
        let (found, rows): (Option<(String, Option<String>)>, Vec<MemberDbRow>) = on!(self, read pool => {
            let found = sqlx::query_as("SELECT kind, title FROM conversations WHERE id = $1")
                .bind(conversation_id)
                .fetch_optional(pool)
                .await?;
            let rows = sqlx::query_as(MEMBERS).bind(conversation_id).fetch_all(pool).await?;
            (found, rows)
        });
        let members = rows
            .into_iter()
            .map(MemberDbRow::into_member)
            .collect::<Result<Vec<_>>>()?;
        let (Some((kind, title)), Some(me)) = (found, members.iter().find(|m| m.user.id == viewer))
        else {
            return Ok(None);
        };
        let muted = me.muted;
        let mut conversation =
            conversation_of(conversation_id, kind_named(&kind)?, title, &members);
        conversation.info.muted = Some(muted);
        Ok(Some(conversation))
    }

    /// Sets whether `user` muted the conversation; `false` when they are not in it.
    pub async fn set_muted(&self, conversation_id: i64, user: i64, muted: bool) -> Result<bool> {
        let changed = transaction!(self, tx => {
            sqlx::query("UPDATE participants SET muted = $1 WHERE conversation_id = $2 AND user_id = $3")
                .bind(muted)
                .bind(conversation_id)
                .bind(user)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Who has read and received `message_id`, for `viewer` (a member of its conversation);
    /// `None` when there is no such message in a conversation of theirs.
    pub async fn receipts(&self, message_id: i64, viewer: i64) -> Result<Option<Receipts>> {
        let rows: Vec<(i64, String, i64, i64, i64)> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT p.user_id, u.username, p.last_read_id, p.last_delivered_id, m.sender_id
                 FROM messages m
                 JOIN participants me ON me.conversation_id = m.conversation_id AND me.user_id = $2
                 JOIN participants p ON p.conversation_id = m.conversation_id
                 JOIN users u ON u.id = p.user_id
                 WHERE m.id = $1 ORDER BY p.user_id",
            )
            .bind(message_id)
            .bind(viewer)
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            return Ok(None);
        }
        let mut receipts = Receipts::default();
        for (user_id, username, read, delivered, sender) in rows {
            if user_id == sender {
                continue;
            }
            let user = UserRef {
                id: user_id,
                username,
            };
            if read.max(delivered) >= message_id {
                receipts.delivered_to.push(user.clone());
            }
            if read >= message_id {
                receipts.read_by.push(user);
            }
        }
        Ok(Some(receipts))
    }
}
