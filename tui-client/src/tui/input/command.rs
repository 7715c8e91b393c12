//! The composer's `/` commands: which text is one, and who carries it out (the group actions
//! in `group`; showing or hiding our presence here, it is one frame).

use std::time::Instant;

use chat_shared::ClientMsg;

use super::group;
use crate::tui::app::{App, NoticeKind};
use crate::tui::effect::Effect;

/// Every command, as typed.
const COMMANDS: [&str; 8] = [
    "/group",
    "/add",
    "/remove",
    "/rename",
    "/leave",
    "/mute",
    "/receipts",
    "/presence",
];

/// Carries out `text` when it is one of the composer's commands; false when it is not one
/// (then it is sent as a message, as any other text).
pub(super) fn command(app: &mut App, text: &str, now: Instant, out: &mut Vec<Effect>) -> bool {
    let (name, rest) = text
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((text.trim(), ""));
    let rest = rest.trim();
    if !COMMANDS.contains(&name) {
        return false;
    }
    if !app.is_connected() {
        let text = "not connected: try again in a moment";
        app.notify(NoticeKind::Error, text, now);
        return true;
    }
    match name {
        "/group" => group::new_group(app, rest, now),
        "/add" => group::add(app, now),
        "/remove" => group::remove(app, rest, now, out),
        "/rename" => group::rename(app, rest, now, out),
        "/leave" => group::leave(app, now, out),
        "/mute" => group::toggle_mute(app, app.open, now, out),
        "/receipts" => group::ask_receipts(app, now, out),
        _ => presence(app, rest, now, out),
    }
    true
}

/// `/presence off` hides when we are online from everyone we share a conversation with,
/// `/presence on` shows it again; the server's `chat.presence_set` changes the status bar.
fn presence(app: &mut App, arg: &str, now: Instant, out: &mut Vec<Effect>) {
    let visible = match arg.to_ascii_lowercase().as_str() {
        "on" => true,
        "off" => false,
        _ => {
            let state = if app.presence_visible {
                "shown"
            } else {
                "hidden"
            };
            let text = format!("usage: /presence on|off (yours is {state})");
            app.notify(NoticeKind::Error, text, now);
            return;
        }
    };
    out.push(Effect::Send(ClientMsg::SetPresence { visible }));
}
