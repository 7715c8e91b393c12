//! `chat-bench`: the load generator and baselines for the chat server. Every scenario prints a
//! human summary, then one JSON line (`{"scenario": …}`) for scripts. See docs/performance.md.

mod baseline;
mod conns;
mod groups;
mod handshake;
mod history;
mod logins;
mod net;
mod pace;
mod pairs;
mod report;
mod search;
mod seed;
mod sync;
mod tagged;
mod users;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chat-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a new SQLite file (server stopped) with users, conversations and messages.
    Seed(seed::SeedArgs),
    /// Ramp to N authenticated idle connections, hold, report memory per connection.
    Conns(conns::ConnsArgs),
    /// Pairs of users messaging each other: throughput, latency, loss; storage checked after.
    Pairs(pairs::PairsArgs),
    /// One sender in a group with every member connected: deliveries/s, send to last member.
    Group(groups::GroupArgs),
    /// Page through a seeded history with `chat.get_messages`; time `chat.get_conversations`.
    History(history::HistoryArgs),
    /// Authenticated connects per second and their latency, alone or beside `pairs`.
    Handshake(handshake::HandshakeArgs),
    /// Server RSS before / at the peak of / after concurrent registrations and logins, and the
    /// chat round trip meanwhile.
    LoginFlood(logins::LoginFloodArgs),
    /// One user away while `--events` messages arrive, then `chat.sync` from its cursor: time
    /// to replay them all, each once and in order.
    Sync(sync::SyncArgs),
    /// `chat.search_messages` (a common word, its prefix, a rare word) and `chat.search_user`
    /// latencies on a seeded database, one request at a time.
    Search(search::SearchArgs),
    /// The store's raw insert rate: the server's own Store into a fresh SQLite file, no server.
    BaselineInsert(baseline::InsertArgs),
    /// Serve a no-database WebSocket relay on the server's stack (for `pairs`, `handshake`, `conns`).
    BaselineRelay(baseline::RelayArgs),
    /// Serve a bare accept-and-hold WebSocket server (for `conns`).
    BaselineHold(baseline::HoldArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(a) => seed::run(a).await,
        Command::Conns(a) => conns::run(a).await,
        Command::Pairs(a) => pairs::run(a).await,
        Command::Group(a) => groups::run(a).await,
        Command::History(a) => history::run(a).await,
        Command::Handshake(a) => handshake::run(a).await,
        Command::LoginFlood(a) => logins::run(a).await,
        Command::Sync(a) => sync::run(a).await,
        Command::Search(a) => search::run(a).await,
        Command::BaselineInsert(a) => baseline::insert(a).await,
        Command::BaselineRelay(a) => baseline::relay(a).await,
        Command::BaselineHold(a) => baseline::hold(a).await,
    };
    if let Err(e) = result {
        eprintln!("chat-bench: {e:#}");
        std::process::exit(1);
    }
}
