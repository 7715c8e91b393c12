//! `search`: on a `seed`ed database, one connection at a time asks `chat.search_messages` and
//! `chat.search_user`, one request after another, and reports each kind's latency: a word in
//! every message (`ordinary`) and a prefix of it (`ordin`), both as the user with the most
//! conversations; a word in one message only (its number) as a user of the big conversation,
//! where it is; user search for a few digits (a handful of names) and for the seeded names'
//! common prefix (every account matches; 20 are ranked and sent). Fails unless each answer
//! holds what the seed says it must.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use chat_shared::{ClientMsg, MessageHit, ServerMsg, UserRef};
use clap::Args;
use serde_json::{Value, json};

use crate::history::tokens_for;
use crate::net::{self, Ws};
use crate::report::{Latency, emit};
use crate::seed::Manifest;
use crate::users::Target;

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub target: Target,
    /// The manifest `seed` wrote beside the database (`<db>.bench.json`).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Requests of each kind.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// One kind of request and what every answer to it must hold.
struct Kind {
    name: &'static str,
    latency: Latency,
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    ensure!(args.requests > 0, "--requests must be at least 1");
    let m = Manifest::load(&args.manifest)?;
    ensure!(m.big_messages > 0, "the seed has no big conversation");
    let searcher = m.big_users[0];
    let tokens: HashMap<i64, String> =
        tokens_for(&args.target, &m, &[m.hub_user, searcher]).await?;
    let dialer = args.target.dialer();
    let mut hub = dialer.ws(&tokens[&m.hub_user]).await?;
    let mut big = dialer.ws(&tokens[&searcher]).await?;

    let mut kinds = Vec::new();
    for (name, query) in [("common_word", "ordinary"), ("common_prefix", "ordin")] {
        let mut kind = Kind {
            name,
            latency: Latency::default(),
        };
        for _ in 0..args.requests {
            let (hits, took) = messages(&mut hub, query, None).await?;
            ensure!(
                hits.len() == 20,
                "{name}: {} results, wanted 20",
                hits.len()
            );
            kind.latency.record(took);
        }
        kinds.push(kind);
    }
    let mut rare = Kind {
        name: "rare_word",
        latency: Latency::default(),
    };
    for _ in 0..args.requests {
        let n = rand::random::<u64>() % m.big_messages;
        // Quoted: a bare last word is also a prefix (`2427` would find `24270` too).
        let query = format!("\"{n}\"");
        let (hits, took) = messages(&mut big, &query, Some(m.big_conversation)).await?;
        let want = format!("seeded message {n} with some ordinary chat text");
        ensure!(
            hits.len() == 1 && hits[0].message.content == want,
            "rare word {n}: {} results",
            hits.len()
        );
        rare.latency.record(took);
    }
    kinds.push(rare);
    let mut digits = Kind {
        name: "users_digits",
        latency: Latency::default(),
    };
    for _ in 0..args.requests {
        let id = 1 + rand::random::<u64>() % m.users;
        let text = id.to_string();
        let keyword = &text[text.len().saturating_sub(4)..];
        let (found, took) = users(&mut hub, keyword).await?;
        ensure!(
            found.iter().all(|u| u.username.contains(keyword)),
            "a user without {keyword}"
        );
        digits.latency.record(took);
    }
    kinds.push(digits);
    let mut everyone = Kind {
        name: "users_everyone",
        latency: Latency::default(),
    };
    for _ in 0..args.requests {
        let (found, took) = users(&mut hub, &m.username_prefix).await?;
        ensure!(
            found.len() == 20,
            "{} users for the common prefix",
            found.len()
        );
        everyone.latency.record(took);
    }
    kinds.push(everyone);

    let human: Vec<String> = kinds
        .iter()
        .map(|k| k.latency.human(&format!("search {}", k.name)))
        .collect();
    let fields: serde_json::Map<String, Value> = kinds
        .iter()
        .map(|k| (k.name.to_string(), k.latency.json()))
        .collect();
    emit("search", &human, json!(fields));
    Ok(())
}

/// One `chat.search_messages` (20 results) and how long its answer took.
async fn messages(
    ws: &mut Ws,
    query: &str,
    conversation_id: Option<i64>,
) -> anyhow::Result<(Vec<MessageHit>, Duration)> {
    let request = ClientMsg::SearchMessages {
        query: query.into(),
        conversation_id,
        from_user_id: None,
        before_id: None,
        limit: None,
    };
    let started = Instant::now();
    let hits = net::request(ws, &request, TIMEOUT, |frame| match frame {
        ServerMsg::MessageResults { results, .. } => Some(Ok(results)),
        ServerMsg::Error { code, message, .. } => Some(Err((code, message))),
        _ => None,
    })
    .await?;
    match hits {
        Ok(hits) => Ok((hits, started.elapsed())),
        Err((code, message)) => bail!("chat.search_messages {query:?}: {code:?}: {message}"),
    }
}

/// One `chat.search_user` and how long its answer took.
async fn users(ws: &mut Ws, keyword: &str) -> anyhow::Result<(Vec<UserRef>, Duration)> {
    let request = ClientMsg::SearchUser {
        keyword: keyword.into(),
    };
    let started = Instant::now();
    let found = net::request(ws, &request, TIMEOUT, |frame| match frame {
        ServerMsg::SearchResults { results } => Some(results),
        _ => None,
    })
    .await?;
    Ok((found, started.elapsed()))
}
