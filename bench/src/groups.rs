//! `group`: one sender in a group whose every member is connected, over one instance or spread
//! round-robin over several (one database, one bus). Per message the latency is from its send
//! (the scheduled time in open loop) to the moment the last member's connection received it;
//! every member must receive every message once and in order, and the history must hold each
//! message once, or the run fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chat_shared::{ClientMsg, ServerMsg};
use clap::Args;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Dialer, Ws};
use crate::pace::Schedule;
use crate::report::{Latency, emit, per_sec};
use crate::tagged::{Arrival, Seen, content, loop_mode, parse_content, stored_messages};
use crate::users::{Target, User};

#[derive(Debug, Clone, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub target: Target,
    /// Instances to spread the connections over, round-robin (`host:port,host:port`); the sender
    /// is on the first. Without it, everyone is on `--server`.
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<SocketAddr>,
    /// Members of the group, the sender included (the server allows `--max-group-members`).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Messages per second (open loop); 0 runs closed loop with `--window` in flight.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// Closed loop: messages in flight, each until the last member has it.
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// At most this many messages, however long `--duration` is.
    #[arg(long, default_value_t = 20_000)]
    pub max_messages: usize,
    /// Content length in bytes (a header with sequence and send time, padded).
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
    /// Start this many users into the target's user range (with `--jwt-secret`).
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

/// How long members wait for the last messages after sending stops.
const DRAIN: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections opened at once while setting up.
const CONNECTING: usize = 32;

/// Per message of the run: when it was sent, how many members have it, when the last one got
/// it. Readers write it as frames arrive, so no member's histogram has to be merged afterwards.
struct Board {
    start: Instant,
    /// Members other than the sender: the connections every message must reach.
    receivers: u32,
    sent: AtomicU64,
    done: AtomicBool,
    sent_ns: Vec<AtomicU64>,
    arrived: Vec<AtomicU32>,
    last_ns: Vec<AtomicU64>,
    /// One permit each time a message has reached every member (the closed loop's window).
    complete: Semaphore,
}

