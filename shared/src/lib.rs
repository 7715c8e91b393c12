//! The chat protocol, spelled exactly as `docs/protocol.md` spells it.
//!
//! Both the server and every client build and read frames only through these types, so the wire
//! format lives in one place: the serde attributes below.

pub mod close;
pub mod mention;
pub mod model;
pub mod protocol;
pub mod rest;

pub use model::{
    ChatMessage, Conversation, ConversationKind, ConversationListItem, EventKind, GroupInfo,
    LastMessage, Member, MessageStatus, Participant, Role, SystemEvent, Timestamp, UserRef,
};
pub use protocol::{ClientMsg, ErrorCode, FrameError, ServerMsg};
