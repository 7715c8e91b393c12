//! The whole state of the terminal UI as plain data: screens, conversations, open messages,
//! composer, who is typing until when, connection state. No channels, sockets or clock here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chat_shared::{ChatMessage, ClientMsg, Member, MessageStatus, ReplyRef, Timestamp, UserRef};
use chrono::FixedOffset;

/// Messages asked for per `chat.get_messages` page.
pub const PAGE: i64 = 50;
/// The longest message the server accepts, in characters.
pub const MAX_CONTENT: usize = 4000;
/// An incoming typing indicator lasts this long after the last `true`.
pub const TYPING_TTL: Duration = Duration::from_secs(2);
/// Our own `is_typing: true` is repeated at most this often while keys come in.
pub const TYPING_REPEAT: Duration = Duration::from_secs(1);
/// Our own typing stops (`is_typing: false`) after this long without a key.
pub const TYPING_IDLE: Duration = Duration::from_secs(2);
/// Search waits this long after the last key before asking the server.
pub const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);
/// A status-bar notice (for example a `chat.error`) stays this long.
pub const NOTICE_TTL: Duration = Duration::from_secs(5);
/// At most this many messages are kept per conversation; beyond it the oldest are let go
/// (and can be fetched again by scrolling up).
pub const MAX_THREAD: usize = 10_000;
/// A sent message whose echo has not come back after this long, while connected, is sent again
/// with the same `client_id` (the server stores it at most once); after `MAX_SENDS` sends
/// without an echo it is given back to the user.
pub const PENDING_TTL: Duration = Duration::from_secs(10);
/// How often one message is sent on a live connection before it is given back (resends after
/// a reconnect do not count: the connection, not the message, was the trouble).
pub const MAX_SENDS: u32 = 3;
/// At most this many messages wait for their echo (sent, or written while offline)…
pub const MAX_PENDING: usize = 100;
/// …and at most this many bytes of text.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// `chat.read` for one conversation goes out at most this often; reads in between are
/// gathered into the next one, so a burst of messages costs one or two frames.
pub const READ_GAP: Duration = Duration::from_secs(1);
/// `chat.delivered` for one conversation goes out at most this often, for its newest message
/// (the server's delivery marker covers everything before it); a burst costs one or two.
pub const DELIVERED_GAP: Duration = Duration::from_secs(1);
/// At most this many search results are kept (the server sends at most 20).
pub const MAX_RESULTS: usize = 50;
/// The sync cursor is handed out to be saved at most this often (and once more on quitting).
pub const CURSOR_SAVE_GAP: Duration = Duration::from_secs(1);

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    SignIn,
    Chat,
}

/// A field of the sign-in form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Server,
    Username,
    Password,
}

/// The sign-in form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInForm {
    pub server: String,
    pub username: String,
    pub password: String,
    pub field: Field,
    /// Register a new account (then log in) instead of logging in.
    pub register: bool,
    /// A request is under way; keys are ignored until it answers.
    pub busy: bool,
    /// Why the last attempt failed, or why the user is here (session expired).
    pub message: Option<String>,
}

impl SignInForm {
    /// The text of the field that has the keyboard.
    pub fn field_mut(&mut self) -> &mut String {
        match self.field {
            Field::Server => &mut self.server,
            Field::Username => &mut self.username,
            Field::Password => &mut self.password,
        }
    }
}

/// The state of the WebSocket connection, as the network task last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// Not started (sign-in screen).
    Offline,
    Connecting,
    Connected,
    /// Dropped; the network task retries at `retry_at`.
    Disconnected {
        reason: String,
        retry_at: Instant,
    },
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Messages,
    Composer,
}

/// Who a conversation is with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvKind {
    /// Two people: the other participant (ourselves for a conversation with nobody else).
    Direct { peer: UserRef },
    /// A group: its title and every member, us included.
    Group { title: String, members: Vec<Member> },
}

