//! `chat send`, `conversations` and `pipe`: one socket, one request at a time.

use std::time::Duration;

use anyhow::{Context as _, bail};
use chat_shared::{ClientMsg, ConversationListItem, ServerMsg, client_id_problem};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::connection::{Connection, Dropped, Refused, closed_message};
use super::input::within_limit;
use super::message::message_line;
use super::socket::Incoming;
use super::{Context, print_json};
use crate::renewal::Renewed;
use crate::session;
use crate::text::sanitize;

/// The longest line `chat pipe` accepts from standard input.
const MAX_PIPE_LINE: usize = 1 << 20;

/// Whom a message or a history is with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The direct conversation with this user (by username).
    User(String),
    /// A group of ours, by title or id.
    Group(String),
}

/// The other participant's name in a conversation list item (or a list of everyone).
fn partner_name(item: &ConversationListItem, my_id: i64) -> String {
    let others: Vec<&str> = item
        .participants
        .iter()
        .filter(|p| p.id != my_id)
        .map(|p| p.username.as_str())
        .collect();
    if others.is_empty() {
        "(only you)".to_owned()
    } else {
        sanitize(&others.join(", "))
    }
}

/// How a conversation is named in text: `with bob` for a direct one, `“Deploys” (3 members)`
/// for a group.
pub(super) fn conversation_name(item: &ConversationListItem, my_id: i64) -> String {
    if !item.info.is_group() {
        return format!("with {}", partner_name(item, my_id));
    }
    let count = item
        .info
        .member_count
        .unwrap_or(item.participants.len() as i64);
    let members = if count == 1 { "member" } else { "members" };
    format!(
        "\u{201c}{}\u{201d} ({count} {members})",
        sanitize(item.info.title().unwrap_or_default())
    )
}

/// The id of the conversation with `target`: a direct one is opened (or started) with
/// `chat.start_conversation`; a group must be one of ours.
pub(super) async fn open_conversation(
    conn: &mut Connection,
    target: &Target,
) -> anyhow::Result<i64> {
    match target {
        Target::Group(group) => Ok(conn.find_group(group).await?.id),
        Target::User(name) => {
            let user = conn.find_user(name).await?;
            let request = ClientMsg::StartConversation {
                receiver_id: user.id,
            };
            conn.ask(&request, |frame| match frame {
                ServerMsg::ConversationStarted { conversation }
                    if conversation.participants.iter().any(|p| p.id == user.id) =>
                {
                    Some(conversation.id)
                }
                _ => None,
            })
            .await
        }
    }
}

/// What `chat send` sends besides its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub text: String,
    /// The message of the same conversation this one answers.
    pub reply_to: Option<i64>,
    /// The script's own id for this send; `None`: one is made up (see [`new_client_id`]).
    pub client_id: Option<String>,
}

