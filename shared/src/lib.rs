//! The chat protocol, spelled exactly as `docs/protocol.md` spells it.
//!
//! Both the server and every client build and read frames only through these types, so the wire
//! format lives in one place: the serde attributes below.

pub mod close;
pub mod mention;
pub mod model;
pub mod protocol;
pub mod rest;
#[cfg(feature = "schema")]
pub mod schema;

pub use model::{
    ChatMessage, Conversation, ConversationKind, ConversationListItem, DEFAULT_SEARCH_RESULTS,
    DELETED_USERNAME, EventKind, GroupInfo, LastMessage, Limits, MAX_CLIENT_ID_CHARS,
    MAX_EMOJI_CHARS, MAX_REACTIONS, MAX_SEARCH_RESULTS, Member, MessageHit, MessageStatus,
    Participant, PresenceStatus, REPLY_EXCERPT_CHARS, Reaction, ReplyRef, Role, SystemEvent,
    Timestamp, UserRef, client_id_problem, emoji_problem,
};
pub use protocol::{ClientMsg, ErrorCode, FrameError, Pushed, ServerMsg};
