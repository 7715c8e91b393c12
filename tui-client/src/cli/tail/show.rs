//! How `chat tail` shows an event: whether it is in the conversation followed, and its line.
//!
//! Text lines read like `chat history`'s, prefixed with the conversation (`[#3 with bob]`)
//! when every conversation is followed. Frames name people and conversations by id, so the
//! names met along the way (in the conversation list, updates and messages) are kept, and so is
//! a little of each recent message: its conversation (a status names only the message) and
//! what an update changed (an update carries only the message as it is now).

use std::collections::{HashMap, VecDeque};

use chat_shared::{
    ChatMessage, Conversation, ConversationListItem, GroupInfo, MessageStatus, ServerMsg, Timestamp,
};

use super::follow::Received;
use crate::cli::chat::frame_line;
use crate::cli::group::{group_line, group_name};
use crate::cli::message::{content, message_line, reactions, status_word};
use crate::text::sanitize;

/// How many recent messages are remembered.
const RECENT: usize = 4_096;

/// What `chat tail` shows and how.
#[derive(Debug)]
pub(super) struct View {
    json: bool,
    typing: bool,
    /// The one conversation followed; `None`: all of them.
    only: Option<i64>,
    names: Names,
    recent: Recent,
}

impl View {
    /// `me` is the user following; `list` their conversations. With `seed_newest`, each
    /// conversation's last message is taken as its newest, for `chat.read` lines (only right
    /// when no older events are replayed).
    pub fn new(
        json: bool,
        typing: bool,
        only: Option<i64>,
        me: i64,
        list: &[ConversationListItem],
        seed_newest: bool,
    ) -> View {
        let mut names = Names {
            me,
            ..Names::default()
        };
        for item in list {
            let people = item
                .participants
                .iter()
                .map(|p| (p.id, p.username.as_str()));
            names.learn(item.id, &item.info, people);
            if seed_newest && let Some(Some(last)) = &item.last_message {
                names.newest.insert(item.id, last.message.id);
            }
        }
        View {
            json,
            typing,
            only,
            names,
            recent: Recent::default(),
        }
    }

    /// The line for a frame, or `None` when it is not shown. Every frame goes through here,
    /// in order, shown or not: it is where names and messages are learned.
    pub fn line(&mut self, received: &Received) -> Option<String> {
        let conversation = self.learn(&received.frame);
        if self.only.is_some() && conversation != self.only {
            return None;
        }
        let text = self.text(&received.frame)?;
        if self.json {
            return Some(frame_line(&received.text));
        }
        match (self.only, conversation, &received.frame) {
            (None, Some(id), frame) if !matches!(frame, ServerMsg::ConversationUpdated { .. }) => {
                Some(format!("[{}] {text}", self.names.label(id)))
            }
            _ => Some(text),
        }
    }

    /// Learns what a frame tells (and remembers its message); the conversation it is about,
    /// when known.
    fn learn(&mut self, frame: &ServerMsg) -> Option<i64> {
        match frame {
            ServerMsg::Message { message } => {
                self.names.learn_message(message);
                Some(message.conversation_id)
            }
            ServerMsg::MessageUpdated { message } => Some(message.conversation_id),
            ServerMsg::Read {
                conversation_id, ..
            } => Some(*conversation_id),
            ServerMsg::MessageStatus { message_id, .. } => self
                .recent
                .get(*message_id)
                .map(|snapshot| snapshot.conversation_id),
            ServerMsg::ConversationUpdated { conversation, .. } => {
                let people = conversation
                    .participants
                    .iter()
                    .map(|m| (m.id, m.username.as_str()));
                self.names
                    .learn(conversation.id, &conversation.info, people);
                Some(conversation.id)
            }
            ServerMsg::Typing {
                conversation_id, ..
            } => *conversation_id,
            _ => None,
        }
    }

    /// The text of an event (without its conversation); `None` for frames not shown.
    fn text(&mut self, frame: &ServerMsg) -> Option<String> {
        Some(match frame {
            ServerMsg::Message { message } => {
                self.recent.remember(message);
                message_line(message)
            }
            ServerMsg::MessageUpdated { message } => {
                let line = self.update_line(message);
                self.recent.remember(message);
                line
            }
            ServerMsg::Read {
                conversation_id,
                reader_id,
            } => {
                let who = self.names.user(*reader_id);
                match self.names.newest.get(conversation_id) {
                    Some(id) => format!("{who} read up to #{id}"),
                    None => format!("{who} read everything"),
                }
            }
            ServerMsg::MessageStatus { message_id, status } => status_line(*message_id, *status),
            ServerMsg::ConversationUpdated { conversation, left } => {
                conversation_line(conversation, *left, self.names.me)
            }
            ServerMsg::Typing {
                sender_id,
                is_typing,
                ..
            } if self.typing => {
                let who = self.names.user(*sender_id);
                if *is_typing {
                    format!("{who} is typing")
                } else {
                    format!("{who} stopped typing")
                }
            }
            _ => return None,
        })
    }

