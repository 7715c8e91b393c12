//! Every JSON example of the protocol document, verbatim: decode, encode, and compare as JSON values.

use chat_shared::{ClientMsg, ErrorCode, ServerMsg};
use serde_json::{Value, json};

const CLIENT_EXAMPLES: &[&str] = &[
    r#"{
  "type": "chat.message",
  "conversation_id": 123,
  "content": "Hello!"
}"#,
    r#"{
  "type": "chat.typing",
  "receiver_id": 45,
  "is_typing": true
}"#,
    r#"{
  "type": "chat.read",
  "conversation_id": 123
}"#,
    r#"{
  "type": "chat.search_user",
  "keyword": "john"
}"#,
    r#"{
  "type": "chat.start_conversation",
  "receiver_id": 45
}"#,
    r#"{
  "type": "chat.get_conversations"
}"#,
    r#"{
  "type": "chat.get_messages",
  "conversation_id": 123
}"#,
    r#"{ "type": "chat.get_conversations" }"#,
    r#"{ "type": "chat.get_messages", "conversation_id": 123 }"#,
    r#"{ "type": "chat.search_user", "keyword": "john" }"#,
    r#"{ "type": "chat.start_conversation", "receiver_id": 45 }"#,
];

const SERVER_EXAMPLES: &[&str] = &[
    r#"{
  "type": "chat.message",
  "message": {
    "id": 789,
    "conversation_id": 123,
    "sender": { "id": 1, "username": "alice" },
    "content": "Hello!",
    "timestamp": "2025-07-07T12:34:56.789Z",
    "is_system": false,
    "attachment": null
  }
}"#,
    r#"{
  "type": "chat.typing",
  "sender_id": 1,
  "is_typing": true
}"#,
    r#"{
  "type": "chat.read",
  "conversation_id": 123,
  "reader_id": 1
}"#,
    r#"{
  "type": "chat.search_results",
  "results": [
    { "id": 45, "username": "john_doe" },
    { "id": 46, "username": "john_smith" }
  ]
}"#,
    r#"{
  "type": "chat.conversation_started",
  "conversation": {
    "id": 123,
    "participants": [
      { "id": 1, "username": "alice" },
      { "id": 45, "username": "john_doe" }
    ]
  }
}"#,
    r#"{
  "type": "chat.conversations",
  "conversations": [
    {
      "id": 123,
      "participants": [
        { "user__id": 1, "user__username": "alice" },
        { "user__id": 45, "user__username": "john_doe" }
      ]
    }
  ]
}"#,
    r#"{
  "type": "chat.messages",
  "messages": [
    {
      "id": 789,
      "conversation_id": 123,
      "sender": { "id": 1, "username": "alice" },
      "content": "Hello!",
      "timestamp": "2025-07-07T12:34:56.789Z",
      "is_system": false,
      "attachment": null
    }
  ]
}"#,
];

#[test]
fn client_examples_round_trip() {
    for text in CLIENT_EXAMPLES {
        let (kind, msg) = ClientMsg::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let original: Value = serde_json::from_str(text).unwrap();
        assert_eq!(original["type"], kind.as_str());
        assert_eq!(serde_json::to_value(&msg).unwrap(), original, "{text}");
    }
}

#[test]
fn server_examples_round_trip() {
    for text in SERVER_EXAMPLES {
        let msg: ServerMsg = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let original: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&msg).unwrap(), original, "{text}");
    }
}

#[test]
fn conversations_participants_use_double_underscore_keys() {
    let msg: ServerMsg = serde_json::from_str(SERVER_EXAMPLES[5]).unwrap();
    let ServerMsg::Conversations { conversations } = &msg else {
        panic!("wrong variant: {msg:?}");
    };
    assert_eq!(conversations[0].participants[1].id, 45);
    assert_eq!(conversations[0].participants[1].username, "john_doe");
}

