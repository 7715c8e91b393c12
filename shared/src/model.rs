//! The objects frames carry: users, messages, conversations, and the timestamp format.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user as frames name one: `{"id", "username"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserRef {
    pub id: i64,
    pub username: String,
}

/// The `username` of a deleted account wherever it still appears (its messages, its conversations);
/// the `id` stays. Not a name anyone can register (it has a space).
pub const DELETED_USERNAME: &str = "deleted user";

/// A participant inside `chat.conversations`, whose keys the spec spells `user__id`/`user__username`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Participant {
    #[serde(rename = "user__id")]
    pub id: i64,
    #[serde(rename = "user__username")]
    pub username: String,
    /// Addition: the participant's role in the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Addition: whether the participant has a connection open; absent when they hide their
    /// presence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Addition: when the participant was last online (now, if they are); absent when unknown
    /// or hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

/// Whether a user is connected, as `chat.presence` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Offline,
}

/// A participant of a conversation object (`chat.conversation_started`,
/// `chat.conversation_updated`): a user and, as an addition, their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Member {
    pub id: i64,
    pub username: String,
    /// Addition: the member's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Member {
    /// The member as a plain user.
    pub fn user(&self) -> UserRef {
        UserRef {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

/// What a member may do in a group. The creator is the owner; only the owner sets roles; the
/// owner and admins add, remove and rename. Both people of a direct conversation are members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// The role's wire name (as its serde name; a test checks they agree).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role named `name`, if any.
    pub fn from_name(name: &str) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Member]
            .into_iter()
            .find(|role| role.as_str() == name)
    }

    /// Whether this role adds, removes and renames.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A conversation of two people, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// What a system message records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    MemberAdded,
    MemberRemoved,
    MemberLeft,
    Renamed,
    RoleChanged,
}

/// The event of a system message (`is_system: true`): what happened, to whom, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SystemEvent {
    pub kind: EventKind,
    /// The member it happened to (the one added, removed, who left, whose role changed); for
    /// `created` and `renamed`, the one who did it.
    pub user_id: i64,
    /// Who did it.
    pub by: i64,
    /// `role_changed`: the new role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// `created` and `renamed`: the group's title from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
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

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "ISO-8601 UTC with milliseconds and `Z`, e.g. 2025-07-07T12:34:56.789Z",
            "type": "string",
            "format": "date-time"
        })
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Sent,
    Delivered,
    Seen,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// Addition: the members named as `@username` in the content (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<Vec<i64>>,
    /// Addition: what a system message records (only on `is_system: true` messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<SystemEvent>,
    /// Addition: the message this one answers (`Some(None)`: `null`, it answers none). Absent
    /// only in frames from a server without message lifecycle. Boxed: most messages answer
    /// none, and frames holding a message stay small.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub reply_to: Option<Option<Box<ReplyRef>>>,
    /// Addition: when the content was last edited (`Some(None)`: `null`, never).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub edited_at: Option<Option<Timestamp>>,
    /// Addition: whether the message was deleted (its content is then `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// Addition: reactions, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactions: Option<Vec<Reaction>>,
    /// Addition: the sender's own id for the send, on the live frames of a message sent with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl ChatMessage {
    /// A plain message as a server with every addition sends it: `sent`, unread, no reply,
    /// never edited, not deleted, no reactions.
    pub fn new(
        id: i64,
        conversation_id: i64,
        sender: UserRef,
        content: String,
        timestamp: Timestamp,
    ) -> ChatMessage {
        ChatMessage {
            id,
            conversation_id,
            sender,
            content,
            timestamp,
            is_system: false,
            attachment: None,
            status: Some(MessageStatus::Sent),
            is_read: Some(false),
            mentions: None,
            event: None,
            reply_to: Some(None),
            edited_at: Some(None),
            deleted: Some(false),
            reactions: Some(Vec::new()),
            client_id: None,
        }
    }

    /// The message this one answers, if any.
    pub fn reply(&self) -> Option<&ReplyRef> {
        self.reply_to.as_ref().and_then(Option::as_deref)
    }

    /// When the content was last edited, if ever.
    pub fn edited(&self) -> Option<Timestamp> {
        self.edited_at.flatten()
    }

    /// Whether the message was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted == Some(true)
    }

    /// The reactions, in first-use order (none from a server without them).
    pub fn reactions(&self) -> &[Reaction] {
        self.reactions.as_deref().unwrap_or_default()
    }
}

