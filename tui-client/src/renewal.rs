//! Keeping a socket's access token fresh in band (`chat.auth` → `chat.auth_ok`), for every
//! client that stays connected: the terminal UI's network task, `chat tail` and `chat pipe`.
//!
//! A server run with `--socket-expiry token` closes a socket (4001) at its token's `exp` unless
//! a fresh token comes first. The renewal is timed from when the token *arrived*: at 80 % of its
//! lifetime, `exp - iat` from its claims (both read on the server's clock), less a second since
//! the claims count whole seconds. Comparing the local clock with `exp` instead would renew in a
//! loop, or too late, on a machine whose clock is off.
//! A renewal that fails is tried again after a doubling wait; a refused refresh token means the
//! session is over ([`Renewed::Ended`]).

use std::time::Duration;

use base64::Engine as _;
use chat_shared::{ClientMsg, ServerMsg};
use serde::Deserialize;
use tokio::time::Instant;

use crate::api::Api;
use crate::session::{self, Refresher};

/// The part of a token's lifetime after which it is renewed.
const RENEW_AT: f64 = 0.8;
/// How much shorter than `exp - iat` a token may live: `iat` is rounded down to the second.
const ROUNDING: Duration = Duration::from_secs(1);
/// The shortest time between renewals, whatever the lifetime: never a tight loop.
const RENEW_MIN: Duration = Duration::from_millis(500);
/// How long a `chat.auth` may go unanswered before it counts as failed.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// First and longest wait after a failed renewal.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// An access token, when it arrived, and how long it lives by its claims (`None`: it does not
/// say, so it is never renewed in band; the server's 4001 then leads to a refresh).
#[derive(Clone)]
pub struct Access {
    pub token: String,
    arrived: Instant,
    lifetime: Option<Duration>,
}

impl Access {
    /// A token that has just arrived.
    pub fn arrived(token: String, now: Instant) -> Access {
        let lifetime = lifetime(&token);
        Access {
            token,
            arrived: now,
            lifetime,
        }
    }

    /// When to renew it: 80 % into the least it may live after it arrived (no sooner than
    /// [`RENEW_MIN`]).
    fn renew_at(&self) -> Option<Instant> {
        self.lifetime.map(|lifetime| {
            let least = lifetime.saturating_sub(ROUNDING);
            self.arrived + least.mul_f64(RENEW_AT).max(RENEW_MIN)
        })
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("arrived", &self.arrived)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// `exp - iat` from a JWT's claims (read, not verified: the server checks the signature).
fn lifetime(token: &str) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Times {
        iat: i64,
        exp: i64,
    }
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let times: Times = serde_json::from_slice(&json).ok()?;
    u64::try_from(times.exp.checked_sub(times.iat)?)
        .ok()
        .map(Duration::from_secs)
}

/// What a due renewal came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Renewed {
    /// Send this `chat.auth`; its answer goes to [`Renewal::answered`].
    Send(ClientMsg),
    /// It failed (why); it is tried again later, by itself.
    Later(String),
    /// The refresh token was refused: the session is over.
    Ended,
}

/// When to renew, as plain data: the token the connection runs on, the one sent to replace it,
/// and the next deadline.
#[derive(Debug, Default)]
struct Schedule {
    /// The newest token the server has (or will have, on connecting).
    current: Option<Access>,
    /// A token sent with `chat.auth`, not answered yet.
    sent: Option<Access>,
    /// When to renew next, or give up waiting for the answer.
    due: Option<Instant>,
    /// Renewals failed in a row.
    failures: u32,
}

impl Schedule {
    /// A token to connect with, or to renew the connection with, has arrived.
    fn connect_with(&mut self, access: Access) {
        self.due = access.renew_at();
        self.current = Some(access);
        self.sent = None;
    }

    /// The current token, while it is not due for renewal.
    fn reusable(&self, now: Instant) -> Option<&str> {
        let current = self.current.as_ref()?;
        (current.renew_at()? > now).then_some(current.token.as_str())
    }

