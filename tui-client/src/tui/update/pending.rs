//! Messages we sent whose echo has not come back: confirmed by the echo, or given back to the composer when the
//! connection drops, when the server refuses one, or when no echo comes in `PENDING_TTL`.
//! Resending them blindly could store a message twice.

use std::time::Instant;

use chat_shared::ChatMessage;

use crate::tui::app::{App, NoticeKind, PENDING_TTL, Pending};

/// The echo of a message of ours: it is stored, so it no longer waits.
pub(super) fn confirm(app: &mut App, echo: &ChatMessage) {
    if let Some(i) = app
        .pending
        .iter()
        .position(|p| p.conversation_id == echo.conversation_id && p.content == echo.content)
    {
        app.pending.remove(i);
    }
}

/// Gives back every message still waiting, once the connection is lost.
pub(super) fn connection_lost(app: &mut App, now: Instant) {
    let lost: Vec<_> = app.pending.drain(..).collect();
    give_back(app, lost, "connection lost", now);
}

/// Gives back the messages without an echo for `PENDING_TTL`.
pub(super) fn expire(app: &mut App, now: Instant) {
    if app
        .pending
        .first()
        .is_some_and(|p| now.saturating_duration_since(p.sent_at) >= PENDING_TTL)
    {
        let (lost, kept) = app
            .pending
            .drain(..)
            .partition(|p| now.saturating_duration_since(p.sent_at) >= PENDING_TTL);
        app.pending = kept;
        give_back(app, lost, "no answer", now);
    }
}

/// Gives back the oldest message waiting: errors come back in request order, so a refused
/// `chat.message` is the oldest unconfirmed one.
pub(super) fn refused(app: &mut App, now: Instant) {
    if !app.pending.is_empty() {
        let failed = app.pending.remove(0);
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
            composer.cursor = restore.chars().count();
            composer.text = restore;
        } else {
            composer.cursor += restore.chars().count() + 1;
            composer.text = format!("{restore}\n{}", composer.text);
        }
        format!("{why}: message not confirmed by the server, it is back in the composer")
    };
    app.notify(NoticeKind::Error, text, now);
}
