//! Gapless resume: the cursor (the highest `seq` applied) and `chat.sync`. A connection with a
//! cursor asks for the events since it instead of reloading; one without (or a cursor too old:
//! `chat.resync_required`) loads the list and the open conversation, then takes the server's
//! cursor. Frames apply by id, so one replayed twice, or live during a sync, changes nothing.

use std::time::Instant;

use chat_shared::ClientMsg;

use super::pending;
use crate::tui::app::{App, CURSOR_SAVE_GAP};
use crate::tui::conversation::fetch_latest;
use crate::tui::effect::Effect;

/// A new connection: the list and the open conversation when this run has not loaded them (or
/// has no cursor), the waiting messages again, then `chat.sync` from the cursor.
pub(super) fn connected(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let reload = !app.sync.loaded || app.sync.cursor.is_none();
    if reload {
        app.sync.loaded = true;
        out.push(Effect::Send(ClientMsg::GetConversations {}));
    }
    // Before the open conversation's page: history carries no `client_id`, so a page holding
    // a message stored before the drop, read before that message's answer, would show it
    // beside its waiting copy.
    pending::resend(app, now, out);
    if reload && let Some(id) = app.open {
        fetch_latest(app, id, out);
    }
    request(app, out);
}

/// Asks for the events after the cursor (or, without one, for the cursor itself).
fn request(app: &mut App, out: &mut Vec<Effect>) {
    if let Some(rewind) = app.sync.rewind.take() {
        app.sync.cursor = app.sync.cursor.map(|cursor| cursor.min(rewind));
    }
    app.sync.syncing = true;
    app.sync.again = false;
    app.sync.rang = false;
    out.push(Effect::Send(ClientMsg::Sync {
        since: app.sync.cursor,
    }));
}

/// A pushed frame with `seq` was applied. Outside a sync everything before it is applied too,
/// so it is the cursor; during one, it waits for the sync's end.
pub(super) fn applied(app: &mut App, seq: i64, now: Instant, out: &mut Vec<Effect>) {
    app.sync.seen = app.sync.seen.max(Some(seq));
    if !app.sync.syncing && app.sync.cursor.is_some() {
        app.sync.cursor = app.sync.cursor.max(Some(seq));
        save(app, now, out);
    }
}

/// `chat.synced`: with more to come, everything up to `seq` is applied (ask for the rest);
/// otherwise the sync is done and the cursor is the highest `seq` applied.
pub(super) fn synced(app: &mut App, seq: i64, has_more: bool, now: Instant, out: &mut Vec<Effect>) {
    if has_more {
        app.sync.cursor = app.sync.cursor.max(Some(seq));
        app.sync.seen = app.sync.seen.max(Some(seq));
        request_more(app, out);
    } else {
        app.sync.syncing = false;
        app.sync.seen = app.sync.seen.max(Some(seq));
        app.sync.cursor = app.sync.cursor.max(app.sync.seen);
        if app.sync.again && app.is_connected() {
            request(app, out);
        }
    }
    save(app, now, out);
}

/// The next page of a sync, from the cursor (the sync goes on: no new bell, no reset).
fn request_more(app: &mut App, out: &mut Vec<Effect>) {
    out.push(Effect::Send(ClientMsg::Sync {
        since: app.sync.cursor,
    }));
}

/// `chat.resync_required`: the cursor is older than the events kept. Reload as a fresh start
/// does (threads of conversations not open are dropped: they may lack events), then keep `seq`.
pub(super) fn resync(app: &mut App, seq: i64, now: Instant, out: &mut Vec<Effect>) {
    app.sync.syncing = false;
    app.sync.cursor = Some(seq);
    app.sync.seen = app.sync.seen.max(Some(seq));
    let open = app.open;
    app.threads.retain(|id, _| Some(*id) == open);
    out.push(Effect::Send(ClientMsg::GetConversations {}));
    if let Some(id) = open {
        if let Some(thread) = app.threads.get_mut(&id) {
            thread.fetch = None;
        }
        fetch_latest(app, id, out);
    }
    save(app, now, out);
}

/// `chat.sync_hint`: frames after `since` may have been lost; sync from there or the cursor,
/// whichever is smaller (after the sync under way, if there is one).
pub(super) fn hint(app: &mut App, since: Option<i64>, out: &mut Vec<Effect>) {
    if let Some(since) = since {
        app.sync.rewind = Some(app.sync.rewind.map_or(since, |r| r.min(since)));
    }
    if !app.is_connected() {
        return;
    }
    if app.sync.syncing {
        app.sync.again = true;
    } else {
        request(app, out);
    }
}

/// Hands out the cursor to be saved when it moved, at most once per `CURSOR_SAVE_GAP` (the
/// clock's tick hands out one held back).
pub(super) fn save(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let recent = app
        .sync
        .saved_at
        .is_some_and(|at| now.saturating_duration_since(at) < CURSOR_SAVE_GAP);
    if !recent {
        flush(app, now, out);
    }
}

/// Hands out the cursor to be saved now if it moved since the last save (before quitting).
pub(super) fn flush(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    if let Some(cursor) = app.sync.cursor
        && app.sync.saved != Some(cursor)
    {
        app.sync.saved = Some(cursor);
        app.sync.saved_at = Some(now);
        out.push(Effect::SaveCursor(cursor));
    }
}

/// A sync replays every message that came while we were away: one bell for them is enough.
pub(super) fn one_bell(app: &mut App, out: &mut Vec<Effect>) {
    if !app.sync.syncing {
        return;
    }
    let mut rang = app.sync.rang;
    out.retain(|effect| {
        if *effect != Effect::Bell {
            return true;
        }
        let keep = !rang;
        rang = true;
        keep
    });
    app.sync.rang = rang;
}