    fn sent(&mut self, access: Access, now: Instant) {
        self.sent = Some(access);
        self.due = Some(now + ANSWER_WAIT);
    }

    /// The server accepted the token sent: it is the current one now.
    fn accepted(&mut self) -> bool {
        let Some(access) = self.sent.take() else {
            return false;
        };
        self.failures = 0;
        self.connect_with(access);
        true
    }

    /// A renewal failed: the next one after a doubling wait.
    fn failed(&mut self, now: Instant) -> Duration {
        self.sent = None;
        let wait = RETRY_MIN
            .saturating_mul(1 << self.failures.min(16))
            .min(RETRY_MAX);
        self.failures += 1;
        self.due = Some(now + wait);
        wait
    }
}

/// Gets the tokens a connection runs on and renews them in band: one per connection-holding
/// client, owning its session's [`Refresher`].
pub struct Renewal {
    refresher: Refresher,
    schedule: Schedule,
}

impl Renewal {
    pub fn new(refresher: Refresher) -> Renewal {
        Renewal {
            refresher,
            schedule: Schedule::default(),
        }
    }

    /// The REST client of the session.
    pub fn api(&self) -> &Api {
        self.refresher.api()
    }

    /// A token to connect with: the current one while it is not due for renewal, else a fresh
    /// one ([`session::Error::SessionEnded`] when the refresh token is refused).
    pub async fn token(&mut self) -> Result<String, session::Error> {
        if let Some(token) = self.schedule.reusable(Instant::now()) {
            return Ok(token.to_owned());
        }
        let token = self.refresher.access_token().await?;
        self.schedule
            .connect_with(Access::arrived(token.clone(), Instant::now()));
        Ok(token)
    }

    /// The server closed the connection over its token (4001): the next [`Renewal::token`]
    /// refreshes, which tells an expired token (a fresh one comes) from an ended session.
    pub fn forget(&mut self) {
        self.schedule = Schedule {
            failures: self.schedule.failures,
            ..Schedule::default()
        };
    }

