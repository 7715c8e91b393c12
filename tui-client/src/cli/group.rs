//! `chat group create/add/remove/rename/leave`: one request about a group and the server's
//! answer, the group as it is afterwards.

use std::time::Duration;

use anyhow::anyhow;
use chat_shared::{ClientMsg, Conversation, GroupInfo, ServerMsg};

use super::connection::Connection;
use super::{Context, GroupCommand, print_json};
use crate::text::sanitize;

/// Runs one `chat group` subcommand.
pub async fn run(ctx: &Context, command: GroupCommand, timeout_ms: u64) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let (conversation, left) = match command {
        GroupCommand::Create { title, members } => {
            (create(&mut conn, &title.join(" "), &members).await?, false)
        }
        GroupCommand::Add { group, users } => {
            let id = conn.find_group(&group).await?.id;
            let mut user_ids = Vec::with_capacity(users.len());
            for name in &users {
                user_ids.push(conn.find_user(name).await?.id);
            }
            let request = ClientMsg::AddMembers {
                conversation_id: id,
                user_ids: user_ids.clone(),
            };
            updated(&mut conn, &request, id, |group, _| {
                user_ids
                    .iter()
                    .all(|u| group.participants.iter().any(|m| m.id == *u))
            })
            .await?
        }
        GroupCommand::Remove { group, user } => {
            let item = conn.find_group(&group).await?;
            let wanted = user.to_lowercase();
            let member = item
                .participants
                .iter()
                .find(|p| p.username.to_lowercase() == wanted)
                .ok_or_else(|| {
                    anyhow!(
                        "no member named {} in #{} \u{201c}{}\u{201d}",
                        sanitize(&user),
                        item.id,
                        sanitize(item.info.title().unwrap_or_default())
                    )
                })?;
            let gone = member.id;
            let request = ClientMsg::RemoveMember {
                conversation_id: item.id,
                user_id: gone,
            };
            // Removing oneself is leaving: then the answer is the one with `left: true`.
            let myself = gone == conn.me.user_id;
            updated(&mut conn, &request, item.id, |group, left| {
                left == myself && group.participants.iter().all(|m| m.id != gone)
            })
            .await?
        }
        GroupCommand::Rename { group, title } => {
            let id = conn.find_group(&group).await?.id;
            let title = title.join(" ");
            let stored = title.trim().to_owned();
            let request = ClientMsg::RenameGroup {
                conversation_id: id,
                title,
            };
            updated(&mut conn, &request, id, |group, _| {
                group.info.title() == Some(&stored)
            })
            .await?
        }
        GroupCommand::Leave { group } => {
            let id = conn.find_group(&group).await?.id;
            let request = ClientMsg::Leave {
                conversation_id: id,
            };
            updated(&mut conn, &request, id, |_, left| left).await?
        }
    };
    conn.socket.close().await;
    if ctx.json {
        return print_json(&conversation);
    }
    if left {
        println!("left {}", group_name(conversation.id, &conversation.info));
    } else {
        println!("{}", group_line(&conversation));
    }
    Ok(())
}

/// `chat.create_group` with the members named; the answer is `chat.conversation_started`.
async fn create(
    conn: &mut Connection,
    title: &str,
    members: &[String],
) -> anyhow::Result<Conversation> {
    let mut member_ids = Vec::with_capacity(members.len());
    for name in members.iter().filter(|n| !n.trim().is_empty()) {
        member_ids.push(conn.find_user(name.trim()).await?.id);
    }
    let stored = title.trim().to_owned();
    let request = ClientMsg::CreateGroup {
        title: title.to_owned(),
        member_ids,
    };
    conn.ask(&request, |frame| match frame {
        ServerMsg::ConversationStarted { conversation }
            if conversation.info.is_group() && conversation.info.title() == Some(&stored) =>
        {
            Some(conversation)
        }
        _ => None,
    })
    .await
}

/// Sends a request about group `id` and waits for the `chat.conversation_updated` of it that
/// `answers` accepts (given the group and its `left`): other members may change the group
/// meanwhile, so the first update need not be ours.
async fn updated(
    conn: &mut Connection,
    request: &ClientMsg,
    id: i64,
    answers: impl Fn(&Conversation, bool) -> bool,
) -> anyhow::Result<(Conversation, bool)> {
    conn.ask(request, |frame| match frame {
        ServerMsg::ConversationUpdated { conversation, left }
            if conversation.id == id && answers(&conversation, left) =>
        {
            Some((conversation, left))
        }
        _ => None,
    })
    .await
}

/// `#5 “Deploys”`.
pub(super) fn group_name(id: i64, info: &GroupInfo) -> String {
    format!(
        "#{id} \u{201c}{}\u{201d}",
        sanitize(info.title().unwrap_or_default())
    )
}

/// `#5 “Deploys” (3 members: alice (owner), bob (admin), carol)`.
pub(super) fn group_line(conversation: &Conversation) -> String {
    let members: Vec<String> = conversation
        .participants
        .iter()
        .map(|m| match m.role {
            Some(role) if role != chat_shared::Role::Member => {
                format!("{} ({})", sanitize(&m.username), role.as_str())
            }
            _ => sanitize(&m.username),
        })
        .collect();
    let count = conversation
        .info
        .member_count
        .unwrap_or(members.len() as i64);
    let noun = if count == 1 { "member" } else { "members" };
    format!(
        "{} ({count} {noun}: {})",
        group_name(conversation.id, &conversation.info),
        members.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use chat_shared::{Member, Role};

    use super::*;
    use crate::cli::fixtures::group_info;

    #[test]
    fn a_group_reads_as_its_title_count_and_members_with_their_roles() {
        let member = |id, name: &str, role| Member {
            id,
            username: name.into(),
            role: Some(role),
        };
        let conversation = Conversation {
            id: 5,
            participants: vec![
                member(1, "alice", Role::Owner),
                member(2, "bob", Role::Admin),
                member(3, "car\u{1b}[2Jol", Role::Member),
            ],
            info: group_info("Deploys", 3),
        };
        assert_eq!(
            group_line(&conversation),
            "#5 \u{201c}Deploys\u{201d} (3 members: alice (owner), bob (admin), car\u{FFFD}[2Jol)"
        );
        assert_eq!(
            group_name(conversation.id, &conversation.info),
            "#5 \u{201c}Deploys\u{201d}"
        );
    }
}
