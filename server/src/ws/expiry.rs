//! When a connection's credentials run out: a timer at their deadline (the token's `exp` with
//! `--socket-expiry token`, the session's end with `session`), allocated only while there is one.

use std::pin::Pin;
use std::time::Duration;

use chat_shared::Timestamp;
use tokio::time::{Instant, Sleep};

use crate::config::SocketExpiry;
use crate::conn::Credentials;
use crate::state::AppState;

use super::caller::Caller;

/// How long a connection whose session could not be looked at waits to look again.
const RETRY: Duration = Duration::from_secs(5);

/// A connection's deadline and its timer.
#[derive(Default)]
pub struct Expiry {
    /// Unix milliseconds.
    at: Option<i64>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Expiry {
    /// Times the connection by `at` (Unix milliseconds; `None`: never by time) when it is not
    /// already, as after a `chat.auth` or a look at the session.
    pub fn follow(&mut self, at: Option<i64>) {
        if at == self.at {
            return;
        }
        self.at = at;
        self.timer = at.map(|at| {
            let wait = u64::try_from(at - Timestamp::now().0).unwrap_or(0);
            Box::pin(tokio::time::sleep_until(
                Instant::now() + Duration::from_millis(wait),
            ))
        });
    }

    /// Completes when the deadline passes (never without one), and forgets it. Cancel-safe.
    pub async fn passed(&mut self) {
        match &mut self.timer {
            Some(timer) => timer.as_mut().await,
            None => std::future::pending().await,
        }
        *self = Expiry::default();
    }
}

/// The connection's deadline passed: `Err` with the close reason when its credentials ran out;
/// else they were looked at again and carry their next deadline.
pub async fn recheck(state: &AppState, caller: &Caller) -> Result<(), &'static str> {
    let credentials = caller.conn.credentials();
    match state.config.socket_expiry {
        SocketExpiry::Token => Err("token expired"),
        SocketExpiry::Session => {
            let standing = state
                .store
                .standing(caller.user.id, credentials.sid, credentials.issued_at)
                .await;
            let deadline = match standing {
                // Rotated since: the session lives until its new refresh token expires.
                Ok(Some(standing)) => standing.session_expires_at,
                Ok(None) => return Err("session ended"),
                Err(e) => {
                    tracing::warn!(error = %e, conn = caller.conn.id, "cannot look at a session; trying again");
                    Some(Timestamp::now().0 + RETRY.as_millis() as i64)
                }
            };
            caller.conn.set_credentials(Credentials {
                deadline,
                ..credentials
            });
            Ok(())
        }
    }
}
