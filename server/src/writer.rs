//! The message writer: one task commits queued chat messages in groups (one transaction for
//! everything waiting), then delivers each, in commit order, only after its commit.
//!
//! Grouping turns many small transactions into few, which is what bounds the store's message
//! rate (with `--durability full`, one fsync per group instead of per message). Delivering from
//! this one task keeps every recipient's view in commit (id) order, and a refused message's
//! `chat.error` in its place among its sender's echoes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use chat_shared::ServerMsg;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::conn::ConnHandle;
use crate::error::{ChatError, MESSAGE, NO_CONVERSATION};
use crate::fanout::Fanout;
use crate::metrics::{Metrics, observe};
use crate::store::{NewMessage, Store, StoredMessage};

/// Messages waiting for the writer; past this, senders wait (back-pressure on their reads).
const QUEUE: usize = 4096;
/// Most messages in one transaction.
const GROUP: usize = 512;

/// A message accepted by its handler, waiting to be stored.
struct Pending {
    message: NewMessage,
    /// The connection it came from: told of a refusal, in order with its echoes.
    sender: ConnHandle,
    /// Told when the message is delivered or its refusal is queued on `sender`.
    done: oneshot::Sender<()>,
}

/// The handle handlers submit messages through.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

const NOT_STORED: ChatError =
    ChatError::Unavailable("the message could not be stored; it was not sent");

impl Writer {
    /// Starts the writer task; it stops once `stop` is cancelled and its queue is empty.
    pub fn start(
        store: Store,
        fanout: Fanout,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, fanout, metrics, pending, stop));
        (Writer { queue }, task)
    }

    /// Queues a message from connection `sender` to be stored and delivered to every
    /// connection of its conversation's participants (the echo to `sender` included), in a
    /// group with whatever else is waiting. Waits only for room in the queue. A message that is
    /// refused (its sender is not in the conversation) or not stored (the database failed) is
    /// answered with a `chat.error` on `sender`, in order with the frames delivered before and
    /// after it. The returned [`Submitted`] completes once the echo or that error is queued.
    pub async fn submit(
        &self,
        message: NewMessage,
        sender: &ConnHandle,
    ) -> Result<Submitted, ChatError> {
        let (done, finished) = oneshot::channel();
        let pending = Pending {
            message,
            sender: sender.clone(),
            done,
        };
        self.queue.send(pending).await.map_err(|_| SHUTTING_DOWN)?;
        Ok(Submitted(finished))
    }
}

/// A message in the writer's hands: completes once its echo or its `chat.error` is queued on
/// its connection, or with an error the connection still has to report (the writer stopped
/// before it was stored: the server is shutting down).
pub struct Submitted(oneshot::Receiver<()>);

impl Future for Submitted {
    type Output = Result<(), ChatError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answered| answered.map_err(|_| SHUTTING_DOWN))
    }
}

const SHUTTING_DOWN: ChatError =
    ChatError::Unavailable("the server is shutting down; message not stored");

async fn run(
    store: Store,
    fanout: Fanout,
    metrics: Arc<Metrics>,
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
        let (messages, answers): (Vec<NewMessage>, Vec<_>) = group
            .drain(..)
            .map(|p| (p.message, (p.sender, p.done)))
            .unzip();
        let count = messages.len();
        let metrics = &*metrics;
        // Each input's stored message, by its place in the group; `None`: refused.
        let mut stored: Vec<Option<StoredMessage>> = (0..count).map(|_| None).collect();
        let refusal = match store.create_messages(messages).await {
            Ok(saved) => {
                let committed = Instant::now();
                let fresh = saved.iter().filter(|m| !m.retry).count();
                for _ in 0..fresh {
                    observe(&metrics.store_seconds, committed - started);
                }
                metrics.messages_stored.inc_by(fresh as u64);
                for message in saved {
                    let index = message.index;
                    stored[index] = Some(message);
                }
                NO_CONVERSATION
            }
            Err(e) => {
                tracing::error!(error = %e, messages = count, "storing messages failed");
                NOT_STORED
            }
        };
        // In arrival order: a refused message's error takes its place among the echoes.
        let delivering = Instant::now();
        for (stored, (sender, done)) in stored.into_iter().zip(answers) {
            match stored {
                Some(stored) => {
                    let frame = ServerMsg::Message {
                        message: stored.message,
                    };
                    match stored.seq {
                        Some(seq) => fanout.push(&stored.participants, &frame, seq, None),
                        None => fanout.deliver(&stored.participants, &frame, None),
                    }
                }
                None => refusal.report(metrics, &sender, MESSAGE),
            }
            let _ = done.send(());
        }
        observe(&metrics.fanout_seconds, delivering.elapsed());
    }
}