impl Board {
    fn since_start(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Notes that one member received `seq` now.
    fn arrive(&self, seq: usize, now: Instant) {
        self.last_ns[seq].fetch_max(self.since_start(now), Ordering::AcqRel);
        if self.arrived[seq].fetch_add(1, Ordering::AcqRel) + 1 == self.receivers {
            self.complete.add_permits(1);
        }
    }
}

/// What one connection saw of the run's messages.
#[derive(Default)]
struct Heard {
    received: u64,
    duplicated: u64,
    out_of_order: u64,
    /// Frames that should not come: errors, or run messages not from the sender.
    errors: u64,
    /// Only the sender's: its echoes, from send to echo.
    echo: Latency,
}

pub async fn run(args: GroupArgs) -> anyhow::Result<()> {
    ensure!(args.members >= 2, "--members must be at least 2");
    ensure!(args.window > 0, "--window must be at least 1");
    ensure!(args.max_messages > 0, "--max-messages must be at least 1");
    net::raise_fd_limit(args.members as u64 + 1024)?;
    let servers = match args.servers.as_slice() {
        [] => vec![args.target.server],
        list => list.to_vec(),
    };
    let users = args
        .target
        .users(args.members, args.user_offset, "g")
        .await?;
    let mut conns = connect(&args.target, &servers, &users).await?;
    let tag = format!("g{:08x}", rand::random::<u32>());
    let sender = users[0].id;
    let conv = create_group(&mut conns, &users, &tag).await?;

    let receivers = (args.members - 1) as u32;
    let slots = || 0..args.max_messages;
    let start = Instant::now() + Duration::from_millis(200);
    let deadline = start + args.duration;
    let board = Arc::new(Board {
        start,
        receivers,
        sent: AtomicU64::new(0),
        done: AtomicBool::new(false),
        sent_ns: slots().map(|_| AtomicU64::new(0)).collect(),
        arrived: slots().map(|_| AtomicU32::new(0)).collect(),
        last_ns: slots().map(|_| AtomicU64::new(0)).collect(),
        complete: Semaphore::new(args.window),
    });
    let give_up = deadline + DRAIN;
    let mut conns = conns.into_iter();
    let (sink, stream) = conns.next().expect("the sender's connection").split();
    let listeners: Vec<_> = conns
        .map(|ws| {
            let (board, tag) = (board.clone(), tag.clone());
            tokio::spawn(async move { listen(&board, ws, sender, &tag, false, give_up).await })
        })
        .collect();
    let echoes = {
        let (board, tag) = (board.clone(), tag.clone());
        tokio::spawn(async move { listen(&board, stream, sender, &tag, true, give_up).await })
    };
    let sending = send(&args, &board, sink, conv, &tag, deadline).await;
    board.done.store(true, Ordering::Release);

    let mut failures = Vec::new();
    let mut total = Heard::default();
    let mut members_short = 0u64;
    let sent = board.sent.load(Ordering::Acquire);
    for task in listeners {
        match task.await.context("a member task panicked")? {
            Ok((_ws, heard)) => {
                members_short += u64::from(heard.received < sent);
                total.received += heard.received;
                total.duplicated += heard.duplicated;
                total.out_of_order += heard.out_of_order;
                total.errors += heard.errors;
            }
            Err(e) => failures.push(format!("member: {e:#}")),
        }
    }
    let (stream, echo) = match echoes.await.context("the echo task panicked")? {
        Ok(found) => found,
        Err(e) => bail!("the sender's connection: {e:#}"),
    };
    let sink = sending.context("sending")?;
    let mut sender_ws = sink.reunite(stream).context("reuniting the socket")?;

    let mut latency = Latency::default();
    let (mut lost, mut last_ns) = (0u64, 0u64);
    for seq in 0..sent as usize {
        let got = board.arrived[seq].load(Ordering::Acquire);
        lost += u64::from(receivers.saturating_sub(got));
        let last = board.last_ns[seq].load(Ordering::Acquire);
        last_ns = last_ns.max(last);
        if got >= receivers {
            let sent_at = board.sent_ns[seq].load(Ordering::Acquire);
            latency.record(Duration::from_nanos(last.saturating_sub(sent_at)));
        }
    }
    let window = Duration::from_nanos(last_ns);
    let lost_echo = sent.saturating_sub(echo.received);
    let stored = stored_once(&mut sender_ws, conv, sender, &tag, sent).await?;
    let capped = sent as usize == args.max_messages;
    let ok = failures.is_empty()
        && sent > 0
        && lost == 0
        && lost_echo == 0
        && total.duplicated + echo.duplicated == 0
        && total.out_of_order + echo.out_of_order == 0
        && total.errors + echo.errors == 0
        && stored;
    let mode = loop_mode(args.rate, args.window);
    let mut human = vec![
        format!(
            "group: {} members over {} instance(s), {mode}, {:.1}s{}: sent {sent}, deliveries {} ({:.0}/s), echoed {}",
            args.members,
            servers.len(),
            args.duration.as_secs_f64(),
            if capped {
                " (capped by --max-messages)"
            } else {
                ""
            },
            total.received,
            per_sec(total.received, window),
            echo.received,
        ),
        format!(
            "lost {lost} (members short {members_short}, echo {lost_echo}), duplicated {}, out of order {}, errors {}, stored once: {stored}",
            total.duplicated + echo.duplicated,
            total.out_of_order + echo.out_of_order,
            total.errors + echo.errors,
        ),
        latency.human("send to last member"),
        echo.echo.human("echo (ack)"),
    ];
    human.extend(failures.iter().map(|f| format!("failure: {f}")));
    let json: Value = json!({
        "members": args.members,
        "receivers": receivers,
        "instances": servers.len(),
        "rate": args.rate,
        "window": args.window,
        "duration_s": args.duration.as_secs_f64(),
        "sent": sent,
        "capped": capped,
        "deliveries": total.received,
        "deliveries_per_s": per_sec(total.received, window),
        "lost": lost,
        "members_short": members_short,
        "lost_echo": lost_echo,
        "duplicated": total.duplicated + echo.duplicated,
        "out_of_order": total.out_of_order + echo.out_of_order,
        "errors": total.errors + echo.errors + failures.len() as u64,
        "latency": latency.json(),
        "echo_latency": echo.echo.json(),
        "stored_once": stored,
        "ok": ok,
    });
    let _ = sender_ws.close(None).await;
    emit("group", &human, json);
    if !ok {
        bail!("group: messages were lost, duplicated, reordered, refused or not stored once");
    }
    Ok(())
}

/// Every user's connection, confirmed; user `i` on instance `i mod servers` (the sender, user 0,
/// on the first).
async fn connect(
    target: &Target,
    servers: &[SocketAddr],
    users: &[User],
) -> anyhow::Result<Vec<Ws>> {
    let dialers: Vec<Dialer> = servers
        .iter()
        .map(|&s| Dialer::new(s, target.source_addrs))
        .collect();
    let dialers = &dialers;
    futures_util::stream::iter(users.iter().enumerate())
        .map(|(i, user)| async move {
            let mut ws = dialers[i % dialers.len()].ws(&user.token).await?;
            net::confirm(&mut ws, REQUEST_TIMEOUT)
                .await
                .with_context(|| format!("user {} not accepted", user.id))?;
            anyhow::Ok(ws)
        })
        .buffered(CONNECTING)
        .try_collect()
        .await
}

/// The sender (the first connection) creates the group; returns once every member's connection
/// has been told of it, so that none misses the first message.
async fn create_group(conns: &mut [Ws], users: &[User], tag: &str) -> anyhow::Result<i64> {
    let create = ClientMsg::CreateGroup {
        title: format!("bench {tag}"),
        member_ids: users[1..].iter().map(|u| u.id).collect(),
    };
    let (conv, size) = net::request(&mut conns[0], &create, REQUEST_TIMEOUT, |m| match m {
        ServerMsg::ConversationStarted { conversation } => {
            Some((conversation.id, conversation.participants.len()))
        }
        _ => None,
    })
    .await
    .context("creating the group")?;
    ensure!(
        size == users.len(),
        "the group has {size} members, not {}",
        users.len()
    );
    let told = conns[1..].iter_mut().map(|ws| async move {
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                if let ServerMsg::ConversationUpdated { conversation, .. } = net::recv(ws).await?
                    && conversation.id == conv
                {
                    return anyhow::Ok(());
                }
            }
        })
        .await
        .context("a member was not told of the group in time")?
    });
    futures_util::future::try_join_all(told).await?;
    Ok(conv)
}

