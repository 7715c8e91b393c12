//! `pairs`: P pairs of users, each in its own 1:1 conversation, both sides sending. Open loop at
//! a fixed total rate (latency counted from the scheduled send time, so a stalled server cannot
//! hide queued sends) or closed loop with a window per sender. The receiver measures end-to-end
//! latency from the send time written in the content; afterwards `chat.get_messages` checks that
//! every message was stored exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chat_shared::{ClientMsg, ServerMsg};
use clap::Args;
use futures_util::StreamExt;
use futures_util::stream::{SplitSink, SplitStream};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::pace::Schedule;
use crate::report::{Latency, emit, per_sec};
use crate::tagged::{Arrival, Seen, content, loop_mode, parse_content, stored_messages};
use crate::users::{Target, User};

#[derive(Debug, Clone, Args)]
pub struct PairsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Pairs of users (two connections each).
    #[arg(long, default_value_t = 10)]
    pub pairs: usize,
    /// Messages per second in all (open loop); 0 runs closed loop to saturation.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Closed loop: messages each sender keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Content length in bytes (a header with sequence and send time, padded).
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
    /// Skip the `chat.get_messages` check (for servers that store nothing, like the relay).
    #[arg(long)]
    pub no_verify: bool,
    /// Start this many users into the target's user range (with `--jwt-secret`).
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

/// What one run found; `ok` is false when anything was lost, duplicated, reordered or failed.
pub struct PairsOutcome {
    pub ok: bool,
    pub human: Vec<String>,
    pub json: Value,
}

/// How long receivers wait for the last messages after sending stops.
const DRAIN: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: PairsArgs) -> anyhow::Result<()> {
    let outcome = run_pairs(&args).await?;
    emit("pairs", &outcome.human, outcome.json);
    if !outcome.ok {
        bail!("pairs: messages were lost, duplicated, reordered or refused");
    }
    Ok(())
}

/// One sender's progress, read by both readers of its pair.
#[derive(Default)]
struct SideCounters {
    sent: AtomicU64,
    done: AtomicBool,
}

/// What a reader saw.
#[derive(Default)]
struct ReaderStats {
    e2e: Latency,
    echo: Latency,
    delivered: u64,
    echoed: u64,
    duplicated: u64,
    out_of_order: u64,
    errors: u64,
    last_receive: Option<Instant>,
}