    /// What an update changed, as far as the message remembered tells.
    fn update_line(&self, message: &ChatMessage) -> String {
        let id = message.id;
        if message.is_deleted() {
            return format!(
                "#{id} deleted ({}'s message)",
                sanitize(&message.sender.username)
            );
        }
        match self.recent.get(id) {
            Some(before) if before.edited != message.edited() => format!(
                "#{id} edited by {}: {}",
                sanitize(&message.sender.username),
                content(&message.content)
            ),
            Some(before) if before.reactions != reactions(message) => format!(
                "#{id} reactions: {}",
                reactions(message).as_deref().unwrap_or("none")
            ),
            _ => format!("#{id} updated: {}", message_line(message)),
        }
    }
}

/// `#12 delivered`, `#12 seen`: a message of ours reached or was read by the others.
fn status_line(message_id: i64, status: MessageStatus) -> String {
    format!("#{message_id} {}", status_word(status))
}

/// A conversation changed: a group as `chat group` prints it; a direct one (muted or not) by
/// its label; `left #5 “Deploys”` once we are no longer in it.
fn conversation_line(conversation: &Conversation, left: bool, me: i64) -> String {
    let info = &conversation.info;
    if left {
        return format!("left {}", group_name(conversation.id, info));
    }
    let muted = if info.muted == Some(true) {
        " (muted)"
    } else {
        ""
    };
    if info.is_group() {
        return format!("{}{muted}", group_line(conversation));
    }
    let people = conversation
        .participants
        .iter()
        .map(|m| (m.id, m.username.as_str()));
    format!("{}{muted}", label(conversation.id, info, people, me))
}

/// `#3 with bob` or `#5 “Deploys”`.
fn label<'a>(
    id: i64,
    info: &GroupInfo,
    people: impl Iterator<Item = (i64, &'a str)>,
    me: i64,
) -> String {
    if info.is_group() {
        return group_name(id, info);
    }
    let others: Vec<&str> = people.filter(|(p, _)| *p != me).map(|(_, n)| n).collect();
    format!("#{id} with {}", sanitize(&others.join(", ")))
}

/// The names met so far: users by id, conversations by id, and each conversation's newest
/// message (what a `chat.read` reads up to).
#[derive(Debug, Default)]
struct Names {
    me: i64,
    users: HashMap<i64, String>,
    labels: HashMap<i64, String>,
    newest: HashMap<i64, i64>,
}

impl Names {
    fn learn<'a>(
        &mut self,
        id: i64,
        info: &GroupInfo,
        people: impl Iterator<Item = (i64, &'a str)> + Clone,
    ) {
        for (user, name) in people.clone() {
            self.users.insert(user, name.to_owned());
        }
        self.labels.insert(id, label(id, info, people, self.me));
    }

    fn learn_message(&mut self, message: &ChatMessage) {
        let sender = &message.sender;
        self.users.insert(sender.id, sender.username.clone());
        let newest = self.newest.entry(message.conversation_id).or_default();
        *newest = (*newest).max(message.id);
        // A direct conversation someone else started: the list did not have it.
        if sender.id != self.me && !message.is_system {
            let id = message.conversation_id;
            self.labels
                .entry(id)
                .or_insert_with(|| format!("#{id} with {}", sanitize(&sender.username)));
        }
    }

    fn label(&self, id: i64) -> String {
        self.labels
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn user(&self, id: i64) -> String {
        if id == self.me {
            return "you".to_owned();
        }
        self.users
            .get(&id)
            .map_or_else(|| format!("user {id}"), |name| sanitize(name))
    }
}

/// What is remembered of a recent message.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    conversation_id: i64,
    edited: Option<Timestamp>,
    reactions: Option<String>,
}

/// The last [`RECENT`] messages seen, oldest forgotten first.
#[derive(Debug, Default)]
struct Recent {
    by_id: HashMap<i64, Snapshot>,
    order: VecDeque<i64>,
}

