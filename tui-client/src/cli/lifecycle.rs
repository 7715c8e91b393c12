//! `chat edit`, `chat delete` and `chat react`: one change to a message and the message as it
//! is afterwards.
//!
//! Each sends its request followed by a barrier (see [`Connection::ask_with_barrier`]): a
//! reaction added twice, or taken back when absent, changes nothing and the server sends
//! nothing back, so waiting for `chat.message_updated` alone could only end in a timeout.

use std::time::Duration;

use anyhow::bail;
use chat_shared::{ChatMessage, ClientMsg, ServerMsg, emoji_problem};
use serde_json::json;

use super::connection::Connection;
use super::message::message_line;
use super::{Context, print_json};
use crate::text::sanitize;

/// A change to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Edit(String),
    Delete,
    React { emoji: String, add: bool },
}

impl Change {
    /// Why the server would refuse this change whatever the message, told before connecting.
    fn problem(&self) -> Option<String> {
        match self {
            Change::Edit(text) if text.trim().is_empty() => Some("the message is empty".into()),
            Change::Edit(text) if text.contains('\0') => {
                Some("the message contains a NUL character".into())
            }
            Change::React { emoji, .. } => emoji_problem(emoji).map(|p| format!("{p} (EMOJI)")),
            _ => None,
        }
    }

    fn request(&self, message_id: i64) -> ClientMsg {
        match self {
            Change::Edit(content) => ClientMsg::Edit {
                message_id,
                content: content.clone(),
            },
            Change::Delete => ClientMsg::Delete { message_id },
            Change::React { emoji, add } => ClientMsg::React {
                message_id,
                emoji: emoji.clone(),
                add: *add,
            },
        }
    }

    /// What "nothing changed" means for this change (only a reaction can change nothing).
    fn unchanged(&self, message_id: i64) -> String {
        match self {
            Change::React { emoji, add: true } => {
                format!(
                    "no change: #{message_id} already has your {}",
                    sanitize(emoji)
                )
            }
            Change::React { emoji, add: false } => {
                format!(
                    "no change: #{message_id} has no {} of yours",
                    sanitize(emoji)
                )
            }
            _ => format!("no change: #{message_id}"),
        }
    }
}

/// Applies `change` to message `message_id` and prints the message as it is afterwards (the
/// last `chat.message_updated` of it before the barrier's answer), or that nothing changed.
/// A refusal is an error naming the protocol's code.
pub async fn run(
    ctx: &Context,
    message_id: i64,
    change: Change,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    if let Some(problem) = change.problem() {
        bail!(problem);
    }
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let updates = conn
        .ask_with_barrier(&change.request(message_id), |frame| match frame {
            ServerMsg::MessageUpdated { message } if message.id == message_id => Some(message),
            _ => None,
        })
        .await?;
    conn.socket.close().await;
    print_outcome(ctx.json, message_id, &change, updates.last())
}

fn print_outcome(
    json: bool,
    message_id: i64,
    change: &Change,
    now: Option<&ChatMessage>,
) -> anyhow::Result<()> {
    match (json, now) {
        (true, Some(message)) => print_json(message),
        (true, None) => print_json(&json!({ "message_id": message_id, "changed": false })),
        (false, Some(message)) => {
            println!("{}", message_line(message));
            Ok(())
        }
        (false, None) => {
            println!("{}", change.unchanged(message_id));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_become_their_requests() {
        let wire = |change: Change| {
            serde_json::to_value(change.request(12)).expect("a request serializes")
        };
        assert_eq!(
            wire(Change::Edit("new text".into())),
            json!({"type": "chat.edit", "message_id": 12, "content": "new text"})
        );
        assert_eq!(
            wire(Change::Delete),
            json!({"type": "chat.delete", "message_id": 12})
        );
        assert_eq!(
            wire(Change::React {
                emoji: "👍".into(),
                add: false
            }),
            json!({"type": "chat.react", "message_id": 12, "emoji": "👍", "add": false})
        );
    }

    #[test]
    fn hopeless_changes_are_refused_before_connecting() {
        let react = |emoji: &str| Change::React {
            emoji: emoji.into(),
            add: true,
        };
        assert_eq!(
            Change::Edit("  \n".into()).problem().as_deref(),
            Some("the message is empty")
        );
        assert!(Change::Edit("a\0b".into()).problem().is_some());
        assert_eq!(Change::Edit("fine".into()).problem(), None);
        assert_eq!(Change::Delete.problem(), None);
        assert_eq!(react("👍").problem(), None);
        assert_eq!(react(&"x".repeat(32)).problem(), None);
        assert_eq!(
            react(&"x".repeat(33)).problem().as_deref(),
            Some("`emoji` is at most 32 characters (EMOJI)")
        );
        assert_eq!(
            react("thumbs up").problem().as_deref(),
            Some("`emoji` may not contain white space or control characters (EMOJI)")
        );
        assert!(react("").problem().is_some());
        assert!(react("x\u{1b}").problem().is_some());
    }

    #[test]
    fn no_change_says_which_reaction() {
        let react = |add| Change::React {
            emoji: "🎉\u{1b}".into(),
            add,
        };
        assert_eq!(
            react(true).unchanged(12),
            "no change: #12 already has your 🎉\u{FFFD}"
        );
        assert_eq!(
            react(false).unchanged(12),
            "no change: #12 has no 🎉\u{FFFD} of yours"
        );
    }
}
