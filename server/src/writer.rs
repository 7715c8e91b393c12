//! The message writer: one task commits queued chat messages in groups (one transaction for
//! everything waiting), then delivers each, in commit order, only after its commit.
//!
//! Grouping turns many small transactions into few, which is what bounds the store's message
//! rate (with `--durability full`, one fsync per group instead of per message). Delivering from
//! this one task keeps every recipient's view in commit (id) order.

use std::time::Instant;

use chat_shared::{ErrorCode, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::hub::{ConnHandle, Hub};
use crate::metrics::observe;
use crate::store::{NewMessage, Store};

/// Messages waiting for the writer; past this, senders wait (back-pressure on their reads).
const QUEUE: usize = 4096;
/// Most messages in one transaction.
const GROUP: usize = 512;

/// A message accepted by its handler, waiting to be stored.
struct Pending {
    message: NewMessage,
    /// Everyone in the conversation: the recipients once it is stored.
    participants: Vec<i64>,
    /// The sender's connection, told if storing fails.
    conn: ConnHandle,
    /// Told when the message is stored and delivered, or failed.
    done: oneshot::Sender<()>,
}

/// The handle handlers submit messages through.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the writer task; it stops once `stop` is cancelled and its queue is empty.
    pub fn start(
        store: Store,
        hub: Hub,
        stop: CancellationToken,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, hub, pending, stop));
        (Writer { queue }, task)
    }

    /// Stores a message and delivers it (the echo to its sender included), in a group with
    /// whatever else is waiting. Returns once that is done (or has failed and the sender was
    /// told), so a connection's next frame sees its own message; `false` when the writer has
    /// stopped (the server is shutting down), in which case nothing was stored.
    pub async fn submit(
        &self,
        message: NewMessage,
        participants: Vec<i64>,
        conn: ConnHandle,
    ) -> bool {
        let (done, finished) = oneshot::channel();
        let pending = Pending {
            message,
            participants,
            conn,
            done,
        };
        self.queue.send(pending).await.is_ok() && finished.await.is_ok()
    }
}

async fn run(
    store: Store,
    hub: Hub,
    mut pending: mpsc::Receiver<Pending>,
    stop: CancellationToken,
) {
    let mut group = Vec::with_capacity(GROUP);
    loop {
        tokio::select! {
            biased;
            n = pending.recv_many(&mut group, GROUP) => if n == 0 { return },
            // Everything queued before the stop is still stored and delivered.
            _ = stop.cancelled(), if pending.is_empty() => return,
        }
        let started = Instant::now();
        let messages: Vec<NewMessage> = group.iter().map(|p| p.message.clone()).collect();
        match store.create_messages(&messages).await {
            Ok(stored) => {
                let committed = Instant::now();
                let metrics = hub.metrics();
                for _ in &stored {
                    observe(&metrics.store_seconds, committed - started);
                }
                metrics.messages_stored.inc_by(stored.len() as u64);
                for (p, message) in group.drain(..).zip(stored) {
                    hub.deliver(&p.participants, &ServerMsg::Message { message }, None);
                    let _ = p.done.send(());
                }
                observe(&metrics.fanout_seconds, committed.elapsed());
            }
            Err(e) => {
                tracing::error!(error = %e, messages = group.len(), "storing messages failed");
                for p in group.drain(..) {
                    hub.metrics().error("internal");
                    p.conn.send(&ServerMsg::Error {
                        code: ErrorCode::Internal,
                        message: "the message could not be stored; it was not sent".into(),
                        request_type: Some("chat.message".into()),
                    });
                    let _ = p.done.send(());
                }
            }
        }
    }
}
