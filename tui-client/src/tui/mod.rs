//! The terminal UI: state (`app`), events (`event`), `update` and the effects it returns
//! (`effect`), `view`, and the network task (`net`), wired together by `driver` and run in the
//! real terminal by `run`.

pub mod app;
mod conversation;
pub mod cursor;
pub mod driver;
pub mod effect;
pub mod event;
#[cfg(test)]
mod fixtures;
mod input;
mod layout;
pub mod lines;
pub mod markdown;
pub mod net;
mod open;
mod syntax;
mod terminal;
pub mod update;
pub mod view;

use std::time::{Duration, Instant};

use chat_shared::UserRef;
use futures_util::StreamExt;

use crate::session::ConfigDir;
use app::App;
use driver::Driver;
use effect::Effect;
use event::{Event, NetStatus};

/// How often the clock ticks (typing and notice expiry, search debounce).
const TICK: Duration = Duration::from_millis(200);

/// Runs the terminal UI against `server` (else the stored session's server, the config file's,
/// or the default), in the config directory of `profile` (else the default one), until the
/// user quits.
pub async fn run(server: Option<String>, profile: Option<String>) -> anyhow::Result<()> {
    let config = ConfigDir::locate(profile.as_deref())?;
    let settings = config.settings(server.as_deref())?;
    // An explicit --server wins; otherwise the server we were last signed in to.
    let stored = match &server {
        Some(_) => config.session_for(&settings.server).ok(),
        None => config.load_session().ok().flatten(),
    };
    let mut driver = match stored {
        Some(session) => {
            let user = UserRef {
                id: session.user_id,
                username: session.username,
            };
            match Driver::resume(&session.server, user, session.refresh, Some(config.clone())) {
                Ok(driver) => driver,
                Err(_) => Driver::new(App::new(&settings.server), Some(config)),
            }
        }
        None => Driver::new(App::new(&settings.server), Some(config)),
    };
    driver.app.bell_enabled = settings.bell;

    syntax::warm_up();
    let mut terminal = terminal::init()?;
    let result = event_loop(&mut terminal, &mut driver).await;
    terminal::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    driver: &mut Driver,
) -> anyhow::Result<()> {
    let size = terminal.size()?;
    driver.app.size = (size.width, size.height);
    let mut keys = crossterm::event::EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        terminal.draw(|frame| view::render(&driver.app, frame))?;
        let event = tokio::select! {
            input = keys.next() => match input {
                Some(Ok(input)) => match from_terminal(input) {
                    Some(event) => event,
                    None => continue,
                },
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            event = driver.next_event() => event,
            _ = tick.tick() => Event::Tick,
        };
        for effect in driver.handle(event, Instant::now()) {
            match effect {
                Effect::Bell => terminal::bell(),
                Effect::Copy(text) => terminal::copy(&text),
                Effect::Open(url) => {
                    if let Err(e) = open::open(&url) {
                        let text = format!("cannot open the link: {} ({e})", open::OPENER);
                        driver.handle(Event::Net(NetStatus::Warning(text)), Instant::now());
                    }
                }
                Effect::Quit => return Ok(()),
                // The driver has carried these out.
                Effect::Send(_) | Effect::SignIn(_) | Effect::SaveCursor(_) => {}
            }
        }
    }
}

fn from_terminal(input: crossterm::event::Event) -> Option<Event> {
    use crossterm::event::Event as Term;
    match input {
        Term::Key(key) => Some(Event::Key(key)),
        Term::Mouse(mouse) => Some(Event::Mouse(mouse)),
        Term::Paste(text) => Some(Event::Paste(text)),
        Term::Resize(width, height) => Some(Event::Resize(width, height)),
        Term::FocusGained | Term::FocusLost => None,
    }
}