/// Connects both users of each pair and opens (or finds) their conversation.
async fn setup(args: &PairsArgs, users: &[User]) -> anyhow::Result<Vec<(Ws, Ws, i64)>> {
    let dialer = args.target.dialer();
    let mut out = Vec::with_capacity(args.pairs);
    for pair in users.chunks_exact(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let mut wa = dialer.ws(&a.token).await?;
        let mut wb = dialer.ws(&b.token).await?;
        net::confirm(&mut wb, REQUEST_TIMEOUT)
            .await
            .with_context(|| format!("user {} not accepted", b.id))?;
        let start = ClientMsg::StartConversation { receiver_id: b.id };
        let conv = net::request(&mut wa, &start, REQUEST_TIMEOUT, |m| match m {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await
        .with_context(|| format!("starting a conversation between {} and {}", a.id, b.id))?;
        out.push((wa, wb, conv));
    }
    Ok(out)
}

pub async fn run_pairs(args: &PairsArgs) -> anyhow::Result<PairsOutcome> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    anyhow::ensure!(args.window > 0, "--window must be at least 1");
    let users = args
        .target
        .users(2 * args.pairs, args.user_offset, "p")
        .await?;
    let conns = setup(args, &users).await?;
    let tag = format!("r{:08x}", rand::random::<u32>());
    let senders = 2 * args.pairs as u64;
    let start = Instant::now() + Duration::from_millis(200);
    let deadline = start + args.duration;
    // Open loop: every send on a precise, even schedule over all senders.
    let schedule = (args.rate > 0).then_some(Schedule {
        start,
        deadline,
        rate: args.rate,
        senders,
    });
    let mut pacer = schedule
        .map(Schedule::start_pacer)
        .unwrap_or_default()
        .into_iter();

    let mut tasks = Vec::new();
    let mut sender = 0u64;
    for (i, (wa, wb, conv)) in conns.into_iter().enumerate() {
        let (ua, ub) = (users[2 * i].id, users[2 * i + 1].id);
        let ca = Arc::new(SideCounters::default());
        let cb = Arc::new(SideCounters::default());
        for (ws, me, peer, mine, theirs) in [
            (wa, ua, ub, ca.clone(), cb.clone()),
            (wb, ub, ua, cb.clone(), ca.clone()),
        ] {
            let paced = schedule.zip(pacer.next()).map(|(schedule, permits)| Paced {
                schedule,
                sender,
                permits,
            });
            sender += 1;
            let side = Side {
                me,
                peer,
                conv,
                tag: tag.clone(),
                content_bytes: args.content_bytes,
                paced,
                window: args.window,
                start,
                deadline,
                mine,
                theirs,
            };
            tasks.push(tokio::spawn(side.run(ws)));
        }
    }
    let mut total = ReaderStats::default();
    let mut sockets: Vec<(Ws, i64, i64, u64)> = Vec::new();
    let mut sent_by: HashMap<i64, u64> = HashMap::new();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.context("a pair task panicked")? {
            Ok((ws, side, stats, sent)) => {
                total.e2e.merge(&stats.e2e);
                total.echo.merge(&stats.echo);
                total.delivered += stats.delivered;
                total.echoed += stats.echoed;
                total.duplicated += stats.duplicated;
                total.out_of_order += stats.out_of_order;
                total.errors += stats.errors;
                total.last_receive = total.last_receive.max(stats.last_receive);
                sent_by.insert(side.0, sent);
                sockets.push((ws, side.0, side.1, sent));
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let sent: u64 = sent_by.values().sum();
    let lost = sent.saturating_sub(total.delivered);
    let lost_echo = sent.saturating_sub(total.echoed);
    let window = total
        .last_receive
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(start));

    // Verify storage once per conversation: every (sender, seq) of this run exactly once.
    let mut stored = json!(null);
    let mut store_ok = true;
    if !args.no_verify && failures.is_empty() {
        let (unique, dup) = count_stored(&mut sockets, &tag).await?;
        let missing = sent.saturating_sub(unique);
        store_ok = missing == 0 && dup == 0 && unique == sent;
        stored = json!({ "stored": unique, "missing": missing, "duplicated": dup });
    }
    let ok = failures.is_empty()
        && lost == 0
        && lost_echo == 0
        && total.duplicated == 0
        && total.out_of_order == 0
        && total.errors == 0
        && store_ok
        && sent > 0;
    let mode = loop_mode(args.rate, args.window);
    let mut human = vec![
        format!(
            "pairs: {} pairs, {mode}, {:.1}s: sent {sent}, delivered {} ({:.0}/s), echoed {}",
            args.pairs,
            args.duration.as_secs_f64(),
            total.delivered,
            per_sec(total.delivered, window),
            total.echoed,
        ),
        format!(
            "lost {lost} (echo {lost_echo}), duplicated {}, out of order {}, errors {}",
            total.duplicated, total.out_of_order, total.errors
        ),
        total.e2e.human("end-to-end"),
        total.echo.human("echo (ack)"),
        format!("stored: {stored}"),
    ];
    human.extend(failures.iter().map(|f| format!("failure: {f}")));
    let json = json!({
        "pairs": args.pairs,
        "rate": args.rate,
        "window": args.window,
        "duration_s": args.duration.as_secs_f64(),
        "sent": sent,
        "delivered": total.delivered,
        "echoed": total.echoed,
        "delivered_per_s": per_sec(total.delivered, window),
        "lost": lost,
        "lost_echo": lost_echo,
        "duplicated": total.duplicated,
        "out_of_order": total.out_of_order,
        "errors": total.errors + failures.len() as u64,
        "latency": total.e2e.json(),
        "echo_latency": total.echo.json(),
        "stored": stored,
        "ok": ok,
    });
    for (ws, ..) in sockets {
        let mut ws = ws;
        let _ = ws.close(None).await;
    }
    Ok(PairsOutcome { ok, human, json })
}

/// Stored messages of this run, over every conversation once: (unique, duplicated).
async fn count_stored(
    sockets: &mut [(Ws, i64, i64, u64)],
    tag: &str,
) -> anyhow::Result<(u64, u64)> {
    let mut checked = std::collections::HashSet::new();
    let (mut unique, mut dup) = (0u64, 0u64);
    for (ws, _me, conv, _) in sockets.iter_mut() {
        if !checked.insert(*conv) {
            continue;
        }
        let mut per_sender: HashMap<i64, Seen> = HashMap::new();
        for (sender, seq) in stored_messages(ws, *conv, tag).await? {
            match per_sender.entry(sender).or_default().mark(seq) {
                Arrival::Duplicate => dup += 1,
                _ => unique += 1,
            }
        }
    }
    Ok((unique, dup))
}

/// One user's connection in a pair: a writer sending on schedule and a reader counting arrivals.
struct Side {
    me: i64,
    peer: i64,
    conv: i64,
    tag: String,
    content_bytes: usize,
    /// Open loop: the schedule and this side's place in it; closed loop when `None`.
    paced: Option<Paced>,
    window: usize,
    start: Instant,
    deadline: Instant,
    mine: Arc<SideCounters>,
    theirs: Arc<SideCounters>,
}

/// A side's place in an open-loop schedule.
struct Paced {
    schedule: Schedule,
    sender: u64,
    /// One permit each time this side's next send is due.
    permits: Arc<Semaphore>,
}

type SideResult = (Ws, (i64, i64), ReaderStats, u64);

impl Side {
    async fn run(self, ws: Ws) -> anyhow::Result<SideResult> {
        let (sink, stream) = ws.split();
        let permits = Arc::new(Semaphore::new(self.window));
        let side = Arc::new(self);
        let writer = tokio::spawn(side.clone().write(sink, permits.clone()));
        let reader = side.clone().read(stream, permits).await;
        let sink = writer.await.context("writer panicked")??;
        let (stream, stats) = reader?;
        let ws = sink.reunite(stream).context("reuniting the socket")?;
        let sent = side.mine.sent.load(Ordering::Acquire);
        Ok((ws, (side.me, side.conv), stats, sent))
    }

    async fn write(
        self: Arc<Self>,
        mut sink: SplitSink<Ws, Message>,
        permits: Arc<Semaphore>,
    ) -> anyhow::Result<SplitSink<Ws, Message>> {
        use futures_util::SinkExt;
        let result = async {
            for seq in 0u64.. {
                let at = match &self.paced {
                    Some(paced) => {
                        let Some(at) = paced.schedule.due(paced.sender, seq) else {
                            break;
                        };
                        paced.permits.acquire().await?.forget();
                        at
                    }
                    None => {
                        tokio::time::sleep_until(self.start.into()).await;
                        let permit =
                            tokio::time::timeout_at(self.deadline.into(), permits.acquire()).await;
                        match permit {
                            Ok(Ok(p)) => p.forget(),
                            _ => break,
                        }
                        let now = Instant::now();
                        if now >= self.deadline {
                            break;
                        }
                        now
                    }
                };
                let sent_ns = at.duration_since(self.start).as_nanos() as u64;
                let msg = ClientMsg::message(
                    self.conv,
                    content(&self.tag, seq, sent_ns, self.content_bytes),
                );
                sink.send(Message::text(serde_json::to_string(&msg)?))
                    .await?;
                self.mine.sent.store(seq + 1, Ordering::Release);
            }
            anyhow::Ok(())
        }
        .await;
        self.mine.done.store(true, Ordering::Release);
        result.map(|_| sink)
    }

    async fn read(
        self: Arc<Self>,
        mut stream: SplitStream<Ws>,
        permits: Arc<Semaphore>,
    ) -> anyhow::Result<(SplitStream<Ws>, ReaderStats)> {
        let mut stats = ReaderStats::default();
        let mut from_peer = Seen::default();
        let mut own = Seen::default();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let give_up = self.deadline + DRAIN;
        loop {
            let frame = tokio::select! {
                frame = net::recv(&mut stream) => frame?,
                _ = tick.tick() => {
                    let all_in = self.mine.done.load(Ordering::Acquire)
                        && self.theirs.done.load(Ordering::Acquire)
                        && stats.echoed >= self.mine.sent.load(Ordering::Acquire)
                        && stats.delivered >= self.theirs.sent.load(Ordering::Acquire);
                    if all_in || Instant::now() >= give_up {
                        break;
                    }
                    continue;
                }
            };
            let now = Instant::now();
            match frame {
                ServerMsg::Message { message } => {
                    let Some((seq, sent_ns)) = parse_content(&message.content, &self.tag) else {
                        continue;
                    };
                    stats.last_receive = Some(now);
                    let latency =
                        now.saturating_duration_since(self.start + Duration::from_nanos(sent_ns));
                    let (seen, hist) = if message.sender.id == self.me {
                        permits.add_permits(1);
                        (&mut own, &mut stats.echo)
                    } else if message.sender.id == self.peer {
                        (&mut from_peer, &mut stats.e2e)
                    } else {
                        stats.errors += 1;
                        continue;
                    };
                    match seen.mark(seq) {
                        Arrival::Duplicate => stats.duplicated += 1,
                        arrival => {
                            if matches!(arrival, Arrival::OutOfOrder) {
                                stats.out_of_order += 1;
                            }
                            hist.record(latency);
                            if message.sender.id == self.me {
                                stats.echoed += 1;
                            } else {
                                stats.delivered += 1;
                            }
                        }
                    }
                }
                ServerMsg::Error { .. } => stats.errors += 1,
                _ => {}
            }
        }
        Ok((stream, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_and_other_runs_are_ignored() {
        let text = content("rabc", 17, 123_456, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_content(&text, "rabc"), Some((17, 123_456)));
        assert_eq!(parse_content(&text, "rother"), None);
        assert_eq!(parse_content("hello", "rabc"), None);
    }

    #[test]
    fn seen_tells_new_duplicate_and_late() {
        let mut s = Seen::default();
        assert!(matches!(s.mark(0), Arrival::New));
        assert!(matches!(s.mark(2), Arrival::New));
        assert!(matches!(s.mark(1), Arrival::OutOfOrder));
        assert!(matches!(s.mark(2), Arrival::Duplicate));
        assert!(matches!(s.mark(200), Arrival::New));
        assert!(matches!(s.mark(0), Arrival::Duplicate));
    }
}
