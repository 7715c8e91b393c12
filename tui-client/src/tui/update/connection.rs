//! The connection as the network task reports it, and the answer to a sign-in.

use std::time::Instant;

use chat_shared::ClientMsg;

use super::{pending, sync};
use crate::tui::app::{App, Conn, Field, Focus, NoticeKind, Screen};
use crate::tui::effect::Effect;
use crate::tui::event::{NetStatus, SignedIn};

pub(super) fn auth(app: &mut App, result: Result<SignedIn, String>) {
    app.sign_in.busy = false;
    match result {
        Ok(signed_in) => {
            app.sign_in.password.clear();
            app.sign_in.message = None;
            app.me = Some(signed_in.user);
            app.server = signed_in.server;
            app.screen = Screen::Chat;
            app.conn = Conn::Connecting;
            app.focus = Focus::List;
        }
        Err(message) => app.sign_in.message = Some(message),
    }
}

/// How this client introduces itself on each connection.
fn hello() -> ClientMsg {
    ClientMsg::Hello {
        client: "chat-tui".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

pub(super) fn net(app: &mut App, status: NetStatus, now: Instant, out: &mut Vec<Effect>) {
    match status {
        NetStatus::Connecting => app.conn = Conn::Connecting,
        NetStatus::Connected => {
            app.conn = Conn::Connected;
            // Answers to requests of the old connection will never come.
            for thread in app.threads.values_mut() {
                thread.fetch = None;
            }
            // First, so the server sends this connection `chat.presence` from then on (in the
            // sync too).
            out.push(Effect::Send(hello()));
            sync::connected(app, now, out);
            if let Some(search) = &mut app.search {
                search.sent = None;
                search.due = Some(now);
            }
        }
        NetStatus::Disconnected { reason, retry_in } => {
            app.conn = Conn::Disconnected {
                reason,
                retry_at: now + retry_in,
            };
            app.typing_in.clear();
            app.typing_out = None;
            for thread in app.threads.values_mut() {
                thread.fetch = None;
            }
            pending::connection_lost(app);
        }
        NetStatus::AuthExpired => {
            signed_out(app, "Your session has expired: please sign in again.")
        }
        NetStatus::SessionEnded => signed_out(app, SESSION_ENDED),
        NetStatus::Warning(text) => app.notify(NoticeKind::Error, text, now),
    }
}

/// What the sign-in screen says when the session was ended while in use.
const SESSION_ENDED: &str =
    "Your session was ended (signed out elsewhere or password changed). Sign in again.";

/// Back to the sign-in screen, the username filled in, with `message`.
fn signed_out(app: &mut App, message: &str) {
    let (size, offset, server) = (app.size, app.utc_offset, app.server.clone());
    let (tag, sends) = (std::mem::take(&mut app.client_tag), app.sends);
    let username = app.me.take().map(|u| u.username).unwrap_or_default();
    *app = App::new(&server);
    app.size = size;
    app.utc_offset = offset;
    app.client_tag = tag;
    app.sends = sends;
    app.sign_in.username = username;
    app.sign_in.field = Field::Password;
    app.sign_in.message = Some(message.into());
}
