//! `handshake`: authenticated connects per second and their latency (TCP + upgrade + a first
//! answered frame), open loop at a rate or closed loop, alone or beside a `pairs` load.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use crate::net::{self, Dialer};
use crate::pace::Schedule;
use crate::pairs::{self, PairsArgs};
use crate::report::{Latency, emit, per_sec};
use crate::users::Target;

#[derive(Debug, Clone, Args)]
pub struct HandshakeArgs {
    #[command(flatten)]
    pub target: Target,
    /// Distinct users connecting (round-robin).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Connects per second (open loop); 0 runs closed loop with `--concurrency` workers.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Closed loop: workers; open loop: most attempts in flight (more are counted as skipped).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Run a `pairs` load of this many pairs at the same time (0: none).
    #[arg(long, default_value_t = 0)]
    pub with_pairs: usize,
    /// Rate of that `pairs` load in messages/s (0: closed loop).
    #[arg(long, default_value_t = 0)]
    pub pairs_rate: u64,
}

#[derive(Default)]
struct Tally {
    upgrade: Latency,
    auth: Latency,
    ok: u64,
    failed: u64,
    skipped: u64,
    reasons: Vec<String>,
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

async fn attempt(dialer: &Dialer, token: &str, t0: Instant, tally: &Mutex<Tally>) {
    let result = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
        let mut ws = dialer.ws(token).await?;
        let upgraded = t0.elapsed();
        net::confirm(&mut ws, ATTEMPT_TIMEOUT).await?;
        let authed = t0.elapsed();
        let _ = ws.close(None).await;
        anyhow::Ok((upgraded, authed))
    })
    .await
    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
    let mut t = tally.lock().expect("tally lock");
    match result {
        Ok((upgraded, authed)) => {
            t.ok += 1;
            t.upgrade.record(upgraded);
            t.auth.record(authed);
        }
        Err(e) => {
            t.failed += 1;
            let reason = format!("{e:#}");
            if t.reasons.len() < 5 && !t.reasons.contains(&reason) {
                t.reasons.push(reason);
            }
        }
    }
}

pub async fn run(args: HandshakeArgs) -> anyhow::Result<()> {
    net::raise_fd_limit(65_536)?;
    let users = args.target.users(args.users.max(1), 0, "h").await?;
    let background = (args.with_pairs > 0).then(|| {
        let pairs_args = PairsArgs {
            target: args.target.clone(),
            pairs: args.with_pairs,
            rate: args.pairs_rate,
            window: 1,
            duration: args.duration + Duration::from_secs(2),
            content_bytes: 64,
            no_verify: false,
            user_offset: args.users.max(1),
        };
        tokio::spawn(async move { pairs::run_pairs(&pairs_args).await })
    });
    if background.is_some() {
        // Let the pairs connect and start sending first.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let dialer = Arc::new(args.target.dialer());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let deadline = start + args.duration;
    let limit = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::new();
    if args.rate > 0 {
        // Attempts on a precise schedule; each one's latency counts from when it was due.
        let schedule = Schedule {
            start,
            deadline,
            rate: args.rate,
            senders: 1,
        };
        let due = schedule
            .start_pacer()
            .pop()
            .context("the pacer's permits")?;
        for k in 0u64.. {
            let Some(at) = schedule.due(0, k) else {
                break;
            };
            due.acquire().await?.forget();
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tally.lock().expect("tally lock").skipped += 1;
                continue;
            };
            let (dialer, tally) = (dialer.clone(), tally.clone());
            let token = users[k as usize % users.len()].token.clone();
            tasks.push(tokio::spawn(async move {
                attempt(&dialer, &token, at, &tally).await;
                drop(permit);
            }));
        }
    } else {
        for w in 0..args.concurrency.max(1) {
            let (dialer, tally, users) = (dialer.clone(), tally.clone(), users.clone());
            tasks.push(tokio::spawn(async move {
                let mut k = w;
                while Instant::now() < deadline {
                    attempt(
                        &dialer,
                        &users[k % users.len()].token,
                        Instant::now(),
                        &tally,
                    )
                    .await;
                    k += args.concurrency.max(1);
                }
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let pairs_outcome = match background {
        Some(task) => Some(task.await??),
        None => None,
    };
    let t = tally.lock().expect("tally lock");
    let mode = match args.rate {
        0 => format!("closed loop, {} workers", args.concurrency),
        r => format!("open loop at {r}/s"),
    };
    let mut human = vec![
        format!(
            "handshake: {mode}, {:.1}s: {} ok ({:.0}/s), {} failed, {} skipped (over {} in flight){}",
            elapsed.as_secs_f64(),
            t.ok,
            per_sec(t.ok, elapsed),
            t.failed,
            t.skipped,
            args.concurrency,
            if args.with_pairs > 0 {
                format!(", beside {} pairs", args.with_pairs)
            } else {
                String::new()
            }
        ),
        t.upgrade.human("upgrade (101)"),
        t.auth.human("authenticated (first answer)"),
    ];
    human.extend(t.reasons.iter().map(|r| format!("failure: {r}")));
    let mut pairs_ok = true;
    if let Some(p) = &pairs_outcome {
        human.extend(p.human.iter().map(|l| format!("  beside: {l}")));
        pairs_ok = p.ok;
    }
    emit(
        "handshake",
        &human,
        json!({
            "rate": args.rate,
            "concurrency": args.concurrency,
            "duration_s": args.duration.as_secs_f64(),
            "ok_count": t.ok,
            "failed": t.failed,
            "skipped": t.skipped,
            "handshakes_per_s": per_sec(t.ok, elapsed),
            "upgrade_latency": t.upgrade.json(),
            "latency": t.auth.json(),
            "pairs": pairs_outcome.as_ref().map(|p| p.json.clone()),
            "ok": t.failed == 0 && pairs_ok,
        }),
    );
    if t.failed > 0 || !pairs_ok {
        bail!(
            "handshake: {} attempts failed; pairs ok: {pairs_ok}",
            t.failed
        );
    }
    Ok(())
}
