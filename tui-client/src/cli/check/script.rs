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

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    name: Option<String>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    vars: BTreeMap<String, Value>,
    #[serde(default)]
    actors: BTreeMap<String, RawActor>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    username: Option<String>,
    password: Option<String>,
    register: Option<bool>,
    same_as: Option<String>,
    token: Option<String>,
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

/// Parses and checks a script; errors name the line.
pub fn parse(text: &str) -> Result<Script, String> {
    let raw: RawScript = toml::from_str(text).map_err(|e| e.to_string())?;
    let default_timeout = wait(raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS), "timeout_ms")?;
    if raw.actors.is_empty() {
        return Err("a script needs at least one actor ([actors.NAME])".to_owned());
    }
    if raw.steps.len() > MAX_STEPS {
        return Err(format!("more than {MAX_STEPS} steps"));
    }
    let mut actors = Vec::new();
    for (name, actor) in &raw.actors {
        if !is_name(name) {
            return Err(format!(
                "actor name {name:?}: use letters, digits and _ only"
            ));
        }
        actors.push(Actor {
            name: name.clone(),
            login: parse_login(name, actor, &raw.actors)?,
        });
    }
    for name in raw.vars.keys() {
        if !is_name(name) || name == "run" || name == "null" || raw.actors.contains_key(name) {
            return Err(format!(
                "[vars] {name:?}: use letters, digits and _ only, not run, null or an actor's name"
            ));
        }
    }
    let mut steps = Vec::new();
    for (i, spanned) in raw.steps.iter().enumerate() {
        let line = step_line(text, spanned.span().start);
        let number = i + 1;
        let (send, check) = parse_step(spanned.get_ref(), &raw.actors, default_timeout)
            .map_err(|e| format!("step {number} (line {line}): {e}"))?;
        steps.push(Step {
            number,
            line,
            name: spanned.get_ref().name.clone(),
            actor: spanned.get_ref().actor.clone(),
            send,
            check,
        });
    }
    Ok(Script {
        name: raw.name,
        vars: raw.vars.into_iter().collect(),
        actors,
        steps,
    })
}

/// The 1-based line of byte `start`; for a table in `[[steps]]` that is its header's line.
fn step_line(text: &str, start: usize) -> usize {
    text[..start.min(text.len())].matches('\n').count() + 1
}

fn parse_login(
    name: &str,
    actor: &RawActor,
    all: &BTreeMap<String, RawActor>,
) -> Result<Login, String> {
    let account_fields =
        actor.username.is_some() || actor.password.is_some() || actor.register.is_some();
    match (&actor.same_as, &actor.token) {
        (Some(_), Some(_)) => Err(format!(
            "actor {name}: same_as and token exclude each other"
        )),
        (Some(other), None) => {
            if account_fields {
                return Err(format!(
                    "actor {name}: same_as takes the other actor's account; drop username, password and register"
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
                    "actor {name}: token replaces the login; drop username, password and register"
                ));
            }
            Ok(Login::Token(token.clone()))
        }
        (None, None) => Ok(Login::Account {
            username: actor
                .username
                .clone()
                .unwrap_or_else(|| format!("{name}_{{run}}")),
            password: actor
                .password
                .clone()
                .unwrap_or_else(|| "pw-{run}-check".to_owned()),
            register: actor.register.unwrap_or(true),
        }),
    }
}

fn parse_step(
    step: &RawStep,
    actors: &BTreeMap<String, RawActor>,
    default_timeout: Duration,
) -> Result<(Option<Outgoing>, Option<Check>), String> {
    if !actors.contains_key(&step.actor) {
        let known: Vec<&str> = actors.keys().map(String::as_str).collect();
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
            if actors.contains_key(name) {
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
                username: "alice_{run}".into(),
                password: "pw-{run}-check".into(),
                register: true
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

    #[test]
    fn mistakes_are_named_with_step_and_line() {
        let bad_actor = "[actors.a]\n[[steps]]\nactor = \"b\"\nsend = {}\n";
        let error = parse(bad_actor).unwrap_err();
        assert!(error.starts_with("step 1 (line "), "{error}");
        assert!(error.contains("no actor \"b\""), "{error}");

        let two_checks = "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\nexpect_none = {}\n";
        assert!(
            parse(two_checks)
                .unwrap_err()
                .contains("only one of expect")
        );
        let nothing = "[actors.a]\n[[steps]]\nactor = \"a\"\n";
        assert!(parse(nothing).unwrap_err().contains("and/or"));

        let stray = "[actors.a]\n[[steps]]\nactor = \"a\"\nsend = {}\ncapture = { x = \"/a\" }\n";
        assert!(
            parse(stray)
                .unwrap_err()
                .contains("capture goes with expect")
        );

        let pointer =
            "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\ncapture = { x = \"a\" }\n";
        assert!(parse(pointer).unwrap_err().contains("JSON Pointer"));

        let unknown_key = "[actors.a]\n[[steps]]\nactor = \"a\"\nsent = {}\n";
        assert!(parse(unknown_key).unwrap_err().contains("sent"));

        assert!(parse("").unwrap_err().contains("at least one actor"));
        assert!(
            parse("[vars]\nalice = 1\n[actors.alice]\n")
                .unwrap_err()
                .contains("[vars] \"alice\"")
        );
        assert!(
            parse("[actors.a]\nsame_as = \"zed\"\n")
                .unwrap_err()
                .contains("no actor \"zed\"")
        );
        let huge_wait =
            "[actors.a]\n[[steps]]\nactor = \"a\"\nexpect = {}\ntimeout_ms = 999999999\n";
        assert!(parse(huge_wait).unwrap_err().contains("timeout_ms must be"));
    }
}
