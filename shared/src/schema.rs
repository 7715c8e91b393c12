//! The JSON Schema of every frame, generated from the types themselves (schemars reads the same
//! serde attributes that decide the wire format), so this document cannot drift from the code.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::{ClientMsg, Pushed};

/// Where the client frames' schema sits in [`document`].
pub const CLIENT_FRAME: &str = "#/$defs/ClientFrame";
/// Where the server frames' schema sits in [`document`].
pub const SERVER_FRAME: &str = "#/$defs/ServerFrame";

/// One JSON Schema (draft 2020-12) of the protocol: `$defs/ClientFrame` is any frame a client
/// sends, `$defs/ServerFrame` any frame the server sends (with its `seq` when it has one), the document itself either.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<ClientMsg>();
    let server = generator.subschema_for::<Pushed>();
    let mut defs = serde_json::Map::new();
    for (name, schema) in generator.take_definitions(true) {
        defs.insert(name, schema);
    }
    defs.insert("ClientFrame".into(), client.to_value());
    defs.insert("ServerFrame".into(), server.to_value());
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "chat protocol frames",
        "description": "Every JSON text frame of the chat WebSocket (docs/protocol.md).",
        "anyOf": [{ "$ref": CLIENT_FRAME }, { "$ref": SERVER_FRAME }],
        "$defs": defs,
    })
}

/// A schema that accepts what the `$defs` entry at `pointer` accepts (for validating one side).
pub fn one_side(document: &Value, pointer: &str) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": pointer,
        "$defs": document["$defs"],
    })
}
