//! Where `chat tail` stands in the server's events, and which frames it shows, in what order.
//!
//! Each connection says `chat.hello`, then syncs from the cursor (the highest `seq` handled) and
//! follows live frames. Live frames can arrive in the middle of a sync's replay, so while a sync
//! runs every frame with a `seq` is held, and each page is shown in `seq` order once
//! `chat.synced` says it is complete. Every `seq` shown is remembered, so a frame that comes
//! twice (live and replayed, or replayed again after `chat.sync_hint`) is shown once.

use std::collections::{BTreeMap, BTreeSet};

use chat_shared::{ClientMsg, ErrorCode, Pushed, ServerMsg};

/// Most frames held during a sync. Past it the newest are let go, and another sync fetches
/// them once this one ends.
const HELD: usize = 2_000;
/// How many handled `seq`s are remembered to drop repeats; older ones count as handled.
const REMEMBERED: usize = 10_000;

/// A frame from the server: what it says, and its text (printed as it is with `--json`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Received {
    pub seq: Option<i64>,
    pub frame: ServerMsg,
    pub text: String,
}

impl Received {
    /// The frame in `text`, `None` when it is not a server frame this client knows.
    pub fn parse(text: String) -> Option<Received> {
        let Pushed { seq, frame } = serde_json::from_str(&text).ok()?;
        Some(Received { seq, frame, text })
    }
}

/// What one frame leads to.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Step {
    /// Frames to show, in order.
    pub show: Vec<Received>,
    /// Frames to send.
    pub send: Vec<ClientMsg>,
    /// Things to tell the person (on standard error).
    pub notices: Vec<String>,
    /// A sync ended and live frames follow: the cursor.
    pub caught_up: Option<i64>,
    /// The connection cannot go on (the server failed a sync or hello): why.
    pub lost: Option<String>,
    /// Following cannot go on (the server refused a sync or hello as such): why.
    pub refused: Option<String>,
}

/// The `seq`s handled, to show each event once: every one at or below `floor`, and those in
/// `recent`.
#[derive(Debug)]
struct Seen {
    floor: i64,
    recent: BTreeSet<i64>,
}

impl Seen {
    fn new(floor: i64) -> Seen {
        Seen {
            floor,
            recent: BTreeSet::new(),
        }
    }

    fn is_new(&self, seq: i64) -> bool {
        seq > self.floor && !self.recent.contains(&seq)
    }

