//! Where each part of the chat screen goes, for the terminal's size and the composer's text.
//! The view draws into these areas and the keys and mouse use the same ones (a page of
//! scrolling, which pane is under the pointer), so the two never disagree.

use ratatui::layout::{Constraint, Layout, Rect};

use super::app::{App, Draft};
use super::lines::hard_wrap;

/// The composer grows with its text up to this many lines.
const COMPOSER_MAX_LINES: usize = 6;

/// Where each part of the chat screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatAreas {
    pub list: Rect,
    pub messages: Rect,
    pub typing: Rect,
    pub composer: Rect,
    pub status: Rect,
}

/// Splits `area` for the chat screen.
pub fn chat_areas(app: &App, area: Rect) -> ChatAreas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let list_width = (main.width / 3).clamp(16, 32);
    let [list, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(1)]).areas(main);
    let inner = right.width.saturating_sub(2);
    let (text_lines, _) = hard_wrap(&app.composer.text, app.composer.cursor, usize::from(inner));
    // A reply or an edit says so on a line of its own above the text.
    let draft_line = u16::from(app.composer.draft != Draft::New);
    let height = text_lines.len().clamp(1, COMPOSER_MAX_LINES) as u16 + 2 + draft_line;
    let [messages, typing, composer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(height),
    ])
    .areas(right);
    ChatAreas {
        list,
        messages,
        typing,
        composer,
        status,
    }
}

/// The whole screen as the terminal size in `app.size` makes it.
pub fn screen_area(app: &App) -> Rect {
    Rect::new(0, 0, app.size.0, app.size.1)
}
