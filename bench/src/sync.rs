//! `sync`: one user is away while another sends it `--events` messages; then it comes back
//! and replays them with `chat.sync` from its cursor, page after page. Reports the time from
//! the first `chat.sync` to the last `chat.synced`, events/s and pages. The run fails unless
//! every message came back exactly once, in `seq` order.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chat_shared::{ClientMsg, Pushed, ServerMsg};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::report::{emit, per_sec, round3};
use crate::users::Target;

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub target: Target,
    /// Messages sent to the user while it is away.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Messages the sender has in flight at once while filling.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Start this many users into the target's user range (with `--jwt-secret`).
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

const TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    ensure!(args.events > 0, "--events must be at least 1");
    ensure!(args.window > 0, "--window must be at least 1");
    let users = args.target.users(2, args.user_offset, "s").await?;
    let (away, sender) = (&users[0], &users[1]);
    let dialer = args.target.dialer();
    let mut from = dialer.ws(&sender.token).await?;
    let start = ClientMsg::StartConversation {
        receiver_id: away.id,
    };
    let conversation = net::request(&mut from, &start, TIMEOUT, |m| match m {
        ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
        _ => None,
    })
    .await?;
    // The user's cursor, then it goes away.
    let mut ws = dialer.ws(&away.token).await?;
    let since = net::request(
        &mut ws,
        &ClientMsg::Sync { since: None },
        TIMEOUT,
        |m| match m {
            ServerMsg::Synced { seq, .. } => Some(seq),
            _ => None,
        },
    )
    .await
    .context("chat.sync without since (does the server sync?)")?;
    drop(ws);

    let tag = format!("s{:08x}", rand::random::<u32>());
    fill(&mut from, conversation, &tag, args.events, args.window).await?;

    let mut ws = dialer.ws(&away.token).await?;
    let started = Instant::now();
    let (mut cursor, mut pages, mut bytes, mut next) = (since, 0u64, 0u64, 0usize);
    let mut last_seq = since;
    loop {
        net::send(
            &mut ws,
            &ClientMsg::Sync {
                since: Some(cursor),
            },
        )
        .await?;
        pages += 1;
        let more = loop {
            let text = next_text(&mut ws).await?;
            bytes += text.len() as u64;
            let pushed: Pushed =
                serde_json::from_str(&text).with_context(|| format!("unreadable frame {text}"))?;
            match pushed.frame {
                ServerMsg::Synced { seq, has_more } => {
                    cursor = seq;
                    break has_more;
                }
                ServerMsg::ResyncRequired { seq } => bail!("resync required at {seq}"),
                ServerMsg::Message { message } if message.content.starts_with(&tag) => {
                    let seq = pushed.seq.context("a replayed message without seq")?;
                    ensure!(seq > last_seq, "seq {seq} after {last_seq}");
                    last_seq = seq;
                    let want = format!("{tag} {next}");
                    ensure!(
                        message.content == want,
                        "got {:?}, wanted {want:?}",
                        message.content
                    );
                    next += 1;
                }
                ServerMsg::Error { code, message, .. } => bail!("chat.error {code:?}: {message}"),
                _ => {}
            }
        };
        if !more {
            break;
        }
    }
    let elapsed = started.elapsed();
    ensure!(
        next == args.events,
        "{next} of {} messages came back",
        args.events
    );
    let human = vec![format!(
        "sync: {} events in {:.3} s ({:.0}/s), {pages} pages, {:.1} MiB",
        next,
        elapsed.as_secs_f64(),
        per_sec(next as u64, elapsed),
        bytes as f64 / (1024.0 * 1024.0)
    )];
    emit(
        "sync",
        &human,
        json!({
            "events": next,
            "secs": round3(elapsed.as_secs_f64()),
            "events_per_s": per_sec(next as u64, elapsed),
            "pages": pages,
            "bytes": bytes,
        }),
    );
    Ok(())
}

/// Sends `count` messages `"{tag} {i}"` with `window` in flight, until the last is echoed.
async fn fill(
    ws: &mut Ws,
    conversation: i64,
    tag: &str,
    count: usize,
    window: usize,
) -> anyhow::Result<()> {
    let (mut sent, mut echoed) = (0usize, 0usize);
    while echoed < count {
        while sent < count && sent - echoed < window {
            net::send(
                ws,
                &ClientMsg::message(conversation, format!("{tag} {sent}")),
            )
            .await?;
            sent += 1;
        }
        match tokio::time::timeout(TIMEOUT, net::recv(ws)).await?? {
            ServerMsg::Message { message } if message.content.starts_with(tag) => echoed += 1,
            ServerMsg::Error { code, message, .. } => bail!("chat.error {code:?}: {message}"),
            _ => {}
        }
    }
    Ok(())
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await? {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Ping(data))) => ws.send(Message::Pong(data)).await?,
            Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended"),
        }
    }
}
