//! The check-script format (TOML): parsing and validation into [`Script`].
//!
//! ```toml
//! name = "Alice finds Bob"
//! timeout_ms = 3000                  # default wait of `expect` steps
//!
//! [actors.alice]                     # registers "alice_{run}" with a generated password
//! [actors.bob]
//!
//! [[steps]]                          # a step sends, checks, or both (sending first)
//! actor = "alice"
//! send = { type = "chat.search_user", keyword = "{bob.username}" }
//! expect = { type = "chat.search_results", results = [{ id = "{bob.id}" }] }
//!
//! [[steps]]
//! actor = "bob"
//! expect_none = "chat.search_results"
//! within_ms = 300
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::pattern;

/// Wait of an `expect` when neither the step nor the script sets one.
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Quiet time of an `expect_none` when the step does not set `within_ms`.
const DEFAULT_WITHIN_MS: u64 = 500;
/// The longest any single wait may be, so a typo cannot hang CI.
const MAX_WAIT_MS: u64 = 120_000;
/// More steps than this in one file is surely a mistake.
const MAX_STEPS: usize = 10_000;

/// A parsed, validated script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: Option<String>,
    /// Constants from `[vars]`, usable as `{NAME}` (their own `{run}` is filled in at run time).
    pub vars: Vec<(String, Value)>,
    pub actors: Vec<Actor>,
    pub steps: Vec<Step>,
}

/// Someone taking part in a script: one WebSocket connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub name: String,
    pub login: Login,
}

/// How an actor gets its connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Login {
    /// Register the account (unless `register = false`), then log in.
    Account {
        username: String,
        password: String,
        register: bool,
        /// Delete the account at the end of the run (only for accounts the run registered).
        cleanup: bool,
    },
    /// Log in as another actor's user: a second connection of the same person.
    SameAs(String),
    /// Connect with this access token as given (to check that bad tokens are refused).
    Token(String),
}

/// One numbered step: something to send, something to check, or both (send first).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based position in the file.
    pub number: usize,
    /// 1-based line of the step in the file.
    pub line: usize,
    pub name: Option<String>,
    pub actor: String,
    pub send: Option<Outgoing>,
    pub check: Option<Check>,
}

/// What a step sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// This JSON value as a text frame.
    Json(Value),
    /// This text as a text frame, as it is (it need not be JSON).
    Raw(String),
}

/// What a step waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Wait for a frame matching the pattern; then store values from it.
    Expect {
        pattern: Value,
        capture: Vec<(String, String)>,
        timeout: Duration,
    },
    /// Fail if a frame matching the pattern arrives within the time.
    ExpectNone { pattern: Value, within: Duration },
    /// Wait for the server to close the connection (with this close code, if given).
    ExpectClose {
        code: Option<u16>,
        timeout: Duration,
    },
}

impl Step {
    /// What the step does, for reports: its `name`, else a description of the action.
    pub fn title(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let actor = &self.actor;
        let sent = self.send.as_ref().map(|send| match send {
            Outgoing::Json(value) => match value.get("type").and_then(Value::as_str) {
                Some(kind) => format!("sends {kind}"),
                None => format!("sends {value}"),
            },
            Outgoing::Raw(_) => "sends raw text".to_owned(),
        });
        let checked = self.check.as_ref().map(|check| match check {
            Check::Expect { pattern, .. } => format!("expects {}", kind_of(pattern)),
            Check::ExpectNone { pattern, within } => {
                format!(
                    "expects no {} for {} ms",
                    kind_of(pattern),
                    within.as_millis()
                )
            }
            Check::ExpectClose {
                code: Some(code), ..
            } => {
                format!("expects the server to close with {code}")
            }
            Check::ExpectClose { code: None, .. } => "expects the server to close".to_owned(),
        });
        match (sent, checked) {
            (Some(sent), Some(checked)) => format!("{actor} {sent}, {checked}"),
            (Some(one), None) | (None, Some(one)) => format!("{actor} {one}"),
            (None, None) => format!("{actor} does nothing"),
        }
    }
}

fn kind_of(pattern: &Value) -> String {
    match pattern.get("type").and_then(Value::as_str) {
        Some(kind) => kind.to_owned(),
        None if pattern.as_object().is_some_and(|o| o.is_empty()) => "frame".to_owned(),
        None => pattern.to_string(),
    }
}

