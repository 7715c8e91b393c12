//! `history`: on a `seed`ed database, clients page back through conversations with
//! `chat.get_messages` (before_id, pages of 50), then one user with many conversations asks for
//! `chat.get_conversations` repeatedly.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chat_shared::ClientMsg;
use chat_shared::ServerMsg;
use chat_shared::rest::Credentials;
use clap::Args;
use serde_json::json;

use crate::net::{self, Ws};
use crate::report::{Latency, emit, per_sec};
use crate::seed::Manifest;
use crate::users::{Target, login, mint};

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: Target,
    /// The manifest `seed` wrote beside the database (`<db>.bench.json`).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Clients paging at once (half in the big conversation, half in small ones).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Messages per page.
    #[arg(long, default_value_t = 50)]
    pub page: i64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Pages per second over all clients, open loop: each client asks on its own schedule and
    /// a page's latency counts from when it was due, so a late answer delays nothing unseen.
    /// 0: closed loop, each client asks again as soon as it has its page (the saturation rate).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// `chat.get_conversations` requests by the hub user, one after another.
    #[arg(long, default_value_t = 100)]
    pub list_requests: usize,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    latency: Latency,
    pages: u64,
    messages: u64,
}

pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    ensure!(args.clients > 0, "--clients must be at least 1");
    let m = Manifest::load(&args.manifest)?;
    ensure!(
        !m.other_conversations.is_empty(),
        "the seed has no small conversations"
    );
    let mut plan = Vec::new();
    for k in 0..args.clients {
        if k % 2 == 0 {
            plan.push((m.big_users[0], m.big_conversation, true));
        } else {
            let c = m.other_conversations[k / 2 % m.other_conversations.len()];
            plan.push((c[1], c[0], false));
        }
    }
    let mut ids: Vec<i64> = plan.iter().map(|p| p.0).collect();
    ids.push(m.hub_user);
    let tokens = tokens_for(&args.target, &m, &ids).await?;
    let dialer = args.target.dialer();
    let mut sockets = Vec::new();
    for (user, conv, big) in &plan {
        let mut ws = dialer.ws(&tokens[user]).await?;
        net::confirm(&mut ws, REQUEST_TIMEOUT).await?;
        sockets.push((ws, *conv, *big));
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let deadline = start + args.duration;
    // Each client's period in open loop; their schedules are staggered over one period.
    let every =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.clients as f64 / args.rate as f64));
    let mut tasks = Vec::new();
    for (k, (ws, conv, big)) in sockets.into_iter().enumerate() {
        let tally = tally.clone();
        let client = Client {
            conv,
            page: args.page,
            // Clients in the big conversation start at scattered depths.
            first: big.then(|| 1 + rand::random_range(0..m.big_messages.max(1)) as i64),
            schedule: every
                .map(|every| (start + every.mul_f64(k as f64 / args.clients as f64), every)),
            deadline,
        };
        tasks.push(tokio::spawn(
            async move { client.page_until(ws, &tally).await },
        ));
    }
    for t in tasks {
        t.await.context("a history client panicked")??;
    }
    let elapsed = start.elapsed();

    let mut list = Latency::default();
    let mut ws = dialer.ws(&tokens[&m.hub_user]).await?;
    let mut listed = 0;
    for _ in 0..args.list_requests {
        let t0 = Instant::now();
        listed = net::request(
            &mut ws,
            &ClientMsg::GetConversations {},
            REQUEST_TIMEOUT,
            |msg| match msg {
                ServerMsg::Conversations { conversations } => Some(conversations.len()),
                _ => None,
            },
        )
        .await?;
        list.record(t0.elapsed());
    }
    let _ = ws.close(None).await;
    if args.list_requests > 0 && listed as u64 != m.hub_conversations {
        bail!(
            "chat.get_conversations listed {listed} conversations, the seed made {}",
            m.hub_conversations
        );
    }

    let t = tally.lock().expect("tally lock");
    emit(
        "history",
        &[
            format!(
                "history: {} clients, {}, pages of {}, {:.1}s: {} pages ({:.0}/s), {} messages; database of {} messages",
                args.clients,
                match args.rate {
                    0 => "closed loop".to_string(),
                    rate => format!("open loop at {rate} pages/s"),
                },
                args.page,
                elapsed.as_secs_f64(),
                t.pages,
                per_sec(t.pages, elapsed),
                t.messages,
                m.messages
            ),
            t.latency.human("get_messages"),
            list.human(&format!("get_conversations ({listed} conversations)")),
        ],
        json!({
            "clients": args.clients,
            "rate": args.rate,
            "page": args.page,
            "db_messages": m.messages,
            "pages": t.pages,
            "pages_per_s": per_sec(t.pages, elapsed),
            "latency": t.latency.json(),
            "list_conversations": listed,
            "list_latency": list.json(),
            "ok": true,
        }),
    );
    Ok(())
}

/// One paging client.
struct Client {
    conv: i64,
    page: i64,
    /// Where it starts paging back from (the newest message when `None`).
    first: Option<i64>,
    /// Open loop: when its first page is due, and the period.
    schedule: Option<(Instant, Duration)>,
    deadline: Instant,
}

impl Client {
    /// Pages backwards from `first` until the deadline, wrapping to the newest.
    async fn page_until(self, mut ws: Ws, tally: &Mutex<Tally>) -> anyhow::Result<()> {
        let mut before_id = self.first;
        let mut local = Tally::default();
        for n in 0u32.. {
            // A page's latency counts from when it was due (open loop) or sent (closed loop).
            let due = match self.schedule {
                Some((first, every)) => {
                    let due = first + every * n;
                    if due >= self.deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    due
                }
                None if Instant::now() < self.deadline => Instant::now(),
                None => break,
            };
            let ask = ClientMsg::GetMessages {
                conversation_id: self.conv,
                before_id,
                limit: Some(self.page),
            };
            let (count, oldest, has_more) =
                net::request(&mut ws, &ask, REQUEST_TIMEOUT, |msg| match msg {
                    ServerMsg::Messages {
                        messages, has_more, ..
                    } => Some((
                        messages.len() as u64,
                        messages.first().map(|m| m.id),
                        has_more.unwrap_or(false),
                    )),
                    _ => None,
                })
                .await
                .with_context(|| format!("paging conversation {}", self.conv))?;
            local.latency.record(due.elapsed());
            local.pages += 1;
            local.messages += count;
            before_id = if has_more { oldest } else { None };
        }
        let _ = ws.close(None).await;
        let mut t = tally.lock().expect("tally lock");
        t.latency.merge(&local.latency);
        t.pages += local.pages;
        t.messages += local.messages;
        Ok(())
    }
}

/// Access tokens for the seeded users: minted with the secret, else by logging in.
pub(crate) async fn tokens_for(
    target: &Target,
    m: &Manifest,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, String>> {
    let mut tokens = HashMap::new();
    let http = reqwest::Client::new();
    let base = format!("http://{}/api", target.server);
    for &id in ids {
        if tokens.contains_key(&id) {
            continue;
        }
        let token = match &target.jwt_secret {
            Some(secret) => mint(secret.as_bytes(), id),
            None => {
                let creds = Credentials {
                    username: format!("{}{id}", m.username_prefix),
                    password: m.password.clone(),
                };
                login(&http, &base, &creds).await?
            }
        };
        tokens.insert(id, token);
    }
    Ok(tokens)
}
