//! The `chat` binary as a child process: each [`User`] is a config directory of its own
//! (`CHAT_CONFIG_DIR`) pointed at one server, and every run ends within [`RUN_LIMIT`].
//!
//! The binary is `$CHAT_BIN` when set; otherwise it is built once with the `cargo` that runs
//! the tests, into the same target directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TestServer, unique_name};

/// How long one run of the binary may take.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The password [`User::register`] gives every account.
pub const CLI_PASSWORD: &str = "a-long-password";

/// The `chat` binary (`$CHAT_BIN`, or built on first use).
pub fn chat_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| crate::workspace_binary("chat-tui", "chat", "CHAT_BIN"))
}

/// The workspace's root directory (for `examples/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A URL where no server listens (a port bound, then let go).
pub fn nowhere() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

/// What one run of `chat` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:?}"))
    }

    /// Standard output as JSON lines.
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// One person at the command line: their own config directory, pointed at one server.
pub struct User {
    pub config: tempfile::TempDir,
    pub server: String,
}

impl User {
    /// A user of `server`, not logged in.
    pub fn new(server: &TestServer) -> User {
        User::at(server.http_url())
    }

    /// A user of the server at `url` (which may be [`nowhere`]).
    pub fn at(url: String) -> User {
        User {
            config: tempfile::tempdir().expect("config dir"),
            server: url,
        }
    }

    /// Runs `chat ARGS` with `stdin` as standard input.
    pub async fn chat(&self, args: &[&str], stdin: &str) -> Run {
        self.chat_env(args, stdin, &[]).await
    }

    /// `program ARGS` (`chat` itself, or a shell around it) as this user, its standard
    /// streams piped.
    pub fn command(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("CHAT_CONFIG_DIR", self.config.path())
            .env("CHAT_SERVER", &self.server)
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_USERNAME")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `chat ARGS` with extra environment variables; kills it past [`RUN_LIMIT`].
    pub async fn chat_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        self.run(self.command(chat_binary(), args, env), stdin)
            .await
    }

    /// Runs `command` to its end with `stdin` as standard input; kills it past [`RUN_LIMIT`].
    pub async fn run(&self, mut command: Command, stdin: &str) -> Run {
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("start chat");
            let mut input = child.stdin.take().expect("stdin");
            let writer = std::thread::spawn(move || {
                let _ = input.write_all(stdin.as_bytes());
            });
            let started = Instant::now();
            // Poll for exit so a hung child fails the test instead of hanging it.
            while child.try_wait().expect("wait for chat").is_none() {
                if started.elapsed() > RUN_LIMIT {
                    let _ = child.kill();
                    panic!(
                        "chat {args:?} ran longer than {RUN_LIMIT:?}",
                        args = command.get_args().collect::<Vec<_>>()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = writer.join();
            let output = child.wait_with_output().expect("chat output");
            Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .await
        .expect("chat runner")
    }

    /// Runs `chat --json ARGS`, which must succeed, and returns the one JSON value it printed.
    pub async fn json(&self, args: &[&str]) -> Value {
        self.json_run(args).await.json()
    }

    /// Runs `chat --json ARGS`, which must succeed; its standard output as JSON lines.
    pub async fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        self.json_run(args).await.lines()
    }

    async fn json_run(&self, args: &[&str]) -> Run {
        let args: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        let run = self.chat(&args, "").await;
        assert_eq!(run.code, 0, "{run:?}");
        run
    }

    /// A new user of `server`, registered (and logged in) as `prefix…`; the username.
    pub async fn registered(server: &TestServer, prefix: &str) -> (User, String) {
        let (user, name) = (User::new(server), unique_name(prefix));
        user.register(&name).await;
        (user, name)
    }

    /// `chat --json register NAME` with [`CLI_PASSWORD`], which must succeed.
    pub async fn register(&self, name: &str) -> Value {
        let run = self
            .chat(
                &["--json", "register", name, "--password-stdin"],
                &format!("{CLI_PASSWORD}\n"),
            )
            .await;
        assert_eq!(run.code, 0, "{run:?}");
        run.json()
    }
}
