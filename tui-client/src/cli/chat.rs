//! `chat send`, `conversations`, `history` and `pipe`: one socket, one request at a time.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chat_shared::{ChatMessage, ClientMsg, Conversation, ConversationListItem, ServerMsg, UserRef};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::socket::{Incoming, Socket};
use super::{Context, print_json};
use crate::session::StoredSession;
use crate::text::sanitize;

/// The most results `chat.search_user` returns.
const SEARCH_PAGE: usize = 20;
/// The longest line `chat pipe` accepts from standard input.
const MAX_PIPE_LINE: usize = 1 << 20;

/// The logged-in user and a socket for them.
struct Connection {
    me: StoredSession,
    socket: Socket,
    wait: Duration,
}

impl Connection {
    async fn open(ctx: &Context, wait: Duration) -> anyhow::Result<Connection> {
        let me = ctx.dir.session_for(&ctx.settings.server)?;
        let access = me.access_token(&ctx.api).await?;
        let socket = Socket::connect(&ctx.api.ws_url(&access)).await?;
        Ok(Connection { me, socket, wait })
    }

    /// Sends `request`, then returns the first frame `pick` accepts. Other frames (messages from
    /// other people, say) are passed over; a `chat.error` answering this request type fails.
    async fn ask<T>(
        &mut self,
        request: &ClientMsg,
        mut pick: impl FnMut(ServerMsg) -> Option<T>,
    ) -> anyhow::Result<T> {
        let text = serde_json::to_string(request)?;
        let request_type = serde_json::from_str::<serde_json::Value>(&text)?["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.socket.send_text(&text).await?;
        let deadline = Instant::now() + self.wait;
        loop {
            match self.socket.recv_until(deadline).await? {
                Incoming::Timeout => {
                    bail!("no answer to {request_type} within {:?}", self.wait)
                }
                Incoming::Closed { code, reason } => bail!(closed_message(code, &reason)),
                Incoming::Text(text) => {
                    let Ok(frame) = serde_json::from_str::<ServerMsg>(&text) else {
                        continue;
                    };
                    if let ServerMsg::Error {
                        code,
                        message,
                        request_type: Some(answered),
                    } = &frame
                        && *answered == request_type
                    {
                        bail!("the server refused {request_type}: {message} ({code:?})");
                    }
                    if let Some(found) = pick(frame) {
                        return Ok(found);
                    }
                }
            }
        }
    }

    /// The user named `name` (exact, case-insensitive), found with `chat.search_user`.
    async fn find_user(&mut self, name: &str) -> anyhow::Result<UserRef> {
        let request = ClientMsg::SearchUser {
            keyword: name.to_owned(),
        };
        let results = self
            .ask(&request, |frame| match frame {
                ServerMsg::SearchResults { results } => Some(results),
                _ => None,
            })
            .await?;
        let wanted = name.to_lowercase();
        let found = results.len();
        results
            .into_iter()
            .find(|user| user.username.to_lowercase() == wanted)
            .ok_or_else(|| {
                if wanted == self.me.username.to_lowercase() {
                    anyhow!("{name} is you: pick someone else")
                } else if found >= SEARCH_PAGE {
                    anyhow!(
                        "no user named {name} among the first {found} whose names contain it \
                         (the server sends at most {SEARCH_PAGE})"
                    )
                } else {
                    anyhow!("no user named {name}")
                }
            })
    }

    /// Every conversation of ours, most recent first.
    async fn conversations(&mut self) -> anyhow::Result<Vec<ConversationListItem>> {
        self.ask(&ClientMsg::GetConversations {}, |frame| match frame {
            ServerMsg::Conversations { conversations } => Some(conversations),
            _ => None,
        })
        .await
    }
}

fn closed_message(code: Option<u16>, reason: &str) -> String {
    match code {
        Some(chat_shared::close::UNAUTHORIZED) => {
            "the server rejected the access token (close 4001): run `chat login` again".to_owned()
        }
        Some(code) => format!("the server closed the connection (code {code}) {reason}"),
        None => format!("the server closed the connection: {reason}"),
    }
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

/// One message as text: `[time] #id sender: content`, with the sender and content sanitized
/// and each further line of the content indented, so no message can pass for another's line.
fn message_line(message: &ChatMessage) -> String {
    let status = message
        .status
        .map(|s| format!(" ({})", format!("{s:?}").to_lowercase()))
        .unwrap_or_default();
    format!(
        "[{}] #{} {}: {}{status}",
        message.timestamp,
        message.id,
        sanitize(&message.sender.username),
        sanitize(&message.content).replace('\n', "\n  ")
    )
}

/// `chat send --to USER TEXT`.
pub async fn send(ctx: &Context, to: &str, text: &str, timeout_ms: u64) -> anyhow::Result<()> {
    if text.trim().is_empty() {
        bail!("the message is empty");
    }
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let user = conn.find_user(to).await?;
    let request = ClientMsg::StartConversation {
        receiver_id: user.id,
    };
    let conversation: Conversation = conn
        .ask(&request, |frame| match frame {
            ServerMsg::ConversationStarted { conversation }
                if conversation.participants.iter().any(|p| p.id == user.id) =>
            {
                Some(conversation)
            }
            _ => None,
        })
        .await?;
    let my_id = conn.me.user_id;
    let request = ClientMsg::Message {
        conversation_id: conversation.id,
        content: text.to_owned(),
    };
    // The echo of our own message in this conversation is the server's acknowledgement.
    let message = conn
        .ask(&request, |frame| match frame {
            ServerMsg::Message { message }
                if message.conversation_id == conversation.id
                    && message.sender.id == my_id
                    && message.content.trim() == text.trim() =>
            {
                Some(message)
            }
            _ => None,
        })
        .await?;
    conn.socket.close().await;
    if ctx.json {
        print_json(&message)
    } else {
        println!("{}", message_line(&message));
        Ok(())
    }
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
        let unread = match item.unread_count {
            Some(n) if n > 0 => format!(" [{n} unread]"),
            _ => String::new(),
        };
        let last = match &item.last_message {
            Some(Some(last)) => format!(
                ": {}: {}",
                sanitize(&last.sender_username),
                sanitize(last.message.content.lines().next().unwrap_or_default())
            ),
            _ => String::new(),
        };
        println!(
            "#{} with {}{unread}{last}",
            item.id,
            partner_name(item, conn.me.user_id)
        );
    }
    Ok(())
}

/// `chat history --with USER [--limit N]`: reads only, never starts a conversation.
pub async fn history(
    ctx: &Context,
    with: &str,
    limit: Option<i64>,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let wanted = with.to_lowercase();
    let my_id = conn.me.user_id;
    let conversation_id = conn
        .conversations()
        .await?
        .into_iter()
        .find(|item| {
            item.participants
                .iter()
                .any(|p| p.id != my_id && p.username.to_lowercase() == wanted)
        })
        .map(|item| item.id)
        .ok_or_else(|| anyhow!("you have no conversation with {with}"))?;
    let request = ClientMsg::GetMessages {
        conversation_id,
        before_id: None,
        limit,
    };
    let (messages, has_more) = conn
        .ask(&request, |frame| match frame {
            ServerMsg::Messages {
                messages,
                conversation_id: id,
                has_more,
            } if id.is_none_or(|id| id == conversation_id) => Some((messages, has_more)),
            _ => None,
        })
        .await?;
    conn.socket.close().await;
    if ctx.json {
        return print_json(&json!({
            "conversation_id": conversation_id,
            "messages": messages,
            "has_more": has_more.unwrap_or(false),
        }));
    }
    if has_more == Some(true) {
        println!("(older messages exist; raise --limit to see them)");
    }
    if messages.is_empty() {
        println!("no messages yet");
    }
    for message in &messages {
        println!("{}", message_line(message));
    }
    Ok(())
}

/// `chat pipe`: standard input lines out as frames, server frames in as lines.
///
/// Lines are sent as they are (invalid JSON included: that is for poking at error handling);
/// blank lines are skipped. Server frames that are JSON are printed compactly on one line.
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
            incoming = conn.socket.recv_until(deadline) => {
                match incoming? {
                    Incoming::Text(text) => {
                        quiet_until = Instant::now() + linger;
                        // Frames print as the server wrote them, unless that would not be
                        // one line of JSON.
                        match serde_json::from_str::<serde_json::Value>(&text) {
                            Ok(_) if !text.contains('\n') => println!("{text}"),
                            Ok(value) => println!("{value}"),
                            Err(_) => println!("{}", json!({ "non_json_frame": text })),
                        }
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

#[cfg(test)]
mod tests {
    use chat_shared::{MessageStatus, Participant, Timestamp};

    use super::*;

    #[test]
    fn text_output_neutralises_control_characters_in_names_and_content() {
        let evil = "m\u{1b}]0;owned\u{7}\u{9b}31m";
        let message = ChatMessage {
            id: 7,
            conversation_id: 3,
            sender: UserRef {
                id: 2,
                username: evil.into(),
            },
            content: "a\u{1b}[2J\rb\nforged line".into(),
            timestamp: Timestamp(1_751_889_600_000),
            is_system: false,
            attachment: None,
            status: Some(MessageStatus::Sent),
            is_read: Some(false),
            mentions: None,
            event: None,
        };
        let line = message_line(&message);
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\n'),
            "{line:?}"
        );
        assert!(
            line.ends_with(
                "m\u{FFFD}]0;owned\u{FFFD}\u{FFFD}31m: a\u{FFFD}[2J\u{FFFD}b\n  forged line (sent)"
            ),
            "{line:?}"
        );
        let item = ConversationListItem {
            id: 3,
            participants: vec![
                Participant {
                    id: 1,
                    username: "me".into(),
                    role: None,
                },
                Participant {
                    id: 2,
                    username: evil.into(),
                    role: None,
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
}
