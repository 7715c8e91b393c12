//! What `update` asks of the world outside the app, as values: frames for the server, a
//! sign-in to run, the sync cursor to save, the terminal's bell, a link to open or copy, the
//! end of the program. `update` only returns them;
//! the driver and the terminal loop carry them out, in order.

use chat_shared::ClientMsg;

/// One thing an event asks for beyond changing the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A frame for the server; frames go out in the order they are given.
    Send(ClientMsg),
    /// A sign-in (or registration) to run; its answer comes back as `Event::Auth`.
    SignIn(AuthRequest),
    /// Keep this sync cursor (the highest `seq` applied) for the next start.
    SaveCursor(i64),
    /// Ring the terminal bell: a message came in a conversation that is not open.
    Bell,
    /// Open this web address (`http(s)://` only) in the desktop's browser.
    Open(String),
    /// Put this text on the clipboard, through the terminal (OSC 52).
    Copy(String),
    /// Leave the UI.
    Quit,
}

/// A sign-in the form asks for; the driver runs it and answers with `Event::Auth`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub server: String,
    pub username: String,
    pub password: String,
    pub register: bool,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("register", &self.register)
            .finish_non_exhaustive()
    }
}
