//! The glue between `update` and the outside world, without a terminal: it feeds events to
//! `update` and carries out the effects it returns: frames go to the network task, sign-ins
//! run here (and start that task), the sync cursor is saved (and read) here, the bell,
//! links to open or copy and quitting go back to the caller. The terminal loop uses it, and so do the end-to-end tests,
//! which drive two clients through it.

use std::time::{Duration, Instant};

use chat_shared::{Timestamp, UserRef};
use tokio::sync::mpsc;

use super::app::App;
use super::cursor;
use super::effect::{AuthRequest, Effect};
use super::event::{Event, NetStatus, SignedIn};
use super::net::Net;
use super::update::update;
use super::view;
use crate::api::{self, Api};
use crate::session::{ConfigDir, Refresher, StoredSession};

/// Events waiting for the UI: network frames and sign-in answers.
const EVENTS: usize = 1024;

/// An app wired to the network.
#[derive(Debug)]
pub struct Driver {
    pub app: App,
    net: Option<Net>,
    events_tx: mpsc::Sender<Event>,
    events_rx: mpsc::Receiver<Event>,
    /// Where a sign-in stores its session; `None` keeps nothing on disk.
    config: Option<ConfigDir>,
}

impl Driver {
    /// A driver on the sign-in screen (or already signed in: see [`Driver::resume`]).
    pub fn new(mut app: App, config: Option<ConfigDir>) -> Self {
        let (events_tx, events_rx) = mpsc::channel(EVENTS);
        // Random per run: a `client_id` the server saw in the last 7 days is taken for a retry.
        app.client_tag = format!("{:016x}", rand::random::<u64>());
        Driver {
            app,
            net: None,
            events_tx,
            events_rx,
            config,
        }
    }

    /// A driver signed in as `user` with a stored refresh token; connects at once.
    pub fn resume(
        server: &str,
        user: UserRef,
        refresh: String,
        config: Option<ConfigDir>,
    ) -> Result<Self, api::Error> {
        let api = Api::new(server)?;
        let session = StoredSession {
            server: server.to_owned(),
            username: user.username.clone(),
            user_id: user.id,
            refresh,
        };
        let refresher = Refresher::new(api, config.clone(), session);
        let mut driver = Driver::new(App::signed_in(server, user), config);
        driver.load_cursor();
        driver.net = Some(Net::spawn(refresher, driver.events_tx.clone()));
        Ok(driver)
    }

    /// Whether the network task is running.
    pub fn is_online(&self) -> bool {
        self.net.is_some()
    }

    /// The next event from the network or a sign-in; waits until there is one.
    pub async fn next_event(&mut self) -> Event {
        // The driver holds a sender itself, so the channel never closes.
        self.events_rx.recv().await.unwrap_or(Event::Tick)
    }

    /// Applies an event at time `now` and carries out what it asks for; returns the effects
    /// only a terminal can carry out (the bell, opening or copying a link, quitting), in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        // The app has no clock: relative times ("last seen 5 min ago") are read against this.
        self.app.wall = Some(Timestamp::now());
        match &event {
            Event::Auth(Ok(signed_in)) => match Api::new(&signed_in.server) {
                Ok(api) => {
                    let session = StoredSession {
                        server: signed_in.server.clone(),
                        username: signed_in.user.username.clone(),
                        user_id: signed_in.user.id,
                        refresh: signed_in.refresh.clone(),
                    };
                    let refresher = Refresher::new(api, self.config.clone(), session);
                    self.net = Some(Net::spawn(refresher, self.events_tx.clone()));
                }
                Err(e) => {
                    let event = Event::Auth(Err(e.to_string()));
                    return self.handle(event, now);
                }
            },
            Event::Net(NetStatus::AuthExpired | NetStatus::SessionEnded) => {
                self.net = None;
                if let Some(config) = &self.config {
                    // A refused refresh token is useless; a failure to delete it only means
                    // the next start shows the sign-in screen again.
                    let _ = config.clear_session();
                }
            }
            _ => {}
        }
        let signed_in = matches!(event, Event::Auth(Ok(_)));
        let mut for_terminal = Vec::new();
        // Once the network task refuses a frame (its queue is full or it has stopped), this
        // event's later frames are dropped too, with one warning.
        let mut refused = false;
        for effect in update(&mut self.app, event, now) {
            match effect {
                Effect::Send(frame) => {
                    if let Some(net) = &self.net
                        && !refused
                        && let Err(e) = net.send(frame)
                    {
                        refused = true;
                        // A warning only sets the status bar's notice: it has no effects.
                        update(&mut self.app, Event::Net(NetStatus::Warning(e)), now);
                    }
                }
                Effect::SignIn(request) => self.sign_in(request),
                Effect::SaveCursor(seq) => self.save_cursor(seq, now),
                Effect::Bell | Effect::Open(_) | Effect::Copy(_) | Effect::Quit => {
                    for_terminal.push(effect)
                }
            }
        }
        if signed_in {
            self.load_cursor();
        }
        for_terminal
    }

    /// Takes the saved sync cursor of the signed-in user, if there is one.
    fn load_cursor(&mut self) {
        let Some(config) = &self.config else { return };
        let cursor = cursor::load(config, &self.app.server, self.app.my_id());
        self.app.sync.cursor = cursor;
        self.app.sync.saved = cursor;
    }

    /// Writes the sync cursor; a failure is shown in the status bar (the next start then
    /// syncs from an older cursor, which costs time, not events).
    fn save_cursor(&mut self, seq: i64, now: Instant) {
        let Some(config) = &self.config else { return };
        if let Err(e) = cursor::save(config, &self.app.server, self.app.my_id(), seq) {
            let warning = NetStatus::Warning(format!("cannot save the sync cursor: {e}"));
            update(&mut self.app, Event::Net(warning), now);
        }
    }

    /// Runs a sign-in in its own task; its answer comes back as an event.
    fn sign_in(&self, request: AuthRequest) {
        let events = self.events_tx.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let answer = sign_in(request, config).await;
            let _ = events.send(Event::Auth(answer)).await;
        });
    }

    /// Handles events (and ticks) until `done` holds for the app or `timeout` passes; returns
    /// whether it held. For tests and scripts.
    pub async fn run_until(&mut self, timeout: Duration, done: impl Fn(&App) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !done(&self.app) {
            let event = tokio::select! {
                event = self.next_event() => event,
                _ = tick.tick() => Event::Tick,
                () = tokio::time::sleep_until(deadline) => return done(&self.app),
            };
            self.handle(event, Instant::now());
        }
        true
    }

    /// The screen as text at `width`×`height`.
    pub fn screen(&self, width: u16, height: u16) -> String {
        view::render_to_string(&self.app, width, height)
    }
}