/// `chat send --to USER TEXT` or `chat send --group GROUP TEXT`, with `--reply-to` and
/// `--client-id`. Text longer than the server's limit (asked with `chat.hello`) is refused
/// before anything is sent.
///
/// The message always carries a `client_id`, so that sending it again cannot store it twice:
/// when the connection drops before the server's echo, `send` connects once more and sends the
/// same frame; the server answers a `client_id` it has seen with the message first stored.
pub async fn send(
    ctx: &Context,
    target: &Target,
    draft: Draft,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    if draft.text.trim().is_empty() {
        bail!("the message is empty");
    }
    if let Some(problem) = draft.client_id.as_deref().and_then(client_id_problem) {
        bail!("{problem} (--client-id)");
    }
    let wait = Duration::from_millis(timeout_ms);
    let mut conn = Connection::open(ctx, wait).await?;
    if let Some(limits) = conn.limits().await? {
        within_limit(&draft.text, limits.max_message_chars)?;
    }
    let conversation_id = open_conversation(&mut conn, target).await?;
    let client_id = draft.client_id.unwrap_or_else(new_client_id);
    let request = ClientMsg::Message {
        conversation_id,
        content: draft.text.clone(),
        reply_to: draft.reply_to,
        client_id: Some(client_id.clone()),
    };
    let my_id = conn.me.user_id;
    // The echo with our client id is the server's acknowledgement: of this send, or, when the
    // id was used before, of the message first stored with it (which may be another one).
    let echo = |frame| match frame {
        ServerMsg::Message { message }
            if message.sender.id == my_id
                && message.client_id.as_deref() == Some(client_id.as_str()) =>
        {
            Some(message)
        }
        _ => None,
    };
    let message = match conn.ask(&request, echo).await {
        Err(e) if e.is::<Dropped>() => {
            conn = Connection::open(ctx, wait)
                .await
                .with_context(|| unconfirmed(&client_id))?;
            conn.ask(&request, echo)
                .await
                .with_context(|| unconfirmed(&client_id))?
        }
        Err(e) if e.is::<Refused>() => return Err(e),
        Err(e) => return Err(e.context(unconfirmed(&client_id))),
        Ok(message) => message,
    };
    conn.socket.close().await;
    // The server stores content as sent: another text (or conversation) is an earlier message.
    if message.conversation_id != conversation_id || message.content != draft.text {
        eprintln!(
            "chat: note: client id {} was used before, for #{} in conversation #{}; nothing new \
             was stored, the message shown is that one",
            sanitize(&client_id),
            message.id,
            message.conversation_id
        );
    }
    if ctx.json {
        print_json(&message)
    } else {
        println!("{}", message_line(&message));
        Ok(())
    }
}

/// Says how to send a message again without storing it twice, when we cannot tell whether it
/// was stored.
fn unconfirmed(client_id: &str) -> String {
    format!(
        "the server did not confirm the message, which may be stored or not; the same command \
         with --client-id {} sends it without storing it twice",
        sanitize(client_id)
    )
}

/// A client id for one `chat send`: `cli-` and hex digits from the clock and the standard
/// library's randomly seeded hasher (ids need only differ among one sender's sends).
pub(super) fn new_client_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("cli-{nanos:x}-{:016x}", hasher.finish())
}

/// `chat conversations`.
pub async fn conversations(ctx: &Context, timeout_ms: u64) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let list = conn.conversations().await?;
    conn.socket.close().await;
    if ctx.json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("no conversations yet");
    }
    for item in &list {
        println!("{}", list_line(item, conn.me.user_id));
    }
    Ok(())
}

/// `chat unread`: the total on the first line, then `N #id name` for each conversation with
/// unread messages, most recent first; from one `chat.get_conversations`.
pub async fn unread(ctx: &Context, timeout_ms: u64) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let list = conn.conversations().await?;
    conn.socket.close().await;
    let my_id = conn.me.user_id;
    let unread: Vec<(&ConversationListItem, i64)> = list
        .iter()
        .filter_map(|item| item.unread_count.filter(|&n| n > 0).map(|n| (item, n)))
        .collect();
    let total: i64 = unread.iter().map(|(_, n)| n).sum();
    // Muted direct conversations read as any other, as in `chat conversations`.
    let muted = |item: &ConversationListItem| item.info.is_group() && item.info.muted == Some(true);
    if ctx.json {
        let each: Vec<_> = unread
            .iter()
            .map(|(item, n)| {
                json!({
                    "id": item.id,
                    "name": conversation_name(item, my_id),
                    "unread": n,
                    "muted": muted(item),
                })
            })
            .collect();
        return print_json(&json!({ "total": total, "conversations": each }));
    }
    println!("{total}");
    for (item, n) in unread {
        let tag = if muted(item) { " (muted)" } else { "" };
        println!("{n} #{} {}{tag}", item.id, conversation_name(item, my_id));
    }
    Ok(())
}

