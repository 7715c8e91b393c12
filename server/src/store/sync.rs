//! Events: every frame pushed to users because something happened has a row here, and its
//! `seq` is the row's id (one sequence for everyone, only growing). `chat.sync` reads a user's
//! events after a `seq`. A new message's event is written in the message's own transaction (the
//! writer's, `messages.rs`); the others are recorded right after the change they announce
//! commits, before the frame is pushed. Events older than the retention are pruned.

use chat_shared::{ServerMsg, Timestamp};

use super::{Result, Store, StoreError};

/// Whom an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every member of the conversation (from when they joined).
    Members(i64),
    /// One user; `about` is the conversation it concerns (rebuilt for them at sync), if any.
    User { user_id: i64, about: Option<i64> },
    /// Everyone who shares a conversation with this user, whom the event is about (presence).
    Contacts(i64),
}

/// An event to record: who it is for and what it says.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub audience: Audience,
    pub body: EventBody,
}

/// What an event replays as.
#[derive(Debug, Clone)]
pub enum EventBody {
    /// A frame replayed as it was pushed (`chat.read`, `chat.message_status`,
    /// `chat.message_updated`, a `chat.conversation_updated` with `left`).
    Frame(Box<ServerMsg>),
    /// `chat.conversation_updated` with the conversation as the user sees it at sync time (a
    /// group's full member list is not copied into an event per member, and each member sees
    /// their own `muted`).
    Conversation,
    /// `chat.message` with the stored message (by id) as it is at sync time.
    Message(i64),
}

/// The events a `chat.sync` answers with.
#[derive(Debug)]
pub enum SyncPage {
    /// `since` is older than the events kept: reload, then continue from `seq`.
    Gone { seq: i64 },
    /// The events after `since`, oldest first, as `(seq, frame)`; `seq` is the cursor to
    /// continue from, and `has_more` says whether more follow it.
    Events {
        events: Vec<(i64, ServerMsg)>,
        seq: i64,
        has_more: bool,
    },
}

/// An event row as the sync query reads it.
#[derive(sqlx::FromRow)]
struct StoredEvent {
    seq: i64,
    kind: String,
    conversation_id: Option<i64>,
    message_id: Option<i64>,
    frame: Option<String>,
}

/// Taken by every transaction that writes events on PostgreSQL (released at its end), so that
/// events commit in `seq` order across connections and instances: a sync that has read up to a
/// `seq` never finds a smaller one committed later. SQLite has one writer already. Taken as late
/// as possible (just before the events are inserted), and keyed by schema: deployments (or test
/// runs) in other schemas of one database do not wait for each other.
pub(super) const SERIALIZE_EVENTS: &str =
    "SELECT pg_advisory_xact_lock(7400131, hashtext(current_schema()))";

/// Most events one pruning transaction deletes.
const PRUNE_BATCH: i64 = 10_000;

/// Kinds of events (the `kind` column).
pub(super) const MESSAGE: &str = "message";
const FRAME: &str = "frame";
const CONVERSATION: &str = "conversation";

/// The columns of one event row: conversation, user, kind, message, frame, subject.
pub(super) type EventRow<'a> = (
    Option<i64>,
    Option<i64>,
    &'a str,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// The rows that record `events`.
pub(super) fn event_rows(events: &[NewEvent]) -> Vec<EventRow<'static>> {
    events
        .iter()
        .map(|e| {
            let (conversation_id, user_id, subject_id) = match e.audience {
                Audience::Members(id) => (Some(id), None, None),
                Audience::User { user_id, about } => (about, Some(user_id), None),
                Audience::Contacts(subject) => (None, None, Some(subject)),
            };
            let (kind, message_id, frame) = match &e.body {
                EventBody::Frame(frame) => (FRAME, None, Some(frame.to_json())),
                EventBody::Conversation => (CONVERSATION, None, None),
                EventBody::Message(id) => (MESSAGE, Some(*id), None),
            };
            (
                conversation_id,
                user_id,
                kind,
                message_id,
                frame,
                subject_id,
            )
        })
        .collect()
}

