//! Test fixtures: users, messages, and an app already signed in and connected.

use std::time::Instant;

use chat_shared::{
    ChatMessage, ClientMsg, Conversation, ConversationKind, ConversationListItem, EventKind,
    GroupInfo, LastMessage, Member, Participant, PresenceStatus, Role, ServerMsg, SystemEvent,
    Timestamp, UserRef,
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
    ChatMessage::new(id, conversation_id, sender.clone(), content.into(), at(id))
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
                ..Default::default()
            })
            .collect(),
        last_message: Some(last.map(LastMessage::from)),
        unread_count: Some(unread),
        has_unread: Some(unread > 0),
        info: Default::default(),
    }
}

/// `item` with `user`'s presence as `chat.conversations` says it (`online: None`: hidden).
pub fn with_presence(
    mut item: ConversationListItem,
    user: &UserRef,
    online: Option<bool>,
    last_seen: Option<Timestamp>,
) -> ConversationListItem {
    for p in item.participants.iter_mut().filter(|p| p.id == user.id) {
        p.online = online;
        p.last_seen = last_seen;
    }
    item
}

/// `chat.presence` about `user`, pushed with `seq`: online or not, last seen when (`None`
/// with offline: hidden).
pub fn presence(seq: i64, user: &UserRef, online: bool, last_seen: Option<Timestamp>) -> Event {
    let status = if online {
        PresenceStatus::Online
    } else {
        PresenceStatus::Offline
    };
    let frame = ServerMsg::Presence {
        user_id: user.id,
        status,
        last_seen,
    };
    Event::Pushed(seq, frame)
}

/// `chat.conversations` with `items`.
pub fn list(items: Vec<ConversationListItem>) -> Event {
    server(ServerMsg::Conversations {
        conversations: items,
    })
}

/// `chat.welcome` for alice as the protocol's example spells it, saying whether her presence
/// is shown.
pub fn welcome(presence_visible: bool) -> ServerMsg {
    let limits: serde_json::Map<String, serde_json::Value> = [
        "max_message_chars",
        "max_frame_bytes",
        "history_limit",
        "history_page_bytes",
        "max_group_members",
        "max_connections_per_user",
        "rate_limit_per_second",
        "rate_limit_burst",
        "typing_interval_ms",
        "max_client_id_chars",
        "max_emoji_chars",
        "max_reactions",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), 100.into()))
    .collect();
    let mut welcome = serde_json::json!({
        "type": "chat.welcome", "server_version": "0.1.0", "protocol_version": 2,
        "features": ["sync", "presence"], "user": {"id": 1, "username": "alice"},
        "limits": limits, "seq": CURSOR,
    });
    if !presence_visible {
        welcome["presence_visible"] = false.into();
    }
    serde_json::from_value(welcome).expect("a valid chat.welcome")
}

/// The group additions of a group called `title` with `members` members.
pub fn group_info(title: &str, members: usize, muted: bool) -> GroupInfo {
    GroupInfo {
        kind: Some(ConversationKind::Group),
        title: Some(Some(title.into())),
        member_count: Some(members as i64),
        muted: Some(muted),
    }
}

/// A group as `chat.conversation_started` and `chat.conversation_updated` carry it; the
/// first member is its owner.
pub fn group(id: i64, title: &str, members: &[UserRef]) -> Conversation {
    Conversation {
        id,
        participants: members
            .iter()
            .enumerate()
            .map(|(i, u)| Member {
                id: u.id,
                username: u.username.clone(),
                role: Some(if i == 0 { Role::Owner } else { Role::Member }),
            })
            .collect(),
        info: group_info(title, members.len(), false),
    }
}

/// `chat.conversation_updated` for `conversation`.
pub fn updated(conversation: Conversation, left: bool) -> Event {
    server(ServerMsg::ConversationUpdated { conversation, left })
}

