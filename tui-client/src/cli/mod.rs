//! Non-interactive subcommands for scripts and QA: the clap definitions and the dispatch.
//!
//! Every command prints plain text, or JSON with `--json`; every network wait has a timeout.

mod account;
mod chat;
pub mod check;
mod connection;
mod export;
mod group;
mod history;
mod input;
mod lifecycle;
mod message;
mod search;
mod socket;
mod tail;

#[cfg(test)]
mod fixtures {
    use chat_shared::{ConversationKind, GroupInfo, UserRef};

    /// The user `id` named `name`.
    pub fn by(id: i64, name: &str) -> UserRef {
        UserRef {
            id,
            username: name.into(),
        }
    }

    /// A group's additions as the server sends them to a member who has not muted it.
    pub fn group_info(title: &str, member_count: i64) -> GroupInfo {
        GroupInfo {
            kind: Some(ConversationKind::Group),
            title: Some(Some(title.into())),
            member_count: Some(member_count),
            muted: Some(false),
        }
    }
}

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use self::lifecycle::Change;
use crate::api::Api;
use crate::session::{ConfigDir, Settings};

/// Exit code when a check script failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code for usage, configuration, server or connection errors.
pub const EXIT_ERROR: u8 = 2;

/// The command line of `chat`.
#[derive(Debug, Parser)]
#[command(
    name = "chat",
    version,
    about = "Terminal chat client; with a subcommand, a scripting tool for the chat protocol",
    after_help = "Exit codes: 0 ok, 1 a check failed, 2 usage or connection error.\n\
                  Without a subcommand, opens the terminal UI."
)]
pub struct Args {
    /// Server base URL (default: `server` in config.toml, else http://127.0.0.1:8000).
    #[arg(long, global = true, env = "CHAT_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use the profile NAME: its own settings, session and cursor (`profiles/NAME` in the config
    /// directory), so that several accounts and servers live side by side.
    #[arg(long, global = true, env = "CHAT_PROFILE", value_name = "NAME",
          value_parser = crate::session::profile_name)]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every subcommand sees.
#[derive(Debug, Clone)]
pub struct Global {
    pub server: Option<String>,
    pub json: bool,
    pub profile: Option<String>,
}

