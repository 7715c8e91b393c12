//! `chat tail`: follows events as they happen, one line each, until Ctrl-C or until its
//! output's reader goes away.
//!
//! It connects as every command does, then keeps going: it renews the socket's access token in
//! band before it expires ([`crate::renewal`]), and when the connection drops it connects
//! again (a fresh access token from the session each time, waits doubling up to
//! [`RETRY_MAX`]) and syncs from the last event handled, so nothing is missed or shown twice
//! (see [`follow`]). A socket closed over its token (4001) is reconnected at once: the refresh
//! tells an expired token from an ended session, which ends `tail` with an error (exit 2). It
//! answers each message from others that it shows with `chat.delivered`, as the terminal UI
//! does.

mod follow;
mod output;
mod show;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chat_shared::{ClientMsg, ServerMsg};
use tokio::time::Instant;

use self::follow::{Follow, Received, Step};
use self::output::{Stop, notice};
use self::show::View;
use super::Context;
use super::chat::{Target, open_conversation};
use super::connection::{Connection, closed_message};
use super::socket::{Incoming, SocketError};
use crate::api;
use crate::renewal::Renewed;
use crate::session;

/// First and longest wait before connecting again.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long was healthy: the next wait starts from the shortest.
const STABLE: Duration = Duration::from_secs(60);
/// A connection that lasted this long before a 4001 had been working: connect again at once.
const AT_ONCE: Duration = Duration::from_secs(1);
/// A ping goes out after this long without a word from the server; the connection counts as
/// lost after [`DEAD`] (the server pings every 30 s by default).
const PING_AFTER: Duration = Duration::from_secs(20);
const DEAD: Duration = Duration::from_secs(50);
/// How often the connection's health is looked at while nothing arrives.
const TICK: Duration = Duration::from_secs(5);

/// What `chat tail` follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// One conversation; `None`: all of them.
    pub scope: Option<Target>,
    /// Show `chat.typing` too.
    pub typing: bool,
    /// Replay the events after this `seq` first; `None`: start from the newest.
    pub since: Option<i64>,
    /// How long to wait for each answer while setting up and syncing.
    pub timeout_ms: u64,
}

/// Follows until Ctrl-C (exit 0, with the cursor to resume from on standard error) or until
/// standard output's reader goes away (exit 0, quietly).
pub async fn run(ctx: &Context, options: Options) -> anyhow::Result<()> {
    let mut follow = Follow::new(options.since);
    let stop = tokio::select! {
        stop = output::stopped() => stop,
        result = follow_events(ctx, &options, &mut follow) => match result {
            Err(e) if output::is_output_closed(&e) => Stop::OutputClosed,
            Err(e) => return Err(e),
            Ok(never) => match never {},
        },
    };
    if let (Stop::Interrupted, Some(cursor)) = (stop, follow.cursor()) {
        notice(&format!(
            "stopped after seq {cursor}; `chat tail --since {cursor}` goes on from here"
        ));
    }
    Ok(())
}

/// Never ends but with an error: setting up failed, the session is gone, the server refused to
/// sync, or output failed.
async fn follow_events(
    ctx: &Context,
    options: &Options,
    follow: &mut Follow,
) -> anyhow::Result<std::convert::Infallible> {
    let wait = Duration::from_millis(options.timeout_ms);
    let mut conn = Connection::open(ctx, wait).await?;
    let only = match &options.scope {
        Some(target) => Some(open_conversation(&mut conn, target).await?),
        None => None,
    };
    let list = conn.conversations().await?;
    let me = conn.me.user_id;
    let mut view = View::new(
        ctx.json,
        options.typing,
        only,
        me,
        &list,
        options.since.is_none(),
    );
    let mut receipts = Receipts::default();
    let mut retry = Retry::default();
    let mut resumed = false;
    loop {
        let opened = Instant::now();
        let mut session = Session {
            conn: &mut conn,
            follow,
            view: &mut view,
            receipts: &mut receipts,
            me,
            wait,
        };
        let lost = session.run(&mut resumed).await?;
        let lived = opened.elapsed();
        if lived >= STABLE {
            retry = Retry::default();
        }
        conn = reconnect(ctx, wait, &mut retry, lost, lived).await?;
    }
}

