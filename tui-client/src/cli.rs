//! Non-interactive subcommands for scripts and QA.