/// Sends until the deadline or `--max-messages`: on the pacer's schedule, or whenever fewer than
/// `--window` messages are still on their way to some member.
async fn send(
    args: &GroupArgs,
    board: &Board,
    mut sink: SplitSink<Ws, Message>,
    conv: i64,
    tag: &str,
    deadline: Instant,
) -> anyhow::Result<SplitSink<Ws, Message>> {
    let schedule = (args.rate > 0).then_some(Schedule {
        start: board.start,
        deadline,
        rate: args.rate,
        senders: 1,
    });
    let pacer = schedule.map(|s| s.start_pacer().remove(0));
    for seq in 0..args.max_messages {
        let at = match (&schedule, &pacer) {
            (Some(schedule), Some(pacer)) => {
                let Some(at) = schedule.due(0, seq as u64) else {
                    break;
                };
                pacer.acquire().await?.forget();
                at
            }
            _ => {
                tokio::time::sleep_until(board.start.into()).await;
                let permit =
                    tokio::time::timeout_at(deadline.into(), board.complete.acquire()).await;
                match permit {
                    Ok(Ok(p)) => p.forget(),
                    _ => break,
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        let sent_ns = board.since_start(at);
        board.sent_ns[seq].store(sent_ns, Ordering::Release);
        let msg = ClientMsg::message(conv, content(tag, seq as u64, sent_ns, args.content_bytes));
        sink.send(Message::text(serde_json::to_string(&msg)?))
            .await?;
        board.sent.store(seq as u64 + 1, Ordering::Release);
    }
    Ok(sink)
}

/// Reads one connection's frames until it has every message sent (after sending stopped) or the
/// drain ends. A member's arrivals go on the board; the sender's (`echo`) are its acks.
async fn listen<S>(
    board: &Board,
    mut stream: S,
    sender: i64,
    tag: &str,
    echo: bool,
    give_up: Instant,
) -> anyhow::Result<(S, Heard)>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut heard = Heard::default();
    let mut seen = Seen::default();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let frame = tokio::select! {
            frame = net::recv(&mut stream) => frame?,
            _ = tick.tick() => {
                let all_in = board.done.load(Ordering::Acquire)
                    && heard.received >= board.sent.load(Ordering::Acquire);
                if all_in || Instant::now() >= give_up {
                    return Ok((stream, heard));
                }
                continue;
            }
        };
        let now = Instant::now();
        let message = match frame {
            ServerMsg::Message { message } => message,
            ServerMsg::Error { .. } => {
                heard.errors += 1;
                continue;
            }
            _ => continue,
        };
        let Some((seq, sent_ns)) = parse_content(&message.content, tag) else {
            continue;
        };
        if message.sender.id != sender || seq as usize >= board.arrived.len() {
            heard.errors += 1;
            continue;
        }
        match seen.mark(seq) {
            Arrival::Duplicate => {
                heard.duplicated += 1;
                continue;
            }
            Arrival::OutOfOrder => heard.out_of_order += 1,
            Arrival::New => {}
        }
        heard.received += 1;
        if echo {
            let sent_at = board.start + Duration::from_nanos(sent_ns);
            heard.echo.record(now.saturating_duration_since(sent_at));
        } else {
            board.arrive(seq as usize, now);
        }
    }
}

/// Whether the history holds every one of the `sent` messages of this run exactly once.
async fn stored_once(
    ws: &mut Ws,
    conv: i64,
    sender: i64,
    tag: &str,
    sent: u64,
) -> anyhow::Result<bool> {
    let mut seen = Seen::default();
    let mut unique = 0u64;
    for (from, seq) in stored_messages(ws, conv, tag).await? {
        if from != sender || seq >= sent {
            return Ok(false);
        }
        match seen.mark(seq) {
            Arrival::Duplicate => return Ok(false),
            _ => unique += 1,
        }
    }
    Ok(unique == sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_complete_when_the_last_member_has_it() {
        let start = Instant::now();
        let board = Board {
            start,
            receivers: 3,
            sent: AtomicU64::new(1),
            done: AtomicBool::new(true),
            sent_ns: vec![AtomicU64::new(0)],
            arrived: vec![AtomicU32::new(0)],
            last_ns: vec![AtomicU64::new(0)],
            complete: Semaphore::new(0),
        };
        board.arrive(0, start + Duration::from_millis(5));
        board.arrive(0, start + Duration::from_millis(9));
        assert_eq!(board.complete.available_permits(), 0);
        // The third member's arrival completes it, even if its frame was read before the second's.
        board.arrive(0, start + Duration::from_millis(7));
        assert_eq!(board.complete.available_permits(), 1);
        assert_eq!(board.arrived[0].load(Ordering::Acquire), 3);
        assert_eq!(
            board.last_ns[0].load(Ordering::Acquire),
            Duration::from_millis(9).as_nanos() as u64
        );
    }
}
