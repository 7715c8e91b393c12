//! `render`: draws the app from its state, one small function per screen area. Reads `App`
//! only; never waits on anything.
//!
//! `chat` draws the chat screen's panes, `overlays` the search box, receipts, the delete
//! confirmation, the reaction and link pickers and the help, `presence` who is online,
//! `sign_in` the form; `widgets` has the pieces they share.

mod chat;
mod overlays;
mod presence;
mod sign_in;
mod widgets;

use ratatui::Frame;
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Screen};
use super::layout::chat_areas;

pub use overlays::KEYS;

/// Below this size only a "too small" note is drawn.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// Draws the app.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let note = format!(
            "Terminal too small ({}×{}); need {MIN_WIDTH}×{MIN_HEIGHT}. q quits.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), area);
        return;
    }
    match app.screen {
        Screen::SignIn => sign_in::form(app, frame, area),
        Screen::Chat => {
            let areas = chat_areas(app, area);
            chat::conversation_list(app, frame, areas.list);
            chat::messages(app, frame, areas.messages);
            chat::typing(app, frame, areas.typing);
            chat::composer(app, frame, areas.composer);
            chat::status_bar(app, frame, areas.status);
            if app.search.is_some() {
                overlays::search(app, frame, area);
            }
            if app.receipts.is_some() {
                overlays::receipts(app, frame, area);
            }
            if app.deleting.is_some() {
                overlays::confirm_delete(app, frame, area);
            }
            if app.reacting.is_some() {
                overlays::reactions(app, frame, area);
            }
            if app.links.is_some() {
                overlays::links(app, frame, area);
            }
            if app.help {
                overlays::help(frame, area);
            }
        }
    }
}

/// Draws the app into an in-memory terminal of `width`×`height` and returns its text, one
/// line per row (for tests and the documentation's screen captures).
pub fn render_to_string(app: &App, width: u16, height: u16) -> String {
    use ratatui::{Terminal, backend::TestBackend};
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(terminal) => terminal,
        Err(e) => return format!("cannot draw: {e}"),
    };
    if let Err(e) = terminal.draw(|frame| render(app, frame)) {
        return format!("cannot draw: {e}");
    }
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let mut skip = 0;
        let mut row = String::new();
        for x in 0..buffer.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            row.push_str(symbol);
            skip = unicode_width::UnicodeWidthStr::width(symbol).saturating_sub(1);
        }
        text.push_str(row.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod markdown_tests;
#[cfg(test)]
mod presence_tests;
#[cfg(test)]
mod tests;
