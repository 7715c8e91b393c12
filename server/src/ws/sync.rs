//! Pushed frames and `chat.sync`: a frame pushed because something happened is recorded as an
//! event first and goes out with its `seq`; `chat.sync` replays a user's events after a `seq`.

use chat_shared::ServerMsg;

use crate::error::ChatError;
use crate::state::AppState;
use crate::store::{Audience, EventBody, NewEvent, SyncPage};

use super::caller::{Caller, Outcome};

/// Most events in one `chat.sync` answer.
const SYNC_EVENTS: i64 = 500;

/// One event: how it is kept, and the frames that announce it live (each to some users, but
/// the connection `except`), all with the event's `seq`.
pub struct Push {
    pub audience: Audience,
    pub replay: EventBody,
    pub live: Vec<(Vec<i64>, ServerMsg)>,
    pub except: Option<u64>,
}

impl Push {
    /// An event replayed as its one live frame, to `users`.
    pub fn frame(audience: Audience, users: Vec<i64>, frame: ServerMsg) -> Push {
        Push {
            audience,
            replay: EventBody::Frame(Box::new(frame.clone())),
            live: vec![(users, frame)],
            except: None,
        }
    }
}

/// Records the events (in order, one transaction), then pushes each one's frames with its `seq`.
pub async fn push(state: &AppState, pushes: Vec<Push>) -> Result<(), ChatError> {
    let events: Vec<NewEvent> = pushes
        .iter()
        .map(|p| NewEvent {
            audience: p.audience,
            body: p.replay.clone(),
        })
        .collect();
    let seqs = state.store.record_events(&events).await?;
    for (p, seq) in pushes.iter().zip(seqs) {
        for (users, frame) in &p.live {
            if !users.is_empty() {
                state.fanout.push(users, frame, seq, p.except);
            }
        }
    }
    Ok(())
}

/// The `chat.message_status` frames of status changes, each to its message's sender.
pub fn statuses(changes: &crate::store::StatusChanges) -> Vec<Push> {
    changes
        .iter()
        .map(|&(message_id, sender_id, status)| {
            let audience = Audience::User {
                user_id: sender_id,
                about: None,
            };
            let frame = ServerMsg::MessageStatus { message_id, status };
            Push::frame(audience, vec![sender_id], frame)
        })
        .collect()
}

/// chat.sync: the caller's events after `since` (a page of them, then `chat.synced`), or
/// `chat.resync_required`; without `since`, the cursor to start from.
pub async fn sync(state: &AppState, s: &Caller, since: Option<i64>) -> Outcome {
    let Some(since) = since else {
        let seq = state.store.newest_seq().await?;
        s.conn.send(&ServerMsg::Synced {
            seq,
            has_more: false,
        });
        return Ok(());
    };
    if since < 0 {
        return Err(ChatError::InvalidField("`since` must be at least 0".into()));
    }
    let retention = i64::try_from(state.config.sync_retention.as_millis()).unwrap_or(i64::MAX);
    let max_bytes = usize::try_from(state.config.history_page_bytes).unwrap_or(usize::MAX);
    let page = state
        .store
        .events_since(s.user.id, since, SYNC_EVENTS, max_bytes, retention)
        .await?;
    match page {
        SyncPage::Gone { seq } => s.conn.send(&ServerMsg::ResyncRequired { seq }),
        SyncPage::Events {
            events,
            seq,
            has_more,
        } => {
            for (event_seq, frame) in events {
                if !s.conn.takes(frame.kind()) {
                    continue;
                }
                let text = serde_json::to_string(&chat_shared::Pushed {
                    seq: Some(event_seq),
                    frame,
                })
                .expect("server frames always serialize");
                s.conn.push(text.into(), false);
            }
            s.conn.send(&ServerMsg::Synced { seq, has_more });
        }
    }
    Ok(())
}
