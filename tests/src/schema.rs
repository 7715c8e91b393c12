//! The protocol's JSON Schema (`chat_shared::schema`, served at `/api/schema.json`) checked
//! against real frames: the one test client validates every frame it sends and every frame it
//! receives in every end-to-end test, so a frame the schema does not describe fails the test
//! that saw it.

use std::sync::OnceLock;

use chat_shared::schema::{CLIENT_FRAME, SERVER_FRAME, document, one_side};
use jsonschema::Validator;
use serde_json::Value;

struct Validators {
    client: Validator,
    server: Validator,
}

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let document = document();
        let compile = |pointer| {
            jsonschema::validator_for(&one_side(&document, pointer))
                .unwrap_or_else(|e| panic!("the protocol schema does not compile: {e}"))
        };
        Validators {
            client: compile(CLIENT_FRAME),
            server: compile(SERVER_FRAME),
        }
    })
}

fn check(validator: &Validator, side: &str, frame: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(frame)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "a {side} frame the protocol schema does not describe: {frame}\n{}",
        errors.join("\n")
    );
}

/// Fails the test if `frame` is not a client frame as the schema describes them.
pub fn check_client_frame(frame: &Value) {
    check(&validators().client, "client", frame);
}

/// Fails the test if `frame` is not a server frame as the schema describes them.
pub fn check_server_frame(frame: &Value) {
    check(&validators().server, "server", frame);
}
