//! The message writer: one task commits queued chat messages in groups (one transaction for
//! everything waiting), then delivers each, in commit order, only after its commit.
//!
//! Grouping turns many small transactions into few, which is what bounds the store's message
//! rate (with `--durability full`, one fsync per group instead of per message). Delivering from
//! this one task keeps every recipient's view in commit (id) order.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use chat_shared::ServerMsg;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::ChatError;
use crate::hub::Hub;
use crate::metrics::observe;
use crate::store::{NewMessage, Store};

/// Messages waiting for the writer; past this, senders wait (back-pressure on their reads).
const QUEUE: usize = 4096;
/// Most messages in one transaction.
const GROUP: usize = 512;

/// A message accepted by its handler, waiting to be stored.
struct Pending {
    message: NewMessage,
    /// Told when the message is stored and delivered, or refused, or failed.
    done: oneshot::Sender<Result<(), ChatError>>,
}

/// The handle handlers submit messages through.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

const NOT_A_MEMBER: ChatError = ChatError::NotFound("no such conversation");
const NOT_STORED: ChatError =
    ChatError::Unavailable("the message could not be stored; it was not sent");

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

    /// Queues a message to be stored and delivered to every connection of its conversation's
    /// participants (the echo to its sender included), in a group with whatever else is
    /// waiting. Waits only for room in the queue; the returned [`Submitted`] completes once the
    /// message is stored and delivered, or refused (the sender is not in the conversation), or
    /// failed (the database failed, or the server is shutting down), nothing stored.
    pub async fn submit(&self, message: NewMessage) -> Result<Submitted, ChatError> {
        let (done, finished) = oneshot::channel();
        self.queue
            .send(Pending { message, done })
            .await
            .map_err(|_| SHUTTING_DOWN)?;
        Ok(Submitted(finished))
    }
}

/// A message in the writer's hands: completes with its outcome.
pub struct Submitted(oneshot::Receiver<Result<(), ChatError>>);

impl Future for Submitted {
    type Output = Result<(), ChatError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|outcome| outcome.unwrap_or(Err(SHUTTING_DOWN)))
    }
}

const SHUTTING_DOWN: ChatError =
    ChatError::Unavailable("the server is shutting down; message not stored");

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
        let (messages, done): (Vec<NewMessage>, Vec<_>) =
            group.drain(..).map(|p| (p.message, p.done)).unzip();
        let count = messages.len();
        let outcomes: Vec<Result<(), ChatError>> = match store.create_messages(messages).await {
            Ok(stored) => {
                let committed = Instant::now();
                let metrics = hub.metrics();
                for _ in &stored {
                    observe(&metrics.store_seconds, committed - started);
                }
                metrics.messages_stored.inc_by(stored.len() as u64);
                let mut outcomes: Vec<_> = (0..count).map(|_| Err(NOT_A_MEMBER)).collect();
                for stored in stored {
                    outcomes[stored.index] = Ok(());
                    let frame = ServerMsg::Message {
                        message: stored.message,
                    };
                    hub.deliver(&stored.participants, &frame, None);
                }
                observe(&metrics.fanout_seconds, committed.elapsed());
                outcomes
            }
            Err(e) => {
                tracing::error!(error = %e, messages = count, "storing messages failed");
                (0..count).map(|_| Err(NOT_STORED)).collect()
            }
        };
        for (done, outcome) in done.into_iter().zip(outcomes) {
            let _ = done.send(outcome);
        }
    }
}
