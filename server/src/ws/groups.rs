//! The requests groups brought: creating a group and changing its members, roles and title;
//! typing in a conversation; muting one; asking who has read a message. Each checks what it can
//! without the database, asks the store (which applies the membership rules in one
//! transaction), then tells everyone concerned.

use chat_shared::{ClientMsg, Conversation, ServerMsg};

use crate::error::{ChatError, NO_CONVERSATION};
use crate::state::AppState;
use crate::store::{Audience, EventBody, GroupChange, GroupOp};

use super::caller::{Caller, Outcome};
use super::sync::{self, Push};

/// Handles one of the group-changing requests (create, add, remove, rename, set role, leave).
pub async fn change(state: &AppState, s: &Caller, msg: ClientMsg) -> Outcome {
    let max = state.config.max_group_members as usize;
    let (conversation_id, op) = match msg {
        ClientMsg::CreateGroup { title, member_ids } => {
            let users = existing_users(state, &member_ids, max).await?;
            (None, GroupOp::Create { title, users })
        }
        ClientMsg::AddMembers {
            conversation_id,
            user_ids,
        } => {
            if user_ids.is_empty() {
                return Err(ChatError::InvalidField("`user_ids` is empty".into()));
            }
            let users = existing_users(state, &user_ids, max).await?;
            (Some(conversation_id), GroupOp::Add { users })
        }
        ClientMsg::RemoveMember {
            conversation_id,
            user_id,
        } => (Some(conversation_id), GroupOp::Remove { user_id }),
        ClientMsg::RenameGroup {
            conversation_id,
            title,
        } => (Some(conversation_id), GroupOp::Rename { title }),
        ClientMsg::SetRole {
            conversation_id,
            user_id,
            role,
        } => (Some(conversation_id), GroupOp::SetRole { user_id, role }),
        ClientMsg::Leave { conversation_id } => (Some(conversation_id), GroupOp::Leave),
        _ => return Ok(()),
    };
    let change = state
        .store
        .change_group(conversation_id, &s.user, op, max)
        .await??;
    if conversation_id.is_none() {
        let mut conversation = change.conversation.clone();
        conversation.info.muted = Some(false);
        s.conn
            .send(&ServerMsg::ConversationStarted { conversation });
        announce(state, change, Some(s.conn.id)).await?;
    } else if change.events.is_empty() {
        // Nothing changed (members already in, a role already held): the caller still gets
        // the group as it is, so that every request is answered.
        let mut conversation = change.conversation;
        conversation.info.muted = Some(change.muted.contains(&s.user.id));
        s.conn.send(&ServerMsg::ConversationUpdated {
            conversation,
            left: false,
        });
    } else {
        announce(state, change, None).await?;
    }
    Ok(())
}

/// `user` leaves every group they are in, as if they had asked to (an account being deleted):
/// ownership passes on, the members are told. A group the user left meanwhile is skipped.
pub async fn leave_all(state: &AppState, user: &chat_shared::UserRef) -> Result<(), ChatError> {
    let max = state.config.max_group_members as usize;
    for group in state.store.groups_of(user.id).await? {
        if let Ok(change) = state
            .store
            .change_group(Some(group), user, GroupOp::Leave, max)
            .await?
        {
            announce(state, change, None).await?;
        }
    }
    Ok(())
}

/// The accounts `ids` name, each once; `not_found` when one does not exist.
async fn existing_users(
    state: &AppState,
    ids: &[i64],
    max: usize,
) -> Result<Vec<chat_shared::UserRef>, ChatError> {
    // Checked before the database is asked: a group never holds more than `max`.
    if ids.len() > max {
        return Err(ChatError::InvalidField(format!(
            "a group has at most {max} members"
        )));
    }
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let users = state.store.users_by_ids(&distinct).await?;
    if users.len() != distinct.len() {
        return Err(ChatError::NotFound("no such user"));
    }
    // In the order asked (the order members are added and their system messages written).
    Ok(ids
        .iter()
        .filter_map(|id| users.iter().find(|u| u.id == *id).cloned())
        .collect())
}