/// One mistake in a script and where it is; [`parse`] reports every one it finds.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The step it is in, if any.
    pub step: Option<usize>,
    /// 1-based line (of the step's or actor's header, or of the TOML error).
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.step, self.line) {
            (Some(step), Some(line)) => write!(f, "step {step} (line {line}): {}", self.message),
            (Some(step), None) => write!(f, "step {step}: {}", self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// A script that is not valid: its name when that much could be read, and every mistake.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub name: Option<String>,
    pub problems: Vec<Problem>,
}

/// The top level. Actors and steps are read one by one (see [`parse`]), so one bad step does
/// not hide the mistakes of the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    name: Option<String>,
    timeout_ms: Option<u64>,
    cleanup: Option<bool>,
    #[serde(default)]
    vars: BTreeMap<String, Value>,
    #[serde(default)]
    actors: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    steps: Vec<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    username: Option<String>,
    password: Option<String>,
    register: Option<bool>,
    same_as: Option<String>,
    token: Option<String>,
    cleanup: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<String>,
    actor: String,
    send: Option<Value>,
    send_raw: Option<String>,
    expect: Option<Value>,
    expect_none: Option<Value>,
    expect_close: Option<CloseCode>,
    #[serde(default)]
    capture: BTreeMap<String, String>,
    timeout_ms: Option<u64>,
    within_ms: Option<u64>,
}

/// `expect_close = 4001`, or `expect_close = true` for any code.
#[derive(Deserialize)]
#[serde(untagged)]
enum CloseCode {
    Code(u16),
    Any(bool),
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn wait(ms: u64, what: &str) -> Result<Duration, String> {
    if ms == 0 || ms > MAX_WAIT_MS {
        return Err(format!(
            "{what} must be between 1 and {MAX_WAIT_MS} ms, not {ms}"
        ));
    }
    Ok(Duration::from_millis(ms))
}

/// Collects problems while a script is checked.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, step: Option<usize>, line: Option<usize>, message: impl Into<String>) {
        self.0.push(Problem {
            step,
            line,
            message: message.into(),
        });
    }
}

/// The variables known at some point of a script, to find unknown `{name}`s before running.
struct Known {
    names: BTreeSet<String>,
    /// Each captured name and the first step that captures it, for a hint.
    captured_by: BTreeMap<String, usize>,
}