impl Recent {
    fn remember(&mut self, message: &ChatMessage) {
        let snapshot = Snapshot {
            conversation_id: message.conversation_id,
            edited: message.edited(),
            reactions: reactions(message),
        };
        if self.by_id.insert(message.id, snapshot).is_none() {
            self.order.push_back(message.id);
        }
        while self.order.len() > RECENT {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn get(&self, id: i64) -> Option<&Snapshot> {
        self.by_id.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::{Member, Participant, Pushed, Reaction, UserRef};

    use super::*;
    use crate::cli::fixtures::group_info;

    const ME: i64 = 1;

    fn user(id: i64, name: &str) -> UserRef {
        UserRef {
            id,
            username: name.into(),
        }
    }

    fn message(id: i64, conversation: i64, sender: UserRef, text: &str) -> ChatMessage {
        ChatMessage::new(
            id,
            conversation,
            sender,
            text.into(),
            Timestamp(1_751_889_600_000),
        )
    }

    fn received(seq: Option<i64>, frame: ServerMsg) -> Received {
        let text = Pushed {
            seq,
            frame: frame.clone(),
        }
        .to_json();
        Received { seq, frame, text }
    }

    fn item(id: i64, people: &[(i64, &str)], title: Option<&str>) -> ConversationListItem {
        let participants = people
            .iter()
            .map(|&(id, name)| Participant {
                id,
                username: name.into(),
                role: None,
                online: None,
                last_seen: None,
            })
            .collect();
        ConversationListItem {
            id,
            participants,
            last_message: None,
            unread_count: None,
            has_unread: None,
            info: title.map_or_else(GroupInfo::default, |t| group_info(t, people.len() as i64)),
        }
    }

    fn view(only: Option<i64>, json: bool, typing: bool) -> View {
        let list = [
            item(3, &[(ME, "me"), (2, "bob")], None),
            item(5, &[(ME, "me"), (2, "bob"), (4, "carol")], Some("Deploys")),
        ];
        View::new(json, typing, only, ME, &list, false)
    }

    fn show(view: &mut View, frame: ServerMsg) -> Option<String> {
        view.line(&received(Some(1), frame))
    }

    #[test]
    fn every_event_reads_as_a_line_named_by_its_conversation() {
        let mut view = view(None, false, false);
        let status = |message_id, status| ServerMsg::MessageStatus { message_id, status };
        let cases = [
            (
                ServerMsg::Message {
                    message: message(12, 3, user(2, "bob"), "hi"),
                },
                "[#3 with bob] [2025-07-07T12:00:00.000Z] #12 bob: hi (sent)",
            ),
            (
                ServerMsg::Read {
                    conversation_id: 3,
                    reader_id: 2,
                },
                "[#3 with bob] bob read up to #12",
            ),
            (status(12, MessageStatus::Seen), "[#3 with bob] #12 seen"),
            // A status of a message not seen in this run: no conversation to name.
            (status(7, MessageStatus::Delivered), "#7 delivered"),
            (
                ServerMsg::Message {
                    message: message(13, 5, user(4, "carol"), "ship it"),
                },
                "[#5 \u{201c}Deploys\u{201d}] [2025-07-07T12:00:00.000Z] #13 carol: ship it (sent)",
            ),
            // Someone new writes: the conversation is named after them.
            (
                ServerMsg::Message {
                    message: message(14, 8, user(6, "dave"), "hello?"),
                },
                "[#8 with dave] [2025-07-07T12:00:00.000Z] #14 dave: hello? (sent)",
            ),
        ];
        for (frame, line) in cases {
            assert_eq!(show(&mut view, frame).as_deref(), Some(line));
        }
    }

    #[test]
    fn updates_say_what_changed() {
        let mut view = view(Some(3), false, false);
        let mut m = message(12, 3, user(2, "bob"), "hi");
        show(&mut view, ServerMsg::Message { message: m.clone() });
        m.reactions = Some(vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![ME],
        }]);
        let update = |m: &ChatMessage| ServerMsg::MessageUpdated { message: m.clone() };
        assert_eq!(
            show(&mut view, update(&m)).as_deref(),
            Some("#12 reactions: 👍 1")
        );
        m.content = "hi\nthere".into();
        m.edited_at = Some(Some(Timestamp(1_751_889_700_000)));
        assert_eq!(
            show(&mut view, update(&m)).as_deref(),
            Some("#12 edited by bob: hi\n  there")
        );
        m.reactions = Some(Vec::new());
        assert_eq!(
            show(&mut view, update(&m)).as_deref(),
            Some("#12 reactions: none")
        );
        m.deleted = Some(true);
        assert_eq!(
            show(&mut view, update(&m)).as_deref(),
            Some("#12 deleted (bob's message)")
        );
        // A message not seen in this run: shown as it is now.
        let old = message(2, 3, user(2, "bob"), "old");
        assert_eq!(
            show(&mut view, update(&old)).as_deref(),
            Some("#2 updated: [2025-07-07T12:00:00.000Z] #2 bob: old (sent)")
        );
    }

    #[test]
    fn one_conversation_is_followed_without_prefixes() {
        let mut view = view(Some(3), false, true);
        let other = message(20, 5, user(4, "carol"), "elsewhere");
        assert_eq!(show(&mut view, ServerMsg::Message { message: other }), None);
        // A status names only its message: one not seen here may be of any conversation.
        for id in [20, 99] {
            let status = ServerMsg::MessageStatus {
                message_id: id,
                status: MessageStatus::Delivered,
            };
            assert_eq!(show(&mut view, status), None);
        }
        let typing = |conversation_id, is_typing| ServerMsg::Typing {
            sender_id: 2,
            conversation_id: Some(conversation_id),
            is_typing,
        };
        assert_eq!(show(&mut view, typing(5, true)), None);
        assert_eq!(
            show(&mut view, typing(3, true)).as_deref(),
            Some("bob is typing")
        );
        assert_eq!(
            show(&mut view, typing(3, false)).as_deref(),
            Some("bob stopped typing")
        );
        let mine = message(21, 3, user(ME, "me"), "back");
        assert_eq!(
            show(&mut view, ServerMsg::Message { message: mine }).as_deref(),
            Some("[2025-07-07T12:00:00.000Z] #21 me: back (sent)")
        );
        let read = ServerMsg::Read {
            conversation_id: 3,
            reader_id: ME,
        };
        assert_eq!(show(&mut view, read).as_deref(), Some("you read up to #21"));
    }

    #[test]
    fn json_prints_frames_as_received_and_typing_only_when_asked() {
        let typing = ServerMsg::Typing {
            sender_id: 2,
            conversation_id: Some(3),
            is_typing: true,
        };
        assert_eq!(show(&mut view(None, true, false), typing.clone()), None);
        let mut json = view(None, true, true);
        let frame = received(None, typing);
        assert_eq!(json.line(&frame), Some(frame.text.clone()));
        let hi = received(
            Some(41),
            ServerMsg::Message {
                message: message(12, 3, user(2, "bob"), "hi"),
            },
        );
        let line = json.line(&hi).expect("shown");
        assert_eq!(line, hi.text);
        assert!(line.starts_with("{\"seq\":41,"), "{line}");
        // Answers to requests are no events.
        let results = received(None, ServerMsg::SearchResults { results: vec![] });
        assert_eq!(json.line(&results), None);
    }

    #[test]
    fn conversation_updates_name_the_group_and_a_left_one() {
        let mut view = view(None, false, false);
        let member = |id, name: &str| Member {
            id,
            username: name.into(),
            role: None,
        };
        let mut group = Conversation {
            id: 5,
            participants: vec![member(ME, "me"), member(2, "bob")],
            info: group_info("Ops", 2),
        };
        let updated = |c: &Conversation, left| ServerMsg::ConversationUpdated {
            conversation: c.clone(),
            left,
        };
        assert_eq!(
            show(&mut view, updated(&group, false)).as_deref(),
            Some("#5 \u{201c}Ops\u{201d} (2 members: me, bob)")
        );
        // The new title names the group from now on.
        let hi = message(30, 5, user(2, "bob"), "hi");
        let line = show(&mut view, ServerMsg::Message { message: hi }).expect("shown");
        assert!(line.starts_with("[#5 \u{201c}Ops\u{201d}] "), "{line}");
        group.info.muted = None;
        assert_eq!(
            show(&mut view, updated(&group, true)).as_deref(),
            Some("left #5 \u{201c}Ops\u{201d}")
        );
        let mut direct = Conversation {
            id: 3,
            participants: vec![member(ME, "me"), member(2, "bob")],
            info: GroupInfo::default(),
        };
        direct.info.muted = Some(true);
        assert_eq!(
            show(&mut view, updated(&direct, false)).as_deref(),
            Some("#3 with bob (muted)")
        );
    }
}