/// One line of `chat conversations`: `#3 with bob [2 unread]: bob: see you`, or for a group
/// `#5 “Deploys” (3 members) [1 unread] (muted): alice: hi`.
fn list_line(item: &ConversationListItem, my_id: i64) -> String {
    let unread = match item.unread_count {
        Some(n) if n > 0 => format!(" [{n} unread]"),
        _ => String::new(),
    };
    // Direct conversations read as they did before groups, muted or not.
    let muted = if item.info.is_group() && item.info.muted == Some(true) {
        " (muted)"
    } else {
        ""
    };
    let last = match &item.last_message {
        Some(Some(last)) if last.message.is_system => format!(
            ": * {}",
            sanitize(last.message.content.lines().next().unwrap_or_default())
        ),
        Some(Some(last)) if last.message.is_deleted() => {
            format!(": {} (message deleted)", sanitize(&last.sender_username))
        }
        Some(Some(last)) => format!(
            ": {}: {}",
            sanitize(&last.sender_username),
            sanitize(last.message.content.lines().next().unwrap_or_default())
        ),
        _ => String::new(),
    };
    format!(
        "#{} {}{unread}{muted}{last}",
        item.id,
        conversation_name(item, my_id)
    )
}

/// `chat pipe`: standard input lines out as frames, server frames in as lines.
///
/// Lines are sent as they are (invalid JSON included: that is for poking at error handling);
/// blank lines are skipped. Server frames that are JSON are printed compactly on one line.
/// The socket's token is renewed in band as it goes ([`crate::renewal`]; those `chat.auth`
/// frames and their answers are not printed); a session ended elsewhere ends the pipe with an
/// error saying so.
pub async fn pipe(ctx: &Context, linger_ms: u64) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(linger_ms)).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    let linger = Duration::from_millis(linger_ms);
    let mut quiet_until = Instant::now() + linger;
    loop {
        // While input is open we wait on both; afterwards only until the server is quiet.
        let deadline = if input_open {
            Instant::now() + Duration::from_secs(3600)
        } else {
            quiet_until
        };
        tokio::select! {
            line = lines.next_line(), if input_open => {
                match line.context("cannot read standard input")? {
                    None => {
                        input_open = false;
                        quiet_until = Instant::now() + linger;
                    }
                    Some(line) if line.trim().is_empty() => {}
                    Some(line) if line.len() > MAX_PIPE_LINE => {
                        bail!("an input line is longer than {MAX_PIPE_LINE} bytes");
                    }
                    Some(line) => conn.socket.send_text(line.trim_end_matches('\r')).await?,
                }
            }
            () = conn.renewal.due() => match conn.renewal.renew().await {
                Renewed::Send(frame) => {
                    conn.socket.send_text(&serde_json::to_string(&frame)?).await?;
                }
                Renewed::Later(why) => eprintln!("chat: {why}"),
                Renewed::Ended => return Err(session::Error::SessionEnded.into()),
            },
            incoming = conn.socket.recv_until(deadline) => {
                match incoming? {
                    Incoming::Text(text) => {
                        let ours = serde_json::from_str::<ServerMsg>(&text)
                            .is_ok_and(|frame| conn.renewal.answered(&frame));
                        if !ours {
                            quiet_until = Instant::now() + linger;
                            println!("{}", frame_line(&text));
                        }
                    }
                    Incoming::Closed { code: Some(chat_shared::close::UNAUTHORIZED), reason } => {
                        // Over its token: a refresh tells an expired one from an ended session.
                        conn.renewal.forget();
                        conn.renewal.token().await?;
                        bail!(
                            "the server closed the connection over its access token (close \
                             4001 {reason}); the session is still valid"
                        );
                    }
                    Incoming::Closed { code, reason } => {
                        if input_open || code.is_some_and(|c| c != 1000) {
                            bail!(closed_message(code, &reason));
                        }
                        return Ok(());
                    }
                    Incoming::Timeout if !input_open => break,
                    Incoming::Timeout => {}
                }
            }
        }
    }
    conn.socket.close().await;
    Ok(())
}