/// One conversation in the left pane.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvItem {
    pub id: i64,
    pub kind: ConvKind,
    /// We muted it: no bell for it, except for a message that mentions us.
    pub muted: bool,
    /// The newest message's text, if any.
    pub preview: Option<String>,
    /// The newest message's id, to keep the preview from going backwards.
    pub last_id: Option<i64>,
    pub unread: u32,
}

impl ConvItem {
    /// A conversation with nothing in it yet.
    pub fn new(id: i64, kind: ConvKind) -> Self {
        ConvItem {
            id,
            kind,
            muted: false,
            preview: None,
            last_id: None,
            unread: 0,
        }
    }

    /// The other person of a direct conversation.
    pub fn peer(&self) -> Option<&UserRef> {
        match &self.kind {
            ConvKind::Direct { peer } => Some(peer),
            ConvKind::Group { .. } => None,
        }
    }

    /// The group's members (none for a direct conversation).
    pub fn members(&self) -> &[Member] {
        match &self.kind {
            ConvKind::Direct { .. } => &[],
            ConvKind::Group { members, .. } => members,
        }
    }

    /// What the list and the pane title call it: the other person's name or the group's title.
    pub fn name(&self) -> &str {
        match &self.kind {
            ConvKind::Direct { peer } => &peer.username,
            ConvKind::Group { title, .. } => title,
        }
    }

    /// The name of `user_id` as this conversation knows them.
    pub fn username_of(&self, user_id: i64) -> Option<&str> {
        match &self.kind {
            ConvKind::Direct { peer } => (peer.id == user_id).then_some(peer.username.as_str()),
            ConvKind::Group { members, .. } => members
                .iter()
                .find(|m| m.id == user_id)
                .map(|m| m.username.as_str()),
        }
    }

    /// Where our typing indicator goes: the person (as the spec has it), or the group.
    pub fn typing_to(&self) -> TypingTo {
        match &self.kind {
            ConvKind::Direct { peer } => TypingTo::Receiver(peer.id),
            ConvKind::Group { .. } => TypingTo::Conversation(self.id),
        }
    }

    /// Whether `typing` (a user's indicator) is about this conversation.
    fn shows(&self, user_id: i64, typing: &TypingIn) -> bool {
        match &self.kind {
            // A server without groups names no conversation: then it is the direct one.
            ConvKind::Direct { peer } => {
                peer.id == user_id && typing.conversation.is_none_or(|c| c == self.id)
            }
            ConvKind::Group { .. } => typing.conversation == Some(self.id),
        }
    }
}

/// What an outstanding `chat.get_messages` of a thread is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The newest page. `floor` is the newest id we already had: while a page's oldest message
    /// is newer than it and the server has more, the next older page is fetched too, so a
    /// catch-up after a disconnect leaves no gap.
    Latest { floor: Option<i64> },
    /// The page before the oldest message we have (scrolling past the top).
    Older,
}

/// The loaded messages of one conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thread {
    /// Sorted by id, no duplicates.
    pub messages: Vec<ChatMessage>,
    /// Whether older messages exist before `messages[0]`.
    pub has_more: bool,
    /// The request under way, if any (one at a time per thread).
    pub fetch: Option<Fetch>,
    /// How many lines the view is scrolled up from the bottom.
    pub scroll: u16,
    /// The newest message from someone else we sent `chat.read` for.
    pub read_upto: Option<i64>,
    /// When `chat.read` was last sent for this conversation.
    pub read_sent_at: Option<Instant>,
    /// A `chat.read` is owed, to go out once `READ_GAP` has passed.
    pub read_due: bool,
    /// The message chosen with the cursor keys, for replying, editing, deleting, reacting.
    pub selected: Option<i64>,
}

