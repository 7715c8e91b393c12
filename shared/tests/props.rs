//! Property tests of the protocol types: every frame survives a JSON round trip, and
//! `ClientMsg::parse` never panics, answering any text with a frame or the right error.

use chat_shared::model::{
    ChatMessage, Conversation, ConversationKind, ConversationListItem, EventKind, GroupInfo,
    LastMessage, Member, MessageStatus, Participant, Reaction, ReplyRef, Role, SystemEvent,
    Timestamp, UserRef,
};
use chat_shared::{ClientMsg, ErrorCode, ServerMsg};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any text, with a bias towards what JSON and our names are made of.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9@.+_ \"\\\\{}\\[\\]:,-]{0,40}",
        "\\PC{0,20}",
    ]
}

fn user() -> impl Strategy<Value = UserRef> {
    (any::<i64>(), text()).prop_map(|(id, username)| UserRef { id, username })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Owner), Just(Role::Admin), Just(Role::Member)]
}

fn member() -> impl Strategy<Value = Member> {
    (any::<i64>(), text(), option::of(role())).prop_map(|(id, username, role)| Member {
        id,
        username,
        role,
    })
}

fn group_info() -> impl Strategy<Value = GroupInfo> {
    (
        option::of(prop_oneof![
            Just(ConversationKind::Direct),
            Just(ConversationKind::Group)
        ]),
        option::of(option::of(text())),
        option::of(any::<i64>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(kind, title, member_count, muted)| GroupInfo {
            kind,
            title,
            member_count,
            muted,
        })
}

fn event() -> impl Strategy<Value = SystemEvent> {
    (
        prop_oneof![
            Just(EventKind::Created),
            Just(EventKind::MemberAdded),
            Just(EventKind::MemberRemoved),
            Just(EventKind::MemberLeft),
            Just(EventKind::Renamed),
            Just(EventKind::RoleChanged),
        ],
        any::<i64>(),
        any::<i64>(),
        option::of(role()),
        option::of(text()),
    )
        .prop_map(|(kind, user_id, by, role, title)| SystemEvent {
            kind,
            user_id,
            by,
            role,
            title,
        })
}

fn status() -> impl Strategy<Value = MessageStatus> {
    prop_oneof![
        Just(MessageStatus::Sent),
        Just(MessageStatus::Delivered),
        Just(MessageStatus::Seen),
    ]
}

/// Milliseconds from 1970 to the end of year 9999: what RFC 3339 text can carry.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..=253_402_300_799_999).prop_map(Timestamp)
}

fn message() -> impl Strategy<Value = ChatMessage> {
    (
        (any::<i64>(), any::<i64>(), user(), text(), timestamp()),
        (
            any::<bool>(),
            // `null` and a missing attachment read back the same: generate one of them.
            option::of(text().prop_map(|url| json!({ "url": url }))),
            option::of(status()),
            option::of(any::<bool>()),
            option::of(prop::collection::vec(any::<i64>(), 0..3)),
            option::of(event()),
        ),
        (
            option::of(option::of(reply().prop_map(Box::new))),
            option::of(option::of(timestamp())),
            option::of(any::<bool>()),
            option::of(prop::collection::vec(reaction(), 0..3)),
            option::of(text()),
        ),
    )
        .prop_map(
            |(
                (id, conversation_id, sender, content, timestamp),
                (is_system, attachment, status, is_read, mentions, event),
                (reply_to, edited_at, deleted, reactions, client_id),
            )| {
                ChatMessage {
                    id,
                    conversation_id,
                    sender,
                    content,
                    timestamp,
                    is_system,
                    attachment,
                    status,
                    is_read,
                    mentions,
                    event,
                    reply_to,
                    edited_at,
                    deleted,
                    reactions,
                    client_id,
                }
            },
        )
}

fn reply() -> impl Strategy<Value = ReplyRef> {
    (any::<i64>(), user(), text(), any::<bool>()).prop_map(|(id, sender, excerpt, deleted)| {
        ReplyRef {
            id,
            sender,
            excerpt,
            deleted,
        }
    })
}

