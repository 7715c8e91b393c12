//! `login-flood`: the server's memory before, at the peak of and after a flood of concurrent
//! registrations and then concurrent logins (valid and invalid), and the chat round trip of a
//! pair of clients talking meanwhile. Every request counts by its HTTP status (201, 200, 401,
//! 429, 503 …), so a flood turned away shows as such.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chat_shared::rest::Credentials;
use chat_shared::{ClientMsg, ServerMsg};
use clap::Args;
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::report::{Latency, emit, round3};
use crate::users::{PASSWORD, Target};

#[derive(Debug, Clone, Args)]
pub struct LoginFloodArgs {
    /// The server; give `--jwt-secret` and `--first-user` (two existing users, e.g. from
    /// `seed`) so that the chatting pair costs the server no password hash. Without, the pair
    /// registers through the API and "before" waits `--settle` for the hashers to go idle.
    #[command(flatten)]
    pub target: Target,
    /// The server's process id, for RSS from /proc.
    #[arg(long)]
    pub server_pid: u32,
    /// Registrations sent at once (new names).
    #[arg(long, default_value_t = 200)]
    pub registrations: usize,
    /// Logins sent at once after the registrations: half with the right password for names
    /// just registered, half for names that do not exist.
    #[arg(long, default_value_t = 200)]
    pub logins: usize,
    /// How long to wait after the flood before measuring "after".
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Interval between the chatting pair's messages (past the server's frame rate limit, 20/s
    /// by default, lift `--rate-limit-per-second` on the server).
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    pub chat_every: Duration,
}

/// Longest wait for one HTTP answer.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for one chat message to arrive; past it, it counts as unanswered.
const CHAT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many requests got each answer, and how long they took.
#[derive(Default)]
struct Answers {
    statuses: BTreeMap<String, u64>,
    latency: Latency,
}

impl Answers {
    fn human(&self, what: &str) -> String {
        let counts: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        format!(
            "{what}: {}; {}",
            counts.join(" "),
            self.latency.human("latency")
        )
    }
}

/// Posts every body to `path` at once; what each got (`None` for no answer).
async fn flood(
    http: &reqwest::Client,
    url: &str,
    bodies: &[Credentials],
) -> (Answers, Vec<Option<u16>>) {
    let answers = join_all(bodies.iter().map(|body| async move {
        let t0 = Instant::now();
        let status = http.post(url).json(body).send().await.ok();
        (status.map(|r| r.status().as_u16()), t0.elapsed())
    }))
    .await;
    let mut tally = Answers::default();
    let mut statuses = Vec::with_capacity(answers.len());
    for (status, took) in answers {
        let key = status.map_or("error".to_string(), |s| s.to_string());
        *tally.statuses.entry(key).or_default() += 1;
        tally.latency.record(took);
        statuses.push(status);
    }
    (tally, statuses)
}

/// Peak resident memory of process `pid` in KiB (`VmHWM` of /proc/PID/status).
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM line in {path}"))
}

/// A sends to B every `every` until `stop`: the time until B has each message, and how many
/// never arrived.
async fn chat(
    a: Ws,
    mut b: Ws,
    conversation: i64,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Latency, u64)> {
    let (mut a_sink, mut a_stream) = a.split();
    // A's own echoes are read and dropped, so that its queue never fills.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = a_stream.next().await {} });
    let mut latency = Latency::default();
    let mut unanswered = 0;
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let content = format!("round trip {seq}");
        let text = serde_json::to_string(&ClientMsg::message(conversation, content.clone()))?;
        let t0 = Instant::now();
        a_sink.send(Message::text(text)).await?;
        let arrived = tokio::time::timeout(CHAT_TIMEOUT, async {
            loop {
                if let ServerMsg::Message { message } = net::recv(&mut b).await?
                    && message.content == content
                {
                    return anyhow::Ok(());
                }
            }
        })
        .await;
        match arrived {
            Ok(result) => {
                result?;
                latency.record(t0.elapsed());
            }
            Err(_) => unanswered += 1,
        }
        tokio::time::sleep(every).await;
    }
    drain.abort();
    Ok((latency, unanswered))
}

pub async fn run(args: LoginFloodArgs) -> anyhow::Result<()> {
    let pid = args.server_pid;
    let users = args.target.users(2, 0, "f").await?;
    let dialer = args.target.dialer();
    let mut a = dialer.ws(&users[0].token).await?;
    let mut b = dialer.ws(&users[1].token).await?;
    net::confirm(&mut b, TIMEOUT)
        .await
        .context("the second chat user")?;
    let start = ClientMsg::StartConversation {
        receiver_id: users[1].id,
    };
    let conversation = net::request(&mut a, &start, TIMEOUT, |m| match m {
        ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
        _ => None,
    })
    .await
    .context("starting the chat pair's conversation")?;

    if args.target.jwt_secret.is_none() {
        tokio::time::sleep(args.settle).await;
    }
    let rss_before = net::rss_kib(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let chatter = tokio::spawn(chat(a, b, conversation, args.chat_every, stop.clone()));

    let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
    let base = format!("http://{}/api", args.target.server);
    let run = format!("{:08x}", rand::random::<u32>());
    let names: Vec<Credentials> = (0..args.registrations)
        .map(|i| Credentials {
            username: format!("flood{run}x{i}"),
            password: PASSWORD.into(),
        })
        .collect();
    let flood_start = Instant::now();
    let (registered, statuses) = flood(&http, &format!("{base}/register/"), &names).await;
    let created: Vec<&Credentials> = names
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == Some(201))
        .map(|(creds, _)| creds)
        .collect();
    if created.is_empty() && args.logins > 1 {
        bail!(
            "no registration succeeded: {}",
            registered.human("registrations")
        );
    }
    let logins: Vec<Credentials> = (0..args.logins)
        .map(|i| match i % 2 {
            0 => created[(i / 2) % created.len()].clone(),
            _ => Credentials {
                username: format!("ghost{run}x{i}"),
                password: PASSWORD.into(),
            },
        })
        .collect();
    let (logged_in, _) = flood(&http, &format!("{base}/token/"), &logins).await;
    let flood_time = flood_start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let rss_peak = peak_rss_kib(pid)?;
    let (round_trip, timed_out) = chatter.await.context("the chat pair panicked")??;
    tokio::time::sleep(args.settle).await;
    let rss_after = net::rss_kib(pid)?;

    let mib = |kib: u64| round3(kib as f64 / 1024.0);
    let human = vec![
        registered.human("registrations"),
        logged_in.human("logins (half valid, half unknown names)"),
        format!(
            "server RSS: {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB {:?} after; flood took {:.1} s",
            mib(rss_before),
            mib(rss_peak),
            mib(rss_after),
            args.settle,
            flood_time.as_secs_f64()
        ),
        format!(
            "{} ({timed_out} unanswered)",
            round_trip.human("chat round trip during the flood")
        ),
    ];
    emit(
        "login-flood",
        &human,
        json!({
            "registrations": registered.statuses,
            "registration_latency": registered.latency.json(),
            "logins": logged_in.statuses,
            "login_latency": logged_in.latency.json(),
            "rss_before_mib": mib(rss_before),
            "rss_peak_mib": mib(rss_peak),
            "rss_after_mib": mib(rss_after),
            "settle_s": args.settle.as_secs_f64(),
            "flood_s": round3(flood_time.as_secs_f64()),
            "chat_round_trip": round_trip.json(),
            "chat_unanswered": timed_out,
        }),
    );
    if timed_out > 0 {
        bail!("{timed_out} chat messages were not delivered within {CHAT_TIMEOUT:?}");
    }
    Ok(())
}
