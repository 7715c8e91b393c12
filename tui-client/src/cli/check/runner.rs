//! Runs one parsed script against a server: sets up the actors, then plays the steps in order.
//!
//! Each actor keeps an inbox of frames that arrived but no `expect` has taken yet, so the order
//! in which the server interleaves unrelated frames does not matter; an `expect` takes the first
//! matching frame from the inbox or, failing that, waits for one.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::pattern::{self, Vars};
use super::script::{Check, Login, Outgoing, Script, Step};
use super::trace::{Direction, Trace};
use crate::api::Api;
use crate::cli::socket::{Incoming, Socket};

/// Frames an actor may hold unexpected before the script is surely wrong.
const MAX_INBOX: usize = 1_000;
/// How long the server may take to answer the first request of a new connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Unmatched frames shown in a failure message.
const SHOWN_FRAMES: usize = 8;

/// How one step went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub number: usize,
    pub line: usize,
    pub title: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// One script's result.
#[derive(Debug, Clone)]
pub struct ScriptReport {
    /// Why the actors could not be set up; the steps were then all skipped.
    pub setup_error: Option<String>,
    pub steps: Vec<StepReport>,
    /// Why some accounts to clean up could not be deleted.
    pub cleanup_error: Option<String>,
    pub elapsed: Duration,
}

impl ScriptReport {
    /// Whether setup, every step and the cleanup passed.
    pub fn passed(&self) -> bool {
        self.setup_error.is_none()
            && self.cleanup_error.is_none()
            && self.steps.iter().all(|s| s.outcome == Outcome::Passed)
    }
}

/// An account the run registered and is to delete at the end (`cleanup = true`).
struct Registered {
    username: String,
    password: String,
}

/// One actor's live connection.
struct Live {
    actor: String,
    socket: Socket,
    inbox: VecDeque<Value>,
    closed: Option<(Option<u16>, String)>,
    trace: Trace,
}

impl Live {
    /// The next frame before `deadline`, or `None` on timeout or once the server has closed.
    async fn next(&mut self, deadline: Instant) -> Result<Option<Value>, String> {
        if self.closed.is_some() {
            return Ok(None);
        }
        match self.socket.recv_until(deadline).await {
            Err(e) => {
                self.closed = Some((None, e.to_string()));
                self.trace_closed();
                Ok(None)
            }
            Ok(Incoming::Timeout) => Ok(None),
            Ok(Incoming::Closed { code, reason }) => {
                self.closed = Some((code, reason));
                self.trace_closed();
                Ok(None)
            }
            Ok(Incoming::Text(text)) => {
                self.trace.frame(&self.actor, Direction::Received, &text);
                Ok(Some(
                    serde_json::from_str(&text)
                        .unwrap_or_else(|_| json!({ "non_json_frame": text })),
                ))
            }
        }
    }

    fn trace_closed(&self) {
        if let Some(closed) = self.closed_text() {
            self.trace.closed(&self.actor, &closed);
        }
    }

    fn keep(&mut self, frame: Value) -> Result<(), String> {
        if self.inbox.len() >= MAX_INBOX {
            return Err(format!(
                "more than {MAX_INBOX} frames arrived that no step expected"
            ));
        }
        self.inbox.push_back(frame);
        Ok(())
    }

    fn closed_text(&self) -> Option<String> {
        self.closed.as_ref().map(|(code, reason)| match code {
            Some(code) => format!("the server closed the connection with code {code} {reason}"),
            None => format!("the connection ended: {reason}"),
        })
    }
}