#[test]
fn additions_serialize_when_present() {
    let text = r#"{"type":"chat.conversations","conversations":[{"id":1,
        "participants":[],"last_message":null,"unread_count":0,"has_unread":false}]}"#;
    let msg: ServerMsg = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_value(&msg).unwrap(),
        serde_json::from_str::<Value>(text).unwrap()
    );
}

#[test]
fn start_conversation_accepts_user_id_and_ignores_extra_fields() {
    let (_, msg) =
        ClientMsg::parse(r#"{"type":"chat.start_conversation","user_id":7,"extra":[1,2]}"#)
            .unwrap();
    assert_eq!(msg, ClientMsg::StartConversation { receiver_id: 7 });
}

#[test]
fn bad_frames_give_codes_and_request_type() {
    let cases: &[(&str, ErrorCode, Option<&str>)] = &[
        ("not json", ErrorCode::InvalidJson, None),
        ("[1,2]", ErrorCode::InvalidFrame, None),
        ("\"chat.read\"", ErrorCode::InvalidFrame, None),
        (r#"{"conversation_id":1}"#, ErrorCode::InvalidFrame, None),
        (r#"{"type":5}"#, ErrorCode::InvalidFrame, None),
        (
            r#"{"type":"chat.nope"}"#,
            ErrorCode::UnknownType,
            Some("chat.nope"),
        ),
        (
            r#"{"type":"chat.read"}"#,
            ErrorCode::InvalidField,
            Some("chat.read"),
        ),
        (
            r#"{"type":"chat.read","conversation_id":"12"}"#,
            ErrorCode::InvalidField,
            Some("chat.read"),
        ),
        (
            r#"{"type":"chat.typing","receiver_id":1,"is_typing":"yes"}"#,
            ErrorCode::InvalidField,
            Some("chat.typing"),
        ),
    ];
    for (text, code, request_type) in cases {
        let err = ClientMsg::parse(text).expect_err(text);
        assert_eq!(err.code, *code, "{text}");
        assert_eq!(err.request_type.as_deref(), *request_type, "{text}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn error_frame_shape() {
    let frame = ServerMsg::Error {
        code: ErrorCode::NotFound,
        message: "no such conversation".into(),
        request_type: None,
    };
    assert_eq!(
        serde_json::to_value(&frame).unwrap(),
        json!({"type":"chat.error","code":"not_found","message":"no such conversation","request_type":null})
    );
}

#[test]
fn timestamps_keep_milliseconds_and_z() {
    let ts: chat_shared::Timestamp = serde_json::from_str("\"2025-07-07T12:34:56.789Z\"").unwrap();
    assert_eq!(ts.0, 1_751_891_696_789);
    assert_eq!(ts.to_string(), "2025-07-07T12:34:56.789Z");
    assert_eq!(
        chat_shared::Timestamp(0).to_string(),
        "1970-01-01T00:00:00.000Z"
    );
}

#[test]
fn peek_type_reads_only_the_type() {
    assert_eq!(
        ClientMsg::peek_type(r#"{"type":"chat.message","conversation_id":"bad"}"#).as_deref(),
        Some("chat.message")
    );
    assert_eq!(ClientMsg::peek_type(r#"{"type":1}"#), None);
    assert_eq!(ClientMsg::peek_type("not json"), None);
}

#[test]
fn lifecycle_fields_read_and_write_as_documented() {
    let text = r#"{"type":"chat.message_updated","message":{"id":790,"conversation_id":123,
      "sender":{"id":45,"username":"john_doe"},"content":"Hi again","timestamp":"2025-07-07T12:35:00.000Z",
      "is_system":false,"attachment":null,"status":"sent","is_read":false,
      "reply_to":{"id":789,"sender":{"id":1,"username":"alice"},"excerpt":"Hello!","deleted":false},
      "edited_at":"2025-07-07T12:36:00.000Z","deleted":false,
      "reactions":[{"emoji":"👍","count":2,"user_ids":[1,45]}],"client_id":"c-1"}}"#;
    let frame: ServerMsg = serde_json::from_str(text).unwrap();
    let ServerMsg::MessageUpdated { message } = &frame else {
        panic!("{frame:?}")
    };
    assert_eq!(message.reply().map(|r| r.id), Some(789));
    assert_eq!(message.edited().map(|t| t.0), Some(1_751_891_760_000));
    assert!(!message.is_deleted());
    assert_eq!(message.reactions()[0].user_ids, vec![1, 45]);
    let back = serde_json::to_value(&frame).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());

    // A plain new message from this server says null, false and [] rather than leaving them out.
    let plain = chat_shared::ChatMessage::new(
        1,
        2,
        chat_shared::UserRef {
            id: 3,
            username: "a".into(),
        },
        "hi".into(),
        chat_shared::Timestamp(0),
    );
    let value = serde_json::to_value(&plain).unwrap();
    assert_eq!(value["reply_to"], Value::Null);
    assert_eq!(value["edited_at"], Value::Null);
    assert_eq!(value["deleted"], json!(false));
    assert_eq!(value["reactions"], json!([]));
    assert!(value.get("client_id").is_none());
    // A deleted original reads without `deleted` too (a missing one is false).
    let reply: chat_shared::ReplyRef =
        serde_json::from_str(r#"{"id":1,"sender":{"id":2,"username":"b"},"excerpt":""}"#).unwrap();
    assert!(!reply.deleted);
}

#[test]
fn lifecycle_client_frames_parse() {
    let (_, msg) = ClientMsg::parse(
        r#"{"type":"chat.message","conversation_id":1,"content":"x","reply_to":5,"client_id":"k"}"#,
    )
    .unwrap();
    assert_eq!(
        msg,
        ClientMsg::Message {
            conversation_id: 1,
            content: "x".into(),
            reply_to: Some(5),
            client_id: Some("k".into())
        }
    );
    let (kind, msg) =
        ClientMsg::parse(r#"{"type":"chat.react","message_id":5,"emoji":"🎉","add":true}"#)
            .unwrap();
    assert_eq!(kind, "chat.react");
    assert_eq!(msg.kind(), Some("chat.react"));
    let err = ClientMsg::parse(r#"{"type":"chat.edit","message_id":5}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidField);
}

#[test]
fn emoji_and_client_id_rules() {
    use chat_shared::{client_id_problem, emoji_problem};
    assert_eq!(emoji_problem("👍"), None);
    assert_eq!(emoji_problem("+1"), None);
    assert_eq!(emoji_problem(&"🎉".repeat(32)), None);
    assert!(emoji_problem("").is_some());
    assert!(emoji_problem(&"🎉".repeat(33)).is_some());
    assert!(emoji_problem("a b").is_some());
    assert!(emoji_problem("a\u{7}").is_some());
    assert!(emoji_problem("\u{a0}").is_some());
    assert_eq!(client_id_problem("x"), None);
    assert_eq!(client_id_problem(&"é".repeat(64)), None);
    assert!(client_id_problem("").is_some());
    assert!(client_id_problem(&"é".repeat(65)).is_some());
}

#[test]
fn auth_frames_read_and_write_as_documented() {
    let (kind, msg) = ClientMsg::parse(r#"{"type":"chat.auth","token":"a.b.c"}"#).unwrap();
    assert_eq!(kind, "chat.auth");
    assert_eq!(msg.kind(), Some("chat.auth"));
    assert_eq!(
        msg,
        ClientMsg::Auth {
            token: "a.b.c".into()
        }
    );
    let text = r#"{"type":"chat.auth_ok","exp":"2025-07-07T12:39:56.000Z"}"#;
    let ok: ServerMsg = serde_json::from_str(text).unwrap();
    assert_eq!(ok.kind(), "chat.auth_ok");
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        serde_json::from_str::<Value>(text).unwrap()
    );
    let refused = r#"{"type":"chat.error","code":"unauthorized","message":"the token was revoked","request_type":"chat.auth"}"#;
    let error: ServerMsg = serde_json::from_str(refused).unwrap();
    assert!(matches!(
        error,
        ServerMsg::Error {
            code: ErrorCode::Unauthorized,
            ..
        }
    ));
}
