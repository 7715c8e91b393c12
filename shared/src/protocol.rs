//! The two frame enums, one per direction, and the error frame's codes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ChatMessage, Conversation, ConversationListItem, Limits, MessageHit, MessageStatus,
    PresenceStatus, Role, Timestamp, UserRef,
};

/// The default of `presence_visible`.
fn visible() -> bool {
    true
}

/// A frame a client sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type")]
pub enum ClientMsg {
    #[serde(rename = "chat.message")]
    Message {
        conversation_id: i64,
        content: String,
        /// Addition: the message of the same conversation this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// Addition: the sender's own id for this send; a retry with the same one stores
        /// nothing new and is answered with the message first stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Typing in a direct conversation (`receiver_id`, as the spec has it) or, as an addition,
    /// in any conversation (`conversation_id`); exactly one of the two.
    #[serde(rename = "chat.typing")]
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receiver_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<i64>,
        is_typing: bool,
    },
    #[serde(rename = "chat.read")]
    Read { conversation_id: i64 },
    #[serde(rename = "chat.search_user")]
    SearchUser { keyword: String },
    #[serde(rename = "chat.start_conversation")]
    StartConversation {
        /// Existing clients also send this as `user_id`.
        #[serde(alias = "user_id")]
        receiver_id: i64,
    },
    #[serde(rename = "chat.get_conversations")]
    GetConversations {},
    #[serde(rename = "chat.get_messages")]
    GetMessages {
        conversation_id: i64,
        /// Addition: only messages older than this id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_id: Option<i64>,
        /// Addition: at most this many messages (the newest of the range).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Addition: the client has received this message.
    #[serde(rename = "chat.delivered")]
    Delivered { message_id: i64 },
    /// Addition: a group with the caller as its owner and these members.
    #[serde(rename = "chat.create_group")]
    CreateGroup { title: String, member_ids: Vec<i64> },
    /// Addition: owner and admins add members to a group.
    #[serde(rename = "chat.add_members")]
    AddMembers {
        conversation_id: i64,
        user_ids: Vec<i64>,
    },
    /// Addition: owner and admins remove a member.
    #[serde(rename = "chat.remove_member")]
    RemoveMember { conversation_id: i64, user_id: i64 },
    /// Addition: owner and admins rename a group.
    #[serde(rename = "chat.rename_group")]
    RenameGroup { conversation_id: i64, title: String },
    /// Addition: the owner makes a member an admin or an admin a member.
    #[serde(rename = "chat.set_role")]
    SetRole {
        conversation_id: i64,
        user_id: i64,
        role: Role,
    },
    /// Addition: the caller leaves a group.
    #[serde(rename = "chat.leave")]
    Leave { conversation_id: i64 },
    /// Addition: who has read and received a message.
    #[serde(rename = "chat.get_receipts")]
    GetReceipts { message_id: i64 },
    /// Addition: the caller's clients stop ringing for a conversation (mentions still do).
    #[serde(rename = "chat.mute")]
    Mute { conversation_id: i64, muted: bool },
    /// Addition: the sender changes a message's content.
    #[serde(rename = "chat.edit")]
    Edit { message_id: i64, content: String },
    /// Addition: the sender (or a group's owner or admin) deletes a message.
    #[serde(rename = "chat.delete")]
    Delete { message_id: i64 },
    /// Addition: the caller adds (or takes back) a reaction to a message.
    #[serde(rename = "chat.react")]
    React {
        message_id: i64,
        emoji: String,
        add: bool,
    },
    /// Addition: the client introduces itself; answered with `chat.welcome`. Optional: a
    /// client that never says hello sees the protocol as it always was.
    #[serde(rename = "chat.hello")]
    Hello { client: String, version: String },
    /// Addition: every event pushed to the caller after `since` (a `seq`), in order, then
    /// `chat.synced`; without `since`, only `chat.synced` with the newest `seq`.
    #[serde(rename = "chat.sync")]
    Sync {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// Addition: whether the users who share a conversation with the caller see the caller's
    /// presence (online or not, and when last seen); answered with `chat.presence_set`.
    #[serde(rename = "chat.set_presence")]
    SetPresence { visible: bool },
    /// Addition: renews the connection's credentials with a fresh access token of the same
    /// user; answered with `chat.auth_ok`.
    #[serde(rename = "chat.auth")]
    Auth { token: String },
    /// Addition: full-text search over the messages of the caller's conversations, newest
    /// first; answered with `chat.message_results`.
    #[serde(rename = "chat.search_messages")]
    SearchMessages {
        query: String,
        /// Only this conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<i64>,
        /// Only messages this user sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_user_id: Option<i64>,
        /// Only messages older than this id: the next page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_id: Option<i64>,
        /// At most this many results (1 to 50; 20 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Any `type` this enum does not know; never sent.
    #[serde(other, skip_serializing)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    Unknown,
}

/// A frame the server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type")]
pub enum ServerMsg {
    #[serde(rename = "chat.message")]
    Message { message: ChatMessage },
    #[serde(rename = "chat.typing")]
    Typing {
        sender_id: i64,
        /// Addition: the conversation typed in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<i64>,
        is_typing: bool,
    },
    #[serde(rename = "chat.read")]
    Read {
        conversation_id: i64,
        reader_id: i64,
    },
    #[serde(rename = "chat.search_results")]
    SearchResults { results: Vec<UserRef> },
    #[serde(rename = "chat.conversation_started")]
    ConversationStarted { conversation: Conversation },
    #[serde(rename = "chat.conversations")]
    Conversations {
        conversations: Vec<ConversationListItem>,
    },
    #[serde(rename = "chat.messages")]
    Messages {
        messages: Vec<ChatMessage>,
        /// Addition: the conversation these messages belong to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<i64>,
        /// Addition: whether older messages exist before the first one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more: Option<bool>,
    },
    /// Addition: a message of ours was delivered to or seen by the other side.
    #[serde(rename = "chat.message_status")]
    MessageStatus {
        message_id: i64,
        status: MessageStatus,
    },
    /// Addition: a group was created, renamed, or its members or roles changed, or the caller
    /// muted a conversation. `left` tells a removed (or leaving) member, once, that it is gone.
    #[serde(rename = "chat.conversation_updated")]
    ConversationUpdated {
        conversation: Conversation,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        left: bool,
    },
    /// Addition: who has read and who has received a message (the sender left out).
    #[serde(rename = "chat.receipts")]
    Receipts {
        message_id: i64,
        read_by: Vec<UserRef>,
        delivered_to: Vec<UserRef>,
    },
    /// Addition: a message was edited, deleted or reacted to; the message as it is now.
    #[serde(rename = "chat.message_updated")]
    MessageUpdated { message: ChatMessage },
    /// Addition: the answer to `chat.hello`: who the server is, what it supports and its
    /// limits, and who the caller is.
    #[serde(rename = "chat.welcome")]
    Welcome {
        server_version: String,
        protocol_version: i64,
        /// The additions this server implements, by name (`docs/protocol.md`, "Hello").
        features: Vec<String>,
        user: UserRef,
        limits: Limits,
        /// The newest `seq` of the caller's events: sync from here.
        seq: i64,
        /// Whether others see the caller's presence (`chat.set_presence`).
        #[serde(default = "visible", skip_serializing_if = "Clone::clone")]
        presence_visible: bool,
    },
    /// Addition: a user who shares a conversation with the receiver came online (their first
    /// connection opened) or went offline (their last one closed, a few seconds before); or hid
    /// their presence, which reads as offline with `last_seen` null.
    #[serde(rename = "chat.presence")]
    Presence {
        user_id: i64,
        status: PresenceStatus,
        /// When the user was last online: now for `online`, the moment they left for `offline`;
        /// null when they hide it.
        last_seen: Option<Timestamp>,
    },
    /// Addition: the answer to `chat.set_presence`, on every connection of the caller.
    #[serde(rename = "chat.presence_set")]
    PresenceSet { visible: bool },
    /// Addition: the answer to `chat.auth`: the connection now runs on the new token, whose
    /// expiry is `exp`.
    #[serde(rename = "chat.auth_ok")]
    AuthOk { exp: Timestamp },
    /// Addition: the end of a `chat.sync` answer: the caller's events up to `seq` have been
    /// sent; with `has_more`, more follow a `chat.sync` from `seq`.
    #[serde(rename = "chat.synced")]
    Synced {
        seq: i64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_more: bool,
    },
    /// Addition: the `since` of a `chat.sync` is older than the events the server keeps: reload
    /// the conversation list and the open conversation, then sync from `seq`.
    #[serde(rename = "chat.resync_required")]
    ResyncRequired { seq: i64 },
    /// Addition: this connection may have missed pushed frames (its instance lost the link to
    /// the others for a while): sync from `since` or the cursor, whichever is smaller (frames
    /// after `since` may be missing even when later ones came).
    #[serde(rename = "chat.sync_hint")]
    SyncHint {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// Addition: the answer to `chat.search_messages`: the messages found, newest first, and
    /// whether older ones match too (ask again with `before_id` the last result's id).
    #[serde(rename = "chat.message_results")]
    MessageResults {
        query: String,
        results: Vec<MessageHit>,
        has_more: bool,
    },
    /// Addition: the request could not be carried out; the connection stays open.
    #[serde(rename = "chat.error")]
    Error {
        code: ErrorCode,
        message: String,
        request_type: Option<String>,
    },
}

impl ServerMsg {
    /// The `type` of a new message's frame: the one frame clients answer with receipts.
    pub const MESSAGE: &'static str = "chat.message";

    /// The frame's `type` on the wire (as its serde name; `tests/wire.rs` checks they agree).
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMsg::Message { .. } => ServerMsg::MESSAGE,
            ServerMsg::Typing { .. } => "chat.typing",
            ServerMsg::Read { .. } => "chat.read",
            ServerMsg::SearchResults { .. } => "chat.search_results",
            ServerMsg::ConversationStarted { .. } => "chat.conversation_started",
            ServerMsg::Conversations { .. } => "chat.conversations",
            ServerMsg::Messages { .. } => "chat.messages",
            ServerMsg::MessageStatus { .. } => "chat.message_status",
            ServerMsg::ConversationUpdated { .. } => "chat.conversation_updated",
            ServerMsg::Receipts { .. } => "chat.receipts",
            ServerMsg::MessageUpdated { .. } => "chat.message_updated",
            ServerMsg::Welcome { .. } => "chat.welcome",
            ServerMsg::Synced { .. } => "chat.synced",
            ServerMsg::ResyncRequired { .. } => "chat.resync_required",
            ServerMsg::SyncHint { .. } => "chat.sync_hint",
            ServerMsg::Presence { .. } => "chat.presence",
            ServerMsg::PresenceSet { .. } => "chat.presence_set",
            ServerMsg::AuthOk { .. } => "chat.auth_ok",
            ServerMsg::MessageResults { .. } => "chat.message_results",
            ServerMsg::Error { .. } => "chat.error",
        }
    }

    /// Whether the frame is one the server pushes because something happened, with a `seq`.
    pub fn is_pushed(&self) -> bool {
        matches!(
            self,
            ServerMsg::Message { .. }
                | ServerMsg::MessageUpdated { .. }
                | ServerMsg::Read { .. }
                | ServerMsg::MessageStatus { .. }
                | ServerMsg::ConversationUpdated { .. }
                | ServerMsg::Presence { .. }
        )
    }

    /// The frame as JSON text. Serializing these types cannot fail: every key is a string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// A frame the server pushed because something happened (`chat.message`,
/// `chat.message_updated`, `chat.read`, `chat.message_status`, `chat.conversation_updated`,
/// `chat.presence`),
/// with its place in the receiver's events: `seq` only grows for a user (it may skip values),
/// and `chat.sync` from the last one seen replays what was missed. Other frames carry none.
///
/// Read from any server frame: `seq` is taken only from the frames that carry one, since
/// `chat.synced`, `chat.resync_required` and `chat.welcome` have a `seq` field of their own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pushed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(flatten)]
    pub frame: ServerMsg,
}

impl<'de> Deserialize<'de> for Pushed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let frame = ServerMsg::deserialize(&value).map_err(serde::de::Error::custom)?;
        let seq = if frame.is_pushed() {
            value.get("seq").and_then(Value::as_i64)
        } else {
            None
        };
        Ok(Pushed { seq, frame })
    }
}

