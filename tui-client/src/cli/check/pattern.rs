//! Check-script values: `{name}` placeholders filled from variables, and partial JSON patterns.
//!
//! A placeholder is `{` + a name of letters, digits, `_` and `.` + `}`; any other brace is plain
//! text, so raw JSON in a string stays as written. `{{` and `}}` are a literal `{` and `}`. A
//! string that is exactly one placeholder becomes the variable's JSON value (a number stays a
//! number); inside longer text the value is written as text. The string `{*}` in a pattern
//! matches any value, and `{null}` is JSON `null` (which TOML cannot write).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Variables of one script run: `run`, `<actor>.id`, `<actor>.username`, and captures.
pub type Vars = BTreeMap<String, Value>;

/// The pattern string that matches any value.
pub const ANY: &str = "{*}";
/// The string that stands for JSON `null`.
pub const NULL: &str = "{null}";

/// Fills placeholders in every string of `value` (object keys stay as written).
pub fn fill(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => fill_string(text, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                out.insert(key.clone(), fill(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Fills placeholders in one string: a lone placeholder keeps the variable's type.
pub fn fill_string(text: &str, vars: &Vars) -> Result<Value, String> {
    if text == ANY {
        return Ok(Value::String(text.to_owned()));
    }
    if text == NULL {
        return Ok(Value::Null);
    }
    let pieces = split(text);
    if let [Piece::Var(name)] = pieces.as_slice() {
        return lookup(name, vars).cloned();
    }
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Var(name) => match lookup(&name, vars)? {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(Value::String(out))
}

/// The variable names `value` refers to, in order, as [`fill`] would look them up.
pub fn references(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_references(value, &mut names);
    names
}

fn collect_references(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::String(text) => names.extend(string_references(text)),
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, names)),
        Value::Object(map) => map.values().for_each(|v| collect_references(v, names)),
        _ => {}
    }
}

/// The variable names one string refers to, as [`fill_string`] would look them up.
pub fn string_references(text: &str) -> Vec<String> {
    if text == ANY || text == NULL {
        return Vec::new();
    }
    split(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Var(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect()
}

fn lookup<'a>(name: &str, vars: &'a Vars) -> Result<&'a Value, String> {
    vars.get(name).ok_or_else(|| {
        let known: Vec<&str> = vars.keys().map(String::as_str).collect();
        format!(
            "unknown variable {{{name}}} (known: {}; write {{{{ for a literal brace)",
            known.join(", ")
        )
    })
}

enum Piece {
    Text(String),
    Var(String),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn split(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("}}") {
            literal.push(c);
            rest = &rest[2..];
            continue;
        }
        if c == '{'
            && let Some(end) = rest[1..].find(|ch: char| !is_name_char(ch))
            && end > 0
            && rest[1 + end..].starts_with('}')
        {
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Var(rest[1..1 + end].to_owned()));
            rest = &rest[end + 2..];
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    pieces
}

/// A frame or pattern as one line of JSON with its `type` first, as people read frames.
pub fn show(value: &Value) -> String {
    match value {
        Value::Object(map) if map.contains_key("type") => {
            let mut parts = vec![format!("\"type\":{}", map["type"])];
            for (key, v) in map.iter().filter(|(k, _)| *k != "type") {
                parts.push(format!("{}:{v}", Value::String(key.clone())));
            }
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Why `actual` does not match `pattern`: the JSON Pointer of the first difference and what
/// differs; `None` when it matches.
///
/// Objects match when every key of the pattern is present and matches (other keys are
/// ignored); arrays match element by element and must have the same length; numbers compare by
/// value (`1` equals `1.0`); everything else must be equal.
pub fn mismatch(pattern: &Value, actual: &Value) -> Option<String> {
    mismatch_at(pattern, actual, &mut String::new())
}

fn mismatch_at(pattern: &Value, actual: &Value, path: &mut String) -> Option<String> {
    let here = |path: &str| {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    };
    match (pattern, actual) {
        (Value::String(s), _) if s == ANY => None,
        (Value::Object(want), Value::Object(got)) => {
            for (key, want_value) in want {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let found = match got.get(key) {
                    None => Some(format!("{}: missing", here(path))),
                    Some(got_value) => mismatch_at(want_value, got_value, path),
                };
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return Some(format!(
                    "{}: expected {} item(s), got {}",
                    here(path),
                    want.len(),
                    got.len()
                ));
            }
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let found = mismatch_at(w, g, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => None,
        (w, g) if w == g => None,
        (w, g) => Some(format!("{}: expected {w}, got {g}", here(path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut vars = Vars::new();
        vars.insert("run".into(), json!("r1"));
        vars.insert("bob.id".into(), json!(7));
        vars.insert("bob.username".into(), json!("bob_r1"));
        vars
    }

    #[test]
    fn a_lone_placeholder_keeps_its_type_and_text_interpolates() {
        let filled = fill(
            &json!({"receiver_id": "{bob.id}", "content": "hi {bob.username} #{bob.id}"}),
            &vars(),
        )
        .unwrap();
        assert_eq!(filled, json!({"receiver_id": 7, "content": "hi bob_r1 #7"}));
    }

    #[test]
    fn braces_that_are_not_placeholders_stay_as_written() {
        let raw = r#"{"type": "chat.message", "content": {bad"#;
        assert_eq!(fill_string(raw, &vars()).unwrap(), json!(raw));
        assert_eq!(fill_string("{{run}}", &vars()).unwrap(), json!("{run}"));
        assert_eq!(fill_string("{*}", &vars()).unwrap(), json!("{*}"));
        assert_eq!(fill_string("{}", &vars()).unwrap(), json!("{}"));
        assert_eq!(fill_string("{null}", &vars()).unwrap(), Value::Null);
        assert_eq!(
            mismatch(&json!({"a": null}), &json!({"a": 0})).unwrap(),
            "/a: expected null, got 0"
        );
    }

    #[test]
    fn an_unknown_variable_is_an_error_that_lists_the_known_ones() {
        let error = fill_string("{conv}", &vars()).unwrap_err();
        assert!(
            error.contains("{conv}") && error.contains("bob.id"),
            "{error}"
        );
    }

    #[test]
    fn references_are_the_names_fill_would_look_up() {
        let value = json!({"a": ["{x}", "hi {y.id} {{z}}"], "b": "{*}", "c": "{null}", "d": 1});
        assert_eq!(references(&value), vec!["x", "y.id"]);
        assert_eq!(string_references("{run}-{run}"), vec!["run", "run"]);
        assert!(string_references(r#"{"type": 1"#).is_empty());
    }

    #[test]
    fn frames_show_their_type_first() {
        let frame = json!({"a": 1, "type": "chat.read", "z": [true]});
        assert_eq!(show(&frame), r#"{"type":"chat.read","a":1,"z":[true]}"#);
        assert_eq!(show(&json!([1])), "[1]");
    }

    #[test]
    fn patterns_are_partial_for_objects_and_exact_for_arrays() {
        let frame =
            json!({"type": "chat.search_results", "results": [{"id": 7, "username": "bob"}]});
        assert_eq!(
            mismatch(&json!({"type": "chat.search_results"}), &frame),
            None
        );
        assert_eq!(
            mismatch(&json!({"results": [{"id": 7.0}]}), &frame),
            None,
            "numbers compare by value"
        );
        assert_eq!(
            mismatch(&json!({"results": []}), &frame).unwrap(),
            "/results: expected 0 item(s), got 1"
        );
        assert_eq!(
            mismatch(&json!({"results": [{"username": "eve"}]}), &frame).unwrap(),
            r#"/results/0/username: expected "eve", got "bob""#
        );
        assert_eq!(
            mismatch(&json!({"code": "x"}), &frame).unwrap(),
            "/code: missing"
        );
        assert_eq!(mismatch(&json!({"results": "{*}"}), &frame), None);
        assert_eq!(
            mismatch(&json!({"results": {"id": 7}}), &frame).unwrap(),
            r#"/results: expected {"id":7}, got [{"id":7,"username":"bob"}]"#
        );
    }
}
