//! `chat check --trace`: every frame an actor sends or receives, as one line on standard error.
//!
//! Lines go out as they happen (a script that hangs shows what it last saw), each whole, so
//! scripts running side by side (`--jobs`) interleave only by line; every line names its script.

use std::sync::Arc;

/// Where a script's trace goes: nowhere, or standard error with this script's label.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    label: Option<Arc<str>>,
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Sent,
    Received,
}

impl Trace {
    /// A trace that prints nothing.
    pub fn off() -> Trace {
        Trace::default()
    }

    /// A trace of the script `label` (its file).
    pub fn to_stderr(label: &str) -> Trace {
        Trace {
            label: Some(label.into()),
        }
    }

    /// `TIME FILE ACTOR > FRAME` (sent) or `TIME FILE ACTOR < FRAME` (received).
    pub fn frame(&self, actor: &str, direction: Direction, text: &str) {
        let arrow = match direction {
            Direction::Sent => '>',
            Direction::Received => '<',
        };
        // Sanitized: a raw frame may hold line breaks or terminal escapes.
        self.line(actor, &format!("{arrow} {}", crate::text::sanitize(text)));
    }

    /// `TIME FILE ACTOR closed …`: the end of an actor's connection.
    pub fn closed(&self, actor: &str, how: &str) {
        self.line(actor, &format!("x {how}"));
    }

    fn line(&self, actor: &str, what: &str) {
        if let Some(label) = &self.label {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            // One call per line: the standard error lock keeps it whole.
            eprintln!("{now} {label} {actor} {what}");
        }
    }
}
