//! Everything that can happen to the UI, as one enum: keys and mouse from the terminal, frames
//! and connection changes from the network task, sign-in answers, and the clock's tick.

use std::time::Duration;

use chat_shared::{ServerMsg, UserRef};

pub use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

/// One input to `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    /// The terminal's new size in columns and rows.
    Resize(u16, u16),
    /// The clock moved on: expire typing indicators and notices, send debounced searches.
    Tick,
    /// A frame from the server that carries no `seq` (answers, typing, errors).
    Server(ServerMsg),
    /// A frame the server pushed because something happened, with its event's `seq`.
    Pushed(i64, ServerMsg),
    /// The connection changed.
    Net(NetStatus),
    /// The answer to a sign-in request: who we are, or a message for the form.
    Auth(Result<SignedIn, String>),
}

impl Event {
    /// A key press without modifiers.
    pub fn key(code: KeyCode) -> Self {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    /// A key press with modifiers.
    pub fn key_with(code: KeyCode, modifiers: KeyModifiers) -> Self {
        Event::Key(KeyEvent::new(code, modifiers))
    }

    /// A printable character typed.
    pub fn char(c: char) -> Self {
        Event::key(KeyCode::Char(c))
    }

    /// Ctrl + a character.
    pub fn ctrl(c: char) -> Self {
        Event::key_with(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// Each character of `text` typed in turn.
    pub fn typed(text: &str) -> Vec<Event> {
        text.chars().map(Event::char).collect()
    }
}

/// What the network task reports about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetStatus {
    /// Getting a token or opening the socket.
    Connecting,
    /// The socket is open; requests can be sent.
    Connected,
    /// The socket closed or could not be opened; the task tries again after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The stored refresh token was refused at start: the user must sign in again. The task
    /// has ended.
    AuthExpired,
    /// The session was ended while in use (signed out elsewhere, the password changed): the
    /// socket was closed (4001) or a renewal refused, and a refresh was refused. The task has
    /// ended.
    SessionEnded,
    /// Something to show in the status bar (an unreadable frame, a full send queue).
    Warning(String),
}

/// A successful sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user: UserRef,
    /// The server base URL it is for.
    pub server: String,
    /// The refresh token the network task uses to get access tokens.
    pub refresh: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
