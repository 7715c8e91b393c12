//! The logged-in user's socket for one command: a request and its answer at a time, and the
//! lookups commands share (a user by name, a conversation list, a group by title or id).

use std::time::Duration;

use anyhow::{anyhow, bail};
use chat_shared::{ClientMsg, ConversationListItem, ErrorCode, Limits, ServerMsg, UserRef};
use tokio::time::Instant;

use super::Context;
use super::socket::{Incoming, Socket, SocketError};
use crate::renewal::Renewal;
use crate::session::{Refresher, StoredSession};
use crate::text::sanitize;

/// The most results `chat.search_user` returns.
pub(super) const SEARCH_PAGE: usize = 20;

/// The logged-in user and a socket for them.
pub(super) struct Connection {
    pub me: StoredSession,
    pub socket: Socket,
    /// Keeps the socket's token fresh, for the commands that stay connected (`tail`, `pipe`).
    pub renewal: Renewal,
    wait: Duration,
}

impl Connection {
    pub async fn open(ctx: &Context, wait: Duration) -> anyhow::Result<Connection> {
        let me = ctx.dir.session_for(&ctx.settings.server)?;
        let refresher = Refresher::new(ctx.api.clone(), Some(ctx.dir.clone()), me.clone());
        let mut renewal = Renewal::new(refresher);
        let access = renewal.token().await?;
        let socket = Socket::connect(&ctx.api.ws_url(&access)).await?;
        Ok(Connection {
            me,
            socket,
            renewal,
            wait,
        })
    }

    /// Sends `request`, then returns the first frame `pick` accepts. Other frames (messages from
    /// other people, say) are passed over; a `chat.error` answering this request type fails,
    /// naming the protocol's error code.
    pub async fn ask<T>(
        &mut self,
        request: &ClientMsg,
        mut pick: impl FnMut(ServerMsg) -> Option<T>,
    ) -> anyhow::Result<T> {
        let request_type = self.send(request).await?;
        let deadline = Instant::now() + self.wait;
        loop {
            let frame = self.answer(request_type, deadline).await?;
            if let Some(found) = pick(frame) {
                return Ok(found);
            }
        }
    }

    /// Sends `request` for which the server may send nothing back (a reaction that changes
    /// nothing), followed by a cheap request as a barrier: the server answers one socket's
    /// requests in order, so whatever answers `request` arrives before the barrier's answer.
    /// Returns every frame `pick` accepted until then (none: the request changed nothing).
    pub async fn ask_with_barrier<T>(
        &mut self,
        request: &ClientMsg,
        mut pick: impl FnMut(ServerMsg) -> Option<T>,
    ) -> anyhow::Result<Vec<T>> {
        let request_type = self.send(request).await?;
        // `chat.search_user` with a blank keyword answers `chat.search_results []`.
        let barrier = ClientMsg::SearchUser {
            keyword: String::new(),
        };
        let barrier_type = self.send(&barrier).await?;
        let deadline = Instant::now() + self.wait;
        let mut picked = Vec::new();
        loop {
            match self.answer(request_type, deadline).await? {
                ServerMsg::SearchResults { .. } => return Ok(picked),
                ServerMsg::Error {
                    code,
                    message,
                    request_type: Some(answered),
                } if answered == barrier_type => {
                    bail!(
                        "the server refused {barrier_type} (sent to learn that {request_type} \
                         was done): {message} ({})",
                        code.as_str()
                    )
                }
                frame => picked.extend(pick(frame)),
            }
        }
    }