/// Inserts event rows (`&[EventRow]`) made at `$now` in the transaction `$tx`, which on
/// PostgreSQL holds [`SERIALIZE_EVENTS`]; their `seq`s, in the rows' order.
macro_rules! insert_events {
    ($tx:ident, $rows:expr, $now:expr) => {{
        let rows: &[$crate::store::sync::EventRow] = $rows;
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO events
               (conversation_id, user_id, kind, message_id, frame, subject_id, created_at)
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7
             FROM (",
        );
        insert.push_values(rows.iter().enumerate(), |mut row, (i, r)| {
            row.push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3)
                .push_bind(r.4.as_deref())
                .push_bind(r.5)
                .push_bind($now.0)
                .push_bind(i as i64);
        });
        // Ordered, so that seqs are given in the order of the events.
        insert.push(") AS v ORDER BY v.column8 RETURNING seq");
        let mut seqs: Vec<i64> = insert
            .build_query_scalar()
            .persistent(false)
            .fetch_all(&mut *$tx)
            .await?;
        if seqs.len() != rows.len() {
            return Err($crate::store::StoreError::Inconsistent(format!(
                "{} events recorded as {} rows",
                rows.len(),
                seqs.len()
            )));
        }
        seqs.sort_unstable();
        seqs
    }};
}

