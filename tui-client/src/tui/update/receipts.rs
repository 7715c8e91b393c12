//! Our `chat.read` and `chat.delivered` receipts, at most one a second per conversation:
//! receipts in between are gathered into the next one, which `tick` sends once the gap has
//! passed, so a burst of messages costs one or two frames.

use std::time::Instant;

use chat_shared::ClientMsg;

use crate::tui::app::{App, DELIVERED_GAP, READ_GAP};
use crate::tui::effect::Effect;

/// Sends `chat.read` if the open conversation has messages from others we have not marked
/// read: at once, or after `READ_GAP` since the last one (see [`reads_due`]).
pub(super) fn mark_read(app: &mut App, conv: i64, now: Instant, out: &mut Vec<Effect>) {
    let me = app.my_id();
    let newest_other = app
        .threads
        .get(&conv)
        .and_then(|t| t.newest_from_others(me));
    let item_unread = app.conversation(conv).is_some_and(|c| c.unread > 0);
    let connected = app.is_connected();
    let thread = app.threads.entry(conv).or_default();
    let behind = newest_other.is_some() && newest_other > thread.read_upto;
    if (behind || item_unread) && connected {
        thread.read_upto = newest_other.or(thread.read_upto);
        let recent = thread
            .read_sent_at
            .is_some_and(|at| now.saturating_duration_since(at) < READ_GAP);
        if recent {
            thread.read_due = true;
        } else {
            thread.read_sent(now);
            out.push(Effect::Send(ClientMsg::Read {
                conversation_id: conv,
            }));
        }
    }
    app.clear_unread(conv);
}

/// The owed `chat.read` whose gap has passed.
pub(super) fn reads_due(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let due: Vec<i64> = app
        .threads
        .iter()
        .filter(|(_, t)| {
            t.read_due
                && t.read_sent_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= READ_GAP)
        })
        .map(|(id, _)| *id)
        .collect();
    for conv in due {
        if let Some(thread) = app.threads.get_mut(&conv) {
            thread.read_sent(now);
            out.push(Effect::Send(ClientMsg::Read {
                conversation_id: conv,
            }));
        }
    }
}

/// Sends `chat.delivered` for message `id` of `conv`: at once, or, within `DELIVERED_GAP` of
/// the last one, later from `tick` for the conversation's newest message (the server's marker
/// covers the ones before it). A message at or below what was already sent costs nothing.
pub(super) fn deliver(app: &mut App, conv: i64, id: i64, now: Instant, out: &mut Vec<Effect>) {
    let connected = app.is_connected();
    let delivery = app.delivered.entry(conv).or_default();
    if delivery.sent_upto.is_some_and(|sent| sent >= id) {
        return;
    }
    let recent = delivery
        .sent_at
        .is_some_and(|at| now.saturating_duration_since(at) < DELIVERED_GAP);
    if recent || !connected {
        delivery.due = delivery.due.max(Some(id));
    } else {
        delivery.sent_upto = Some(id);
        delivery.sent_at = Some(now);
        delivery.due = None;
        out.push(Effect::Send(ClientMsg::Delivered { message_id: id }));
    }
}

/// The owed `chat.delivered` whose gap has passed, one per conversation, in conversation order.
pub(super) fn deliveries_due(app: &mut App, now: Instant, out: &mut Vec<Effect>) {
    let mut due: Vec<(i64, i64)> = app
        .delivered
        .iter()
        .filter(|(_, d)| {
            d.sent_at
                .is_none_or(|at| now.saturating_duration_since(at) >= DELIVERED_GAP)
        })
        .filter_map(|(conv, d)| d.due.map(|id| (*conv, id)))
        .collect();
    due.sort_unstable();
    for (conv, id) in due {
        if let Some(delivery) = app.delivered.get_mut(&conv) {
            delivery.due = None;
            // Opened meanwhile: the `chat.read` sent on opening says more.
            if app.open != Some(conv) {
                delivery.sent_upto = Some(id);
                delivery.sent_at = Some(now);
                out.push(Effect::Send(ClientMsg::Delivered { message_id: id }));
            }
        }
    }
}
