//! `update`: one event in, the state changed, and the effects out (frames to send, a sign-in,
//! the bell, quitting), in order. Time comes in as an argument, so expiries (typing, notices,
//! search debounce, receipts) are ordinary unit tests.
//!
//! Keys, mouse and paste are handled in `input`; server frames in `frames`; connection changes
//! and sign-in answers in `connection`; the sync cursor and `chat.sync` in `sync`; who is
//! online in `presence`; the clock in `tick`.

mod connection;
mod frames;
mod pending;
mod presence;
mod receipts;
mod sync;
mod tick;

use std::time::Instant;

use super::app::App;
use super::effect::Effect;
use super::event::Event;
use super::input;

/// Applies one event to the app and returns what must happen outside it, in order.
pub fn update(app: &mut App, event: Event, now: Instant) -> Vec<Effect> {
    let mut out = Vec::new();
    app.now = Some(now);
    match event {
        Event::Key(key) => input::key(app, key, now, &mut out),
        Event::Mouse(mouse) => input::mouse(app, mouse, &mut out),
        Event::Paste(text) => input::paste(app, &text, now, &mut out),
        Event::Resize(width, height) => app.size = (width, height),
        Event::Tick => tick::tick(app, now, &mut out),
        Event::Server(frame) => frames::server(app, frame, now, &mut out),
        Event::Pushed(seq, frame) => {
            frames::server(app, frame, now, &mut out);
            sync::applied(app, seq, now, &mut out);
            sync::one_bell(app, &mut out);
        }
        Event::Net(status) => connection::net(app, status, now, &mut out),
        Event::Auth(result) => connection::auth(app, result),
    }
    if out.contains(&Effect::Quit) {
        // The cursor is saved before leaving, however recently it was.
        let mut last = Vec::new();
        sync::flush(app, now, &mut last);
        let at = out.iter().position(|e| *e == Effect::Quit).unwrap_or(0);
        out.splice(at..at, last);
    }
    out
}

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod presence_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
