//! The real `chat-server` binary as a child process, for tests that kill or signal it.
//!
//! The binary is `$CHAT_SERVER_BIN` when set; otherwise it is built once with the `cargo` that
//! runs these tests, into the same target directory. Its output (the log: stdout
//! and stderr) goes to a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{TEST_SECRET, WsClient, unique_name};
use chat_shared::rest::{TokenPair, UserInfo};

/// Longest wait for the server to answer `/healthz` or to exit.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The `chat-server` binary (`$CHAT_SERVER_BIN`, or built on first use).
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| crate::workspace_binary("chat-server", "chat-server", "CHAT_SERVER_BIN"))
}

/// A running `chat-server` process on 127.0.0.1.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts the binary on `database` (a SQLite file) with extra flags and environment, and
    /// waits until it answers `/healthz`.
    pub async fn start(database: &Path, flags: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let url = format!("sqlite://{}", database.display());
        let log = database.with_extension(format!("{}.log", unique_name("server")));
        ServerProcess::start_url(&url, &log, flags, env).await
    }

    /// Starts the binary on the database at `url` (SQLite or PostgreSQL), logging to `log`,
    /// and waits until it answers `/healthz`.
    pub async fn start_url(
        url: &str,
        log: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let log = log.to_path_buf();
        for _ in 0..5 {
            // A free port, released just before the server binds it; retried if taken meanwhile.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let stderr = std::fs::File::create(&log).expect("log file");
            let child = Command::new(server_binary())
                .arg("--bind")
                .arg(addr.to_string())
                .arg("--database-url")
                .arg(url)
                .args(["--jwt-secret", TEST_SECRET])
                .args(flags)
                .envs(env.iter().copied())
                .env_remove("DATABASE_URL")
                .stdin(Stdio::null())
                .stdout(stderr.try_clone().expect("log file"))
                .stderr(stderr)
                .spawn()
                .expect("spawn chat-server");
            let mut server = ServerProcess {
                addr,
                child,
                log: log.clone(),
            };
            if server.wait_healthy().await {
                return server;
            }
        }
        panic!(
            "chat-server did not start; log:\n{}",
            ServerProcess::read(&log)
        );
    }

    async fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + START_LIMIT;
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: most likely the port was taken
            }
            let health = client.get(format!("{}/healthz", self.http_url())).send();
            if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), health).await
                && response.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chat-server did not answer /healthz in {START_LIMIT:?}");
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws/chat/?token={}", self.addr, token)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// SIGTERM: the server should stop gracefully.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, polling; fails after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        ServerProcess::read(&self.log)
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Registers `prefix…` and logs in.
    pub async fn person(&self, prefix: &str) -> (UserInfo, TokenPair) {
        crate::register_and_login_at(&self.http_url(), &unique_name(prefix)).await
    }

    pub async fn connect(&self, tokens: &TokenPair) -> WsClient {
        WsClient::connect(&self.ws_url(&tokens.access)).await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