impl Thread {
    /// Adds a message in id order; returns false if it was already there (then it is updated).
    pub fn merge(&mut self, message: ChatMessage) -> bool {
        match self.messages.binary_search_by_key(&message.id, |m| m.id) {
            Ok(i) => {
                let old = &mut self.messages[i];
                let status = old.status.max(message.status);
                *old = message;
                old.status = status;
                false
            }
            Err(i) => {
                self.messages.insert(i, message);
                true
            }
        }
    }

    /// Lets the oldest messages go when there are more than `MAX_THREAD`.
    pub fn trim(&mut self) {
        if self.messages.len() > MAX_THREAD {
            let extra = self.messages.len() - MAX_THREAD;
            self.messages.drain(..extra);
            self.has_more = true;
        }
    }

    /// The newest message's id.
    pub fn newest_id(&self) -> Option<i64> {
        self.messages.last().map(|m| m.id)
    }

    /// The newest message from someone other than `me`.
    pub fn newest_from_others(&self, me: i64) -> Option<i64> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.sender.id != me)
            .map(|m| m.id)
    }

    /// Notes a `chat.read` sent at `now`: nothing more is owed until the next message.
    pub fn read_sent(&mut self, now: Instant) {
        self.read_sent_at = Some(now);
        self.read_due = false;
    }

    /// The newest message of ours the other side has seen.
    pub fn last_seen_own(&self, me: i64) -> Option<i64> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.sender.id == me && m.status == Some(MessageStatus::Seen))
            .map(|m| m.id)
    }
}

/// The `chat.delivered` receipts of one conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The newest message id we sent `chat.delivered` for.
    pub sent_upto: Option<i64>,
    /// When it was sent.
    pub sent_at: Option<Instant>,
    /// The newest message owed a `chat.delivered`, to go out once `DELIVERED_GAP` has passed.
    pub due: Option<i64>,
}

/// A message we sent (or wrote while offline) whose echo has not come back yet. It is sent
/// again with the same `client_id` after a reconnect, so the server stores it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub conversation_id: i64,
    pub content: String,
    /// The message it answers.
    pub reply_to: Option<ReplyRef>,
    /// Our id for this send; the echo carries it back.
    pub client_id: String,
    /// When it was last sent on a live connection (`None`: not yet on this one).
    pub sent_at: Option<Instant>,
    /// How often it was sent on a live connection without an echo coming back in time.
    pub sends: u32,
}

impl Pending {
    /// The `chat.message` frame of this send (the same every time it is sent).
    pub fn frame(&self) -> ClientMsg {
        ClientMsg::Message {
            conversation_id: self.conversation_id,
            content: self.content.clone(),
            reply_to: self.reply_to.as_ref().map(|r| r.id),
            client_id: Some(self.client_id.clone()),
        }
    }
}

/// What the composer's text is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Draft {
    /// A new message.
    #[default]
    New,
    /// A new message answering this one.
    Reply(ReplyRef),
    /// New text for our message `message_id`; `saved` is what was being written before, put
    /// back when the edit is sent or cancelled.
    Edit { message_id: i64, saved: String },
}

/// The line being written at the bottom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Composer {
    pub text: String,
    /// Cursor position in characters.
    pub cursor: usize,
    pub draft: Draft,
}

impl Composer {
    /// Replaces the text, the cursor at its end.
    pub fn set(&mut self, text: String) {
        self.cursor = text.chars().count();
        self.text = text;
    }
}

/// Where a typing indicator is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingTo {
    /// A direct conversation's other person (`receiver_id`).
    Receiver(i64),
    /// A group (`conversation_id`).
    Conversation(i64),
}

impl TypingTo {
    /// The `chat.typing` frame saying whether we type.
    pub fn frame(self, is_typing: bool) -> ClientMsg {
        let (receiver_id, conversation_id) = match self {
            TypingTo::Receiver(id) => (Some(id), None),
            TypingTo::Conversation(id) => (None, Some(id)),
        };
        ClientMsg::Typing {
            receiver_id,
            conversation_id,
            is_typing,
        }
    }
}

