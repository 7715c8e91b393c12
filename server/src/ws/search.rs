//! `chat.search_messages` → `chat.message_results`: full-text search over the messages of the
//! caller's conversations (those they are a member of now), newest first, with snippets.

use chat_shared::{DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS, MessageHit, ServerMsg};

use crate::error::{ChatError, NO_CONVERSATION};
use crate::search::Query;
use crate::state::AppState;
use crate::store::SearchScope;

use super::caller::{Caller, Outcome};

/// chat.search_messages: a query that has no words, is too long or has too many terms, or a
/// `limit` out of range, is `invalid_field`; a conversation the caller is not in, `not_found`.
pub async fn messages(
    state: &AppState,
    s: &Caller,
    query: String,
    scope: SearchScope,
    limit: Option<i64>,
) -> Outcome {
    let parsed = Query::parse(&query).map_err(|e| ChatError::InvalidField(e.to_string()))?;
    let limit = limit.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&limit) {
        return Err(ChatError::InvalidField(format!(
            "`limit` must be between 1 and {MAX_SEARCH_RESULTS}"
        )));
    }
    if let Some(conversation_id) = scope.conversation_id
        && !state
            .store
            .member_ids(conversation_id)
            .await?
            .contains(&s.user.id)
    {
        return Err(NO_CONVERSATION);
    }
    let (messages, has_more) = state
        .store
        .search_messages(s.user.id, &parsed, scope, limit)
        .await?;
    let results = messages
        .into_iter()
        .map(|message| {
            let (snippet, highlights) = parsed.snippet(&message.content);
            MessageHit {
                message,
                snippet,
                highlights,
            }
        })
        .collect();
    s.conn.send(&ServerMsg::MessageResults {
        query,
        results,
        has_more,
    });
    Ok(())
}
