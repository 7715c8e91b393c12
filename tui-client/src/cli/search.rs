//! `chat search`: messages of your conversations (`chat.search_messages`), newest first, or with
//! `--users` the people whose names contain the text (`chat.search_user`).

use std::collections::HashMap;
use std::time::Duration;

use chat_shared::{ClientMsg, MAX_SEARCH_RESULTS, MessageHit, ServerMsg};
use serde_json::json;

use super::chat::{Target, conversation_name};
use super::connection::{Connection, SEARCH_PAGE};
use super::history::find_conversation;
use super::message::message_line;
use super::{Context, print_json};
use crate::text::sanitize;

/// What `chat search` looks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// People, not messages.
    pub users: bool,
    /// Only the conversation with this user, or this group.
    pub within: Option<Target>,
    /// Only messages this user sent.
    pub from: Option<String>,
    /// At most this many messages (all of them with `None`).
    pub limit: Option<i64>,
}

/// `chat search TEXT [--with USER | --group G] [--from USER] [--limit N]`, or `--users`.
pub async fn search(
    ctx: &Context,
    text: &str,
    options: Options,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let outcome = if options.users {
        users(ctx, &mut conn, text).await
    } else {
        messages(ctx, &mut conn, text, &options).await
    };
    conn.socket.close().await;
    outcome
}

/// `--users`: `#id name` a line, at most the server's page.
async fn users(ctx: &Context, conn: &mut Connection, text: &str) -> anyhow::Result<()> {
    let users = conn.search_users(text).await?;
    if ctx.json {
        return print_json(&json!({ "users": users }));
    }
    if users.is_empty() {
        eprintln!("no user's name contains {}", sanitize(text));
    } else if users.len() >= SEARCH_PAGE {
        eprintln!("(the server sends at most {SEARCH_PAGE}: type more of the name to narrow it)");
    }
    for user in &users {
        println!("#{} {}", user.id, sanitize(&user.username));
    }
    Ok(())
}

/// Messages, newest first, page after page until `limit` or the last: a line each, the
/// conversation first (`[#3 with bob] [time] #12 alice: …`), or with `--json` one result
/// (`{message, snippet, highlights}`) a line.
async fn messages(
    ctx: &Context,
    conn: &mut Connection,
    text: &str,
    options: &Options,
) -> anyhow::Result<()> {
    let list = conn.conversations().await?;
    let conversation_id = match &options.within {
        Some(target) => Some(find_conversation(conn, target).await?.id),
        None => None,
    };
    let from_user_id = match &options.from {
        Some(name) => Some(conn.find_user(name).await?.id),
        None => None,
    };
    let my_id = conn.me.user_id;
    let names: HashMap<i64, String> = list
        .iter()
        .map(|item| (item.id, conversation_name(item, my_id)))
        .collect();
    let mut left = options.limit;
    let mut before_id = None;
    let mut shown = 0;
    loop {
        let page = left.map_or(MAX_SEARCH_RESULTS, |n| n.min(MAX_SEARCH_RESULTS));
        let request = ClientMsg::SearchMessages {
            query: text.to_owned(),
            conversation_id,
            from_user_id,
            before_id,
            limit: Some(page),
        };
        let (results, has_more): (Vec<MessageHit>, bool) = conn
            .ask(&request, |frame| match frame {
                ServerMsg::MessageResults {
                    results, has_more, ..
                } => Some((results, has_more)),
                _ => None,
            })
            .await?;
        for hit in &results {
            if ctx.json {
                print_json(hit)?;
            } else {
                let id = hit.message.conversation_id;
                let name = names.get(&id).map_or("", String::as_str);
                println!("[#{id} {name}] {}", message_line(&hit.message));
            }
        }
        shown += results.len();
        left = left.map(|n| n - results.len() as i64);
        before_id = results.last().map(|hit| hit.message.id);
        if !has_more || left.is_some_and(|n| n <= 0) || before_id.is_none() {
            if has_more && !ctx.json {
                eprintln!("(more messages match; --limit N shows more)");
            }
            break;
        }
    }
    if shown == 0 && !ctx.json {
        eprintln!("no message matches {}", sanitize(text));
    }
    Ok(())
}