/// Tells everyone of a change: the members (but the connection `except`) get the group as it is
/// now, each with their own `muted`, then its system messages; those no longer in it get it once
/// with `left: true`, and nothing of the group after that.
async fn announce(
    state: &AppState,
    change: GroupChange,
    except: Option<u64>,
) -> Result<(), ChatError> {
    let GroupChange {
        mut conversation,
        muted,
        gone,
        events,
    } = change;
    let id = conversation.id;
    let members: Vec<i64> = conversation.participants.iter().map(|m| m.id).collect();
    let (quiet, ringing): (Vec<i64>, Vec<i64>) = members.iter().partition(|id| muted.contains(id));
    // One event for every member, replayed with each member's own view.
    let mut live = Vec::new();
    for (ids, muted) in [(ringing, false), (quiet, true)] {
        conversation.info.muted = Some(muted);
        live.push((ids, updated(&conversation, false)));
    }
    let mut pushes = vec![Push {
        audience: Audience::Members(id),
        replay: EventBody::Conversation,
        live,
        except,
    }];
    conversation.info.muted = None;
    for &user_id in &gone {
        let audience = Audience::User {
            user_id,
            about: Some(id),
        };
        pushes.push(Push::frame(
            audience,
            vec![user_id],
            updated(&conversation, true),
        ));
    }
    for message in events {
        pushes.push(Push {
            audience: Audience::Members(id),
            replay: EventBody::Message(message.id),
            live: vec![(members.clone(), ServerMsg::Message { message })],
            except: None,
        });
    }
    sync::push(state, pushes).await
}

fn updated(conversation: &Conversation, left: bool) -> ServerMsg {
    ServerMsg::ConversationUpdated {
        conversation: conversation.clone(),
        left,
    }
}

/// chat.typing with `conversation_id`: relayed to the conversation's other members.
pub async fn typing_in(
    state: &AppState,
    s: &Caller,
    conversation_id: i64,
    is_typing: bool,
) -> Outcome {
    let members = state.store.member_ids(conversation_id).await?;
    if !members.contains(&s.user.id) {
        return Err(NO_CONVERSATION);
    }
    let others: Vec<i64> = members.into_iter().filter(|&id| id != s.user.id).collect();
    let frame = ServerMsg::Typing {
        sender_id: s.user.id,
        conversation_id: Some(conversation_id),
        is_typing,
    };
    state.fanout.deliver(&others, &frame, None);
    Ok(())
}

/// chat.mute: the caller's connections get the conversation with its new `muted`.
pub async fn mute(state: &AppState, s: &Caller, conversation_id: i64, muted: bool) -> Outcome {
    if !state
        .store
        .set_muted(conversation_id, s.user.id, muted)
        .await?
    {
        return Err(NO_CONVERSATION);
    }
    let conversation = state
        .store
        .conversation(conversation_id, s.user.id)
        .await?
        .ok_or(NO_CONVERSATION)?;
    let push = Push {
        audience: Audience::User {
            user_id: s.user.id,
            about: Some(conversation_id),
        },
        replay: EventBody::Conversation,
        live: vec![(vec![s.user.id], updated(&conversation, false))],
        except: None,
    };
    sync::push(state, vec![push]).await
}

/// chat.get_receipts: who has read and who has received a message, from the markers.
pub async fn receipts(state: &AppState, s: &Caller, message_id: i64) -> Outcome {
    let receipts = state
        .store
        .receipts(message_id, s.user.id)
        .await?
        .ok_or(ChatError::NotFound("no such message"))?;
    s.conn.send(&ServerMsg::Receipts {
        message_id,
        read_by: receipts.read_by,
        delivered_to: receipts.delivered_to,
    });
    Ok(())
}