impl Pushed {
    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// What went wrong, as `chat.error` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// The frame is JSON but not an object with a string `type`.
    InvalidFrame,
    /// The `type` is not one the server knows.
    UnknownType,
    /// A field is missing, of the wrong type, or out of range.
    InvalidField,
    /// Message content is empty after trimming, or too long.
    InvalidContent,
    /// The receiver is the sender.
    InvalidReceiver,
    /// No such conversation, message or user (or not one the caller may see).
    NotFound,
    /// The caller's role in the group does not allow it.
    Forbidden,
    /// Too many frames too fast.
    RateLimited,
    /// The server failed; nothing was stored.
    Internal,
    /// Addition: the token of a `chat.auth` is invalid, expired or revoked.
    Unauthorized,
}

impl ErrorCode {
    /// The code's wire name (as its serde name; `tests/wire.rs` checks they agree).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidContent => "invalid_content",
            ErrorCode::InvalidReceiver => "invalid_receiver",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
        }
    }
}

/// Why a text frame could not become a [`ClientMsg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `type`, when it had a string one.
    pub request_type: Option<String>,
}

impl FrameError {
    fn new(code: ErrorCode, message: impl Into<String>, request_type: Option<String>) -> Self {
        FrameError {
            code,
            message: message.into(),
            request_type,
        }
    }
}