/// Someone's typing indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypingIn {
    /// When it expires.
    pub until: Instant,
    /// The conversation typed in, when the server names it.
    pub conversation: Option<i64>,
}

/// Our own typing indicator towards one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypingOut {
    pub to: TypingTo,
    /// When `is_typing: true` was last sent.
    pub sent_at: Instant,
    /// When the last key was pressed.
    pub last_key: Instant,
}

/// The user search box.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub results: Vec<UserRef>,
    pub selected: usize,
    /// When to send the query (debounce), if it changed since the last one sent.
    pub due: Option<Instant>,
    /// The keyword of the last `chat.search_user` sent.
    pub sent: Option<String>,
    /// Picking members for a group instead of finding someone to chat with.
    pub pick: Option<Pick>,
}

/// What members are picked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickFor {
    /// A new group with this title.
    NewGroup { title: String },
    /// Members to add to this group.
    AddTo { conversation_id: i64 },
}

/// People picked in the search box, for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub purpose: PickFor,
    pub picked: Vec<UserRef>,
}

/// The emoji the reaction picker offers first.
pub const QUICK_REACTIONS: [&str; 7] = ["👍", "❤️", "😄", "🎉", "👀", "✅", "🙏"];

/// The reaction picker: the quick emoji (one highlighted) and free entry of any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactPicker {
    pub message_id: i64,
    /// Index into `QUICK_REACTIONS`.
    pub highlighted: usize,
    /// Typed text; when not empty, Enter reacts with it instead.
    pub typed: String,
}

/// The links of the chosen message, or of the messages on screen, numbered (`o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPicker {
    pub links: Vec<super::markdown::Link>,
    /// Index into `links`.
    pub highlighted: usize,
}

/// The answer to `chat.get_receipts`, shown over the chat until closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptsView {
    pub message_id: i64,
    pub read_by: Vec<UserRef>,
    pub delivered_to: Vec<UserRef>,
}

/// What we know of someone's presence, from `chat.conversations` and `chat.presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub online: bool,
    /// When they were last online (the moment they came, while they are); `None` when they
    /// have not been since the server knows presence.
    pub last_seen: Option<Timestamp>,
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Error,
}

/// A short message in the status bar that goes away at `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub kind: NoticeKind,
    pub until: Instant,
}

/// Everything the UI shows and remembers.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub screen: Screen,
    pub sign_in: SignInForm,
    /// Who we are, once signed in.
    pub me: Option<UserRef>,
    /// The server base URL in use.
    pub server: String,
    pub conn: Conn,
    /// Most recent activity first.
    pub conversations: Vec<ConvItem>,
    /// Index into `conversations` of the highlighted row.
    pub selected: usize,
    /// The conversation shown on the right.
    pub open: Option<i64>,
    pub threads: HashMap<i64, Thread>,
    pub pending: Vec<Pending>,
    /// Conversation id → its delivery receipts (one entry per conversation we received in).
    pub delivered: HashMap<i64, Delivery>,
    pub composer: Composer,
    pub focus: Focus,
    /// User id → their typing indicator (one per person: one keyboard types in one place).
    pub typing_in: HashMap<i64, TypingIn>,
    pub typing_out: Option<TypingOut>,
    pub search: Option<Search>,
    /// The user we asked `chat.start_conversation` for, to open it when it comes.
    pub starting: Option<i64>,
    /// The title of the group we asked `chat.create_group` for, to open it when it comes.
    pub creating: Option<String>,
    /// Receipts of a message, shown until closed.
    pub receipts: Option<ReceiptsView>,
    /// A message we asked to delete, waiting for y (or n).
    pub deleting: Option<i64>,
    /// The reaction picker, open over a message.
    pub reacting: Option<ReactPicker>,
    /// The link picker, open over the messages on screen.
    pub links: Option<LinkPicker>,
    /// The start of every `client_id` this app makes: random per run (set by the driver), so
    /// two runs never reuse one (the server would take a new message for a retry).
    pub client_tag: String,
    /// Sends so far, the end of each `client_id`.
    pub sends: u64,
    /// Someone typing to us in a conversation the list lacks: the list was asked for again
    /// once for them.
    pub list_asked_for: Option<i64>,
    pub notice: Option<Notice>,
    pub help: bool,
    pub bell_enabled: bool,
    /// The terminal size (columns, rows), for scrolling and mouse hit tests.
    pub size: (u16, u16),
    /// The time of the latest event, so the view can show countdowns without a clock.
    pub now: Option<Instant>,
    /// Time zone for message times; `None` means the local one.
    pub utc_offset: Option<FixedOffset>,
    /// Where we stand in the server's event sequence, for a gapless resume.
    pub sync: SyncState,
    /// User id → their presence. Nobody who hides it (nor anyone, on a server without
    /// presence) has an entry.
    pub presence: HashMap<i64, Presence>,
    /// Whether others see our presence (`chat.welcome`, `chat.presence_set`).
    pub presence_visible: bool,
    /// The wall-clock time of the latest event, for "last seen 5 min ago": the driver sets it
    /// with each event, as `update` sets `now`.
    pub wall: Option<Timestamp>,
}

