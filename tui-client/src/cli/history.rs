//! `chat history`: one page of a conversation, or with `--all` every message, oldest first,
//! holding at most one page in memory.
//!
//! The server pages backwards (`before_id`), newest first. To print oldest first without
//! keeping everything, `--all` walks back once noting only where each page starts, then reads
//! the pages again from the oldest boundary up. The snapshot is the newest message at the start:
//! what arrives meanwhile is not printed.

use std::time::Duration;

use anyhow::anyhow;
use chat_shared::{ChatMessage, ClientMsg, ConversationListItem, ServerMsg};
use serde_json::json;

use super::chat::Target;
use super::connection::Connection;
use super::message::message_line;
use super::{Context, print_json};

/// Messages asked for per page by `--all` (the server may send fewer: its `--history-limit`
/// and `--history-page-bytes` bound a page).
const PAGE: i64 = 1000;

/// Which messages `chat history` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    /// Only the newest N (of those before `before`).
    pub limit: Option<i64>,
    /// Only messages older than this id.
    pub before: Option<i64>,
    /// Every message (before `before`), page after page.
    pub all: bool,
}

/// One `chat.messages` answer.
struct Page {
    messages: Vec<ChatMessage>,
    has_more: bool,
}

/// `chat history --with USER` or `--group GROUP` with `--limit`, `--before` and `--all`: reads
/// only, never starts a conversation.
pub async fn history(
    ctx: &Context,
    target: &Target,
    range: Range,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let conversation_id = find_conversation(&mut conn, target).await?.id;
    if range.all {
        every_page(ctx, &mut conn, conversation_id, range.before).await?;
        conn.socket.close().await;
        return Ok(());
    }
    let page = fetch(&mut conn, conversation_id, range.before, range.limit).await?;
    conn.socket.close().await;
    if ctx.json {
        return print_json(&json!({
            "conversation_id": conversation_id,
            "messages": page.messages,
            "has_more": page.has_more,
        }));
    }
    // Notices go to standard error, so `| wc -l` counts messages.
    if page.has_more
        && let Some(oldest) = page.messages.first()
    {
        eprintln!(
            "(older messages exist; --before {} or --all shows them)",
            oldest.id
        );
    }
    if page.messages.is_empty() {
        eprintln!("no messages yet");
    }
    for message in &page.messages {
        println!("{}", message_line(message));
    }
    Ok(())
}

/// The conversation with `target`: a group of ours, or an existing direct conversation (never
/// started here).
pub(super) async fn find_conversation(
    conn: &mut Connection,
    target: &Target,
) -> anyhow::Result<ConversationListItem> {
    let my_id = conn.me.user_id;
    match target {
        Target::Group(group) => conn.find_group(group).await,
        Target::User(with) => {
            let wanted = with.to_lowercase();
            conn.conversations()
                .await?
                .into_iter()
                .find(|item| {
                    !item.info.is_group()
                        && item
                            .participants
                            .iter()
                            .any(|p| p.id != my_id && p.username.to_lowercase() == wanted)
                })
                .ok_or_else(|| anyhow!("you have no conversation with {with}"))
        }
    }
}

/// `chat.get_messages`: the newest `limit` messages before `before`, oldest first.
async fn fetch(
    conn: &mut Connection,
    conversation_id: i64,
    before: Option<i64>,
    limit: Option<i64>,
) -> anyhow::Result<Page> {
    let request = ClientMsg::GetMessages {
        conversation_id,
        before_id: before,
        limit,
    };
    conn.ask(&request, |frame| match frame {
        ServerMsg::Messages {
            messages,
            conversation_id: id,
            has_more,
        } if id.is_none_or(|id| id == conversation_id) => Some(Page {
            messages,
            has_more: has_more.unwrap_or(false),
        }),
        _ => None,
    })
    .await
}

/// `--all`: every message before `before`, oldest first, printed a page at a time (text lines,
/// or with `--json` one message object a line).
async fn every_page(
    ctx: &Context,
    conn: &mut Connection,
    conversation_id: i64,
    before: Option<i64>,
) -> anyhow::Result<()> {
    let any = each_message(conn, conversation_id, before, |message| {
        if ctx.json {
            print_json(message)
        } else {
            println!("{}", message_line(message));
            Ok(())
        }
    })
    .await?;
    if !any && !ctx.json {
        eprintln!("no messages yet");
    }
    Ok(())
}

/// Hands every message before `before` to `each`, oldest first, holding at most a page of them
/// in memory; whether there was any.
pub(super) async fn each_message(
    conn: &mut Connection,
    conversation_id: i64,
    before: Option<i64>,
    mut each: impl FnMut(&ChatMessage) -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    // First pass, newest to oldest: the oldest id of each page, and the snapshot's top.
    let mut starts = Vec::new();
    let mut top = before;
    let mut cursor = before;
    loop {
        let page = fetch(conn, conversation_id, cursor, Some(PAGE)).await?;
        let (Some(oldest), Some(newest)) = (page.messages.first(), page.messages.last()) else {
            break;
        };
        if top.is_none() {
            top = Some(newest.id + 1);
        }
        starts.push(oldest.id);
        if !page.has_more {
            break;
        }
        cursor = Some(oldest.id);
    }
    // Second pass, oldest to newest: each span [start, end) again, at most a page of messages.
    let ends = std::iter::once(top).chain(starts.iter().map(|&s| Some(s)));
    let spans: Vec<(i64, Option<i64>)> = starts.iter().copied().zip(ends).collect();
    for &(start, end) in spans.iter().rev() {
        for message in span(conn, conversation_id, start, end).await? {
            each(&message)?;
        }
    }
    Ok(!starts.is_empty())
}

/// The messages with ids from `start` up to (not including) `end`, oldest first. One request
/// unless a page came back smaller than asked (edits made messages longer since the first pass).
async fn span(
    conn: &mut Connection,
    conversation_id: i64,
    start: i64,
    end: Option<i64>,
) -> anyhow::Result<Vec<ChatMessage>> {
    let mut found: Vec<ChatMessage> = Vec::new();
    let mut cursor = end;
    loop {
        let page = fetch(conn, conversation_id, cursor, Some(PAGE)).await?;
        let reached = page.messages.first().is_none_or(|m| m.id <= start);
        cursor = page.messages.first().map(|m| m.id);
        found.extend(page.messages.into_iter().filter(|m| m.id >= start));
        if reached || !page.has_more {
            break;
        }
    }
    found.sort_by_key(|m| m.id);
    Ok(found)
}