    /// Sends one request; returns its type.
    async fn send(&mut self, request: &ClientMsg) -> anyhow::Result<&'static str> {
        let text = serde_json::to_string(request)?;
        self.socket.send_text(&text).await.map_err(dropped)?;
        Ok(request.kind().unwrap_or_default())
    }

    /// The next frame from the server before `deadline`; a `chat.error` answering
    /// `request_type` is an error naming the protocol's code, a close is [`Dropped`].
    async fn answer(&mut self, request_type: &str, deadline: Instant) -> anyhow::Result<ServerMsg> {
        loop {
            match self.socket.recv_until(deadline).await.map_err(dropped)? {
                Incoming::Timeout => {
                    bail!("no answer to {request_type} within {:?}", self.wait)
                }
                Incoming::Closed { code, reason } => {
                    return Err(Dropped(closed_message(code, &reason)).into());
                }
                Incoming::Text(text) => {
                    let Ok(frame) = serde_json::from_str::<ServerMsg>(&text) else {
                        continue;
                    };
                    if let ServerMsg::Error {
                        code,
                        message,
                        request_type: Some(answered),
                    } = &frame
                        && answered.as_str() == request_type
                    {
                        return Err(Refused {
                            request_type: request_type.to_owned(),
                            message: message.clone(),
                            code: *code,
                        }
                        .into());
                    }
                    return Ok(frame);
                }
            }
        }
    }

    /// `chat.search_user`: the users whose names contain `keyword` (case-insensitive), the
    /// caller left out, at most [`SEARCH_PAGE`].
    pub async fn search_users(&mut self, keyword: &str) -> anyhow::Result<Vec<UserRef>> {
        let request = ClientMsg::SearchUser {
            keyword: keyword.to_owned(),
        };
        self.ask(&request, |frame| match frame {
            ServerMsg::SearchResults { results } => Some(results),
            _ => None,
        })
        .await
    }

    /// The user named `name` (exact, case-insensitive), found with `chat.search_user`.
    pub async fn find_user(&mut self, name: &str) -> anyhow::Result<UserRef> {
        let results = self.search_users(name).await?;
        let wanted = name.to_lowercase();
        let found = results.len();
        results
            .into_iter()
            .find(|user| user.username.to_lowercase() == wanted)
            .ok_or_else(|| {
                if wanted == self.me.username.to_lowercase() {
                    anyhow!("{name} is you: pick someone else")
                } else if found >= SEARCH_PAGE {
                    anyhow!(
                        "no user named {name} among the first {found} whose names contain it \
                         (the server sends at most {SEARCH_PAGE})"
                    )
                } else {
                    anyhow!("no user named {name}")
                }
            })
    }

    /// Every conversation of ours, most recent first.
    pub async fn conversations(&mut self) -> anyhow::Result<Vec<ConversationListItem>> {
        self.ask(&ClientMsg::GetConversations {}, |frame| match frame {
            ServerMsg::Conversations { conversations } => Some(conversations),
            _ => None,
        })
        .await
    }

    /// The server's limits, asked with `chat.hello`; `None` from a server that does not know
    /// the greeting (the original protocol answers `unknown_type`).
    pub async fn limits(&mut self) -> anyhow::Result<Option<Limits>> {
        let hello = ClientMsg::Hello {
            client: "chat-cli".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        let welcome = self
            .ask(&hello, |frame| match frame {
                ServerMsg::Welcome { limits, .. } => Some(limits),
                _ => None,
            })
            .await;
        match welcome {
            Ok(limits) => Ok(Some(limits)),
            Err(e) if e.is::<Refused>() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The group `wanted` names among ours (see [`pick_group`]).
    pub async fn find_group(&mut self, wanted: &str) -> anyhow::Result<ConversationListItem> {
        pick_group(self.conversations().await?, wanted)
    }
}

/// The group `wanted` names in `list`: an id (`12` or `#12`) of one of the groups, else its title
/// (exactly, or else ignoring case). A title that several groups share is an error listing them.
pub(super) fn pick_group(
    list: Vec<ConversationListItem>,
    wanted: &str,
) -> anyhow::Result<ConversationListItem> {
    let mut groups: Vec<ConversationListItem> =
        list.into_iter().filter(|c| c.info.is_group()).collect();
    let id = wanted.strip_prefix('#').unwrap_or(wanted).parse::<i64>();
    if let Ok(id) = id
        && let Some(i) = groups.iter().position(|g| g.id == id)
    {
        return Ok(groups.swap_remove(i));
    }
    let exact: Vec<usize> = (0..groups.len())
        .filter(|&i| groups[i].info.title() == Some(wanted))
        .collect();
    let matching = if exact.is_empty() {
        let lower = wanted.to_lowercase();
        (0..groups.len())
            .filter(|&i| groups[i].info.title().map(str::to_lowercase) == Some(lower.clone()))
            .collect()
    } else {
        exact
    };
    match matching.as_slice() {
        [] => bail!(
            "you are in no group titled or numbered {}",
            sanitize(wanted)
        ),
        [one] => Ok(groups.swap_remove(*one)),
        several => {
            let mut ids: Vec<i64> = several.iter().map(|&i| groups[i].id).collect();
            ids.sort_unstable();
            let ids: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
            bail!(
                "{} groups are titled {}: {}; give the id instead",
                several.len(),
                sanitize(wanted),
                ids.join(", ")
            )
        }
    }
}

/// The server answered a request with `chat.error`: it was not carried out.
#[derive(Debug, thiserror::Error)]
#[error("the server refused {request_type}: {message} ({})", code.as_str())]
pub(super) struct Refused {
    pub request_type: String,
    pub message: String,
    pub code: ErrorCode,
}

/// The connection ended (or broke) before the answer came: the request may or may not have
/// been carried out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Dropped(String);

/// A socket failure as [`Dropped`]; a timed-out send stays what it is.
fn dropped(error: SocketError) -> anyhow::Error {
    match error {
        SocketError::Broken(reason) => Dropped(format!("the connection failed: {reason}")).into(),
        other => other.into(),
    }
}

/// Why the socket closed, for people.
pub(super) fn closed_message(code: Option<u16>, reason: &str) -> String {
    match code {
        Some(chat_shared::close::UNAUTHORIZED) => {
            "the server rejected the access token (close 4001): run `chat login` again".to_owned()
        }
        Some(code) => format!("the server closed the connection (code {code}) {reason}"),
        None => format!("the server closed the connection: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::GroupInfo;

    use super::*;
    use crate::cli::fixtures::group_info;

    fn item(id: i64, title: Option<&str>) -> ConversationListItem {
        ConversationListItem {
            id,
            participants: Vec::new(),
            last_message: None,
            unread_count: None,
            has_unread: None,
            info: title.map_or_else(GroupInfo::default, |t| group_info(t, 1)),
        }
    }

    fn list() -> Vec<ConversationListItem> {
        vec![
            item(1, None),
            item(4, Some("Deploys")),
            item(9, Some("ops")),
            item(7, Some("Ops")),
            item(12, Some("30")),
        ]
    }

    #[test]
    fn a_group_is_named_by_id_then_exact_title_then_title_ignoring_case() {
        let pick = |wanted: &str| pick_group(list(), wanted).map(|g| g.id);
        assert_eq!(pick("4").expect("id"), 4);
        assert_eq!(pick("#7").expect("#id"), 7);
        assert_eq!(pick("Deploys").expect("title"), 4);
        assert_eq!(pick("DEPLOYS").expect("any case"), 4);
        assert_eq!(pick("Ops").expect("exact wins"), 7);
        assert_eq!(pick("ops").expect("exact wins"), 9);
        // A number that is no group's id is read as a title.
        assert_eq!(pick("30").expect("numeric title"), 12);
    }

    #[test]
    fn direct_conversations_unknown_and_ambiguous_names_are_errors() {
        let error = |wanted: &str| pick_group(list(), wanted).expect_err(wanted).to_string();
        assert_eq!(error("1"), "you are in no group titled or numbered 1");
        assert_eq!(error("Nope"), "you are in no group titled or numbered Nope");
        assert_eq!(
            error("OPS"),
            "2 groups are titled OPS: #7, #9; give the id instead"
        );
    }
}
