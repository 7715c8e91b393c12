//! `chat`: with no subcommand, the terminal UI; with one, a scripting command.
//!
//! Exit codes: 0 ok, 1 a check failed, 2 usage or connection error.

use std::process::ExitCode;

use chat_tui::cli::{self, Args, Outcome};
use clap::Parser;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    let outcome = match args.command {
        None => runtime
            .block_on(chat_tui::tui::run(args.server, args.profile))
            .map(|()| Outcome::Ok),
        Some(command) => {
            let global = cli::Global {
                server: args.server,
                json: args.json,
                profile: args.profile,
            };
            runtime.block_on(cli::run(global, command))
        }
    };
    match outcome {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(cli::EXIT_CHECK_FAILED),
        Ok(Outcome::InvalidScript) => ExitCode::from(cli::EXIT_ERROR),
        Err(e) => {
            eprintln!("chat: {e:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
