//! Test fixtures: a real server on a free loopback port (`TestServer`) and a WebSocket client
//! that speaks the protocol types (`WsClient`). Tests wait for frames, never sleep to synchronise.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub mod cli;
pub mod proxy;
pub mod schema;
pub mod server_process;
pub mod tokens;
pub mod ws;

pub use ws::{RecvError, WsClient, until_linked};

use chat_server::{AppState, Bus, Config};
use chat_shared::rest::{Credentials, TokenPair, UserInfo};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The JWT secret every test server signs with, so tests can forge tokens.
pub const TEST_SECRET: &str = "end-to-end-test-secret";
/// Password used by `register_and_login`.
pub const PASSWORD: &str = "correct horse battery";
/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// `TEST_DATABASE_URL`: when set, servers store in PostgreSQL there (each in a fresh schema).
pub fn test_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `TEST_REDIS_URL`: when set, clusters of servers fan out through Redis there.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A new, empty database: a fresh schema of `TEST_DATABASE_URL` when set (fails the test when
/// PostgreSQL is unreachable), else a SQLite file in `dir`.
pub async fn fresh_database(dir: &Path) -> String {
    let Some(url) = test_database_url() else {
        return format!("sqlite://{}", dir.join("chat.db").display());
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let schema = unique_name("t_").to_lowercase();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create a test schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// A running server on 127.0.0.1 with its own database (SQLite, or PostgreSQL: see
/// [`fresh_database`]).
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The SQLite file, when the database is one.
    pub database: PathBuf,
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A server with default settings on a new temporary database.
    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// A server on a new temporary database, with extra `chat-server` flags.
    pub async fn start_with(flags: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = fresh_database(dir.path()).await;
        let mut server = TestServer::start_on_url(&url, flags, Bus::Local).await;
        server.database = dir.path().join("chat.db");
        server._dir = Some(dir);
        server
    }

    /// A server on an existing (or new) SQLite file, with extra flags.
    pub async fn start_on(database: &Path, flags: &[&str]) -> TestServer {
        let url = format!("sqlite://{}", database.display());
        let mut server = TestServer::start_on_url(&url, flags, Bus::Local).await;
        server.database = database.to_path_buf();
        server
    }

    /// `n` instances on one new database that act as one: through Redis when
    /// `TEST_REDIS_URL` is set (on channels no other test uses), else through one in-process
    /// bus.
    pub async fn cluster(n: usize) -> Vec<TestServer> {
        TestServer::cluster_with(n, &[]).await
    }

    /// Like [`TestServer::cluster`], with extra flags for every instance.
    pub async fn cluster_with(n: usize, extra: &[&str]) -> Vec<TestServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = fresh_database(dir.path()).await;
        let prefix = unique_name("test");
        let mut flags: Vec<String> = extra.iter().map(|f| f.to_string()).collect();
        if let Some(redis) = test_redis_url() {
            flags.extend([
                "--redis-url".to_string(),
                redis,
                "--redis-prefix".to_string(),
                prefix,
            ]);
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let bus = Bus::Memory(Default::default());
        let mut servers = Vec::new();
        for _ in 0..n {
            servers.push(TestServer::start_on_url(&url, &flags, bus.clone()).await);
        }
        servers[0]._dir = Some(dir);
        servers
    }

    /// A server on the database at `url`, with extra flags, on `bus` unless a flag names Redis.
    pub async fn start_on_url(url: &str, flags: &[&str], bus: Bus) -> TestServer {
        let mut args = vec![
            "chat-server",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--jwt-secret",
            TEST_SECRET,
        ];
        args.extend_from_slice(flags);
        let config = Config::from_args(args).expect("valid test flags");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = chat_server::build_state_on(config, bus)
            .await
            .expect("server state");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(chat_server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            state,
            database: PathBuf::new(),
            database_url: url.to_string(),
            _dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Deletes a user's row (and, by cascade, what is theirs: sessions, conversations, messages)
    /// straight in the database, as an operator would; `DELETE /api/me/` keeps a tombstone
    /// instead. The number of rows deleted.
    pub async fn delete_user(&self, user_id: i64) -> u64 {
        execute_sql(
            &self.database_url,
            "DELETE FROM users WHERE id = $1",
            &[user_id],
        )
        .await
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The chat socket's URL for `token`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws/chat/?token={}", self.addr, token)
    }

    /// Stops the server gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs one statement straight on the database at `url` (SQLite, with foreign keys on, or
/// PostgreSQL), as an operator would, with `params` for `$1…`; the number of rows it changed.
pub async fn execute_sql(url: &str, sql: &str, params: &[i64]) -> u64 {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(url)
            .await
            .expect("open the database");
        let query = params.iter().fold(sqlx::query(sql), |q, p| q.bind(p));
        let done = query.execute(&mut db).await;
        done.unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    } else {
        let mut db = sqlx::SqliteConnection::connect(url)
            .await
            .expect("open the database");
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut db)
            .await
            .expect("pragma");
        let query = params.iter().fold(sqlx::query(sql), |q, p| q.bind(p));
        let done = query.execute(&mut db).await;
        done.unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    }
}

/// The binary `bin` of workspace package `package`: the path in the environment variable
/// `env_override` when set, else built once with the cargo running these tests, into their own
/// target directory and profile.
pub fn workspace_binary(package: &str, bin: &str, env_override: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_override) {
        return PathBuf::from(path);
    }
    // Tests run from <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable inside <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target dir");
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed"
    );
    let binary = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// This process's resident memory in KiB (the in-process servers' included).
pub fn resident_kib() -> u64 {
    memory_kib(std::process::id()).0
}

/// Resident and peak resident memory of process `pid`, in KiB, from /proc.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A name no other test (or run) uses: `prefix` plus a counter and the process id.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}_{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

/// `POST path` on `server` with a JSON body; the raw response.
pub async fn post_json(
    server: &TestServer,
    path: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    post_json_at(&server.http_url(), path, body).await
}

/// `POST path` on the server at `base` (`http://host:port`) with a JSON body; the raw response.
pub async fn post_json_at(base: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("HTTP request")
}

/// The status of `GET /api/me/` with `token` as its bearer.
pub async fn me_status(server: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/me/", server.http_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// `{"username", "password"}`, the body of register and login.
pub fn credentials(username: &str, password: &str) -> serde_json::Value {
    serde_json::json!({"username": username, "password": password})
}

/// A refusal that says when to come back (`Retry-After`, 1 to 60 s) and why, in the usual
/// error shape: `status` with the JSON body's `code`.
pub async fn assert_retry_later(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: chat_shared::rest::ApiError = response.json().await.expect("a JSON error body");
    assert_eq!(body.code, code);
    assert!(!body.detail.is_empty());
}

/// Registers `name` with [`PASSWORD`] and logs in.
pub async fn register_and_login(server: &TestServer, name: &str) -> (UserInfo, TokenPair) {
    register_and_login_at(&server.http_url(), name).await
}

/// [`register_and_login`] on the server at `base` (`http://host:port`), in-process or not.
pub async fn register_and_login_at(base: &str, name: &str) -> (UserInfo, TokenPair) {
    let body = serde_json::to_value(Credentials {
        username: name.to_string(),
        password: PASSWORD.to_string(),
    })
    .expect("json");
    let response = post_json_at(base, "/api/register/", &body).await;
    assert_eq!(response.status(), 201, "registering {name}");
    let user: UserInfo = response.json().await.expect("user info");
    let response = post_json_at(base, "/api/token/", &body).await;
    assert_eq!(response.status(), 200, "logging in {name}");
    let tokens: TokenPair = response.json().await.expect("token pair");
    (user, tokens)
}

/// A registered user with an access token.
pub struct Person {
    pub id: i64,
    pub name: String,
    pub tokens: TokenPair,
}

impl Person {
    /// Registers a fresh user whose name starts with `prefix`.
    pub async fn new(server: &TestServer, prefix: &str) -> Person {
        let name = unique_name(prefix);
        let (user, tokens) = register_and_login(server, &name).await;
        Person {
            id: user.id,
            name: user.username,
            tokens,
        }
    }

    /// Opens an authenticated chat connection.
    pub async fn connect(&self, server: &TestServer) -> WsClient {
        WsClient::connect(&server.ws_url(&self.tokens.access)).await
    }
}

/// alice and bob, each connected once, with their direct conversation.
pub struct Pair {
    pub alice: Person,
    pub bob: Person,
    pub a: WsClient,
    pub b: WsClient,
    pub conversation: i64,
}

/// Registers alice and bob, connects them and starts their conversation.
pub async fn pair(server: &TestServer) -> Pair {
    let alice = Person::new(server, "alice").await;
    let bob = Person::new(server, "bob").await;
    let mut a = alice.connect(server).await;
    let b = bob.connect(server).await;
    let conversation = a.start_conversation(bob.id).await;
    Pair {
        alice,
        bob,
        a,
        b,
        conversation,
    }
}
