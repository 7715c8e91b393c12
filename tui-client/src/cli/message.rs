//! How one message reads in text output (`send`, `history`, `edit`, `delete`, `react`), and the
//! message ids those commands take.

use chat_shared::{ChatMessage, MessageStatus};

use crate::text::sanitize;

/// One message as text: `[time] #id sender: content`, then what happened to it: ` (reply to
/// #10)`, ` (edited)`, its status, and its reactions (` [👍 2 🎉 1]`). A deleted message reads
/// `[time] #id sender (message deleted)`: no colon, so no text can pass for a tombstone.
/// A system message (groups only) reads `[time] #id * content`: it has no speaker.
///
/// The sender, content and emoji are sanitized and each further line of the content is
/// indented, so no message can pass for another's line.
pub(super) fn message_line(message: &ChatMessage) -> String {
    let head = format!("[{}] #{}", message.timestamp, message.id);
    if message.is_system {
        return format!("{head} * {}", content(&message.content));
    }
    let sender = sanitize(&message.sender.username);
    let reply = message
        .reply()
        .map(|r| {
            let deleted = if r.deleted { ", deleted" } else { "" };
            format!(" (reply to #{}{deleted})", r.id)
        })
        .unwrap_or_default();
    if message.is_deleted() {
        return format!("{head} {sender} (message deleted){reply}");
    }
    let edited = if message.edited().is_some() {
        " (edited)"
    } else {
        ""
    };
    let status = message
        .status
        .map(|s| format!(" ({})", status_word(s)))
        .unwrap_or_default();
    let reactions = match reactions(message) {
        Some(each) => format!(" [{each}]"),
        None => String::new(),
    };
    format!(
        "{head} {sender}: {}{reply}{edited}{status}{reactions}",
        content(&message.content)
    )
}

/// A message's status as a word: `sent`, `delivered` or `seen`.
pub(super) fn status_word(status: MessageStatus) -> String {
    format!("{status:?}").to_lowercase()
}

/// A message's reactions, emoji and count in the order each was first used (`👍 2 🎉 1`);
/// `None` when it has none.
pub(super) fn reactions(message: &ChatMessage) -> Option<String> {
    let each: Vec<String> = message
        .reactions()
        .iter()
        .map(|r| format!("{} {}", sanitize(&r.emoji), r.count))
        .collect();
    (!each.is_empty()).then(|| each.join(" "))
}

/// A message's content for a line of text: sanitized, further lines indented by two spaces.
pub(super) fn content(text: &str) -> String {
    sanitize(text).replace('\n', "\n  ")
}

/// Parses a message id as given on the command line: `12` or `#12`.
pub(super) fn message_id(text: &str) -> Result<i64, String> {
    match text.strip_prefix('#').unwrap_or(text).parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "not a message id: {text} (give a number such as 12 or #12)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::{Reaction, ReplyRef, Timestamp};

    use super::*;
    use crate::cli::fixtures::by;

    fn plain(id: i64, sender: &str, content: &str) -> ChatMessage {
        ChatMessage::new(
            id,
            3,
            by(2, sender),
            content.into(),
            Timestamp(1_751_889_600_000),
        )
    }

    fn reaction(emoji: &str, user_ids: &[i64]) -> Reaction {
        Reaction {
            emoji: emoji.into(),
            count: user_ids.len() as i64,
            user_ids: user_ids.to_vec(),
        }
    }

    #[test]
    fn a_plain_message_reads_as_before() {
        assert_eq!(
            message_line(&plain(12, "bob", "sure")),
            "[2025-07-07T12:00:00.000Z] #12 bob: sure (sent)"
        );
    }

    #[test]
    fn a_reply_an_edit_and_reactions_follow_the_content() {
        let mut message = plain(12, "bob", "sure");
        message.reply_to = Some(Some(Box::new(ReplyRef {
            id: 10,
            sender: by(1, "alice"),
            excerpt: "lunch?".into(),
            deleted: false,
        })));
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #12 bob: sure (reply to #10) (sent)"
        );
        message.edited_at = Some(Some(Timestamp(1_751_889_700_000)));
        message.reactions = Some(vec![reaction("👍", &[1, 2]), reaction("🎉", &[1])]);
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #12 bob: sure (reply to #10) (edited) (sent) [👍 2 🎉 1]"
        );
        // The answered message was deleted since.
        message.reply_to = Some(Some(Box::new(ReplyRef {
            id: 10,
            sender: by(1, "alice"),
            excerpt: String::new(),
            deleted: true,
        })));
        message.edited_at = Some(None);
        message.reactions = Some(Vec::new());
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #12 bob: sure (reply to #10, deleted) (sent)"
        );
    }

    #[test]
    fn a_deleted_message_has_no_content_status_or_colon() {
        let mut message = plain(12, "bob", "");
        message.deleted = Some(true);
        message.edited_at = Some(Some(Timestamp(1_751_889_700_000)));
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #12 bob (message deleted)"
        );
        // Text that says so is still a message, with its colon.
        assert_eq!(
            message_line(&plain(13, "bob", "(message deleted)")),
            "[2025-07-07T12:00:00.000Z] #13 bob: (message deleted) (sent)"
        );
    }

    #[test]
    fn a_server_without_the_lifecycle_fields_reads_as_before() {
        let mut message = plain(12, "bob", "sure");
        message.reply_to = None;
        message.edited_at = None;
        message.deleted = None;
        message.reactions = None;
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #12 bob: sure (sent)"
        );
    }

    #[test]
    fn a_system_message_has_no_speaker() {
        let mut message = plain(10, "alice", "alice added bob");
        message.is_system = true;
        message.status = None;
        assert_eq!(
            message_line(&message),
            "[2025-07-07T12:00:00.000Z] #10 * alice added bob"
        );
    }

    #[test]
    fn names_content_and_emoji_are_sanitized() {
        let mut message = ChatMessage::new(
            7,
            3,
            by(2, "m\u{1b}]0;owned\u{7}\u{9b}31m"),
            "a\u{1b}[2J\rb\nforged line".into(),
            Timestamp(1_751_889_600_000),
        );
        message.reactions = Some(vec![reaction("x\u{1b}[2J", &[1])]);
        let line = message_line(&message);
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\n'),
            "{line:?}"
        );
        assert!(
            line.ends_with(
                "m\u{FFFD}]0;owned\u{FFFD}\u{FFFD}31m: a\u{FFFD}[2J\u{FFFD}b\n  forged line \
                 (sent) [x\u{FFFD}[2J 1]"
            ),
            "{line:?}"
        );
    }

    #[test]
    fn message_ids_are_numbers_with_or_without_a_hash() {
        assert_eq!(message_id("12"), Ok(12));
        assert_eq!(message_id("#12"), Ok(12));
        for bad in ["", "#", "0", "-3", "12a", "##12"] {
            assert!(message_id(bad).is_err(), "{bad}");
        }
    }
}
