//! `chat`: with no subcommand, the terminal UI; with one, a scripting command.

fn main() {}