/// A system message recording `kind`, done by `by` to `user`.
pub fn system(
    id: i64,
    conversation_id: i64,
    by: &UserRef,
    user: &UserRef,
    kind: EventKind,
) -> ChatMessage {
    let content = match kind {
        EventKind::Created => format!("{} created the group", by.username),
        EventKind::MemberAdded => format!("{} added {}", by.username, user.username),
        EventKind::MemberRemoved => format!("{} removed {}", by.username, user.username),
        EventKind::MemberLeft => format!("{} left", user.username),
        EventKind::Renamed => format!("{} renamed the group", by.username),
        EventKind::RoleChanged => format!("{} is now an admin", user.username),
    };
    ChatMessage {
        is_system: true,
        status: None,
        is_read: None,
        event: Some(SystemEvent {
            kind,
            user_id: user.id,
            by: by.id,
            role: None,
            title: None,
        }),
        ..message(id, conversation_id, by, &content)
    }
}

/// The sync cursor the `connected` app was given by its first `chat.synced`.
pub const CURSOR: i64 = 100;

/// Alice, connected, with a conversation with bob (10) and one with carol (11), nothing open;
/// synced, with the cursor `CURSOR`.
pub fn connected(now: Instant) -> App {
    let mut app = App::signed_in("http://127.0.0.1:8000", alice());
    app.utc_offset = Some(FixedOffset::east_opt(0).expect("zero offset"));
    app.size = (80, 24);
    let out = step(&mut app, Event::Net(NetStatus::Connected), now);
    assert_eq!(
        out,
        vec![
            hello(),
            ClientMsg::GetConversations {},
            ClientMsg::Sync { since: None }
        ]
    );
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
    let synced = ServerMsg::Synced {
        seq: CURSOR,
        has_more: false,
    };
    assert_eq!(
        update(&mut app, server(synced), now),
        vec![Effect::SaveCursor(CURSOR)]
    );
    app
}

/// Alice as `connected`, also in the group "Deploys" (20) with bob and carol, which she owns;
/// it is open with `messages` loaded.
pub fn in_group(now: Instant, messages: Vec<ChatMessage>) -> App {
    let mut app = connected(now);
    update(
        &mut app,
        updated(group(20, "Deploys", &[alice(), bob(), carol()]), false),
        now,
    );
    assert_eq!(app.conversations[0].id, 20, "a new group goes on top");
    step(&mut app, Event::char('g'), now);
    open_selected(&mut app, 20, messages, now);
    app
}

/// Alice with the conversation with bob open and its messages loaded.
pub fn chatting(now: Instant, messages: Vec<ChatMessage>) -> App {
    let mut app = connected(now);
    open_selected(&mut app, 10, messages, now);
    app
}

/// Enter on the highlighted conversation, `conv`, and its newest page answered with `messages`.
fn open_selected(app: &mut App, conv: i64, messages: Vec<ChatMessage>, now: Instant) {
    let out = step(app, Event::key(super::event::KeyCode::Enter), now);
    assert_eq!(app.open, Some(conv));
    assert!(out.contains(&ClientMsg::GetMessages {
        conversation_id: conv,
        before_id: None,
        limit: Some(super::app::PAGE),
    }));
    update(
        app,
        server(ServerMsg::Messages {
            messages,
            conversation_id: Some(conv),
            has_more: Some(false),
        }),
        now,
    );
}

/// The `chat.message` frame of the app's `n`th send (its `client_id` is `t-n` in tests).
pub fn sent(conversation_id: i64, content: &str, n: u64) -> ClientMsg {
    ClientMsg::Message {
        conversation_id,
        content: content.into(),
        reply_to: None,
        client_id: Some(format!("t-{n}")),
    }
}

/// Our own message as the server echoes a send: with its `client_id`.
pub fn echo(id: i64, conversation_id: i64, content: &str, n: u64) -> ChatMessage {
    ChatMessage {
        client_id: Some(format!("t-{n}")),
        ..message(id, conversation_id, &alice(), content)
    }
}

/// The `chat.hello` every connection starts with.
pub fn hello() -> ClientMsg {
    ClientMsg::Hello {
        client: "chat-tui".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
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
