//! `conns`: ramp to N authenticated idle connections, hold them, and read the server's memory
//! per connection and idle CPU from /proc.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::report::{Latency, emit, per_sec, round3};
use crate::users::Target;

#[derive(Debug, Clone, Args)]
pub struct ConnsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,
    /// Distinct users the connections are spread over (round-robin).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// How long to hold them once all are open.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub hold: Duration,
    /// Connection attempts in flight during the ramp.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// The server's process id, for RSS and CPU from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Start this many users into the target's user range (with `--jwt-secret`).
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: ConnsArgs) -> anyhow::Result<()> {
    let fd_limit = net::raise_fd_limit(args.connections as u64 + 4096)?;
    if fd_limit < args.connections as u64 + 100 {
        bail!(
            "open-file limit {fd_limit} is below {} connections; run `ulimit -n 1048576` as root",
            args.connections
        );
    }
    let users = args
        .target
        .users(
            args.users.clamp(1, args.connections.max(1)),
            args.user_offset,
            "c",
        )
        .await?;
    let dialer = Arc::new(args.target.dialer());
    let rss_before = args.server_pid.map(net::rss_kib).transpose()?;
    let (stop, stopped) = watch::channel(false);
    let dropped = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let mut latency = Latency::default();
    let mut failed = 0u64;
    let mut reasons: Vec<String> = Vec::new();
    let mut holders = Vec::with_capacity(args.connections);
    let mut attempts = futures_util::stream::iter(0..args.connections)
        .map(|i| {
            let dialer = dialer.clone();
            let token = users[i % users.len()].token.clone();
            async move {
                let t0 = Instant::now();
                let result = tokio::time::timeout(CONNECT_TIMEOUT, async {
                    let mut ws = dialer.ws(&token).await?;
                    net::confirm(&mut ws, CONNECT_TIMEOUT).await?;
                    anyhow::Ok(ws)
                })
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
                (t0.elapsed(), result)
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    while let Some((took, result)) = attempts.next().await {
        match result {
            Ok(ws) => {
                latency.record(took);
                holders.push(tokio::spawn(hold(ws, stopped.clone(), dropped.clone())));
            }
            Err(e) => {
                failed += 1;
                let reason = format!("{e:#}");
                if reasons.len() < 5 && !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
        }
    }
    let ramp = started.elapsed();
    let opened = holders.len() as u64;

    // Let the server settle, then measure memory and CPU over the hold.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_held = args.server_pid.map(net::rss_kib).transpose()?;
    let cpu0 = args.server_pid.map(net::cpu_time).transpose()?;
    tokio::time::sleep(args.hold).await;
    let cpu1 = args.server_pid.map(net::cpu_time).transpose()?;
    let rss_end = args.server_pid.map(net::rss_kib).transpose()?;
    let dropped_n = dropped.load(Ordering::Relaxed);
    let _ = stop.send(true);
    for h in holders {
        let _ = h.await;
    }

    let per_conn = match (rss_before, rss_held) {
        (Some(b), Some(a)) if opened > 0 => Some(round3(
            (a.saturating_sub(b) as f64 * 1024.0) / opened as f64,
        )),
        _ => None,
    };
    let idle_cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(round3(
            (b - a).as_secs_f64() / args.hold.as_secs_f64() * 100.0,
        )),
        _ => None,
    };
    let mut human = vec![
        format!(
            "conns: {opened}/{} open ({failed} failed) in {:.1}s = {:.0} connects/s; {dropped_n} dropped while held {:.0}s",
            args.connections,
            ramp.as_secs_f64(),
            per_sec(opened, ramp),
            args.hold.as_secs_f64()
        ),
        latency.human("connect+auth"),
    ];
    if let (Some(b), Some(a), Some(e)) = (rss_before, rss_held, rss_end) {
        human.push(format!(
            "server RSS {b} KiB before, {a} KiB held, {e} KiB at end: {:.0} bytes per connection; idle CPU {:.2}% of a core",
            per_conn.unwrap_or(0.0),
            idle_cpu.unwrap_or(0.0)
        ));
    }
    human.extend(reasons.iter().map(|r| format!("failure: {r}")));
    emit(
        "conns",
        &human,
        json!({
            "target": args.connections,
            "opened": opened,
            "failed": failed,
            "dropped": dropped_n,
            "ramp_s": round3(ramp.as_secs_f64()),
            "connects_per_s": per_sec(opened, ramp),
            "connect_latency": latency.json(),
            "hold_s": args.hold.as_secs_f64(),
            "rss_before_kib": rss_before,
            "rss_held_kib": rss_held,
            "rss_end_kib": rss_end,
            "rss_per_conn_bytes": per_conn,
            "idle_cpu_pct": idle_cpu,
            "ok": failed == 0 && dropped_n == 0,
        }),
    );
    if failed > 0 || dropped_n > 0 {
        bail!("conns: {failed} connections failed, {dropped_n} dropped");
    }
    Ok(())
}

/// Holds one socket until told to stop; counts it as dropped if the server ends it first.
async fn hold(mut ws: Ws, mut stop: watch::Receiver<bool>, dropped: Arc<AtomicU64>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            frame = ws.next() => match frame {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