/// How many characters of the answered message a reply quotes.
pub const REPLY_EXCERPT_CHARS: usize = 100;

/// The message a reply answers, as the reply carries it: its id, sender and the start of its
/// content (the first [`REPLY_EXCERPT_CHARS`] characters, as it reads now), or `deleted: true`
/// and an empty excerpt once it is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplyRef {
    pub id: i64,
    pub sender: UserRef,
    pub excerpt: String,
    #[serde(default)]
    pub deleted: bool,
}

/// Most characters of a `client_id`.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Most characters of a reaction's emoji.
pub const MAX_EMOJI_CHARS: usize = 32;
/// Most different emoji reacting to one message.
pub const MAX_REACTIONS: usize = 20;

/// Why `client_id` is not one a send may carry (1 to [`MAX_CLIENT_ID_CHARS`] characters).
pub fn client_id_problem(client_id: &str) -> Option<&'static str> {
    match client_id.chars().count() {
        0 => Some("`client_id` must not be empty"),
        n if n > MAX_CLIENT_ID_CHARS => Some("`client_id` is at most 64 characters"),
        _ => None,
    }
}

/// Why `emoji` cannot be a reaction: 1 to [`MAX_EMOJI_CHARS`] characters, none of them white
/// space or control characters.
pub fn emoji_problem(emoji: &str) -> Option<&'static str> {
    let count = emoji.chars().count();
    if count == 0 {
        Some("`emoji` must not be empty")
    } else if count > MAX_EMOJI_CHARS {
        Some("`emoji` is at most 32 characters")
    } else if emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("`emoji` may not contain white space or control characters")
    } else {
        None
    }
}

/// One emoji's reactions to a message: how many and who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    pub user_ids: Vec<i64>,
}

/// One message a search found: the message as it is now, and a snippet of its content with the
/// words the query matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageHit {
    pub message: ChatMessage,
    /// The content, or (past 200 characters) a part of it around the first match, with `…`
    /// where it was cut.
    pub snippet: String,
    /// The matched words in `snippet`: `[start, end)` pairs counted in Unicode characters (code
    /// points, not bytes or UTF-16 units), in order.
    pub highlights: Vec<[usize; 2]>,
}

/// The most results one `chat.search_messages` answer holds.
pub const MAX_SEARCH_RESULTS: i64 = 50;
/// Results per answer when `limit` is not given.
pub const DEFAULT_SEARCH_RESULTS: i64 = 20;

/// A conversation as `chat.conversation_started` and `chat.conversation_updated` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Conversation {
    pub id: i64,
    pub participants: Vec<Member>,
    /// Addition: the conversation's shape, as the caller sees it (see [`GroupInfo`]).
    #[serde(flatten)]
    pub info: GroupInfo,
}

/// The additions every conversation object carries: `kind`, `title` (null for a direct
/// conversation), `member_count` and whether the caller muted it. All absent in frames from a
/// server that knows nothing of groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ConversationKind>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub title: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
}

impl GroupInfo {
    /// Whether this is a group (a conversation from a server without groups is direct).
    pub fn is_group(&self) -> bool {
        self.kind == Some(ConversationKind::Group)
    }

    /// The group's title, if it is one.
    pub fn title(&self) -> Option<&str> {
        self.title.as_ref().and_then(|t| t.as_deref())
    }
}

/// The newest message of a conversation in the list: a message plus flat sender fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// Addition: kind, title, member count, muted.
    #[serde(flatten)]
    pub info: GroupInfo,
}

/// Tells a present key (even `null`) from a missing one: `Some(value)` when present.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The server's limits, as `chat.welcome` tells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Limits {
    pub max_message_chars: i64,
    pub max_frame_bytes: i64,
    pub history_limit: i64,
    pub history_page_bytes: i64,
    pub max_group_members: i64,
    pub max_connections_per_user: i64,
    pub rate_limit_per_second: i64,
    pub rate_limit_burst: i64,
    pub typing_interval_ms: i64,
    pub max_client_id_chars: i64,
    pub max_emoji_chars: i64,
    pub max_reactions: i64,
}