fn reaction() -> impl Strategy<Value = Reaction> {
    (
        text(),
        any::<i64>(),
        prop::collection::vec(any::<i64>(), 0..3),
    )
        .prop_map(|(emoji, count, user_ids)| Reaction {
            emoji,
            count,
            user_ids,
        })
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::InvalidJson),
        Just(ErrorCode::InvalidFrame),
        Just(ErrorCode::UnknownType),
        Just(ErrorCode::InvalidField),
        Just(ErrorCode::InvalidContent),
        Just(ErrorCode::InvalidReceiver),
        Just(ErrorCode::NotFound),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Internal),
        Just(ErrorCode::Unauthorized),
    ]
}

fn list_item() -> impl Strategy<Value = ConversationListItem> {
    let participant =
        (any::<i64>(), text(), option::of(role())).prop_map(|(id, username, role)| Participant {
            id,
            username,
            role,
            ..Participant::default()
        });
    let last =
        (message(), any::<i64>(), text()).prop_map(|(message, sender_id, sender_username)| {
            LastMessage {
                message,
                sender_id,
                sender_username,
            }
        });
    (
        any::<i64>(),
        prop::collection::vec(participant, 0..3),
        option::of(option::of(last)),
        option::of(any::<i64>()),
        option::of(any::<bool>()),
        group_info(),
    )
        .prop_map(
            |(id, participants, last_message, unread_count, has_unread, info)| {
                ConversationListItem {
                    id,
                    participants,
                    last_message,
                    unread_count,
                    has_unread,
                    info,
                }
            },
        )
}