/// Why a connection was lost.
enum Lost {
    /// The server closed it over its token (4001): expired, or its session ended.
    Token,
    Other(String),
}

impl From<String> for Lost {
    fn from(why: String) -> Lost {
        Lost::Other(why)
    }
}

/// Connects again after losing a connection that lived `lived`, waiting longer after each
/// failure (but not before the first try after a working socket's 4001); an error only when
/// trying again cannot help (the session is gone or unusable).
async fn reconnect(
    ctx: &Context,
    wait: Duration,
    retry: &mut Retry,
    lost: Lost,
    lived: Duration,
) -> anyhow::Result<Connection> {
    let token_closed = closed_message(Some(chat_shared::close::UNAUTHORIZED), "");
    let (mut why, mut at_once) = match lost {
        Lost::Token => (token_closed, lived >= AT_ONCE),
        Lost::Other(why) => (why, false),
    };
    loop {
        if at_once {
            notice(
                "the server closed the connection over its access token (4001); connecting again",
            );
            at_once = false;
        } else {
            let pause = retry.next();
            notice(&format!(
                "{why}; connecting again in {:.1} s",
                pause.as_secs_f64()
            ));
            tokio::time::sleep(pause).await;
        }
        match Connection::open(ctx, wait).await {
            Ok(conn) => return Ok(conn),
            Err(e) if worth_retrying(&e) => why = format!("{e:#}"),
            Err(e) => return Err(e),
        }
    }
}

/// Network trouble passes; a missing or refused session does not.
fn worth_retrying(error: &anyhow::Error) -> bool {
    if error.is::<SocketError>() {
        return true;
    }
    matches!(
        error.downcast_ref::<session::Error>(),
        Some(session::Error::Api(
            api::Error::Unreachable { .. } | api::Error::Other { .. }
        ))
    )
}

/// One connection, from `chat.hello` until it is lost.
struct Session<'a> {
    conn: &'a mut Connection,
    follow: &'a mut Follow,
    view: &'a mut View,
    receipts: &'a mut Receipts,
    me: i64,
    wait: Duration,
}

