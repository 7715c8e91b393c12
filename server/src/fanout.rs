//! Fan-out: a frame for some users goes to their connections on this instance (the [`Hub`]) and
//! to the other instances (the bus's [`Link`]), serialized once; so does a revocation, which
//! closes connections instead. Handlers and the message writer
//! deliver only through here.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use chat_shared::ServerMsg;

use crate::bus::Link;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Revocation;

/// Delivery to every connection of some users, wherever they are connected.
#[derive(Clone)]
pub struct Fanout {
    hub: Hub,
    link: Arc<Link>,
    metrics: Arc<Metrics>,
}

impl Fanout {
    pub fn new(hub: Hub, link: Link, metrics: Arc<Metrics>) -> Fanout {
        Fanout {
            hub,
            link: Arc::new(link),
            metrics,
        }
    }

    /// Sends `msg` to every connection of every user in `user_ids`, here and on the other
    /// instances, but the connection `except`. Serialized once; every queue gets the same bytes.
    pub fn deliver(&self, user_ids: &[i64], msg: &ServerMsg, except: Option<u64>) {
        self.send(user_ids, msg.kind(), msg.to_json(), except);
    }

    /// Like [`Fanout::deliver`], for a pushed frame: it carries its event's `seq`.
    pub fn push(&self, user_ids: &[i64], msg: &ServerMsg, seq: i64, except: Option<u64>) {
        let text = serde_json::to_string(&Sequenced { seq, frame: msg })
            .expect("server frames always serialize");
        self.send(user_ids, msg.kind(), text, except);
    }

    /// Closes the connections of `user_id` that `revocation` covers, here and on the other
    /// instances (the hub reads it on arrival; see [`Hub::deliver_local`]).
    pub fn revoke(&self, user_id: i64, revocation: &Revocation) {
        let text = serde_json::to_string(revocation).expect("a revocation always serializes");
        self.send(&[user_id], Revocation::KIND, text, None);
    }

    fn send(&self, user_ids: &[i64], kind: &'static str, text: String, except: Option<u64>) {
        let frame: Utf8Bytes = text.into();
        self.hub.deliver_local(user_ids, kind, &frame, except);
        self.link.publish(user_ids, kind, &frame, &self.metrics);
    }
}

/// A pushed frame with its `seq`, serialized as `chat_shared::Pushed` reads it, without a copy.
#[derive(serde::Serialize)]
struct Sequenced<'a> {
    seq: i64,
    #[serde(flatten)]
    frame: &'a ServerMsg,
}
