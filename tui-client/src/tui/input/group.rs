//! Group actions, from the composer's `/` commands and from keys: a new group (its members
//! picked in the search box), adding (picked too), removing, renaming, leaving, muting, and
//! asking who has read a message. Each sends its frame; the server's answer changes the list.
//! The commands themselves are read in `command`.

use std::time::Instant;

use chat_shared::ClientMsg;

use crate::tui::app::{App, ConvKind, NoticeKind, Pick, PickFor, Search};
use crate::tui::effect::Effect;

/// Opens the search box to pick the members of a new group called `title`.
pub(super) fn new_group(app: &mut App, title: &str, now: Instant) {
    if title.is_empty() {
        app.notify(NoticeKind::Error, "usage: /group TITLE", now);
        return;
    }
    let purpose = PickFor::NewGroup {
        title: title.to_owned(),
    };
    start_picking(app, purpose);
}

fn start_picking(app: &mut App, purpose: PickFor) {
    app.search = Some(Search {
        pick: Some(Pick {
            purpose,
            picked: Vec::new(),
        }),
        ..Search::default()
    });
}

/// The open conversation's id when it is a group, else says so.
fn open_group(app: &mut App, now: Instant) -> Option<i64> {
    let group = app
        .open_conversation()
        .filter(|c| matches!(c.kind, ConvKind::Group { .. }))
        .map(|c| c.id);
    if group.is_none() {
        app.notify(NoticeKind::Error, "open a group first", now);
    }
    group
}

pub(super) fn add(app: &mut App, now: Instant) {
    if let Some(conversation_id) = open_group(app, now) {
        start_picking(app, PickFor::AddTo { conversation_id });
    }
}

pub(super) fn remove(app: &mut App, name: &str, now: Instant, out: &mut Vec<Effect>) {
    let Some(conversation_id) = open_group(app, now) else {
        return;
    };
    let name = name.trim_start_matches('@');
    let member = app.open_conversation().and_then(|c| {
        c.members()
            .iter()
            .find(|m| m.username.eq_ignore_ascii_case(name))
            .map(|m| m.id)
    });
    match member {
        Some(user_id) => out.push(Effect::Send(ClientMsg::RemoveMember {
            conversation_id,
            user_id,
        })),
        None => {
            let text = format!("no member called “{name}”: /remove NAME");
            app.notify(NoticeKind::Error, text, now);
        }
    }
}

pub(super) fn rename(app: &mut App, title: &str, now: Instant, out: &mut Vec<Effect>) {
    let Some(conversation_id) = open_group(app, now) else {
        return;
    };
    if title.is_empty() {
        app.notify(NoticeKind::Error, "usage: /rename TITLE", now);
        return;
    }
    out.push(Effect::Send(ClientMsg::RenameGroup {
        conversation_id,
        title: title.to_owned(),
    }));
}

pub(super) fn leave(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    if let Some(conversation_id) = open_group(app, now) {
        out.push(Effect::Send(ClientMsg::Leave { conversation_id }));
    }
}

/// Asks the server to mute `conversation` or to stop muting it; its answer changes the list.
pub(super) fn toggle_mute(
    app: &mut App,
    conversation: Option<i64>,
    now: Instant,
    out: &mut Vec<Effect>,
) {
    let Some(item) = conversation.and_then(|id| app.conversation(id)) else {
        app.notify(NoticeKind::Error, "no conversation to mute", now);
        return;
    };
    out.push(Effect::Send(ClientMsg::Mute {
        conversation_id: item.id,
        muted: !item.muted,
    }));
}

/// Asks who has read the selected message, else our newest in the open conversation.
pub(super) fn ask_receipts(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let me = app.my_id();
    let newest = app.selected_message().map(|m| m.id).or_else(|| {
        app.open_thread()
            .and_then(|t| {
                t.messages
                    .iter()
                    .rev()
                    .find(|m| m.sender.id == me && !m.is_system)
            })
            .map(|m| m.id)
    });
    match newest {
        Some(message_id) => out.push(Effect::Send(ClientMsg::GetReceipts { message_id })),
        None => app.notify(NoticeKind::Error, "no message of yours here yet", now),
    }
}

/// Picks or drops the highlighted search result.
pub(super) fn toggle_pick(app: &mut App) {
    let Some(search) = &mut app.search else {
        return;
    };
    let (Some(user), Some(pick)) = (search.results.get(search.selected), &mut search.pick) else {
        return;
    };
    match pick.picked.iter().position(|u| u == user) {
        Some(i) => {
            pick.picked.remove(i);
        }
        None => pick.picked.push(user.clone()),
    }
}

/// Sends what the picking was for: the new group, or the members to add.
pub(super) fn finish_pick(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let Some(pick) = app.search.as_ref().and_then(|s| s.pick.clone()) else {
        return;
    };
    if pick.picked.is_empty() {
        app.notify(NoticeKind::Error, "pick someone first (Enter)", now);
        return;
    }
    let user_ids: Vec<i64> = pick.picked.iter().map(|u| u.id).collect();
    app.search = None;
    match pick.purpose {
        PickFor::NewGroup { title } => {
            // Opened when the server answers with it.
            app.creating = Some(title.clone());
            out.push(Effect::Send(ClientMsg::CreateGroup {
                title,
                member_ids: user_ids,
            }));
        }
        PickFor::AddTo { conversation_id } => {
            out.push(Effect::Send(ClientMsg::AddMembers {
                conversation_id,
                user_ids,
            }));
        }
    }
}