impl Session<'_> {
    /// Why the connection was lost; an error when output failed or the session ended.
    async fn run(&mut self, resumed: &mut bool) -> anyhow::Result<Lost> {
        let hello = self.follow.connected();
        if let Err(e) = self.send(&[hello]).await {
            return Ok(e.into());
        }
        let mut asked = Instant::now();
        loop {
            let quiet = self.conn.socket.heard_at().elapsed();
            if quiet >= DEAD {
                return Ok(format!("no word from the server for {} s", quiet.as_secs()).into());
            }
            if self.follow.waiting() && asked.elapsed() >= self.wait {
                return Ok(format!("no answer to chat.sync within {:?}", self.wait).into());
            }
            if quiet >= PING_AFTER
                && let Err(e) = self.conn.socket.ping().await
            {
                return Ok(e.to_string().into());
            }
            let incoming = tokio::select! {
                incoming = self.conn.socket.recv_until(Instant::now() + TICK) => incoming,
                () = self.conn.renewal.due() => {
                    match self.conn.renewal.renew().await {
                        Renewed::Send(frame) => {
                            if let Err(e) = self.send(&[frame]).await {
                                return Ok(e.into());
                            }
                        }
                        Renewed::Later(why) => notice(&why),
                        Renewed::Ended => return Err(session::Error::SessionEnded.into()),
                    }
                    continue;
                }
            };
            let text = match incoming {
                Err(e) => return Ok(e.to_string().into()),
                Ok(Incoming::Closed {
                    code: Some(chat_shared::close::UNAUTHORIZED),
                    ..
                }) => return Ok(Lost::Token),
                Ok(Incoming::Closed { code, reason }) => {
                    return Ok(closed_message(code, &reason).into());
                }
                Ok(Incoming::Timeout) => continue,
                Ok(Incoming::Text(text)) => text,
            };
            let Some(received) = Received::parse(text) else {
                continue;
            };
            if self.conn.renewal.answered(&received.frame) {
                continue;
            }
            let step = self.follow.on_frame(received);
            if !step.send.is_empty() {
                asked = Instant::now();
            }
            if let Some(lost) = self.handle(step, resumed).await? {
                return Ok(lost.into());
            }
        }
    }

    /// Shows what a step shows, sends what it sends (receipts included); why the connection
    /// is lost, if it is.
    async fn handle(&mut self, step: Step, resumed: &mut bool) -> anyhow::Result<Option<String>> {
        if let Some(why) = step.refused {
            bail!(why);
        }
        for text in &step.notices {
            notice(text);
        }
        for received in &step.show {
            if let ServerMsg::Error {
                code,
                message,
                request_type,
            } = &received.frame
            {
                let about = request_type.as_deref().unwrap_or("a frame");
                notice(&format!(
                    "the server refused {about}: {message} ({})",
                    code.as_str()
                ));
                continue;
            }
            let Some(line) = self.view.line(received) else {
                continue;
            };
            output::write_line(&line).context("cannot write to standard output")?;
            if let ServerMsg::Message { message } = &received.frame
                && message.sender.id != self.me
            {
                self.receipts.note(message.conversation_id, message.id);
            }
        }
        if let Some(cursor) = step.caught_up {
            if *resumed {
                notice(&format!("connected again; caught up to seq {cursor}"));
            } else {
                notice(&format!("following events after seq {cursor}"));
                *resumed = true;
            }
        }
        let mut frames = step.send;
        frames.extend(self.receipts.take());
        if let Err(e) = self.send(&frames).await {
            return Ok(Some(e));
        }
        Ok(step.lost)
    }

    /// Sends frames in order; why the connection failed, if it did.
    async fn send(&mut self, frames: &[ClientMsg]) -> Result<(), String> {
        for frame in frames {
            let text = serde_json::to_string(frame).map_err(|e| e.to_string())?;
            self.conn
                .socket
                .send_text(&text)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Our `chat.delivered`s: one per conversation for the newest message shown since the last
/// ones went out (the server's marker covers the ones before it), never one for a message at or
/// below what was already sent. One entry per conversation.
#[derive(Debug, Default)]
struct Receipts {
    sent: BTreeMap<i64, i64>,
    due: BTreeMap<i64, i64>,
}

impl Receipts {
    fn note(&mut self, conversation_id: i64, message_id: i64) {
        if self
            .sent
            .get(&conversation_id)
            .is_some_and(|&sent| sent >= message_id)
        {
            return;
        }
        let due = self.due.entry(conversation_id).or_default();
        *due = (*due).max(message_id);
    }

    fn take(&mut self) -> Vec<ClientMsg> {
        let due = std::mem::take(&mut self.due);
        due.into_iter()
            .map(|(conversation_id, message_id)| {
                self.sent.insert(conversation_id, message_id);
                ClientMsg::Delivered { message_id }
            })
            .collect()
    }
}

/// Waits between attempts to connect: from [`RETRY_MIN`], doubling up to [`RETRY_MAX`], plus
/// up to a fifth at random, so that clients cut off together do not all come back at once.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
}

impl Retry {
    fn next(&mut self) -> Duration {
        let base = RETRY_MIN
            .saturating_mul(1 << self.failures.min(16))
            .min(RETRY_MAX);
        self.failures += 1;
        base.mul_f64(1.0 + rand::random::<f64>() / 5.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_go_once_per_conversation_for_its_newest_message() {
        let mut receipts = Receipts::default();
        receipts.note(3, 10);
        receipts.note(3, 12);
        receipts.note(5, 11);
        let delivered = |ids: &[i64]| -> Vec<ClientMsg> {
            ids.iter()
                .map(|&message_id| ClientMsg::Delivered { message_id })
                .collect()
        };
        assert_eq!(receipts.take(), delivered(&[12, 11]));
        assert!(receipts.take().is_empty());
        // Replayed again, or older: nothing more to say.
        receipts.note(3, 12);
        receipts.note(5, 9);
        assert!(receipts.take().is_empty());
        receipts.note(3, 13);
        assert_eq!(receipts.take(), delivered(&[13]));
    }

    #[test]
    fn waits_double_up_to_the_longest() {
        let mut retry = Retry::default();
        let waits: Vec<Duration> = (0..10).map(|_| retry.next()).collect();
        for (i, wait) in waits.iter().enumerate() {
            let base = RETRY_MIN.saturating_mul(1 << i).min(RETRY_MAX);
            assert!(*wait >= base && *wait <= base.mul_f64(1.2), "{i}: {wait:?}");
        }
    }
}
