//! Tagged messages, as `pairs` and `group` send them: content that carries a run's tag, a
//! sequence number and the send time; which sequence numbers arrived from each sender; and the
//! run's messages read back from history, to check that each was stored exactly once.

use std::time::Duration;

use anyhow::Context;
use chat_shared::{ClientMsg, ServerMsg};

use crate::net::{self, Ws};

/// How long reading back a page of history may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which sequence numbers arrived from one sender: a growable bitmap bounded by messages sent.
#[derive(Default)]
pub(crate) struct Seen {
    bits: Vec<u64>,
    highest: Option<u64>,
}

pub(crate) enum Arrival {
    New,
    Duplicate,
    OutOfOrder,
}

impl Seen {
    pub(crate) fn mark(&mut self, seq: u64) -> Arrival {
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit != 0 {
            return Arrival::Duplicate;
        }
        self.bits[word] |= bit;
        let late = self.highest.is_some_and(|h| seq < h);
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        if late {
            Arrival::OutOfOrder
        } else {
            Arrival::New
        }
    }
}

/// Content: `<tag> <seq> <send ns since start> <padding>`.
pub(crate) fn content(tag: &str, seq: u64, sent_ns: u64, len: usize) -> String {
    let mut text = format!("{tag} {seq} {sent_ns} ");
    while text.len() < len {
        text.push('x');
    }
    text
}

pub(crate) fn parse_content(text: &str, tag: &str) -> Option<(u64, u64)> {
    let mut parts = text.split(' ');
    if parts.next()? != tag {
        return None;
    }
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// How a run paces its sends, for its summary line.
pub(crate) fn loop_mode(rate: u64, window: usize) -> String {
    match rate {
        0 => format!("closed loop, window {window}"),
        r => format!("open loop at {r} msg/s"),
    }
}

/// This run's messages stored in `conv`, newest pages first until none of ours remain.
pub(crate) async fn stored_messages(
    ws: &mut Ws,
    conv: i64,
    tag: &str,
) -> anyhow::Result<Vec<(i64, u64)>> {
    let mut found = Vec::new();
    let mut before_id = None;
    loop {
        let ask = ClientMsg::GetMessages {
            conversation_id: conv,
            before_id,
            limit: Some(1000),
        };
        let (messages, has_more) = net::request(ws, &ask, REQUEST_TIMEOUT, |m| match m {
            ServerMsg::Messages {
                messages,
                conversation_id,
                has_more,
            } if conversation_id.is_none_or(|c| c == conv) => {
                Some((messages, has_more.unwrap_or(false)))
            }
            _ => None,
        })
        .await
        .context("reading back the conversation")?;
        let ours: Vec<(i64, u64)> = messages
            .iter()
            .filter_map(|m| parse_content(&m.content, tag).map(|(seq, _)| (m.sender.id, seq)))
            .collect();
        let oldest = messages.first().map(|m| m.id);
        let done = ours.is_empty() || !has_more || oldest.is_none();
        found.extend(ours);
        if done {
            return Ok(found);
        }
        before_id = oldest;
    }
}
