//! Messages we sent whose echo has not come back. Each carries a `client_id`, and the server
//! stores a `client_id` once (a retry is answered with the message first stored), so waiting
//! messages are kept across a lost connection and sent again, unchanged, once connected; the
//! echo is matched by `client_id`, never by text. A message is given back to the composer only
//! when the server refuses it, or after `MAX_SENDS` sends on live connections without an echo.

use std::time::Instant;

use chat_shared::ChatMessage;

use crate::tui::app::{App, MAX_SENDS, NoticeKind, PENDING_TTL, Pending};
use crate::tui::effect::Effect;

/// The echo of a message of ours: it is stored, so it no longer waits. An echo without a
/// `client_id` (a server without them) is matched by its text.
pub(super) fn confirm(app: &mut App, echo: &ChatMessage) {
    let found = app.pending.iter().position(|p| match &echo.client_id {
        Some(id) => p.client_id == *id,
        None => p.conversation_id == echo.conversation_id && p.content == echo.content,
    });
    if let Some(i) = found {
        app.pending.remove(i);
    }
}

/// Sends every waiting message (again), with its own `client_id`, on a new connection.
pub(super) fn resend(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    for pending in &mut app.pending {
        pending.sent_at = Some(now);
        out.push(Effect::Send(pending.frame()));
    }
}

/// The connection is lost: what was sent on it waits for the next one.
pub(super) fn connection_lost(app: &mut App) {
    for pending in &mut app.pending {
        pending.sent_at = None;
    }
}

/// Sends again the messages without an echo for `PENDING_TTL` (the server may have dropped
/// the frame, e.g. when rate limiting); gives back those sent `MAX_SENDS` times already.
pub(super) fn expire(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    if !app.is_connected() {
        return;
    }
    let late = |p: &Pending| {
        p.sent_at
            .is_some_and(|at| now.saturating_duration_since(at) >= PENDING_TTL)
    };
    if !app.pending.iter().any(late) {
        return;
    }
    let (lost, kept): (Vec<Pending>, Vec<Pending>) = app
        .pending
        .drain(..)
        .partition(|p| late(p) && p.sends + 1 >= MAX_SENDS);
    app.pending = kept;
    for pending in app.pending.iter_mut().filter(|p| late(p)) {
        pending.sends += 1;
        pending.sent_at = Some(now);
        out.push(Effect::Send(pending.frame()));
    }
    give_back(app, lost, "no answer", now);
}

/// Gives back the oldest message sent on this connection: errors come back in request order,
/// so a refused `chat.message` is the oldest unconfirmed one.
pub(super) fn refused(app: &mut App, now: Instant) {
    if let Some(i) = app.pending.iter().position(|p| p.sent_at.is_some()) {
        let failed = app.pending.remove(i);
        give_back(app, vec![failed], "refused", now);
    }
}

/// Puts the text of unconfirmed messages to the open conversation back at the start of the
/// composer (keeping whatever is being written), and says so.
fn give_back(app: &mut App, lost: Vec<Pending>, why: &str, now: Instant) {
    if lost.is_empty() {
        return;
    }
    let restore = lost
        .iter()
        .filter(|p| Some(p.conversation_id) == app.open)
        .map(|p| p.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let text = if restore.is_empty() {
        format!(
            "{why}: {} message(s) not confirmed by the server",
            lost.len()
        )
    } else {
        // The cursor stays where it was in the text being written.
        let composer = &mut app.composer;
        if composer.text.is_empty() {
            composer.set(restore);
        } else {
            composer.cursor += restore.chars().count() + 1;
            composer.text = format!("{restore}\n{}", composer.text);
        }
        format!("{why}: message not confirmed by the server, it is back in the composer")
    };
    app.notify(NoticeKind::Error, text, now);
}
