//! Test fixtures: users, messages, and an app already signed in and connected.

use std::time::Instant;

use chat_shared::{
    ChatMessage, ClientMsg, ConversationListItem, LastMessage, MessageStatus, Participant,
    ServerMsg, Timestamp, UserRef,
};
use chrono::FixedOffset;

use super::app::App;
use super::effect::Effect;
use super::event::{Event, NetStatus};
use super::update::update;

pub fn alice() -> UserRef {
    UserRef {
        id: 1,
        username: "alice".into(),
    }
}

pub fn bob() -> UserRef {
    UserRef {
        id: 2,
        username: "bob".into(),
    }
}

pub fn carol() -> UserRef {
    UserRef {
        id: 3,
        username: "carol".into(),
    }
}

/// 2025-07-07T12:00:00Z plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp(1_751_889_600_000 + minutes * 60_000)
}

pub fn message(id: i64, conversation_id: i64, sender: &UserRef, content: &str) -> ChatMessage {
    ChatMessage {
        id,
        conversation_id,
        sender: sender.clone(),
        content: content.into(),
        timestamp: at(id),
        is_system: false,
        attachment: None,
        status: Some(MessageStatus::Sent),
        is_read: Some(false),
        mentions: None,
        event: None,
    }
}

pub fn list_item(
    id: i64,
    peer: &UserRef,
    last: Option<ChatMessage>,
    unread: i64,
) -> ConversationListItem {
    ConversationListItem {
        id,
        participants: [alice(), peer.clone()]
            .into_iter()
            .map(|u| Participant {
                id: u.id,
                username: u.username,
                role: None,
            })
            .collect(),
        last_message: Some(last.map(LastMessage::from)),
        unread_count: Some(unread),
        has_unread: Some(unread > 0),
        info: Default::default(),
    }
}

/// Alice, connected, with a conversation with bob (10) and one with carol (11), nothing open.
pub fn connected(now: Instant) -> App {
    let mut app = App::signed_in("http://127.0.0.1:8000", alice());
    app.utc_offset = Some(FixedOffset::east_opt(0).expect("zero offset"));
    app.size = (80, 24);
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(out, vec![ClientMsg::GetConversations {}]);
    let list = vec![
        list_item(10, &bob(), Some(message(5, 10, &bob(), "hi alice")), 0),
        list_item(11, &carol(), None, 0),
    ];
    update(
        &mut app,
        server(ServerMsg::Conversations {
            conversations: list,
        }),
        now,
    );
    app
}

/// Alice with the conversation with bob open and its messages loaded.
pub fn chatting(now: Instant, messages: Vec<ChatMessage>) -> App {
    let mut app = connected(now);
    let out = step(&mut app, Event::key(super::event::KeyCode::Enter), now);
    assert_eq!(app.open, Some(10));
    assert!(out.contains(&ClientMsg::GetMessages {
        conversation_id: 10,
        before_id: None,
        limit: Some(super::app::PAGE),
    }));
    update(
        &mut app,
        server(ServerMsg::Messages {
            messages,
            conversation_id: Some(10),
            has_more: Some(false),
        }),
        now,
    );
    app
}

pub fn server(frame: ServerMsg) -> Event {
    Event::Server(frame)
}

/// The frames among `effects`, in order.
pub fn frames(effects: Vec<Effect>) -> Vec<ClientMsg> {
    effects
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Send(frame) => Some(frame),
            _ => None,
        })
        .collect()
}

/// Applies one event and returns the frames it sends, in order.
pub fn step(app: &mut App, event: Event, now: Instant) -> Vec<ClientMsg> {
    frames(update(app, event, now))
}

/// Types `text` into the app, returning every frame it sent.
pub fn type_text(app: &mut App, text: &str, now: Instant) -> Vec<ClientMsg> {
    Event::typed(text)
        .into_iter()
        .flat_map(|e| step(app, e, now))
        .collect()
}