/// A server frame as one line of JSON: as the server wrote it, unless that would not be one
/// line (or not JSON at all: then wrapped as `{"non_json_frame": …}`).
pub(super) fn frame_line(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) if !text.contains('\n') => text.to_owned(),
        Ok(value) => value.to_string(),
        Err(_) => json!({ "non_json_frame": text }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::{ChatMessage, GroupInfo, LastMessage, Participant, Timestamp, UserRef};

    use super::*;
    use crate::cli::fixtures::group_info;

    fn person(id: i64, username: &str) -> Participant {
        Participant {
            id,
            username: username.into(),
            role: None,
            ..Default::default()
        }
    }

    fn said(id: i64, by: &str, content: &str, is_system: bool) -> Option<Option<LastMessage>> {
        let sender = UserRef {
            id: 1,
            username: by.into(),
        };
        let timestamp = Timestamp(1_751_889_600_000);
        Some(Some(LastMessage::from(ChatMessage {
            is_system,
            status: None,
            is_read: None,
            ..ChatMessage::new(id, 3, sender, content.into(), timestamp)
        })))
    }

    #[test]
    fn the_list_names_groups_by_title_and_size_and_direct_ones_as_before() {
        let mut direct = ConversationListItem {
            id: 3,
            participants: vec![person(1, "me"), person(2, "bob")],
            last_message: said(9, "bob", "see you\nlater", false),
            unread_count: Some(2),
            has_unread: Some(true),
            info: GroupInfo::default(),
        };
        assert_eq!(
            list_line(&direct, 1),
            "#3 with bob [2 unread]: bob: see you"
        );
        // A muted direct conversation reads exactly as before groups.
        direct.info.muted = Some(true);
        assert_eq!(
            list_line(&direct, 1),
            "#3 with bob [2 unread]: bob: see you"
        );

        let mut group = ConversationListItem {
            id: 5,
            participants: vec![person(1, "me"), person(2, "bob"), person(3, "carol")],
            last_message: said(10, "me", "me added carol", true),
            unread_count: Some(0),
            has_unread: Some(false),
            info: group_info("Deploys", 3),
        };
        assert_eq!(
            list_line(&group, 1),
            "#5 \u{201c}Deploys\u{201d} (3 members): * me added carol"
        );
        group.info.muted = Some(true);
        group.unread_count = Some(1);
        group.last_message = said(11, "bob", "hi", false);
        assert_eq!(
            list_line(&group, 1),
            "#5 \u{201c}Deploys\u{201d} (3 members) [1 unread] (muted): bob: hi"
        );
        // A deleted last message is a tombstone: no text, and no colon that text could forge.
        if let Some(Some(last)) = &mut group.last_message {
            last.message.content = String::new();
            last.message.deleted = Some(true);
        }
        assert_eq!(
            list_line(&group, 1),
            "#5 \u{201c}Deploys\u{201d} (3 members) [1 unread] (muted): bob (message deleted)"
        );
    }

    #[test]
    fn text_output_neutralises_control_characters_in_names() {
        let evil = "m\u{1b}]0;owned\u{7}\u{9b}31m";
        let item = ConversationListItem {
            id: 3,
            participants: vec![
                Participant {
                    id: 1,
                    username: "me".into(),
                    role: None,
                    ..Default::default()
                },
                Participant {
                    id: 2,
                    username: evil.into(),
                    role: None,
                    ..Default::default()
                },
            ],
            last_message: None,
            unread_count: None,
            has_unread: None,
            info: Default::default(),
        };
        assert_eq!(
            partner_name(&item, 1),
            "m\u{FFFD}]0;owned\u{FFFD}\u{FFFD}31m"
        );
    }

    #[test]
    fn made_up_client_ids_are_valid_and_differ() {
        let (a, b) = (new_client_id(), new_client_id());
        assert_ne!(a, b);
        assert!(a.starts_with("cli-"), "{a}");
        assert_eq!(client_id_problem(&a), None, "{a}");
    }
}
