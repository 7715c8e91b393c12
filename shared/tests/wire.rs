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