/// Where this client stands in the server's event sequence (`seq`): what it has applied, and
/// where the next `chat.sync` starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Every event up to this `seq` is applied: the next `chat.sync` starts here, and it is
    /// what is saved. `None` before the first `chat.synced` (and no saved one).
    pub cursor: Option<i64>,
    /// The highest `seq` applied, live frames during a sync included; the cursor once it ends.
    pub seen: Option<i64>,
    /// A `chat.sync` is under way: its `chat.synced` has not come yet.
    pub syncing: bool,
    /// A `chat.sync_hint` came during a sync: sync once more when it ends.
    pub again: bool,
    /// The lowest `since` of the `chat.sync_hint`s not yet acted on: the next sync starts
    /// there if the cursor is past it (frames before the cursor may have been lost).
    pub rewind: Option<i64>,
    /// The list (and the open conversation) was loaded on a connection of this run.
    pub loaded: bool,
    /// A bell rang for a replayed message of this sync (one is enough).
    pub rang: bool,
    /// The cursor last handed out to be saved, and when (saves are at most `CURSOR_SAVE_GAP`
    /// apart).
    pub saved: Option<i64>,
    pub saved_at: Option<Instant>,
}

impl App {
    /// A fresh app on the sign-in screen for `server`.
    pub fn new(server: &str) -> Self {
        App {
            screen: Screen::SignIn,
            sign_in: SignInForm {
                server: server.to_owned(),
                username: String::new(),
                password: String::new(),
                field: Field::Username,
                register: false,
                busy: false,
                message: None,
            },
            me: None,
            server: server.to_owned(),
            conn: Conn::Offline,
            conversations: Vec::new(),
            selected: 0,
            open: None,
            threads: HashMap::new(),
            pending: Vec::new(),
            delivered: HashMap::new(),
            composer: Composer::default(),
            focus: Focus::List,
            typing_in: HashMap::new(),
            typing_out: None,
            search: None,
            starting: None,
            creating: None,
            receipts: None,
            deleting: None,
            reacting: None,
            links: None,
            client_tag: "t".into(),
            sends: 0,
            list_asked_for: None,
            notice: None,
            help: false,
            bell_enabled: true,
            size: (80, 24),
            now: None,
            utc_offset: None,
            sync: SyncState::default(),
            presence: HashMap::new(),
            presence_visible: true,
            wall: None,
        }
    }

    /// A fresh app already signed in as `me` (a stored session), waiting for the connection.
    pub fn signed_in(server: &str, me: UserRef) -> Self {
        let mut app = App::new(server);
        app.sign_in.username = me.username.clone();
        app.me = Some(me);
        app.screen = Screen::Chat;
        app.conn = Conn::Connecting;
        app
    }