impl From<FrameError> for ServerMsg {
    fn from(e: FrameError) -> Self {
        ServerMsg::Error {
            code: e.code,
            message: e.message,
            request_type: e.request_type,
        }
    }
}

impl ClientMsg {
    /// A plain `chat.message`: no reply, no `client_id`.
    pub fn message(conversation_id: i64, content: impl Into<String>) -> ClientMsg {
        ClientMsg::Message {
            conversation_id,
            content: content.into(),
            reply_to: None,
            client_id: None,
        }
    }

    /// The frame's `type` on the wire (as its serde name; `tests/wire.rs` checks they agree);
    /// `None` for [`ClientMsg::Unknown`], which has none of its own.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            ClientMsg::Message { .. } => "chat.message",
            ClientMsg::Typing { .. } => "chat.typing",
            ClientMsg::Read { .. } => "chat.read",
            ClientMsg::SearchUser { .. } => "chat.search_user",
            ClientMsg::StartConversation { .. } => "chat.start_conversation",
            ClientMsg::GetConversations {} => "chat.get_conversations",
            ClientMsg::GetMessages { .. } => "chat.get_messages",
            ClientMsg::Delivered { .. } => "chat.delivered",
            ClientMsg::CreateGroup { .. } => "chat.create_group",
            ClientMsg::AddMembers { .. } => "chat.add_members",
            ClientMsg::RemoveMember { .. } => "chat.remove_member",
            ClientMsg::RenameGroup { .. } => "chat.rename_group",
            ClientMsg::SetRole { .. } => "chat.set_role",
            ClientMsg::Leave { .. } => "chat.leave",
            ClientMsg::GetReceipts { .. } => "chat.get_receipts",
            ClientMsg::Mute { .. } => "chat.mute",
            ClientMsg::Edit { .. } => "chat.edit",
            ClientMsg::Delete { .. } => "chat.delete",
            ClientMsg::React { .. } => "chat.react",
            ClientMsg::Hello { .. } => "chat.hello",
            ClientMsg::Sync { .. } => "chat.sync",
            ClientMsg::SetPresence { .. } => "chat.set_presence",
            ClientMsg::Auth { .. } => "chat.auth",
            ClientMsg::SearchMessages { .. } => "chat.search_messages",
            ClientMsg::Unknown => return None,
        })
    }

    /// The `type` of a text frame that is a JSON object with a string one, without decoding
    /// the rest (for answering frames that are refused before they are read). Agrees with
    /// [`ClientMsg::parse`]: when `type` appears more than once, the last one counts.
    pub fn peek_type(text: &str) -> Option<String> {
        struct Peek(Option<String>);

        impl<'de> Deserialize<'de> for Peek {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Peek, D::Error> {
                d.deserialize_map(PeekVisitor)
            }
        }

        struct PeekVisitor;

        impl<'de> serde::de::Visitor<'de> for PeekVisitor {
            type Value = Peek;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Peek, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "type" {
                        // Not a string: no type, as `parse` sees it (it refuses the frame).
                        kind = map.next_value::<Value>()?.as_str().map(str::to_string);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Peek(kind))
            }
        }

        serde_json::from_str::<Peek>(text).ok().and_then(|p| p.0)
    }

    /// Reads one text frame, returning its `type` beside the message.
    ///
    /// The text is read as a JSON value first so that even a frame with bad fields
    /// yields its `type` for the error's `request_type`.
    pub fn parse(text: &str) -> Result<(String, ClientMsg), FrameError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| FrameError::new(ErrorCode::InvalidJson, format!("not JSON: {e}"), None))?;
        let kind = match value.get("type") {
            _ if !value.is_object() => {
                return Err(FrameError::new(
                    ErrorCode::InvalidFrame,
                    "a frame must be a JSON object",
                    None,
                ));
            }
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => {
                return Err(FrameError::new(
                    ErrorCode::InvalidFrame,
                    "`type` must be a string",
                    None,
                ));
            }
            None => {
                return Err(FrameError::new(
                    ErrorCode::InvalidFrame,
                    "missing `type`",
                    None,
                ));
            }
        };
        match ClientMsg::deserialize(value) {
            Ok(ClientMsg::Unknown) => Err(FrameError::new(
                ErrorCode::UnknownType,
                format!("unknown type {kind:?}"),
                Some(kind),
            )),
            Ok(msg) => Ok((kind, msg)),
            Err(e) => Err(FrameError::new(
                ErrorCode::InvalidField,
                e.to_string(),
                Some(kind),
            )),
        }
    }
}
