//! Command-line flags and their environment fallbacks: everything the server reads at start.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The chat server: REST accounts, the WebSocket chat endpoint and the browser page.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CHAT_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Database URL. `sqlite://PATH` (created when missing) is the embedded default.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    pub database_url: String,

    /// Secret that signs JWTs (HS256). When absent, one is generated on first start and kept
    /// beside the SQLite database in `<database>.jwt-secret` (mode 0600).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens (e.g. `5m`, `300s`, `1h`).
    #[arg(long, env = "CHAT_ACCESS_TOKEN_LIFETIME", default_value = "5m", value_parser = humantime::parse_duration)]
    pub access_token_lifetime: Duration,

    /// Lifetime of refresh tokens (e.g. `1d`, `12h`).
    #[arg(long, env = "CHAT_REFRESH_TOKEN_LIFETIME", default_value = "1d", value_parser = humantime::parse_duration)]
    pub refresh_token_lifetime: Duration,

    /// Longest message content accepted, in characters.
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = 4000)]
    pub max_message_chars: usize,

    /// Messages returned by `chat.get_messages` without a `limit`, and the most any `limit` gets.
    #[arg(long, env = "CHAT_HISTORY_LIMIT", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..))]
    pub history_limit: i64,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Frames queued for one connection before it counts as too slow and is closed (1013).
    #[arg(long, env = "CHAT_SEND_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_queue: u32,

    /// Extra origins (e.g. `https://chat.example.com`) allowed to open the WebSocket from a
    /// browser, comma-separated. The server's own origin is always allowed.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Log format.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// A configuration from flags alone (no environment), for tests and embedding.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }
}