fn conversation() -> impl Strategy<Value = Conversation> {
    (
        any::<i64>(),
        prop::collection::vec(member(), 0..3),
        group_info(),
    )
        .prop_map(|(id, participants, info)| Conversation {
            id,
            participants,
            info,
        })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (
            any::<i64>(),
            text(),
            option::of(any::<i64>()),
            option::of(text())
        )
            .prop_map(|(conversation_id, content, reply_to, client_id)| {
                ClientMsg::Message {
                    conversation_id,
                    content,
                    reply_to,
                    client_id,
                }
            }),
        (any::<i64>(), text()).prop_map(|(message_id, content)| ClientMsg::Edit {
            message_id,
            content
        }),
        any::<i64>().prop_map(|message_id| ClientMsg::Delete { message_id }),
        (any::<i64>(), text(), any::<bool>()).prop_map(|(message_id, emoji, add)| {
            ClientMsg::React {
                message_id,
                emoji,
                add,
            }
        }),
        (
            option::of(any::<i64>()),
            option::of(any::<i64>()),
            any::<bool>()
        )
            .prop_map(
                |(receiver_id, conversation_id, is_typing)| ClientMsg::Typing {
                    receiver_id,
                    conversation_id,
                    is_typing
                }
            ),
        any::<i64>().prop_map(|conversation_id| ClientMsg::Read { conversation_id }),
        text().prop_map(|keyword| ClientMsg::SearchUser { keyword }),
        any::<i64>().prop_map(|receiver_id| ClientMsg::StartConversation { receiver_id }),
        Just(ClientMsg::GetConversations {}),
        (
            any::<i64>(),
            option::of(any::<i64>()),
            option::of(any::<i64>())
        )
            .prop_map(
                |(conversation_id, before_id, limit)| ClientMsg::GetMessages {
                    conversation_id,
                    before_id,
                    limit
                }
            ),
        any::<i64>().prop_map(|message_id| ClientMsg::Delivered { message_id }),
        (text(), prop::collection::vec(any::<i64>(), 0..4))
            .prop_map(|(title, member_ids)| ClientMsg::CreateGroup { title, member_ids }),
        (any::<i64>(), prop::collection::vec(any::<i64>(), 0..4)).prop_map(
            |(conversation_id, user_ids)| ClientMsg::AddMembers {
                conversation_id,
                user_ids
            }
        ),
        (any::<i64>(), any::<i64>()).prop_map(|(conversation_id, user_id)| {
            ClientMsg::RemoveMember {
                conversation_id,
                user_id,
            }
        }),
        (any::<i64>(), text()).prop_map(|(conversation_id, title)| ClientMsg::RenameGroup {
            conversation_id,
            title
        }),
        (any::<i64>(), any::<i64>(), role()).prop_map(|(conversation_id, user_id, role)| {
            ClientMsg::SetRole {
                conversation_id,
                user_id,
                role,
            }
        }),
        any::<i64>().prop_map(|conversation_id| ClientMsg::Leave { conversation_id }),
        any::<i64>().prop_map(|message_id| ClientMsg::GetReceipts { message_id }),
        (any::<i64>(), any::<bool>()).prop_map(|(conversation_id, muted)| ClientMsg::Mute {
            conversation_id,
            muted
        }),
        option::of(any::<i64>()).prop_map(|since| ClientMsg::Sync { since }),
        (text(), text()).prop_map(|(client, version)| ClientMsg::Hello { client, version }),
    ]
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        message().prop_map(|message| ServerMsg::Message { message }),
        message().prop_map(|message| ServerMsg::MessageUpdated { message }),
        (any::<i64>(), option::of(any::<i64>()), any::<bool>()).prop_map(
            |(sender_id, conversation_id, is_typing)| ServerMsg::Typing {
                sender_id,
                conversation_id,
                is_typing
            }
        ),
        (any::<i64>(), any::<i64>()).prop_map(|(conversation_id, reader_id)| ServerMsg::Read {
            conversation_id,
            reader_id
        }),
        prop::collection::vec(user(), 0..4)
            .prop_map(|results| ServerMsg::SearchResults { results }),
        conversation().prop_map(|conversation| ServerMsg::ConversationStarted { conversation }),
        (conversation(), any::<bool>())
            .prop_map(|(conversation, left)| ServerMsg::ConversationUpdated { conversation, left }),
        (
            any::<i64>(),
            prop::collection::vec(user(), 0..3),
            prop::collection::vec(user(), 0..3)
        )
            .prop_map(|(message_id, read_by, delivered_to)| ServerMsg::Receipts {
                message_id,
                read_by,
                delivered_to
            }),
        prop::collection::vec(list_item(), 0..3)
            .prop_map(|conversations| ServerMsg::Conversations { conversations }),
        (
            prop::collection::vec(message(), 0..3),
            option::of(any::<i64>()),
            option::of(any::<bool>())
        )
            .prop_map(
                |(messages, conversation_id, has_more)| ServerMsg::Messages {
                    messages,
                    conversation_id,
                    has_more
                }
            ),
        (any::<i64>(), status())
            .prop_map(|(message_id, status)| ServerMsg::MessageStatus { message_id, status }),
        (any::<i64>(), any::<bool>())
            .prop_map(|(seq, has_more)| ServerMsg::Synced { seq, has_more }),
        any::<i64>().prop_map(|seq| ServerMsg::ResyncRequired { seq }),
        option::of(any::<i64>()).prop_map(|since| ServerMsg::SyncHint { since }),
        (error_code(), text(), option::of(text())).prop_map(|(code, message, request_type)| {
            ServerMsg::Error {
                code,
                message,
                request_type,
            }
        }),
    ]
}

