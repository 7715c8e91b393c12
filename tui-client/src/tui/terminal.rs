//! The real terminal: raw mode, alternate screen, mouse and bracketed paste on; everything put
//! back on exit, on error and on panic. Also what only the terminal can do for us: the bell,
//! the clipboard.

use std::io::{Write, stdout};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use ratatui::DefaultTerminal;

/// Takes over the terminal. A panic restores it before the message is printed.
pub fn init() -> std::io::Result<DefaultTerminal> {
    let terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            // Raw mode may be on even though the alternate screen failed.
            ratatui::restore();
            return Err(e);
        }
    };
    // ratatui's own hook (installed by `try_init`) leaves raw mode and the alternate screen;
    // ours also turns the mouse and paste modes off, then hands over to it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
        hook(info);
    }));
    if let Err(e) = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste) {
        restore();
        return Err(e);
    }
    Ok(terminal)
}

/// Gives the terminal back as it was.
pub fn restore() {
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    ratatui::restore();
}

/// Rings the terminal bell.
pub fn bell() {
    let mut out = stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}

/// Puts `text` on the clipboard with OSC 52, which the terminal carries out (xterm, kitty,
/// WezTerm, iTerm2, foot…; tmux with `set-clipboard on`), over ssh too. A terminal without it
/// ignores the sequence. `text` is base64 inside it, so it cannot end the sequence early.
pub fn copy(text: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}
