//! The `chat` client: the terminal UI (`tui`) and the scripting subcommands (`cli`), over one
//! account and network layer (`session`, `api`), and one sanitizer for text shown on a terminal
//! (`text`).

pub mod api;
pub mod cli;
pub mod session;
pub mod text;
pub mod tui;
