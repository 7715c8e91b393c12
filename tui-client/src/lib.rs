//! The `chat` client: the terminal UI (`tui`) and the scripting subcommands (`cli`), over one
//! account and network layer (`session`, `api`, and `renewal` for sockets that stay open),
//! and one sanitizer for text shown on a terminal (`text`).

pub mod api;
pub mod cli;
pub mod renewal;
pub mod session;
pub mod text;
pub mod tui;