/// How a password reaches `register`, `login` and `password`: never as an argument.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account, then log in and store the session.
    Register {
        /// The new username (letters, digits and @.+-_; up to 150 characters).
        #[arg(env = "CHAT_USERNAME")]
        username: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Log in and store the session (a refresh token, mode 0600) for the UI and other commands.
    Login {
        #[arg(env = "CHAT_USERNAME")]
        username: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// End the session on the server, then forget it here (even when the server cannot be
    /// reached, saying so).
    Logout {
        /// End every session of the account, on every device, instead of this one only.
        #[arg(long)]
        all: bool,
    },
    /// Change the password (asked for, or two lines of `--password-stdin`: the current one,
    /// then the new one). This session goes on; every other one is signed out.
    Password {
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Show the logged-in account, checked with the server.
    Whoami,
    /// Send a message to USER (starting the conversation if needed) or to a GROUP of yours;
    /// prints it once stored.
    Send {
        #[command(flatten)]
        to: SendTo,
        /// The message text; several words are joined with spaces. `-`, or nothing when
        /// standard input is not a terminal: read standard input to its end (one final line
        /// break dropped).
        #[arg(num_args = 0..)]
        text: Vec<String>,
        /// Send the contents of this file (one final line break dropped).
        #[arg(long, value_name = "PATH", conflicts_with = "text")]
        file: Option<PathBuf>,
        /// Answer message ID (`12` or `#12`) of the same conversation.
        #[arg(long, value_name = "ID", value_parser = message::message_id)]
        reply_to: Option<i64>,
        /// Your own id for this send (1 to 64 characters): sending again with the same one
        /// within 7 days stores nothing new and prints the message first stored with it.
        /// Without it, one is made up for this command's own retry after a dropped connection.
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// How long to wait for each server answer, in milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Replace the text of message ID (`12` or `#12`), one of yours; prints it as it is now.
    Edit {
        /// The message's id, as `history` prints it (`12` or `#12`).
        #[arg(value_parser = message::message_id)]
        id: i64,
        /// The new text; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// How long to wait for the server's answer, in milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Delete message ID: yours, or in a group you own or administer, anyone's. It stays in
    /// history as `message deleted`.
    Delete {
        /// The message's id, as `history` prints it (`12` or `#12`).
        #[arg(value_parser = message::message_id)]
        id: i64,
        /// How long to wait for the server's answer, in milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// React to message ID with EMOJI (or take your reaction back with --remove); prints the
    /// message with its reactions, or `no change` when you had (or had not) reacted so already.
    React {
        /// The message's id, as `history` prints it (`12` or `#12`).
        #[arg(value_parser = message::message_id)]
        id: i64,
        /// 1 to 32 characters, no spaces (`👍`, `+1`); a message has at most 20 different.
        emoji: String,
        /// Take your reaction back instead of adding it.
        #[arg(long)]
        remove: bool,
        /// How long to wait for the server's answer, in milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// List your conversations, most recent first.
    Conversations {
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Search the messages of your conversations, newest first (every word must be in the
    /// message; the last also as a prefix; "quoted words" together; case and accents do not
    /// matter), or with --users the people whose names contain TEXT.
    #[command(
        after_help = "A line per message, the conversation first: [#3 with bob] [time] #12 alice: \
                            text. --json: one {message, snippet, highlights} a line. Notices go to \
                            standard error."
    )]
    Search {
        #[arg(value_name = "TEXT")]
        text: String,
        /// Find people instead: `#id name` a line (at most 20, yourself left out).
        #[arg(long, conflicts_with_all = ["with", "group", "from", "limit", "all"])]
        users: bool,
        /// Only your direct conversation with USER (exact, case-insensitive).
        #[arg(long = "with", value_name = "USER", conflicts_with = "group")]
        with: Option<String>,
        /// Only one of your groups, by title or id.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only messages USER sent.
        #[arg(long, value_name = "USER")]
        from: Option<String>,
        /// At most N messages.
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
        /// Every matching message, page after page.
        #[arg(long, conflicts_with = "limit")]
        all: bool,
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Count unread messages: the total on the first line, then `N #id name` for each
    /// conversation with any (one connection, one request: cheap enough for a status bar).
    Unread {
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Show the messages of your conversation with USER, or of a GROUP, oldest first.
    #[command(
        after_help = "Notices (older messages exist, no messages yet) go to standard \
                            error: `chat history … | wc -l` counts messages."
    )]
    History {
        #[command(flatten)]
        with: HistoryOf,
        /// Only the newest N messages (the server may send fewer: at most its page limit).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: Option<i64>,
        /// Only messages older than message ID (`12` or `#12`): the next page back.
        #[arg(long, value_name = "ID", value_parser = message::message_id)]
        before: Option<i64>,
        /// Every message (before --before), oldest first, read a page at a time; with --json,
        /// one message object a line.
        #[arg(long, conflicts_with = "limit")]
        all: bool,
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Write a whole conversation, oldest first, as Markdown (for reading or a bug report) or
    /// as JSON lines (each message object as the server sends it).
    #[command(
        after_help = "Reads every page, holding one in memory; messages arriving meanwhile are \
                            not included. With --out, the file appears only when complete."
    )]
    Export {
        #[command(flatten)]
        with: HistoryOf,
        /// md: a heading per day, each message quoted with its sender, time, id, reply,
        /// edit, reactions and attachment. jsonl: one message object a line.
        #[arg(long, value_enum, default_value = "md")]
        format: export::Format,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Create a group, change its members or title, or leave it.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
        /// How long to wait for each server answer, in milliseconds.
        #[arg(long, global = true, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Follow events as they happen (new messages, edits, reactions, deletions, statuses,
    /// read receipts, group changes), one line each, until Ctrl-C; reconnects and catches up by
    /// itself, showing each event once. Answers messages from others with delivery receipts.
    #[command(
        after_help = "Text lines read like `chat history`'s, with the conversation \
                            first when following all of them ([#3 with bob], [#5 “Deploys”]).\n\
                            --json prints every frame as received, one a line, with its `seq`.\n\
                            Notices (connection lost, caught up) go to standard error."
    )]
    Tail {
        #[command(flatten)]
        scope: TailScope,
        /// Also show who is typing.
        #[arg(long)]
        typing: bool,
        /// First replay the events after SEQ (a `seq` of --json output, or the one printed on
        /// Ctrl-C), then follow.
        #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(i64).range(0..))]
        since: Option<i64>,
        /// First replay every event the server keeps (30 days by default), then follow.
        #[arg(long, conflicts_with = "since")]
        from_start: bool,
        /// How long to wait for each server answer while starting and catching up, in
        /// milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Send JSON frames from standard input (one a line) and print every server frame as a line.
    Pipe {
        /// After standard input ends, wait until the server has been quiet this long, then exit.
        #[arg(long, default_value_t = 1_000, value_name = "MS")]
        linger_ms: u64,
    },
    /// Print a completion script for SHELL: `chat completions bash > /etc/bash_completion.d/chat`,
    /// `chat completions zsh > ~/.zfunc/_chat`, `chat completions fish >
    /// ~/.config/fish/completions/chat.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run protocol check scripts (TOML) against the server: exit 1 if a step fails, 2 if a
    /// script is not valid (then nothing runs) or the server cannot be reached.
    Check {
        /// Script files, or directories (each meaning the *.toml files in it, in name order).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Also write a JUnit XML report here (also when the server cannot be reached).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Run only the scripts whose file path or `name` contains TEXT (plain text, case
        /// sensitive, no wildcards).
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// Run up to N scripts at once; the report keeps the order the scripts were given in.
        #[arg(long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..=256))]
        jobs: u64,
        /// Print every frame sent (>) and received (<) on standard error, with the time, the
        /// script and the actor.
        #[arg(long)]
        trace: bool,
    },
}

/// Whom `chat send` writes to: exactly one of `--to` and `--group`.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SendTo {
    /// The recipient's username (exact, case-insensitive).
    #[arg(long, value_name = "USER")]
    pub to: Option<String>,
    /// One of your groups, by title or id.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// Whose history `chat history` shows: exactly one of `--with` and `--group`.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct HistoryOf {
    /// The other person of a direct conversation (exact, case-insensitive).
    #[arg(long = "with", value_name = "USER")]
    pub with: Option<String>,
    /// One of your groups, by title or id.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// What `chat tail` follows: at most one of `--with`, `--group` and `--all` (the default).
#[derive(Debug, Clone, clap::Args)]
#[group(multiple = false)]
pub struct TailScope {
    /// Only the direct conversation with USER (exact, case-insensitive; started if need be,
    /// as `send` does).
    #[arg(long = "with", value_name = "USER")]
    pub with: Option<String>,
    /// Only one of your groups, by title or id.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Every conversation (the default).
    #[arg(long)]
    pub all: bool,
}

/// Exactly one of a user and a group, as clap's argument group guarantees.
fn target(user: Option<String>, group: Option<String>) -> chat::Target {
    match (user, group) {
        (_, Some(group)) => chat::Target::Group(group),
        (Some(user), None) => chat::Target::User(user),
        (None, None) => unreachable!("clap requires one of the two"),
    }
}

/// `chat group …`. GROUP is one of your groups: its id (`12` or `#12`) or its title (exact, else
/// ignoring case; a title several groups share is refused with their ids).
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group titled TITLE (you are its owner) with the users named.
    Create {
        /// The title (1 to 100 characters); several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
        /// Usernames of the first members, separated by commas.
        #[arg(long, value_name = "USER,...", value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Add users to GROUP (owner and admins).
    Add {
        group: String,
        #[arg(required = true, num_args = 1.., value_name = "USER")]
        users: Vec<String>,
    },
    /// Remove a member from GROUP (owner and admins; yourself: leave).
    Remove { group: String, user: String },
    /// Rename GROUP (owner and admins).
    Rename {
        group: String,
        /// The new title; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
    },
    /// Leave GROUP (an owner hands it to the longest-standing admin, else member).
    Leave { group: String },
}

/// How a command that did not error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    CheckFailed,
    /// A script could not be read or is not valid (a usage error, exit 2).
    InvalidScript,
}

/// What commands need: where the config lives, the settings and a REST client for the server.
pub(crate) struct Context {
    pub dir: ConfigDir,
    pub settings: Settings,
    pub api: Api,
    pub json: bool,
}

impl Context {
    fn new(global: &Global) -> anyhow::Result<Self> {
        let dir = ConfigDir::locate(global.profile.as_deref())?;
        let settings = dir.settings(global.server.as_deref())?;
        let api = Api::new(&settings.server)?;
        Ok(Context {
            dir,
            settings,
            api,
            json: global.json,
        })
    }
}

/// Runs one subcommand.
pub async fn run(global: Global, command: Command) -> anyhow::Result<Outcome> {
    // Completions need no configuration: they must work before anything is set up.
    if let Command::Completions { shell } = command {
        completions(shell);
        return Ok(Outcome::Ok);
    }
    let ctx = Context::new(&global)?;
    match command {
        Command::Register { username, password } => {
            account::register(&ctx, &username, &password).await?
        }
        Command::Login { username, password } => account::login(&ctx, &username, &password).await?,
        Command::Logout { all } => account::logout(&ctx, all).await?,
        Command::Password { password } => account::password(&ctx, &password).await?,
        Command::Whoami => account::whoami(&ctx).await?,
        Command::Send {
            to,
            text,
            file,
            reply_to,
            client_id,
            timeout_ms,
        } => {
            let to = target(to.to, to.group);
            let draft = chat::Draft {
                text: input::Source::from_args(text, file)?.read()?,
                reply_to,
                client_id,
            };
            chat::send(&ctx, &to, draft, timeout_ms).await?
        }
        Command::Edit {
            id,
            text,
            timeout_ms,
        } => lifecycle::run(&ctx, id, Change::Edit(text.join(" ")), timeout_ms).await?,
        Command::Delete { id, timeout_ms } => {
            lifecycle::run(&ctx, id, Change::Delete, timeout_ms).await?
        }
        Command::React {
            id,
            emoji,
            remove,
            timeout_ms,
        } => {
            let change = Change::React {
                emoji,
                add: !remove,
            };
            lifecycle::run(&ctx, id, change, timeout_ms).await?
        }
        Command::Conversations { timeout_ms } => chat::conversations(&ctx, timeout_ms).await?,
        Command::Unread { timeout_ms } => chat::unread(&ctx, timeout_ms).await?,
        Command::Search {
            text,
            users,
            with,
            group,
            from,
            limit,
            all,
            timeout_ms,
        } => {
            let options = search::Options {
                users,
                within: (with.is_some() || group.is_some()).then(|| target(with, group)),
                from,
                limit: (!all).then_some(limit),
            };
            search::search(&ctx, &text, options, timeout_ms).await?
        }
        Command::History {
            with,
            limit,
            before,
            all,
            timeout_ms,
        } => {
            let range = history::Range { limit, before, all };
            history::history(&ctx, &target(with.with, with.group), range, timeout_ms).await?
        }
        Command::Export {
            with,
            format,
            out,
            timeout_ms,
        } => {
            let target = target(with.with, with.group);
            export::export(&ctx, &target, format, out.as_deref(), timeout_ms).await?
        }
        Command::Group {
            command,
            timeout_ms,
        } => group::run(&ctx, command, timeout_ms).await?,
        Command::Tail {
            scope,
            typing,
            since,
            from_start,
            timeout_ms,
        } => {
            let options = tail::Options {
                scope: (scope.with.is_some() || scope.group.is_some())
                    .then(|| target(scope.with, scope.group)),
                typing,
                since: if from_start { Some(0) } else { since },
                timeout_ms,
            };
            tail::run(&ctx, options).await?
        }
        Command::Pipe { linger_ms } => chat::pipe(&ctx, linger_ms).await?,
        Command::Completions { .. } => unreachable!("answered before the context is made"),
        Command::Check {
            paths,
            junit,
            filter,
            jobs,
            trace,
        } => {
            let options = check::Options {
                paths,
                junit,
                filter,
                jobs: usize::try_from(jobs).unwrap_or(1),
                trace,
                json: ctx.json,
            };
            return check::run_files(&ctx.api, &options).await;
        }
    }
    Ok(Outcome::Ok)
}

/// `chat completions SHELL`: the completion script on standard output.
fn completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Args::command(), "chat", &mut std::io::stdout());
}

/// Prints a value as one line of JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let args = std::iter::once("chat").chain(args.iter().copied());
        Args::try_parse_from(args).map(|a| a.command.expect("a subcommand"))
    }

    #[test]
    fn send_takes_a_reply_and_a_client_id() {
        let Ok(Command::Send {
            text,
            reply_to,
            client_id,
            ..
        }) = parse(&[
            "send",
            "--to",
            "bob",
            "sure",
            "--reply-to",
            "#10",
            "--client-id",
            "k1",
        ])
        else {
            panic!("send parses")
        };
        assert_eq!((text, reply_to), (vec!["sure".to_owned()], Some(10)));
        assert_eq!(client_id.as_deref(), Some("k1"));
        let Ok(Command::Send {
            reply_to: None,
            client_id: None,
            ..
        }) = parse(&["send", "--group", "Ops", "hi"])
        else {
            panic!("both are optional")
        };
        let bad = parse(&["send", "--to", "bob", "x", "--reply-to", "ten"]).expect_err("not an id");
        assert!(bad.to_string().contains("not a message id: ten"), "{bad}");
    }

    #[test]
    fn edit_delete_and_react_take_a_message_id() {
        let Ok(Command::Edit { id: 12, text, .. }) = parse(&["edit", "#12", "new", "text"]) else {
            panic!("edit parses")
        };
        assert_eq!(text.join(" "), "new text");
        assert!(matches!(
            parse(&["delete", "12"]),
            Ok(Command::Delete { id: 12, .. })
        ));
        let Ok(Command::React {
            id: 12,
            emoji,
            remove: false,
            ..
        }) = parse(&["react", "12", "👍"])
        else {
            panic!("react parses")
        };
        assert_eq!(emoji, "👍");
        assert!(matches!(
            parse(&["react", "12", "👍", "--remove"]),
            Ok(Command::React { remove: true, .. })
        ));
        // Usage errors: no text, no emoji, an id that is not one.
        assert!(parse(&["edit", "12"]).is_err());
        assert!(parse(&["react", "12"]).is_err());
        assert!(parse(&["delete", "x"]).is_err());
        assert!(parse(&["delete", "0"]).is_err());
    }

    #[test]
    fn send_text_may_be_absent_a_dash_or_a_file_but_not_both() {
        let Ok(Command::Send { text, file, .. }) = parse(&["send", "--to", "bob"]) else {
            panic!("no text parses: it comes from standard input")
        };
        assert_eq!((text.len(), file), (0, None));
        let Ok(Command::Send { text, .. }) = parse(&["send", "--to", "bob", "-"]) else {
            panic!("a dash parses")
        };
        assert_eq!(text, ["-"]);
        let Ok(Command::Send {
            file: Some(file), ..
        }) = parse(&["send", "--to", "bob", "--file", "m.txt"])
        else {
            panic!("--file parses")
        };
        assert_eq!(file, PathBuf::from("m.txt"));
        assert!(parse(&["send", "--to", "bob", "hi", "--file", "m.txt"]).is_err());
    }

    #[test]
    fn history_pages_with_before_or_all_but_all_takes_no_limit() {
        let Ok(Command::History {
            before: Some(40),
            all: false,
            ..
        }) = parse(&[
            "history", "--with", "bob", "--before", "#40", "--limit", "5",
        ])
        else {
            panic!("--before parses")
        };
        assert!(matches!(
            parse(&["history", "--group", "Ops", "--all"]),
            Ok(Command::History { all: true, .. })
        ));
        assert!(parse(&["history", "--with", "bob", "--all", "--limit", "5"]).is_err());
    }

    #[test]
    fn completions_are_for_bash_zsh_and_fish() {
        for shell in ["bash", "zsh", "fish"] {
            assert!(matches!(
                parse(&["completions", shell]),
                Ok(Command::Completions { .. })
            ));
        }
        assert!(parse(&["completions", "cmd"]).is_err());
    }
}