/// Arbitrary JSON, shallow, with keys our frames use so that it sometimes nearly fits one.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            Just("type".to_string()),
            Just("conversation_id".to_string()),
            Just("content".to_string()),
            Just("receiver_id".to_string()),
            Just("is_typing".to_string()),
            Just("message_id".to_string()),
            Just("keyword".to_string()),
            Just("limit".to_string()),
            text(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Checks what `ClientMsg::parse` says about `text` against what the text is.
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    let parsed = ClientMsg::parse(text);
    let value: Option<Value> = serde_json::from_str(text).ok();
    let kind = value
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match parsed {
        Ok((parsed_kind, msg)) => {
            prop_assert_eq!(Some(parsed_kind), kind);
            prop_assert_ne!(msg, ClientMsg::Unknown);
        }
        Err(e) => {
            prop_assert!(!e.message.is_empty());
            match (&value, e.code) {
                (None, code) => prop_assert_eq!(code, ErrorCode::InvalidJson),
                (Some(_), ErrorCode::InvalidFrame) => prop_assert_eq!(e.request_type, None),
                (Some(v), code) => {
                    prop_assert!(v.is_object());
                    prop_assert!(
                        matches!(code, ErrorCode::UnknownType | ErrorCode::InvalidField),
                        "{:?}",
                        code
                    );
                    prop_assert_eq!(e.request_type, kind);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_frames_round_trip_through_parse(msg in client_msg()) {
        let text = serde_json::to_string(&msg).unwrap();
        let (kind, parsed) = ClientMsg::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &msg);
        let value: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(Some(kind.as_str()), value["type"].as_str());
        // `kind()` names the same type without serializing.
        prop_assert_eq!(msg.kind(), Some(kind.as_str()));
    }

    #[test]
    fn server_frames_round_trip(msg in server_msg()) {
        let text = msg.to_json();
        let back: ServerMsg = serde_json::from_str(&text).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(Some(msg.kind()), value["type"].as_str());
        prop_assert_eq!(back, msg);
    }

    /// A pushed frame keeps its `seq` through JSON; any other frame reads with none, even the
    /// ones with a `seq` field of their own (`chat.synced`, `chat.resync_required`).
    #[test]
    fn pushed_frames_carry_their_seq_and_others_none(msg in server_msg(), seq in any::<i64>()) {
        let pushed = chat_shared::Pushed { seq: Some(seq), frame: msg.clone() };
        let back: chat_shared::Pushed = serde_json::from_str(&pushed.to_json()).unwrap();
        prop_assert_eq!(&back.frame, &msg);
        prop_assert_eq!(back.seq, msg.is_pushed().then_some(seq));
        let plain: chat_shared::Pushed = serde_json::from_str(&msg.to_json()).unwrap();
        prop_assert_eq!(plain.seq, None);
        prop_assert_eq!(plain.frame, msg);
    }

    #[test]
    fn error_codes_name_themselves_as_serde_does(code in error_code()) {
        prop_assert_eq!(serde_json::to_value(code).unwrap(), Value::from(code.as_str()));
    }

    #[test]
    fn roles_name_themselves_as_serde_does(role in role()) {
        prop_assert_eq!(serde_json::to_value(role).unwrap(), Value::from(role.as_str()));
        prop_assert_eq!(Role::from_name(role.as_str()), Some(role));
    }

    /// The type a refused frame is answered with is the one `parse` reads, duplicates included.
    #[test]
    fn peek_type_agrees_with_parse(
        first in prop_oneof![Just("chat.message".to_string()), text()],
        last in prop_oneof![Just("chat.typing".to_string()), text()],
        twice in any::<bool>(),
    ) {
        let (first_json, last_json) = (
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&last).unwrap(),
        );
        let text = if twice {
            format!(r#"{{"type":{first_json},"receiver_id":1,"type":{last_json}}}"#)
        } else {
            format!(r#"{{"receiver_id":1,"type":{last_json}}}"#)
        };
        let parsed = match ClientMsg::parse(&text) {
            Ok((kind, _)) => Some(kind),
            Err(e) => e.request_type,
        };
        let peeked = ClientMsg::peek_type(&text);
        prop_assert_eq!(peeked.as_deref(), Some(last.as_str()), "{}", text);
        if let Some(parsed) = parsed {
            prop_assert_eq!(parsed, last, "{}", text);
        }
    }

    #[test]
    fn parse_answers_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_parse(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn parse_answers_any_json(value in json_value()) {
        check_parse(&value.to_string())?;
    }

    #[test]
    fn parse_answers_any_frame_with_one_field_changed(
        msg in client_msg(),
        field in text(),
        replacement in json_value(),
    ) {
        let mut value = serde_json::to_value(&msg).unwrap();
        let key = value
            .as_object()
            .and_then(|o| o.keys().filter(|k| *k != "type").nth(field.len() % 3))
            .cloned()
            .unwrap_or(field);
        value[key.as_str()] = replacement;
        check_parse(&value.to_string())?;
    }
}
