//! Command-line flags and their environment fallbacks: everything the server reads at start.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::store::Durability;

/// The chat server: REST accounts, the WebSocket chat endpoint and the browser page.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CHAT_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://PATH` (created when missing; the embedded default) or
    /// `postgres://USER@HOST/DB` (for several instances).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    pub database_url: String,

    /// SQLite durability: `normal` (WAL, synchronous=NORMAL: commits survive a server crash)
    /// or `full` (synchronous=FULL: commits also survive a power loss; slower).
    #[arg(long, env = "CHAT_DURABILITY", value_enum, default_value_t = Durability::Normal)]
    pub durability: Durability,

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

    /// Whether refreshing with a token of a session rotates it (answers a new refresh token and
    /// retires the one presented, as simplejwt's ROTATE_REFRESH_TOKENS). `false` keeps refresh
    /// tokens reusable until they expire, for clients that ignore the new one; logout and
    /// revocation work either way.
    #[arg(long, env = "CHAT_ROTATE_REFRESH_TOKENS", default_value_t = true, action = clap::ArgAction::Set)]
    pub rotate_refresh_tokens: bool,

    /// How long a refresh token retired by a rotation is still answered with its successors
    /// (two processes sharing a session may both refresh); presented later, it ends its whole
    /// session as stolen.
    #[arg(long, env = "CHAT_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub refresh_reuse_grace: Duration,

    /// How long an open socket may outlive the access token it was opened (or last renewed with
    /// `chat.auth`) with: `session` (as long as its session lives and is not revoked) or `token`
    /// (closed with 4001 at the token's `exp`).
    #[arg(long, env = "CHAT_SOCKET_EXPIRY", value_enum, default_value_t = SocketExpiry::Session)]
    pub socket_expiry: SocketExpiry,

    /// How long the name of a deleted account stays taken before anyone may register it.
    #[arg(long, env = "CHAT_DELETED_NAME_HOLD", default_value = "30days", value_parser = humantime::parse_duration)]
    pub deleted_name_hold: Duration,

    /// Longest message content accepted, in characters.
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = 4000)]
    pub max_message_chars: usize,

    /// Most members a group may have, its owner included.
    #[arg(long, env = "CHAT_MAX_GROUP_MEMBERS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_group_members: u32,

    /// Messages returned by `chat.get_messages` without a `limit`, and the most any `limit` gets.
    #[arg(long, env = "CHAT_HISTORY_LIMIT", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..))]
    pub history_limit: i64,

    /// Largest `chat.get_messages` answer, in bytes of its frame: a page ends early (with
    /// `has_more: true`) before the message that would pass it, but always holds one message.
    /// At most `--send-queue-bytes`.
    #[arg(long, env = "CHAT_HISTORY_PAGE_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub history_page_bytes: u64,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Frames per second one connection may send, on average; past it (and the burst), a frame
    /// is answered with `chat.error` `rate_limited` and not handled.
    #[arg(long, env = "CHAT_RATE_LIMIT_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_second: u32,

    /// Frames one connection may send at once before the per-second rate applies.
    #[arg(long, env = "CHAT_RATE_LIMIT_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Rate-limited frames tolerated (the allowance recovers one per second) before the
    /// connection is closed with 1008.
    #[arg(long, env = "CHAT_RATE_LIMIT_STRIKES", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_strikes: u32,

    /// Receipts (`chat.delivered`, `chat.read`) and `chat.typing` one connection may send at
    /// once, besides two for each `chat.message` it was sent; they are not counted as frames.
    #[arg(long, env = "CHAT_RECEIPT_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub receipt_burst: u32,

    /// Receipts and typing frames per second one connection regains after its burst; past
    /// them, `chat.error` `rate_limited` (and strikes, as for frames).
    #[arg(long, env = "CHAT_RECEIPT_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub receipt_per_second: u32,

    /// Receipts one connection may have waiting to be applied together; at this many they are
    /// applied at once (else when the connection has no further frame ready).
    #[arg(long, env = "CHAT_RECEIPT_BATCH", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub receipt_batch: u32,

    /// How long events are kept for `chat.sync`: a client whose cursor is older is told to
    /// reload (`chat.resync_required`).
    #[arg(long, env = "CHAT_SYNC_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub sync_retention: Duration,

    /// How long after a user's last connection closes before others see them offline: a
    /// reconnect within it changes nothing.
    #[arg(long, env = "CHAT_PRESENCE_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub presence_grace: Duration,

    /// An instance silent this long is taken for dead and its users stop counting as online
    /// (each instance writes a heartbeat every third of it).
    #[arg(long, env = "CHAT_PRESENCE_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub presence_timeout: Duration,

    /// A `chat.typing` repeating the last one relayed to the same receiver within this long is
    /// dropped silently (clients expire an indicator 2 s after the last `is_typing: true`).
    #[arg(long, env = "CHAT_TYPING_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub typing_interval: Duration,

    /// WebSocket connections one user may have open at once; one more is accepted and closed
    /// at once with 1008.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_USER", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_user: u32,

    /// Connections (HTTP and WebSocket) open at once; one more is answered 503 and closed.
    /// Default: the open-file limit (raised at start to its hard maximum) less 256 kept for
    /// the database, Redis and logs.
    #[arg(long, env = "CHAT_MAX_OPEN_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_connections: Option<u32>,

    /// Longest wait for a complete HTTP request head, from the connection's opening and, on a
    /// keep-alive connection, from the end of the previous response (so it is also how long an
    /// idle keep-alive connection stays open); past it, the connection is closed.
    #[arg(long, env = "CHAT_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub http_header_timeout: Duration,

    /// Longest wait for a whole HTTP request body once its head has arrived; past it, HTTP 408
    /// and the connection is closed.
    #[arg(long, env = "CHAT_HTTP_BODY_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub http_body_timeout: Duration,

    /// Time between WebSocket pings; a connection that leaves two pings unanswered is closed
    /// (1001) at the next one.
    #[arg(long, env = "CHAT_WS_PING_INTERVAL", default_value = "30s", value_parser = positive_duration)]
    pub ws_ping_interval: Duration,

    /// Login and register attempts one address may make at once (successful logins do not
    /// count); past it, HTTP 429 with `Retry-After`.
    #[arg(long, env = "CHAT_AUTH_IP_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_ip_burst: u32,

    /// Login and register attempts per minute one address regains after its burst.
    #[arg(long, env = "CHAT_AUTH_IP_PER_MINUTE", default_value_t = 60)]
    pub auth_ip_per_minute: u32,

    /// Failed logins one username may get at once; past it, HTTP 429 with `Retry-After`.
    #[arg(long, env = "CHAT_AUTH_USER_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_user_burst: u32,

    /// Failed logins per minute one username regains after its burst.
    #[arg(long, env = "CHAT_AUTH_USER_PER_MINUTE", default_value_t = 6)]
    pub auth_user_per_minute: u32,

    /// Logins one address may make at once, successful or not (failed ones also count toward
    /// `--auth-ip-burst`); past it, HTTP 429 with `Retry-After`.
    #[arg(long, env = "CHAT_AUTH_IP_LOGIN_BURST", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_ip_login_burst: u32,

    /// Logins per minute one address regains after `--auth-ip-login-burst`.
    #[arg(long, env = "CHAT_AUTH_IP_LOGIN_PER_MINUTE", default_value_t = 300)]
    pub auth_ip_login_per_minute: u32,

    /// Password hashes (argon2, 19 MiB each) computed at once, on threads of their own;
    /// 0 means one per available core.
    #[arg(long, env = "CHAT_HASH_WORKERS", default_value_t = 0)]
    pub hash_workers: usize,

    /// Registrations and logins waiting for a hashing thread (0: none wait); past it, HTTP 503
    /// with `Retry-After`.
    #[arg(long, env = "CHAT_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// Frames queued for one connection before it counts as too slow and is closed (1013).
    #[arg(long, env = "CHAT_SEND_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_queue: u32,

    /// Bytes of frames queued for one connection past which it takes no more and counts as too
    /// slow (closed with 1013). A frame is queued whenever the queue holds less, however large.
    #[arg(long, env = "CHAT_SEND_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub send_queue_bytes: u64,

    /// Extra origins (`scheme://host[:port]`, e.g. `https://chat.example.com`) whose pages may
    /// open the WebSocket and call the REST API (CORS), comma-separated. The server's own origin
    /// is always allowed; `*` is not accepted.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub allowed_origins: Vec<String>,

    /// Redis URL (`redis://127.0.0.1:6379`) for running several instances as one: frames for a
    /// user reach that user's connections on every instance through Redis pub/sub.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of this deployment's Redis channels (`<prefix>:user:<id>`), so that several
    /// deployments can share one Redis.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// Log format.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How long an open socket may outlive its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SocketExpiry {
    /// As long as the token's session lives and is not revoked (a token of no session: until
    /// its user signs out everywhere).
    Session,
    /// Until the token's `exp`, unless renewed in band with `chat.auth`.
    Token,
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
    /// `--hash-workers`, with 0 read as the number of available cores.
    pub fn hash_workers(&self) -> usize {
        match self.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// A configuration from flags alone (no environment), for tests and embedding.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }

    /// Checks what single flags cannot: a history page must fit a connection's queue.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.history_page_bytes <= self.send_queue_bytes,
            "--history-page-bytes ({}) must not exceed --send-queue-bytes ({}): \
             a client could not be sent the pages it asks for",
            self.history_page_bytes,
            self.send_queue_bytes
        );
        Ok(())
    }
}

/// A duration flag that must not be zero (a zero timeout would close every connection).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_string()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// An origin as browsers send it in `Origin`: `http(s)://host[:port]`, lower case, no path.
fn origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin == "*" {
        return Err("a wildcard is not accepted: list each origin".to_string());
    }
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or("an origin starts with http:// or https://")?;
    let valid = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
    if host.is_empty() || !host.chars().all(valid) {
        return Err("an origin is scheme://host[:port], with no path".to_string());
    }
    Ok(origin)
}
