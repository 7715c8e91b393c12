//! The `chat` client: the terminal UI (`tui`) and the scripting subcommands (`cli`), over one
//! account and network layer (`session`, `api`).

pub mod api;
pub mod cli;
pub mod session;
pub mod tui;