/// Runs `script` with `run` as the unique `{run}` value; frames go to `trace`.
pub async fn run(api: &Api, script: &Script, run: &str, trace: &Trace) -> ScriptReport {
    let started = Instant::now();
    let mut vars = Vars::new();
    vars.insert("run".to_owned(), json!(run));
    let mut live = HashMap::new();
    let mut registered = Vec::new();
    let mut setup = Ok(());
    for (name, value) in &script.vars {
        match pattern::fill(value, &vars) {
            Ok(value) => {
                vars.insert(name.clone(), value);
            }
            Err(e) => {
                setup = Err(format!("[vars] {name}: {e}"));
                break;
            }
        }
    }
    if setup.is_ok() {
        setup = set_up(api, script, trace, &mut vars, &mut live, &mut registered).await;
    }
    let steps = match &setup {
        Err(_) => script.steps.iter().map(|s| skipped(s, &vars)).collect(),
        Ok(()) => play_all(script, &mut vars, &mut live).await,
    };
    for actor in live.into_values() {
        actor.socket.close().await;
    }
    // After a failure too: the accounts must not outlive the run.
    let cleanup_error = clean_up(api, &registered).await.err();
    ScriptReport {
        setup_error: setup.err(),
        steps,
        cleanup_error,
        elapsed: started.elapsed(),
    }
}

/// Plays the steps in order; after a failed step the rest are skipped.
async fn play_all(
    script: &Script,
    vars: &mut Vars,
    live: &mut HashMap<String, Live>,
) -> Vec<StepReport> {
    let mut steps = Vec::with_capacity(script.steps.len());
    let mut failed = false;
    for step in &script.steps {
        if failed {
            steps.push(skipped(step, vars));
            continue;
        }
        let step_started = Instant::now();
        let title = title(step, vars);
        let outcome = match live.get_mut(&step.actor) {
            Some(actor) => match play(step, actor, vars).await {
                Ok(()) => Outcome::Passed,
                Err(message) => Outcome::Failed(message),
            },
            None => Outcome::Failed(format!("actor {} is not connected", step.actor)),
        };
        failed = outcome != Outcome::Passed;
        steps.push(StepReport {
            number: step.number,
            line: step.line,
            title,
            outcome,
            elapsed: step_started.elapsed(),
        });
    }
    steps
}

