//! The objects frames carry: users, messages, conversations, and the timestamp format.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user as frames name one: `{"id", "username"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
}

/// A participant inside `chat.conversations`, whose keys the spec spells `user__id`/`user__username`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    #[serde(rename = "user__id")]
    pub id: i64,
    #[serde(rename = "user__username")]
    pub username: String,
}

/// Milliseconds since the Unix epoch; on the wire an ISO-8601 UTC string with milliseconds and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time, to the millisecond.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// This instant as a chrono UTC time (the epoch if out of range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|e| serde::de::Error::custom(format!("bad timestamp {text:?}: {e}")))
    }
}

/// Where a message stands, as its sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Sent,
    Delivered,
    Seen,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: i64,
    pub conversation_id: i64,
    pub sender: UserRef,
    pub content: String,
    pub timestamp: Timestamp,
    pub is_system: bool,
    pub attachment: Option<serde_json::Value>,
    /// Addition: `sent`, `delivered` or `seen`, as the sender sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
    /// Addition: whether every other participant has read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_read: Option<bool>,
}

/// A conversation as `chat.conversation_started` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: i64,
    pub participants: Vec<UserRef>,
}

/// The newest message of a conversation in the list: a message plus flat sender fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastMessage {
    #[serde(flatten)]
    pub message: ChatMessage,
    pub sender_id: i64,
    pub sender_username: String,
}

impl From<ChatMessage> for LastMessage {
    fn from(message: ChatMessage) -> Self {
        LastMessage {
            sender_id: message.sender.id,
            sender_username: message.sender.username.clone(),
            message,
        }
    }
}

/// One item of `chat.conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationListItem {
    pub id: i64,
    pub participants: Vec<Participant>,
    /// Addition: the newest message, or `null` when there is none yet.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub last_message: Option<Option<LastMessage>>,
    /// Addition: messages from others after the reader's read marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// Addition: `unread_count > 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_unread: Option<bool>,
}

/// Tells a present key (even `null`) from a missing one: `Some(value)` when present.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