    /// Completes when a renewal is due (never, for a token of unknown lifetime). Cancel-safe.
    pub async fn due(&self) {
        match self.schedule.due {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }

    /// Renews now (call once [`Renewal::due`] completes): a `chat.auth` to send, or why not.
    pub async fn renew(&mut self) -> Renewed {
        if self.schedule.sent.is_some() {
            let wait = self.schedule.failed(Instant::now());
            return Renewed::Later(format!(
                "no answer to chat.auth within {ANSWER_WAIT:?}; trying again in {wait:?}"
            ));
        }
        match self.refresher.access_token().await {
            Ok(token) => {
                let access = Access::arrived(token.clone(), Instant::now());
                self.schedule.sent(access, Instant::now());
                Renewed::Send(ClientMsg::Auth { token })
            }
            Err(session::Error::SessionEnded) => Renewed::Ended,
            Err(e) => {
                let wait = self.schedule.failed(Instant::now());
                Renewed::Later(format!(
                    "cannot renew the access token ({e}); trying again in {wait:?}"
                ))
            }
        }
    }

    /// Whether `frame` answers our `chat.auth` (then it is handled here: the caller passes it
    /// over). Only while one is waiting, so a `chat.auth` of someone else's (a line of
    /// `chat pipe`) keeps its answer.
    pub fn answered(&mut self, frame: &ServerMsg) -> bool {
        if self.schedule.sent.is_none() {
            return false;
        }
        match frame {
            ServerMsg::AuthOk { .. } => self.schedule.accepted(),
            ServerMsg::Error {
                request_type: Some(request_type),
                ..
            } if request_type == "chat.auth" => {
                self.schedule.failed(Instant::now());
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    /// A token with these claims (an unchecked signature: only the claims are read).
    fn token(iat: i64, exp: i64) -> String {
        let claims = serde_json::json!({ "token_type": "access", "iat": iat, "exp": exp });
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn the_lifetime_comes_from_the_claims_whatever_the_local_clock_says() {
        // Issued in 2001, by a server whose clock is far from ours: 300 s all the same.
        assert_eq!(
            lifetime(&token(1_000_000_000, 1_000_000_300)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(lifetime("not.a-token"), None);
        assert_eq!(lifetime(&token(10, 5)), None);
    }

    #[test]
    fn renewal_is_due_at_four_fifths_of_the_lifetime_after_arrival() {
        let now = Instant::now();
        // 80 % of 300 s less the second `iat` may have been rounded down by.
        let access = Access::arrived(token(0, 301), now);
        assert_eq!(access.renew_at(), Some(now + Duration::from_secs(240)));
        // A two-second token may have one second left when it arrives.
        let access = Access::arrived(token(0, 2), now);
        assert_eq!(access.renew_at(), Some(now + Duration::from_millis(800)));
        // Even a token that lives no time at all is not renewed in a loop.
        assert_eq!(
            Access::arrived(token(0, 0), now).renew_at(),
            Some(now + RENEW_MIN)
        );
        assert_eq!(Access::arrived("opaque".into(), now).renew_at(), None);
    }

    #[test]
    fn the_next_renewal_is_timed_from_the_accepted_tokens_arrival() {
        let start = Instant::now();
        let mut schedule = Schedule::default();
        schedule.connect_with(Access::arrived(token(0, 11), start));
        assert_eq!(schedule.due, Some(start + Duration::from_secs(8)));
        assert_eq!(
            schedule.reusable(start + Duration::from_secs(7)),
            Some(token(0, 11).as_str())
        );
        assert_eq!(schedule.reusable(start + Duration::from_secs(8)), None);

        let sent_at = start + Duration::from_secs(8);
        schedule.sent(Access::arrived(token(100, 111), sent_at), sent_at);
        assert_eq!(schedule.due, Some(sent_at + ANSWER_WAIT));
        assert!(schedule.accepted());
        assert_eq!(schedule.due, Some(sent_at + Duration::from_secs(8)));
        assert!(!schedule.accepted(), "nothing is waiting any more");
    }

    #[test]
    fn failed_renewals_wait_longer_each_time_up_to_the_longest() {
        let now = Instant::now();
        let mut schedule = Schedule::default();
        let waits: Vec<Duration> = (0..8).map(|_| schedule.failed(now)).collect();
        assert_eq!(waits[..3], [RETRY_MIN, RETRY_MIN * 2, RETRY_MIN * 4]);
        assert_eq!(waits[7], RETRY_MAX);
        assert_eq!(schedule.due, Some(now + RETRY_MAX));
        // A success starts over.
        schedule.sent(Access::arrived(token(0, 10), now), now);
        assert!(schedule.accepted());
        assert_eq!(schedule.failed(now), RETRY_MIN);
    }

    #[tokio::test]
    async fn only_answers_to_our_own_chat_auth_are_taken() {
        let api = Api::new("http://127.0.0.1:1").expect("a valid URL");
        let session = session::StoredSession {
            server: "http://127.0.0.1:1".into(),
            username: "alice".into(),
            user_id: 1,
            refresh: "r".into(),
        };
        let mut renewal = Renewal::new(Refresher::new(api, None, session));
        let ok = ServerMsg::AuthOk {
            exp: chat_shared::Timestamp(0),
        };
        assert!(!renewal.answered(&ok), "no chat.auth of ours is waiting");
        let now = Instant::now();
        renewal
            .schedule
            .sent(Access::arrived(token(0, 10), now), now);
        let refused = ServerMsg::Error {
            code: chat_shared::ErrorCode::Unauthorized,
            message: "the token was revoked".into(),
            request_type: Some("chat.auth".into()),
        };
        assert!(renewal.answered(&refused));
        let retry = renewal.schedule.due.expect("a retry");
        assert!(retry >= now + RETRY_MIN && retry < now + RETRY_MIN * 2);
        assert!(!renewal.answered(&ok));
    }
}