impl Store {
    /// The newest `seq` (0 before any event).
    pub async fn newest_seq(&self) -> Result<i64> {
        let (newest, pruned): (i64, i64) = on!(self, read pool => {
            sqlx::query_as(
                "SELECT COALESCE((SELECT MAX(seq) FROM events), 0), pruned_through
                 FROM sync_state WHERE id = 1",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(newest.max(pruned))
    }

    /// The newest `seq` of the events made before `at_ms` (Unix milliseconds), 0 when none.
    pub async fn seq_before(&self, at_ms: i64) -> Result<i64> {
        let seq: Option<i64> = on!(self, read pool => {
            sqlx::query_scalar(
                "SELECT seq FROM events WHERE created_at < $1
                 ORDER BY created_at DESC, seq DESC LIMIT 1",
            )
            .bind(at_ms)
            .fetch_optional(pool)
            .await?
        });
        Ok(seq.unwrap_or(0))
    }

    /// Deletes the events older than `retention_ms`, at most [`PRUNE_BATCH`] rows per
    /// transaction (so that writers wait little), and remembers the highest `seq` deleted: a
    /// sync from before it gets `chat.resync_required`. The number of events deleted.
    pub async fn prune_events(&self, retention_ms: i64) -> Result<u64> {
        let cutoff = Timestamp::now().0.saturating_sub(retention_ms);
        let floor = self.seq_before(cutoff).await?;
        if floor == 0 {
            return Ok(0);
        }
        let mut deleted = 0;
        loop {
            let done: u64 = transaction!(self, tx => {
                sqlx::query(
                    "UPDATE sync_state SET pruned_through = $1
                     WHERE id = 1 AND pruned_through < $1",
                )
                .bind(floor)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM events WHERE seq IN (
                       SELECT seq FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2)",
                )
                .bind(floor)
                .bind(PRUNE_BATCH)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            });
            deleted += done;
            if done < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Records events, in order; their `seq`s, in the same order.
    pub async fn record_events(&self, events: &[NewEvent]) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = event_rows(events);
        let now = Timestamp::now();
        let postgres = self.is_postgres();
        Ok(transaction!(self, tx => {
            if postgres {
                sqlx::query(SERIALIZE_EVENTS).execute(&mut *tx).await?;
            }
            insert_events!(tx, &rows, now)
        }))
    }

    /// `user`'s events after `since`: at most `max_events` of them and about `max_bytes` of
    /// frames (always one), or [`SyncPage::Gone`] when events after `since` may have been
    /// pruned (older than `retention_ms`, or pruned already).
    pub async fn events_since(
        &self,
        user: i64,
        since: i64,
        max_events: i64,
        max_bytes: usize,
        retention_ms: i64,
    ) -> Result<SyncPage> {
        let cutoff = Timestamp::now().0.saturating_sub(retention_ms);
        let (pruned, expired, newest): (i64, Option<i64>, i64) = on!(self, read pool => {
            sqlx::query_as(
                "SELECT pruned_through,
                        (SELECT seq FROM events WHERE created_at < $1
                         ORDER BY created_at DESC, seq DESC LIMIT 1),
                        COALESCE((SELECT MAX(seq) FROM events), 0)
                 FROM sync_state WHERE id = 1",
            )
            .bind(cutoff)
            .fetch_one(pool)
            .await?
        });
        // Events up to `floor` are gone, or past the retention.
        let floor = pruned.max(expired.unwrap_or(0));
        if since < floor {
            return Ok(SyncPage::Gone {
                seq: newest.max(pruned),
            });
        }
        let rows: Vec<StoredEvent> = on!(self, read pool => {
            sqlx::query_as(
                "SELECT seq, kind, conversation_id, message_id, frame FROM (
                   SELECT e.seq, e.kind, e.conversation_id, e.message_id, e.frame
                   FROM events e WHERE e.user_id = $1 AND e.seq > $2
                   UNION ALL
                   SELECT e.seq, e.kind, e.conversation_id, e.message_id, e.frame
                   FROM participants p
                   JOIN events e ON e.conversation_id = p.conversation_id AND e.user_id IS NULL
                   WHERE p.user_id = $1 AND e.seq > $2 AND e.created_at >= p.joined_at
                   UNION ALL
                   SELECT e.seq, e.kind, e.conversation_id, e.message_id, e.frame
                   FROM events e
                   WHERE e.seq > $2 AND e.subject_id IN (
                     SELECT b.user_id FROM participants a
                     JOIN participants b ON b.conversation_id = a.conversation_id
                     WHERE a.user_id = $1 AND b.user_id <> $1)
                 ) AS mine ORDER BY seq LIMIT $3",
            )
            .bind(user)
            .bind(since)
            .bind(max_events)
            .fetch_all(pool)
            .await?
        });
        let full = rows.len() as i64 >= max_events;
        let message_ids: Vec<i64> = rows
            .iter()
            .filter(|r| r.kind == MESSAGE)
            .filter_map(|r| r.message_id)
            .collect();
        let mut messages: std::collections::HashMap<i64, chat_shared::ChatMessage> = self
            .messages_by_id(&message_ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut events = Vec::with_capacity(rows.len());
        let mut bytes = 0usize;
        let mut cut = false;
        // The last event dealt with (sent, or left out as gone).
        let mut through = since;
        for row in rows {
            let frame = match row.kind.as_str() {
                MESSAGE => match row.message_id.and_then(|id| messages.remove(&id)) {
                    Some(message) => ServerMsg::Message { message },
                    None => {
                        through = row.seq; // gone with its sender's account
                        continue;
                    }
                },
                CONVERSATION => {
                    let Some(id) = row.conversation_id else {
                        through = row.seq;
                        continue;
                    };
                    match self.conversation(id, user).await? {
                        Some(conversation) => ServerMsg::ConversationUpdated {
                            conversation,
                            left: false,
                        },
                        None => {
                            through = row.seq; // no longer a member: its `left` event says so
                            continue;
                        }
                    }
                }
                _ => {
                    let json = row.frame.as_deref().unwrap_or_default();
                    serde_json::from_str(json).map_err(|e| {
                        StoreError::Inconsistent(format!("event {}'s frame: {e}", row.seq))
                    })?
                }
            };
            let size = frame.to_json().len();
            if !events.is_empty() && bytes.saturating_add(size) > max_bytes {
                cut = true;
                break;
            }
            bytes += size;
            through = row.seq;
            events.push((row.seq, frame));
        }
        let has_more = full || cut;
        let seq = if has_more {
            through
        } else {
            through.max(newest)
        };
        Ok(SyncPage::Events {
            events,
            seq,
            has_more,
        })
    }
}

/// Prunes events past `retention` at start and then every `every`, until `stop`.
pub async fn prune_events_every(
    store: Store,
    retention: std::time::Duration,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store.prune_events(retention_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned events past the sync retention"),
            Err(e) => tracing::warn!(error = %e, "pruning events failed; trying again later"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