    /// Our user id (0 before sign-in, which no real user has).
    pub fn my_id(&self) -> i64 {
        self.me.as_ref().map_or(0, |u| u.id)
    }

    /// The list row of a conversation.
    pub fn conversation(&self, id: i64) -> Option<&ConvItem> {
        self.conversations.iter().find(|c| c.id == id)
    }

    /// The open conversation's list row.
    pub fn open_conversation(&self) -> Option<&ConvItem> {
        self.open.and_then(|id| self.conversation(id))
    }

    /// The open conversation's messages.
    pub fn open_thread(&self) -> Option<&Thread> {
        self.open.and_then(|id| self.threads.get(&id))
    }

    /// The names of whoever types in a conversation, by name.
    pub fn typing_names<'a>(&self, item: &'a ConvItem) -> Vec<&'a str> {
        let mut names: Vec<&str> = self
            .typing_in
            .iter()
            .filter(|(user, typing)| item.shows(**user, typing))
            .filter_map(|(user, _)| item.username_of(*user))
            .collect();
        names.sort_unstable();
        names
    }

    /// The names of whoever types in the open conversation.
    pub fn typing_in_open(&self) -> Vec<&str> {
        self.open_conversation()
            .map(|item| self.typing_names(item))
            .unwrap_or_default()
    }

    /// A user's presence, if they show it.
    pub fn presence_of(&self, user_id: i64) -> Option<Presence> {
        self.presence.get(&user_id).copied()
    }

    /// How many of a group's members besides us are online; `None` when the presence of none
    /// of them is known (hidden, or a server without presence).
    pub fn online_in(&self, item: &ConvItem) -> Option<usize> {
        let me = self.my_id();
        let known: Vec<Presence> = item
            .members()
            .iter()
            .filter(|m| m.id != me)
            .filter_map(|m| self.presence_of(m.id))
            .collect();
        (!known.is_empty()).then(|| known.iter().filter(|p| p.online).count())
    }

    /// Whether the server has the socket open.
    pub fn is_connected(&self) -> bool {
        self.conn == Conn::Connected
    }

    /// The list row of a conversation, to change it.
    pub fn conversation_mut(&mut self, id: i64) -> Option<&mut ConvItem> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    /// Clears a conversation's unread count (it was read, here or on another device).
    pub fn clear_unread(&mut self, id: i64) {
        if let Some(item) = self.conversation_mut(id) {
            item.unread = 0;
        }
    }

    /// Whether a box over the chat (search, help, receipts, a confirmation, the reaction
    /// picker) takes the keys.
    pub fn overlay(&self) -> bool {
        self.search.is_some()
            || self.help
            || self.receipts.is_some()
            || self.deleting.is_some()
            || self.reacting.is_some()
            || self.links.is_some()
    }

    /// A `client_id` not used before by this app.
    pub fn next_client_id(&mut self) -> String {
        self.sends += 1;
        format!("{}-{}", self.client_tag, self.sends)
    }

    /// The open conversation's selected message.
    pub fn selected_message(&self) -> Option<&ChatMessage> {
        let thread = self.open_thread()?;
        let id = thread.selected?;
        thread.messages.iter().find(|m| m.id == id)
    }

    /// Shows a notice in the status bar for `NOTICE_TTL`.
    pub fn notify(&mut self, kind: NoticeKind, text: impl Into<String>, now: Instant) {
        self.notice = Some(Notice {
            text: text.into(),
            kind,
            until: now + NOTICE_TTL,
        });
    }
}

/// A message's time as the view shows it, in `offset` or else local time.
pub fn local_time(ts: Timestamp, offset: Option<FixedOffset>) -> chrono::NaiveDateTime {
    let utc = ts.to_datetime();
    match offset {
        Some(offset) => utc.with_timezone(&offset).naive_local(),
        None => utc.with_timezone(&chrono::Local).naive_local(),
    }
}
