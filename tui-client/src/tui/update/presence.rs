//! Who is online: seeded from the participants of `chat.conversations`, changed by
//! `chat.presence` whatever the conversation; and whether others see us (`chat.welcome`,
//! `chat.presence_set`).

use std::time::Instant;

use chat_shared::{ConversationListItem, PresenceStatus, Timestamp};

use crate::tui::app::{App, NoticeKind, Presence};

/// The list says everyone's presence as it is now: it replaces what we knew. A participant
/// without `online` hides it (or the server has no presence): no entry.
pub(super) fn seed(app: &mut App, items: &[ConversationListItem]) {
    let me = app.my_id();
    app.presence = items
        .iter()
        .flat_map(|item| &item.participants)
        .filter(|p| p.id != me)
        .filter_map(|p| {
            let online = p.online?;
            let last_seen = p.last_seen;
            Some((p.id, Presence { online, last_seen }))
        })
        .collect();
}

/// `chat.presence`: someone came or went, or hid their presence (offline with no `last_seen`).
/// `last_seen` only grows for a user, so a frame older than what we know (a replay that comes
/// after a live frame during a sync) changes nothing.
pub(super) fn changed(
    app: &mut App,
    user_id: i64,
    status: PresenceStatus,
    last_seen: Option<Timestamp>,
) {
    let online = status == PresenceStatus::Online;
    if !online && last_seen.is_none() {
        app.presence.remove(&user_id);
        return;
    }
    let known = app.presence_of(user_id).and_then(|p| p.last_seen);
    if known.is_some_and(|known| last_seen.is_some_and(|at| at < known)) {
        return;
    }
    app.presence.insert(user_id, Presence { online, last_seen });
}

/// `chat.presence_set`, the answer to our `chat.set_presence` (on each of our connections).
pub(super) fn visible(app: &mut App, visible: bool, now: Instant) {
    app.presence_visible = visible;
    let text = if visible {
        "presence shown: others see when you are online"
    } else {
        "presence hidden: others no longer see when you are online"
    };
    app.notify(NoticeKind::Info, text, now);
}