/// Deletes the accounts the run registered for cleanup (`DELETE /api/me/`, confirmed with the
/// password after a fresh login: the set-up's access token may have expired meanwhile).
async fn clean_up(api: &Api, registered: &[Registered]) -> Result<(), String> {
    let mut errors = Vec::new();
    for account in registered {
        let deleted = match api.login(&account.username, &account.password).await {
            Ok(tokens) => api.delete_account(&tokens.access, &account.password).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            errors.push(format!("cannot delete {:?}: {e}", account.username));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// A step's title with placeholders filled where possible.
fn title(step: &Step, vars: &Vars) -> String {
    let title = step.title();
    match pattern::fill_string(&title, vars) {
        Ok(Value::String(text)) => text,
        _ => title,
    }
}

fn skipped(step: &Step, vars: &Vars) -> StepReport {
    StepReport {
        number: step.number,
        line: step.line,
        title: title(step, vars),
        outcome: Outcome::Skipped,
        elapsed: Duration::ZERO,
    }
}

fn text_of(template: &str, vars: &Vars) -> Result<String, String> {
    Ok(match pattern::fill_string(template, vars)? {
        Value::String(text) => text,
        other => other.to_string(),
    })
}

/// Registers or logs in every actor (accounts first, then second connections), and connects.
async fn set_up(
    api: &Api,
    script: &Script,
    trace: &Trace,
    vars: &mut Vars,
    live: &mut HashMap<String, Live>,
    registered: &mut Vec<Registered>,
) -> Result<(), String> {
    let mut credentials: HashMap<&str, (String, String)> = HashMap::new();
    let accounts_first = script
        .actors
        .iter()
        .filter(|a| matches!(a.login, Login::Account { .. }))
        .chain(
            script
                .actors
                .iter()
                .filter(|a| !matches!(a.login, Login::Account { .. })),
        );
    for actor in accounts_first {
        let name = actor.name.as_str();
        let access = match &actor.login {
            Login::Token(token) => text_of(token, vars)?,
            Login::Account {
                username,
                password,
                register,
                cleanup,
            } => {
                let username = text_of(username, vars)?;
                let password = text_of(password, vars)?;
                if *register {
                    api.register(&username, &password).await.map_err(|e| {
                        format!("actor {name}: cannot register {username:?}: {e} (put {{run}} in usernames so each run is new)")
                    })?;
                    if *cleanup {
                        registered.push(Registered {
                            username: username.clone(),
                            password: password.clone(),
                        });
                    }
                }
                let access = log_in(api, name, &username, &password, vars).await?;
                credentials.insert(name, (username, password));
                access
            }
            Login::SameAs(other) => {
                let (username, password) = credentials
                    .get(other.as_str())
                    .cloned()
                    .ok_or_else(|| format!("actor {name}: {other} has no account"))?;
                log_in(api, name, &username, &password, vars).await?
            }
        };
        let socket = Socket::connect(&api.ws_url(&access))
            .await
            .map_err(|e| format!("actor {name}: {e}"))?;
        let mut connection = Live {
            actor: name.to_owned(),
            socket,
            inbox: VecDeque::new(),
            closed: None,
            trace: trace.clone(),
        };
        if !matches!(actor.login, Login::Token(_)) {
            handshake(&mut connection)
                .await
                .map_err(|e| format!("actor {name}: {e}"))?;
        }
        live.insert(actor.name.clone(), connection);
    }
    Ok(())
}

/// One request and its answer, so the server is surely serving this connection (and will
/// deliver broadcasts to it) before step 1: the upgrade's answer can come before the server
/// has registered the connection. A search is answered only to the asker; its results are
/// not looked at (ours finds nobody for an empty keyword, other servers may find everyone).
async fn handshake(actor: &mut Live) -> Result<(), String> {
    let request = json!({ "type": "chat.search_user", "keyword": "" });
    send(actor, &request.to_string()).await?;
    let answer = json!({ "type": "chat.search_results" });
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    while let Some(frame) = actor.next(deadline).await? {
        if pattern::mismatch(&answer, &frame).is_none() {
            return Ok(());
        }
        actor.keep(frame)?;
    }
    Err(match actor.closed_text() {
        Some(closed) => format!("{closed} right after connecting"),
        None => format!(
            "no answer to an empty chat.search_user within {} ms",
            HANDSHAKE_TIMEOUT.as_millis()
        ),
    })
}

/// Logs in, records `<actor>.id` and `<actor>.username`, and returns an access token.
async fn log_in(
    api: &Api,
    actor: &str,
    username: &str,
    password: &str,
    vars: &mut Vars,
) -> Result<String, String> {
    let tokens = api
        .login(username, password)
        .await
        .map_err(|e| format!("actor {actor}: cannot log in as {username:?}: {e}"))?;
    let me = api
        .me(&tokens.access)
        .await
        .map_err(|e| format!("actor {actor}: /api/me/ failed: {e}"))?;
    vars.insert(format!("{actor}.id"), json!(me.id));
    vars.insert(format!("{actor}.username"), json!(me.username));
    Ok(tokens.access)
}

/// Plays one step (send, then check); the error is the failure message.
async fn play(step: &Step, actor: &mut Live, vars: &mut Vars) -> Result<(), String> {
    match &step.send {
        Some(Outgoing::Json(value)) => {
            let frame = pattern::fill(value, vars)?;
            send(actor, &frame.to_string()).await?;
        }
        Some(Outgoing::Raw(text)) => {
            let text = text_of(text, vars)?;
            send(actor, &text).await?;
        }
        None => {}
    }
    match &step.check {
        Some(Check::Expect {
            pattern,
            capture,
            timeout,
        }) => {
            let pattern = pattern::fill(pattern, vars)?;
            let frame = expect(actor, &pattern, *timeout).await?;
            for (name, pointer) in capture {
                let value = frame.pointer(pointer).ok_or_else(|| {
                    format!("capture {name}: nothing at {pointer} in the matched frame {frame}")
                })?;
                vars.insert(name.clone(), value.clone());
            }
            Ok(())
        }
        Some(Check::ExpectNone { pattern, within }) => {
            let pattern = pattern::fill(pattern, vars)?;
            expect_none(actor, &pattern, *within).await
        }
        Some(Check::ExpectClose { code, timeout }) => expect_close(actor, *code, *timeout).await,
        None => Ok(()),
    }
}

async fn send(actor: &mut Live, text: &str) -> Result<(), String> {
    if let Some(closed) = actor.closed_text() {
        return Err(format!("cannot send: {closed}"));
    }
    actor.trace.frame(&actor.actor, Direction::Sent, text);
    actor
        .socket
        .send_text(text)
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

async fn expect(actor: &mut Live, pattern: &Value, timeout: Duration) -> Result<Value, String> {
    if let Some(i) = actor
        .inbox
        .iter()
        .position(|f| pattern::mismatch(pattern, f).is_none())
        && let Some(frame) = actor.inbox.remove(i)
    {
        return Ok(frame);
    }
    let deadline = Instant::now() + timeout;
    while let Some(frame) = actor.next(deadline).await? {
        if pattern::mismatch(pattern, &frame).is_none() {
            return Ok(frame);
        }
        actor.keep(frame)?;
    }
    let mut message = match actor.closed_text() {
        Some(closed) => format!("{closed} before a matching frame arrived"),
        None => format!("no matching frame within {} ms", timeout.as_millis()),
    };
    let _ = write!(message, "\nexpected: {}", pattern::show(pattern));
    message.push_str(&describe_inbox(actor, pattern));
    Err(message)
}

/// The frames an actor holds unmatched, those of the expected type first, each with the reason
/// it did not match.
fn describe_inbox(actor: &Live, pattern: &Value) -> String {
    if actor.inbox.is_empty() {
        return "\narrived:  nothing".to_owned();
    }
    let kind = pattern.get("type");
    let mut frames: Vec<&Value> = actor.inbox.iter().collect();
    frames.sort_by_key(|f| f.get("type") != kind);
    let mut text = format!("\narrived (not matching, {} frame(s)):", frames.len());
    for frame in frames.iter().take(SHOWN_FRAMES) {
        let reason = pattern::mismatch(pattern, frame).unwrap_or_default();
        let _ = write!(text, "\n  {}\n    -> {reason}", pattern::show(frame));
    }
    if frames.len() > SHOWN_FRAMES {
        let _ = write!(text, "\n  ... and {} more", frames.len() - SHOWN_FRAMES);
    }
    text
}

async fn expect_none(actor: &mut Live, pattern: &Value, within: Duration) -> Result<(), String> {
    if let Some(frame) = actor
        .inbox
        .iter()
        .find(|f| pattern::mismatch(pattern, f).is_none())
    {
        return Err(format!(
            "a frame matching {} had already arrived: {}",
            pattern::show(pattern),
            pattern::show(frame)
        ));
    }
    let deadline = Instant::now() + within;
    while let Some(frame) = actor.next(deadline).await? {
        if pattern::mismatch(pattern, &frame).is_none() {
            return Err(format!(
                "expected no frame matching {} within {} ms, but got: {}",
                pattern::show(pattern),
                within.as_millis(),
                pattern::show(&frame)
            ));
        }
        actor.keep(frame)?;
    }
    Ok(())
}

async fn expect_close(
    actor: &mut Live,
    code: Option<u16>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while actor.closed.is_none() {
        match actor.next(deadline).await? {
            Some(frame) => actor.keep(frame)?,
            None if actor.closed.is_none() => {
                return Err(format!(
                    "the connection was still open after {} ms",
                    timeout.as_millis()
                ));
            }
            None => {}
        }
    }
    match (&actor.closed, code) {
        (Some((Some(got), _)), Some(want)) if *got == want => Ok(()),
        (Some(_), None) => Ok(()),
        (Some((got, reason)), Some(want)) => Err(format!(
            "expected close code {want}, got {} {reason}",
            got.map_or("no close code".to_owned(), |c| c.to_string())
        )),
        (None, _) => Err("the connection is still open".to_owned()),
    }
}