    fn mark(&mut self, seq: i64) {
        self.recent.insert(seq);
        while self.recent.len() > REMEMBERED {
            if let Some(oldest) = self.recent.pop_first() {
                self.floor = self.floor.max(oldest);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `chat.hello` sent, waiting for `chat.welcome`.
    Greeting,
    /// `chat.sync` sent, waiting for `chat.synced`.
    Syncing,
    Live,
}

/// The follower's state across connections.
#[derive(Debug)]
pub(super) struct Follow {
    /// `None` until the start is known (from the first `chat.welcome` when not given).
    seen: Option<Seen>,
    /// The highest `seq` handled or synced through: the next sync starts here.
    cursor: Option<i64>,
    phase: Phase,
    /// Frames with a `seq` that arrived during a sync, by `seq`.
    held: BTreeMap<i64, Received>,
    /// Frames were let go during this sync: sync again once it ends.
    overflowed: bool,
    /// A `chat.sync_hint` came during a sync: sync again from here once it ends.
    rewind: Option<i64>,
}

impl Follow {
    /// Starts after `since` (replaying what came after it), or, with `None`, after the newest
    /// event when the first connection is made.
    pub fn new(since: Option<i64>) -> Follow {
        Follow {
            seen: since.map(Seen::new),
            cursor: since,
            phase: Phase::Greeting,
            held: BTreeMap::new(),
            overflowed: false,
            rewind: None,
        }
    }

    /// The highest `seq` handled: `--since` with it resumes after what was shown.
    pub fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// Whether an answer to `chat.hello` or `chat.sync` is awaited.
    pub fn waiting(&self) -> bool {
        self.phase != Phase::Live
    }

    /// A new connection: say hello first.
    pub fn connected(&mut self) -> ClientMsg {
        self.phase = Phase::Greeting;
        ClientMsg::Hello {
            client: "chat-cli".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// One frame from the server.
    pub fn on_frame(&mut self, received: Received) -> Step {
        let mut step = Step::default();
        if let Some(seq) = received.seq {
            match (&mut self.seen, self.phase) {
                (Some(seen), Phase::Live) => {
                    if seen.is_new(seq) {
                        seen.mark(seq);
                        self.cursor = self.cursor.max(Some(seq));
                        step.show.push(received);
                    }
                }
                _ => self.hold(seq, received),
            }
            return step;
        }
        match received.frame {
            ServerMsg::Welcome { seq, .. } if self.phase == Phase::Greeting => {
                let cursor = *self.cursor.get_or_insert(seq);
                self.seen.get_or_insert_with(|| Seen::new(cursor));
                let from = self.rewind.take().map_or(cursor, |r| r.min(cursor));
                self.sync_from(from, &mut step);
            }
            ServerMsg::Synced { seq, has_more } if self.phase == Phase::Syncing => {
                // A page is complete up to `seq`; after the last one, so is every frame held.
                self.release(has_more.then_some(seq), &mut step);
                self.cursor = self.cursor.max(Some(seq));
                if has_more {
                    step.send.push(ClientMsg::Sync { since: Some(seq) });
                } else {
                    self.sync_ended(&mut step);
                }
            }
            ServerMsg::ResyncRequired { seq } if self.phase == Phase::Syncing => {
                let cursor = self.cursor.unwrap_or_default();
                step.notices.push(format!(
                    "the server no longer keeps the events after seq {cursor}: some were \
                     missed; following from seq {seq}"
                ));
                self.release(None, &mut step);
                self.cursor = self.cursor.max(Some(seq));
                self.sync_ended(&mut step);
            }
            ServerMsg::SyncHint { since } => {
                let cursor = self.cursor.unwrap_or_default();
                let from = since.map_or(cursor, |since| since.min(cursor));
                match self.phase {
                    Phase::Live => self.sync_from(from, &mut step),
                    _ => self.rewind = Some(self.rewind.map_or(from, |r| r.min(from))),
                }
            }
            ServerMsg::Error {
                code,
                message,
                request_type: Some(request_type),
            } if self.waiting() && ["chat.hello", "chat.sync"].contains(&request_type.as_str()) => {
                let why = format!(
                    "the server refused {request_type}: {message} ({})",
                    code.as_str()
                );
                // A server that failed may not next time; one that does not know the frame will
                // not.
                if matches!(code, ErrorCode::Internal | ErrorCode::RateLimited) {
                    step.lost = Some(why);
                } else {
                    step.refused = Some(why);
                }
            }
            _ => step.show.push(received),
        }
        step
    }

    fn sync_from(&mut self, since: i64, step: &mut Step) {
        self.phase = Phase::Syncing;
        step.send.push(ClientMsg::Sync { since: Some(since) });
    }

    /// The last page came: live frames follow, unless frames were let go or a hint came.
    fn sync_ended(&mut self, step: &mut Step) {
        let cursor = self.cursor.unwrap_or_default();
        let again = if std::mem::take(&mut self.overflowed) {
            Some(cursor)
        } else {
            None
        };
        match again.into_iter().chain(self.rewind.take()).min() {
            Some(from) => self.sync_from(from, step),
            None => {
                self.phase = Phase::Live;
                step.caught_up = Some(cursor);
            }
        }
    }

    /// Keeps a frame until its sync page is complete; one already handled is dropped.
    fn hold(&mut self, seq: i64, received: Received) {
        if self.seen.as_ref().is_some_and(|seen| !seen.is_new(seq)) {
            return;
        }
        self.held.insert(seq, received);
        if self.held.len() > HELD {
            self.held.pop_last();
            self.overflowed = true;
        }
    }

    /// Shows the held frames up to `upto` (all with `None`), in `seq` order, each once.
    fn release(&mut self, upto: Option<i64>, step: &mut Step) {
        let later = match upto {
            Some(upto) => self.held.split_off(&(upto + 1)),
            None => BTreeMap::new(),
        };
        let ready = std::mem::replace(&mut self.held, later);
        let Some(seen) = self.seen.as_mut() else {
            return;
        };
        for (seq, received) in ready {
            if seen.is_new(seq) {
                seen.mark(seq);
                self.cursor = self.cursor.max(Some(seq));
                step.show.push(received);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::{ChatMessage, Limits, Timestamp, UserRef};

    use super::*;

    fn pushed(seq: i64, id: i64) -> Received {
        let sender = UserRef {
            id: 2,
            username: "bob".into(),
        };
        let message = ChatMessage::new(id, 3, sender, format!("m{id}"), Timestamp(0));
        let frame = ServerMsg::Message { message };
        let text = Pushed {
            seq: Some(seq),
            frame: frame.clone(),
        }
        .to_json();
        Received {
            seq: Some(seq),
            frame,
            text,
        }
    }

    fn answer(frame: ServerMsg) -> Received {
        Received {
            seq: None,
            text: frame.to_json(),
            frame,
        }
    }

    fn welcome(seq: i64) -> Received {
        let limits: Limits = serde_json::from_value(serde_json::json!({
            "max_message_chars": 1, "max_frame_bytes": 1, "history_limit": 1,
            "history_page_bytes": 1, "max_group_members": 1, "max_connections_per_user": 1,
            "rate_limit_per_second": 1, "rate_limit_burst": 1, "typing_interval_ms": 1,
            "max_client_id_chars": 1, "max_emoji_chars": 1, "max_reactions": 1
        }))
        .expect("limits");
        answer(ServerMsg::Welcome {
            server_version: "0".into(),
            protocol_version: 2,
            features: Vec::new(),
            user: UserRef {
                id: 1,
                username: "me".into(),
            },
            limits,
            seq,
            presence_visible: true,
        })
    }

    fn synced(seq: i64, has_more: bool) -> Received {
        answer(ServerMsg::Synced { seq, has_more })
    }

    fn shown(step: &Step) -> Vec<i64> {
        step.show.iter().filter_map(|r| r.seq).collect()
    }

    fn sync(since: i64) -> Vec<ClientMsg> {
        vec![ClientMsg::Sync { since: Some(since) }]
    }

    /// A follower that has said hello, synced and gone live at `cursor`.
    fn live(since: Option<i64>, cursor: i64) -> Follow {
        let mut follow = Follow::new(since);
        follow.connected();
        follow.on_frame(welcome(cursor));
        let step = follow.on_frame(synced(cursor, false));
        assert_eq!(step.caught_up, Some(since.unwrap_or(cursor).max(cursor)));
        follow
    }

    #[test]
    fn without_a_start_it_follows_from_the_welcome_and_syncs_from_there() {
        let mut follow = Follow::new(None);
        assert!(matches!(follow.connected(), ClientMsg::Hello { .. }));
        // Frames before the welcome are held: those at or below its seq are old news.
        assert_eq!(follow.on_frame(pushed(40, 1)), Step::default());
        assert_eq!(follow.on_frame(pushed(43, 2)), Step::default());
        assert_eq!(follow.on_frame(welcome(42)).send, sync(42));
        assert!(follow.waiting());
        let step = follow.on_frame(synced(43, false));
        assert_eq!(shown(&step), [43]);
        assert_eq!(step.caught_up, Some(43));
        assert!(!follow.waiting());
        assert_eq!(shown(&follow.on_frame(pushed(44, 3))), [44]);
        assert_eq!(follow.cursor(), Some(44));
    }

    #[test]
    fn a_replay_is_shown_in_order_with_live_frames_that_came_meanwhile_once_each() {
        let mut follow = Follow::new(Some(10));
        follow.connected();
        assert_eq!(follow.on_frame(welcome(99)).send, sync(10));
        // Live 30 arrives amid the replay of 11 and 20; 20 comes live too.
        for seq in [11, 30, 20, 20] {
            assert_eq!(follow.on_frame(pushed(seq, seq)), Step::default());
        }
        let step = follow.on_frame(synced(29, false));
        assert_eq!(shown(&step), [11, 20, 30]);
        assert_eq!(step.caught_up, Some(30));
        // Live again: repeats and anything at or below the start are dropped.
        assert!(follow.on_frame(pushed(30, 30)).show.is_empty());
        assert!(follow.on_frame(pushed(9, 9)).show.is_empty());
        // A frame that arrives late (pushed after a newer one) is still shown, once.
        assert_eq!(shown(&follow.on_frame(pushed(25, 25))), [25]);
        assert!(follow.on_frame(pushed(25, 25)).show.is_empty());
    }

    #[test]
    fn pages_are_followed_and_each_shown_when_complete() {
        let mut follow = Follow::new(Some(0));
        follow.connected();
        follow.on_frame(welcome(500));
        for seq in [1, 2, 3, 7] {
            follow.on_frame(pushed(seq, seq));
        }
        let page = follow.on_frame(synced(3, true));
        assert_eq!(shown(&page), [1, 2, 3]);
        assert_eq!(page.send, sync(3));
        assert_eq!(page.caught_up, None);
        follow.on_frame(pushed(5, 5));
        let last = follow.on_frame(synced(6, false));
        assert_eq!(shown(&last), [5, 7]);
        assert_eq!(last.caught_up, Some(7));
    }

    #[test]
    fn a_reconnect_syncs_from_the_cursor_and_shows_nothing_twice() {
        let mut follow = live(None, 100);
        follow.on_frame(pushed(101, 1));
        follow.connected();
        assert_eq!(follow.on_frame(welcome(150)).send, sync(101));
        for seq in [101, 102, 103] {
            follow.on_frame(pushed(seq, seq));
        }
        let step = follow.on_frame(synced(103, false));
        assert_eq!(shown(&step), [102, 103]);
        assert_eq!(follow.cursor(), Some(103));
    }

    #[test]
    fn a_hint_syncs_from_the_older_point_and_shows_only_what_was_missed() {
        let mut follow = live(Some(100), 100);
        for seq in [101, 103] {
            follow.on_frame(pushed(seq, seq));
        }
        let hint = follow.on_frame(answer(ServerMsg::SyncHint { since: Some(99) }));
        assert_eq!(hint.send, sync(99));
        for seq in [101, 102, 103] {
            follow.on_frame(pushed(seq, seq));
        }
        assert_eq!(shown(&follow.on_frame(synced(103, false))), [102]);
        // A hint during a sync waits for its end; one without `since` means the cursor.
        follow.on_frame(answer(ServerMsg::SyncHint { since: None }));
        assert!(follow.waiting());
        assert!(
            follow
                .on_frame(answer(ServerMsg::SyncHint { since: Some(50) }))
                .send
                .is_empty()
        );
        let step = follow.on_frame(synced(103, false));
        assert_eq!((step.send, step.caught_up), (sync(50), None));
    }

    #[test]
    fn too_many_held_frames_let_the_newest_go_and_sync_again() {
        let mut follow = Follow::new(Some(0));
        follow.connected();
        follow.on_frame(welcome(0));
        for seq in 1..=(HELD as i64 + 5) {
            follow.on_frame(pushed(seq, seq));
        }
        let step = follow.on_frame(synced(3, false));
        assert_eq!(step.show.len(), HELD);
        assert_eq!(step.send, sync(HELD as i64));
        assert_eq!(step.caught_up, None);
        follow.on_frame(pushed(HELD as i64 + 1, 1));
        let again = follow.on_frame(synced(HELD as i64 + 5, false));
        assert_eq!(shown(&again), [HELD as i64 + 1]);
        assert_eq!(again.caught_up, Some(HELD as i64 + 5));
    }

    #[test]
    fn a_cursor_too_old_is_said_and_following_goes_on_from_the_servers_seq() {
        let mut follow = Follow::new(Some(5));
        follow.connected();
        follow.on_frame(welcome(900));
        follow.on_frame(pushed(901, 1));
        let step = follow.on_frame(answer(ServerMsg::ResyncRequired { seq: 900 }));
        assert_eq!(shown(&step), [901]);
        assert_eq!(step.caught_up, Some(901));
        assert!(
            step.notices[0].contains("after seq 5"),
            "{:?}",
            step.notices
        );
    }

    #[test]
    fn a_failed_sync_ends_the_connection_a_refused_one_following_and_other_frames_pass() {
        let mut follow = Follow::new(Some(5));
        follow.connected();
        let typing = answer(ServerMsg::Typing {
            sender_id: 2,
            conversation_id: Some(3),
            is_typing: true,
        });
        assert_eq!(follow.on_frame(typing.clone()).show, [typing]);
        follow.on_frame(welcome(9));
        let refused = follow.on_frame(answer(ServerMsg::Error {
            code: chat_shared::ErrorCode::Internal,
            message: "the server failed".into(),
            request_type: Some("chat.sync".into()),
        }));
        assert!(refused.lost.is_some());
        // A server without sync cannot be followed: no point in connecting again.
        follow.connected();
        let unknown = follow.on_frame(answer(ServerMsg::Error {
            code: chat_shared::ErrorCode::UnknownType,
            message: "unknown message type chat.hello".into(),
            request_type: Some("chat.hello".into()),
        }));
        assert_eq!(unknown.lost, None);
        assert!(unknown.refused.is_some());
    }

    #[test]
    fn the_remembered_seqs_are_bounded() {
        let mut seen = Seen::new(0);
        for seq in 1..=(REMEMBERED as i64 + 10) {
            seen.mark(seq);
        }
        assert_eq!(seen.recent.len(), REMEMBERED);
        assert!(!seen.is_new(10) && !seen.is_new(11));
        assert!(seen.is_new(REMEMBERED as i64 + 11));
    }
}
