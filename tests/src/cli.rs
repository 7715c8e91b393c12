//! The `chat` binary as a child process: each [`User`] is a config directory of its own
//! (`CHAT_CONFIG_DIR`) pointed at one server, and every run ends within [`RUN_LIMIT`].
//!
//! The binary is `$CHAT_BIN` when set; otherwise it is built once with the `cargo` that runs
//! the tests, into the same target directory.

use std::io::{Read, Write};
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
            // Read while it runs: a child whose output fills the pipe waits for a reader.
            let drain = |stream: Box<dyn std::io::Read + Send>| {
                std::thread::spawn(move || {
                    let mut bytes = Vec::new();
                    let _ = std::io::BufReader::new(stream).read_to_end(&mut bytes);
                    String::from_utf8_lossy(&bytes).into_owned()
                })
            };
            let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
            let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
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
            let status = child.wait().expect("chat's exit");
            Run {
                code: status.code().unwrap_or(-1),
                stdout: stdout.join().expect("stdout reader"),
                stderr: stderr.join().expect("stderr reader"),
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

    /// `chat login NAME --password-stdin` with `password`.
    pub async fn login(&self, name: &str, password: &str) -> Run {
        self.chat(
            &["login", name, "--password-stdin"],
            &format!("{password}\n"),
        )
        .await
    }

    /// `chat password --password-stdin` with these lines (old, new).
    pub async fn password(&self, lines: &str) -> Run {
        self.chat(&["password", "--password-stdin"], lines).await
    }

    /// The `refresh = "…"` line of the session file.
    pub fn stored_refresh(&self) -> String {
        let text =
            std::fs::read_to_string(self.config.path().join("session.toml")).expect("session file");
        let line = text
            .lines()
            .find(|l| l.starts_with("refresh"))
            .expect("a refresh line");
        line.to_owned()
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

/// A `chat` command left running: its output and notices, a line at a time, as they come.
pub struct Running {
    child: std::process::Child,
    stdout: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line of output read so far, and every notice.
    output: Vec<String>,
    notices: Vec<String>,
}

/// How long a running command may take to print what a test waits for.
pub const RUNNING_WAIT: Duration = Duration::from_secs(20);

impl User {
    /// Starts `chat ARGS`, standard input closed.
    pub fn start(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(chat_binary(), args, &[])
            .stdin(Stdio::null())
            .spawn()
            .expect("start chat");
        let stdout = read_lines(child.stdout.take().expect("stdout"));
        let stderr = read_lines(child.stderr.take().expect("stderr"));
        Running {
            child,
            stdout,
            stderr,
            output: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// The lines of `stream`, read on a thread of their own.
fn read_lines(
    stream: impl std::io::Read + Send + 'static,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Reads `lines` into `seen` until `done` holds for them; fails when they end or stop coming.
async fn read_until(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    while !done(seen) {
        match tokio::time::timeout(RUNNING_WAIT, lines.recv()).await {
            Ok(Some(line)) => seen.push(line),
            other => panic!("no line came ({other:?}) after {seen:?}"),
        }
    }
}

impl Running {
    /// Waits for a notice (a line on standard error) containing `text`.
    pub async fn notice(&mut self, text: &str) {
        read_until(&mut self.stderr, &mut self.notices, |seen| {
            seen.iter().any(|line| line.contains(text))
        })
        .await;
    }

    /// Waits until, for each of `texts`, a line of output contains it; all the output so far.
    pub async fn output_with(&mut self, texts: &[String]) -> &[String] {
        read_until(&mut self.stdout, &mut self.output, |seen| {
            texts
                .iter()
                .all(|text| seen.iter().any(|line| line.contains(text.as_str())))
        })
        .await;
        &self.output
    }

    /// Every notice printed so far.
    pub fn notices_now(&mut self) -> &[String] {
        while let Ok(line) = self.stderr.try_recv() {
            self.notices.push(line);
        }
        &self.notices
    }

    /// Waits for the command to end by itself: its exit code and every notice.
    pub async fn exit(mut self) -> (i32, Vec<String>) {
        let started = tokio::time::Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait for chat") {
                break status.code().unwrap_or(-1);
            }
            if started.elapsed() > RUNNING_WAIT {
                let _ = self.child.kill();
                panic!("chat did not end; notices: {:?}", self.notices_now());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Standard error to its end (the reading thread ends with it).
        while let Some(line) = self.stderr.recv().await {
            self.notices.push(line);
        }
        (code, self.notices)
    }

    /// Ctrl-C, then the exit code and every notice.
    pub async fn interrupt(self) -> (i32, Vec<String>) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT");
        self.exit().await
    }
}