/// Registers (if asked) and logs in, finds out who we are, and stores the session.
async fn sign_in(request: AuthRequest, config: Option<ConfigDir>) -> Result<SignedIn, String> {
    let api = Api::new(&request.server).map_err(|e| explain(&e))?;
    if request.register {
        api.register(&request.username, &request.password)
            .await
            .map_err(|e| match e {
                api::Error::Conflict(_) => {
                    format!(
                        "The username {:?} is taken: pick another.",
                        request.username
                    )
                }
                e => explain(&e),
            })?;
    }
    let tokens = api
        .login(&request.username, &request.password)
        .await
        .map_err(|e| match e {
            api::Error::Unauthorized(_) => "Wrong username or password.".to_owned(),
            e => explain(&e),
        })?;
    let user = api.me(&tokens.access).await.map_err(|e| explain(&e))?;
    let server = api.base().as_str().trim_end_matches('/').to_owned();
    if let Some(config) = config {
        let session = StoredSession {
            server: server.clone(),
            username: user.username.clone(),
            user_id: user.id,
            refresh: tokens.refresh.clone(),
        };
        config
            .save_session(&session)
            .map_err(|e| format!("Signed in, but the session could not be saved: {e}"))?;
    }
    Ok(SignedIn {
        user: UserRef {
            id: user.id,
            username: user.username,
        },
        server,
        refresh: tokens.refresh,
    })
}

/// The innermost cause of a chained error text ("…: tcp connect error: Connection refused
/// (os error 111)" → "connection refused").
fn root_cause(reason: &str) -> String {
    let last = reason.rsplit(": ").next().unwrap_or(reason).trim();
    let last = match last.find(" (os error") {
        Some(at) => &last[..at],
        None => last,
    };
    let mut chars = last.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => reason.to_owned(),
    }
}

/// A REST failure in words for the sign-in form.
fn explain(error: &api::Error) -> String {
    match error {
        api::Error::Unreachable { url, reason } => {
            let url = url.trim_end_matches('/');
            format!(
                "Cannot reach the server at {url} ({}). Is it running?",
                root_cause(reason)
            )
        }
        api::Error::BadRequest(detail) => detail.clone(),
        api::Error::Unauthorized(detail) => format!("Not authorized: {detail}"),
        e => {
            let mut text = e.to_string();
            if let Some(first) = text.get(..1) {
                text = first.to_uppercase() + &text[1..];
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_servers_are_explained_briefly() {
        let error = api::Error::Unreachable {
            url: "http://127.0.0.1:1/".into(),
            reason: "error sending request: client error (Connect): tcp connect error: \
                     Connection refused (os error 111)"
                .into(),
        };
        assert_eq!(
            explain(&error),
            "Cannot reach the server at http://127.0.0.1:1 (connection refused). Is it running?"
        );
        assert_eq!(root_cause("timed out"), "timed out");
    }
}