impl Known {
    /// Names in `refs` that are not known, each as a message saying what `what` refers to.
    fn unknown(&self, refs: &[String], what: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        refs.iter()
            .filter(|name| !self.names.contains(*name) && seen.insert(name.as_str()))
            .map(|name| {
                let hint = match self.captured_by.get(name) {
                    Some(step) => format!("it is captured only later, by step {step}"),
                    None => format!(
                        "known here: {}",
                        self.names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                format!(
                    "{what}: unknown variable {{{name}}} ({hint}; write {{{{ for a literal brace)"
                )
            })
            .collect()
    }
}

/// Parses and checks a script, reporting every mistake found (each with its step and line).
///
/// A TOML syntax error, or a mistake at the top level (an unknown key, a wrong type), stops
/// the reading there; past that, each actor and each step is checked on its own, and every
/// `{name}` is checked against the variables that will exist when it is filled in.
pub fn parse(text: &str) -> Result<Script, Invalid> {
    let raw: RawScript = toml::from_str(text).map_err(|e| Invalid {
        name: None,
        problems: vec![Problem {
            step: None,
            line: e.span().map(|span| line_of(text, span.start)),
            message: e.message().trim_end().to_owned(),
        }],
    })?;
    let mut problems = Problems::default();
    let default_timeout = wait(raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS), "timeout_ms")
        .unwrap_or_else(|e| {
            problems.add(None, None, e);
            Duration::from_millis(DEFAULT_TIMEOUT_MS)
        });
    if raw.actors.is_empty() {
        problems.add(
            None,
            None,
            "a script needs at least one actor ([actors.NAME])",
        );
    }
    if raw.steps.len() > MAX_STEPS {
        problems.add(None, None, format!("more than {MAX_STEPS} steps"));
    }
    let mut known = Known {
        names: BTreeSet::from(["run".to_owned()]),
        captured_by: BTreeMap::new(),
    };
    // Constants are filled in name order, each seeing `run` and the ones before it.
    for (name, value) in &raw.vars {
        if !is_name(name) || name == "run" || name == "null" || raw.actors.contains_key(name) {
            problems.add(
                None,
                None,
                format!("[vars] {name:?}: use letters, digits and _ only, not run, null or an actor's name"),
            );
        }
        for message in known.unknown(&pattern::references(value), &format!("[vars] {name}")) {
            problems.add(None, None, message);
        }
        known.names.insert(name.clone());
    }
    let actors = parse_actors(text, &raw, &known, &mut problems);
    for actor in &actors {
        if !matches!(actor.login, Login::Token(_)) {
            known.names.insert(format!("{}.id", actor.name));
            known.names.insert(format!("{}.username", actor.name));
        }
    }
    let raw_steps: Vec<(usize, Option<RawStep>)> = raw
        .steps
        .iter()
        .enumerate()
        .map(|(i, spanned)| {
            let line = line_of(text, spanned.span().start);
            match spanned.get_ref().clone().try_into::<RawStep>() {
                Ok(step) => (line, Some(step)),
                Err(e) => {
                    problems.add(Some(i + 1), Some(line), e.message().trim_end());
                    (line, None)
                }
            }
        })
        .collect();
    for (i, (_, step)) in raw_steps.iter().enumerate() {
        let captures: Vec<String> = match step {
            Some(step) => step.capture.keys().cloned().collect(),
            // A step that could not be read may still capture: later steps may use the name.
            None => raw.steps[i]
                .get_ref()
                .get("capture")
                .and_then(toml::Value::as_table)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default(),
        };
        for name in captures {
            known.captured_by.entry(name).or_insert(i + 1);
        }
    }
    let actor_names = raw_actors(&raw);
    let mut steps = Vec::new();
    for (i, (line, step)) in raw_steps.into_iter().enumerate() {
        let number = i + 1;
        let Some(step) = step else {
            // Its captures count as known, so its mistake is not repeated at every later use.
            if let Some(capture) = raw.steps[i]
                .get_ref()
                .get("capture")
                .and_then(toml::Value::as_table)
            {
                known.names.extend(capture.keys().cloned());
            }
            continue;
        };
        for message in step_references(&step, &known) {
            problems.add(Some(number), Some(line), message);
        }
        known.names.extend(step.capture.keys().cloned());
        match parse_step(&step, &actor_names, default_timeout) {
            Ok((send, check)) => steps.push(Step {
                number,
                line,
                name: step.name.clone(),
                actor: step.actor.clone(),
                send,
                check,
            }),
            Err(e) => problems.add(Some(number), Some(line), e),
        }
    }
    if !problems.0.is_empty() {
        let mut problems = problems.0;
        // In file order, whichever pass found them (stable: same-line ones keep their order).
        problems.sort_by_key(|p| p.line);
        return Err(Invalid {
            name: raw.name,
            problems,
        });
    }
    Ok(Script {
        name: raw.name,
        vars: raw.vars.into_iter().collect(),
        actors,
        steps,
    })
}

/// The names of the actors.
fn raw_actors(raw: &RawScript) -> BTreeSet<&str> {
    raw.actors.keys().map(String::as_str).collect()
}

/// Unknown variables in what a step sends and expects.
fn step_references(step: &RawStep, known: &Known) -> Vec<String> {
    let mut messages = Vec::new();
    let mut check = |value: Option<Value>, what: &str| {
        if let Some(value) = value {
            messages.extend(known.unknown(&pattern::references(&value), what));
        }
    };
    check(step.send.clone(), "send");
    check(step.send_raw.clone().map(Value::String), "send_raw");
    check(step.expect.clone(), "expect");
    check(step.expect_none.clone(), "expect_none");
    messages
}

/// Reads each actor on its own, adding its mistakes to `problems`.
fn parse_actors(text: &str, raw: &RawScript, known: &Known, problems: &mut Problems) -> Vec<Actor> {
    let mut read = BTreeMap::new();
    for (name, spanned) in &raw.actors {
        let line = line_of(text, spanned.span().start);
        if !is_name(name) {
            problems.add(
                None,
                Some(line),
                format!("actor name {name:?}: use letters, digits and _ only"),
            );
        }
        match spanned.get_ref().clone().try_into::<RawActor>() {
            Ok(actor) => {
                read.insert(name.clone(), (line, actor));
            }
            Err(e) => problems.add(
                None,
                Some(line),
                format!("actor {name}: {}", e.message().trim_end()),
            ),
        }
    }
    let all: BTreeMap<&String, &RawActor> = read.iter().map(|(n, (_, a))| (n, a)).collect();
    let mut actors = Vec::new();
    for (name, (line, actor)) in &read {
        let fields = [&actor.username, &actor.password, &actor.token];
        for field in fields.into_iter().flatten() {
            let refs = pattern::string_references(field);
            for message in known.unknown(&refs, &format!("actor {name}")) {
                problems.add(None, Some(*line), message);
            }
        }
        match parse_login(name, actor, &all, raw.cleanup.unwrap_or(false)) {
            Ok(login) => actors.push(Actor {
                name: name.clone(),
                login,
            }),
            Err(e) => problems.add(None, Some(*line), e),
        }
    }
    actors
}

/// The 1-based line of byte `start`; for a table in `[[steps]]` that is its header's line.
fn line_of(text: &str, start: usize) -> usize {
    text[..start.min(text.len())].matches('\n').count() + 1
}

fn parse_login(
    name: &str,
    actor: &RawActor,
    all: &BTreeMap<&String, &RawActor>,
    cleanup_all: bool,
) -> Result<Login, String> {
    let account_fields = actor.username.is_some()
        || actor.password.is_some()
        || actor.register.is_some()
        || actor.cleanup.is_some();
    match (&actor.same_as, &actor.token) {
        (Some(_), Some(_)) => Err(format!(
            "actor {name}: same_as and token exclude each other"
        )),
        (Some(other), None) => {
            if account_fields {
                return Err(format!(
                    "actor {name}: same_as takes the other actor's account; drop username, password, register and cleanup"
                ));
            }
            match all.get(other) {
                None => Err(format!("actor {name}: same_as names no actor {other:?}")),
                Some(target) if target.same_as.is_some() || target.token.is_some() => Err(format!(
                    "actor {name}: same_as must name an actor with its own account"
                )),
                Some(_) => Ok(Login::SameAs(other.clone())),
            }
        }
        (None, Some(token)) => {
            if account_fields {
                return Err(format!(
                    "actor {name}: token replaces the login; drop username, password, register and cleanup"
                ));
            }
            Ok(Login::Token(token.clone()))
        }
        (None, None) => {
            let register = actor.register.unwrap_or(true);
            if actor.cleanup == Some(true) && !register {
                return Err(format!(
                    "actor {name}: cleanup deletes only accounts the run registers; drop it or register = false"
                ));
            }
            Ok(Login::Account {
                username: actor
                    .username
                    .clone()
                    .unwrap_or_else(|| format!("{{run}}_{name}")),
                password: actor
                    .password
                    .clone()
                    .unwrap_or_else(|| "pw-{run}-check".to_owned()),
                register,
                // A script-wide `cleanup = true` leaves accounts made elsewhere alone.
                cleanup: register && actor.cleanup.unwrap_or(cleanup_all),
            })
        }
    }
}

fn parse_step(
    step: &RawStep,
    actors: &BTreeSet<&str>,
    default_timeout: Duration,
) -> Result<(Option<Outgoing>, Option<Check>), String> {
    if !actors.contains(step.actor.as_str()) {
        let known: Vec<&str> = actors.iter().copied().collect();
        return Err(format!(
            "no actor {:?} (actors: {})",
            step.actor,
            known.join(", ")
        ));
    }
    let send = match (&step.send, &step.send_raw) {
        (Some(_), Some(_)) => return Err("give send or send_raw, not both".to_owned()),
        (Some(value), None) => Some(Outgoing::Json(value.clone())),
        (None, Some(text)) => Some(Outgoing::Raw(text.clone())),
        (None, None) => None,
    };
    let checks = [
        step.expect.is_some(),
        step.expect_none.is_some(),
        step.expect_close.is_some(),
    ];
    match checks.iter().filter(|c| **c).count() {
        0 if send.is_none() => {
            return Err(
                "give send or send_raw, and/or one of expect, expect_none, expect_close".to_owned(),
            );
        }
        0 | 1 => {}
        _ => return Err("give only one of expect, expect_none, expect_close".to_owned()),
    }
    if !step.capture.is_empty() && step.expect.is_none() {
        return Err("capture goes with expect".to_owned());
    }
    if step.within_ms.is_some() && step.expect_none.is_none() {
        return Err("within_ms goes with expect_none (expect takes timeout_ms)".to_owned());
    }
    if step.timeout_ms.is_some() && step.expect.is_none() && step.expect_close.is_none() {
        return Err("timeout_ms goes with expect or expect_close".to_owned());
    }
    let timeout = match step.timeout_ms {
        Some(ms) => wait(ms, "timeout_ms")?,
        None => default_timeout,
    };
    let check = if let Some(pattern) = &step.expect {
        let mut capture = Vec::new();
        for (name, pointer) in &step.capture {
            if !is_name(name) || name == "run" || name == "null" {
                return Err(format!(
                    "capture name {name:?}: use letters, digits and _ only (not run or null)"
                ));
            }
            if actors.contains(name.as_str()) {
                return Err(format!("capture name {name:?} is an actor's name"));
            }
            if !pointer.starts_with('/') {
                return Err(format!(
                    "capture {name}: {pointer:?} is not a JSON Pointer (like \"/conversation/id\")"
                ));
            }
            capture.push((name.clone(), pointer.clone()));
        }
        Some(Check::Expect {
            pattern: pattern_of(pattern)?,
            capture,
            timeout,
        })
    } else if let Some(pattern) = &step.expect_none {
        let within = wait(step.within_ms.unwrap_or(DEFAULT_WITHIN_MS), "within_ms")?;
        Some(Check::ExpectNone {
            pattern: pattern_of(pattern)?,
            within,
        })
    } else {
        match &step.expect_close {
            Some(CloseCode::Code(code)) => Some(Check::ExpectClose {
                code: Some(*code),
                timeout,
            }),
            Some(CloseCode::Any(true)) => Some(Check::ExpectClose {
                code: None,
                timeout,
            }),
            Some(CloseCode::Any(false)) => {
                return Err("expect_close takes a close code, or true for any".to_owned());
            }
            None => None,
        }
    };
    Ok((send, check))
}

/// A pattern is a table, or a string naming just the frame type.
fn pattern_of(value: &Value) -> Result<Value, String> {
    match value {
        Value::String(kind) => Ok(serde_json::json!({ "type": kind })),
        Value::Object(_) => Ok(value.clone()),
        other => Err(format!(
            "a pattern is a table or a frame type string, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GOOD: &str = r#"
name = "demo"
timeout_ms = 1500

[vars]
greeting = "hello {run}"

[actors.alice]
[actors.bob]
username = "Bob_{run}"
password = "long-enough"
[actors.alice_phone]
same_as = "alice"
[actors.intruder]
token = "garbage"

[[steps]]
actor = "alice"
send = { type = "chat.start_conversation", receiver_id = "{bob.id}" }

[[steps]]
name = "alice sees the conversation"
actor = "alice"
expect = { type = "chat.conversation_started" }
capture = { conv = "/conversation/id" }

[[steps]]
actor = "bob"
expect_none = "chat.typing"
within_ms = 200

[[steps]]
actor = "intruder"
expect_close = 4001

[[steps]]
actor = "bob"
send_raw = "{oops"
expect = "chat.error"
"#;

    #[test]
    fn a_full_script_parses_with_defaults_and_lines() {
        let script = parse(GOOD).unwrap();
        assert_eq!(script.name.as_deref(), Some("demo"));
        assert_eq!(
            script.vars,
            vec![("greeting".to_owned(), json!("hello {run}"))]
        );
        let alice = script.actors.iter().find(|a| a.name == "alice").unwrap();
        assert_eq!(
            alice.login,
            Login::Account {
                username: "{run}_alice".into(),
                password: "pw-{run}-check".into(),
                register: true,
                cleanup: false,
            }
        );
        let phone = script
            .actors
            .iter()
            .find(|a| a.name == "alice_phone")
            .unwrap();
        assert_eq!(phone.login, Login::SameAs("alice".into()));
        assert_eq!(script.steps.len(), 5);
        assert_eq!(
            script.steps[0].send,
            Some(Outgoing::Json(
                json!({"type": "chat.start_conversation", "receiver_id": "{bob.id}"})
            ))
        );
        assert_eq!(script.steps[0].check, None);
        assert_eq!(
            script.steps[0].title(),
            "alice sends chat.start_conversation"
        );
        assert_eq!(
            script.steps[1].check,
            Some(Check::Expect {
                pattern: json!({"type": "chat.conversation_started"}),
                capture: vec![("conv".into(), "/conversation/id".into())],
                timeout: Duration::from_millis(1500),
            })
        );
        assert_eq!(script.steps[1].title(), "alice sees the conversation");
        assert_eq!(
            script.steps[2].title(),
            "bob expects no chat.typing for 200 ms"
        );
        assert_eq!(
            script.steps[3].check,
            Some(Check::ExpectClose {
                code: Some(4001),
                timeout: Duration::from_millis(1500)
            })
        );
        assert_eq!(script.steps[4].send, Some(Outgoing::Raw("{oops".into())));
        assert_eq!(
            script.steps[4].title(),
            "bob sends raw text, expects chat.error"
        );
        // Each step points at its own [[steps]] header.
        let lines: Vec<usize> = script.steps.iter().map(|s| s.line).collect();
        let headers: Vec<usize> = GOOD
            .lines()
            .enumerate()
            .filter(|(_, l)| *l == "[[steps]]")
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines, headers);
    }

    /// Every problem of a script that must be invalid, one a line.
    fn error(text: &str) -> String {
        let invalid = parse(text).expect_err("the script must be invalid");
        invalid
            .problems
            .iter()
            .map(Problem::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_mistake_is_reported_at_once_unknown_variables_included() {
        let text = r#"name = "three mistakes"
[actors.alice]
[actors.bob]
username = "bob_{nobody}"

[[steps]]
actor = "carol"
send = { type = "chat.get_conversations" }

[[steps]]
actor = "alice"
sent = { type = "chat.get_conversations" }

[[steps]]
actor = "alice"
send = { type = "chat.message", conversation_id = "{conv}", content = "hi {bob.username}" }

[[steps]]
actor = "alice"
send = { type = "chat.start_conversation", receiver_id = "{bob.id}" }
expect = "chat.conversation_started"
capture = { conv = "/conversation/id" }
"#;
        let invalid = parse(text).unwrap_err();
        assert_eq!(invalid.name.as_deref(), Some("three mistakes"));
        let shown: Vec<String> = invalid.problems.iter().map(Problem::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(
            shown[0].starts_with("line 3: actor bob: unknown variable {nobody}"),
            "{shown:#?}"
        );
        assert!(
            shown[1].starts_with("step 1 (line 6): no actor \"carol\""),
            "{shown:#?}"
        );
        assert!(
            shown[2].starts_with("step 2 (line 10): unknown field `sent`"),
            "{shown:#?}"
        );
        assert!(
            shown[3].starts_with("step 3 (line 14): send: unknown variable {conv} (it is captured only later, by step 4"),
            "{shown:#?}"
        );
    }

    #[test]
    fn constants_and_captures_are_known_where_they_are_filled_in() {
        let text = r#"
[vars]
a = "{run}"
b = "{a}-{c}"
c = "x"
[actors.alice]
[actors.door]
token = "{b}"

[[steps]]
actor = "alice"
send = { type = "chat.search_user", keyword = "{alice.username}{door.id}" }
expect = "chat.search_results"
capture = { found = "/results" }

[[steps]]
actor = "alice"
expect_none = { type = "x", results = "{found}", any = "{*}", none = "{null}" }
"#;
        let message = error(text);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 2, "{message}");
        assert!(
            lines[0].contains("[vars] b: unknown variable {c}"),
            "{message}"
        );
        assert!(
            lines[1].starts_with("step 1 (line 10): send: unknown variable {door.id}"),
            "{message}"
        );
    }

    #[test]
    fn mistakes_are_named_with_step_and_line() {
        let bad_actor = "[actors.a]\n[[steps]]\nactor = \"b\"\nsend = {}\n";
        let message = error(bad_actor);
        assert!(message.starts_with("step 1 (line 2): "), "{message}");
        assert!(message.contains("no actor \"b\""), "{message}");

        let two_checks = "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\nexpect_none = {}\n";
        assert!(error(two_checks).contains("only one of expect"));
        let nothing = "[actors.a]\n[[steps]]\nactor = \"a\"\n";
        assert!(error(nothing).contains("and/or"));

        let stray = "[actors.a]\n[[steps]]\nactor = \"a\"\nsend = {}\ncapture = { x = \"/a\" }\n";
        assert!(error(stray).contains("capture goes with expect"));

        let pointer =
            "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\ncapture = { x = \"a\" }\n";
        assert!(error(pointer).contains("JSON Pointer"));

        let unknown_key = "[actors.a]\n[[steps]]\nactor = \"a\"\nsent = {}\n";
        assert!(error(unknown_key).contains("sent"));

        assert!(error("").contains("at least one actor"));
        assert!(error("[vars]\nalice = 1\n[actors.alice]\n").contains("[vars] \"alice\""));
        assert!(error("[actors.a]\nsame_as = \"zed\"\n").contains("no actor \"zed\""));
        let huge_wait =
            "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\ntimeout_ms = 999999999\n";
        assert!(error(huge_wait).contains("timeout_ms must be"));
    }
}
