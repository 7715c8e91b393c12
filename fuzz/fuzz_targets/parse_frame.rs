//! Fuzz target: any bytes as a client text frame. `ClientMsg::parse` must never panic, must
//! answer with a frame or an error whose code and `request_type` fit the input, and a frame it
//! accepts must survive serializing and parsing again.

#![no_main]

use chat_shared::{ClientMsg, ErrorCode, ServerMsg};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // The server only ever sees valid UTF-8 text frames (the WebSocket layer checks).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value: Option<Value> = serde_json::from_str(text).ok();
    let kind = value
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match ClientMsg::parse(text) {
        Ok((parsed_kind, msg)) => {
            assert_eq!(Some(&parsed_kind), kind.as_ref());
            assert_ne!(msg, ClientMsg::Unknown);
            let again = serde_json::to_string(&msg).expect("client frames serialize");
            let (_, reparsed) = ClientMsg::parse(&again).expect("a re-serialized frame parses");
            assert_eq!(reparsed, msg);
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            match (&value, e.code) {
                (None, code) => assert_eq!(code, ErrorCode::InvalidJson),
                (Some(_), ErrorCode::InvalidFrame) => assert_eq!(e.request_type, None),
                (Some(_), ErrorCode::UnknownType | ErrorCode::InvalidField) => {
                    assert_eq!(e.request_type, kind);
                }
                (Some(_), code) => panic!("unexpected code {code:?}"),
            }
            // The error frame the server would send serializes.
            let _ = ServerMsg::from(e).to_json();
        }
    }
});
