//! `chat check` end to end (issue 19): directories, `--filter`, every mistake of an invalid
//! script at once, JUnit without a server, `--jobs`, `--trace` and `cleanup`, with the real
//! binary against a real server.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chat_e2e::cli::{Run, User, nowhere, workspace_root};
use chat_e2e::{Person, TestServer, credentials, post_json, unique_name};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::{Value, json};

/// A script of one actor and one step that passes.
fn passing(name: &str) -> String {
    format!(
        "name = \"{name}\"\n[actors.a]\n\n[[steps]]\nactor = \"a\"\nsend = {{ type = \"chat.get_conversations\" }}\nexpect = \"chat.conversations\"\n"
    )
}

/// A server, a user of it, and `files` (name, text) written into the user's `scripts/`.
async fn with_scripts(files: &[(&str, &str)]) -> (TestServer, User, PathBuf) {
    let server = TestServer::start().await;
    let user = User::new(&server);
    let dir = script_dir(&user, "scripts", files);
    (server, user, dir)
}

/// Writes `files` (name, text) into a new directory inside `user`'s config directory.
fn script_dir(user: &User, dir: &str, files: &[(&str, &str)]) -> PathBuf {
    let path = user.config.path().join(dir);
    std::fs::create_dir_all(&path).expect("mkdir");
    for (name, text) in files {
        std::fs::write(path.join(name), text).expect("write script");
    }
    path
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// The script header lines (`PATH: NAME (run …)`) of a text report, in order.
fn headers(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.contains(" (run chk"))
        .map(|l| l.split(": ").next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_means_its_toml_files_in_name_order() {
    let (_server, user, dir) = with_scripts(&[
        ("b.toml", &passing("second")),
        ("a.toml", &passing("first")),
        ("notes.txt", "not a script"),
    ])
    .await;
    std::fs::create_dir_all(dir.join("nested")).expect("mkdir");
    std::fs::write(dir.join("nested/c.toml"), passing("nested")).expect("write");

    let run = user.chat(&["check", &arg(&dir)], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        headers(&run),
        vec![arg(&dir.join("a.toml")), arg(&dir.join("b.toml"))],
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("check: 2 passed, 0 failed"), "{run:?}");

    // A file and a directory together, in the order given.
    let single = script_dir(&user, "single", &[("z.toml", &passing("zed"))]);
    let run = user
        .chat(&["check", &arg(&single.join("z.toml")), &arg(&dir)], "")
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(headers(&run).len(), 3, "{}", run.stdout);
    assert!(headers(&run)[0].ends_with("z.toml"), "{}", run.stdout);

    let empty = script_dir(&user, "empty", &[("readme.md", "nothing")]);
    let run = user.chat(&["check", &arg(&empty)], "").await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no *.toml script in the directory"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_runs_only_scripts_whose_path_or_name_contains_the_text() {
    let (_server, user, dir) = with_scripts(&[
        ("one.toml", &passing("Searching users")),
        ("two.toml", &passing("Typing")),
        ("three.toml", &passing("Typing again")),
    ])
    .await;

    let by_name = user
        .chat(&["check", &arg(&dir), "--filter", "Typing"], "")
        .await;
    assert_eq!(by_name.code, 0, "{by_name:?}");
    assert_eq!(
        headers(&by_name),
        vec![arg(&dir.join("three.toml")), arg(&dir.join("two.toml"))],
        "{}",
        by_name.stdout
    );
    assert!(by_name.stdout.contains("check: 2 passed, 0 failed"));

    let by_path = user
        .chat(&["check", &arg(&dir), "--filter", "one.t"], "")
        .await;
    assert_eq!(by_path.code, 0, "{by_path:?}");
    assert_eq!(headers(&by_path), vec![arg(&dir.join("one.toml"))]);

    // Plain text, case-sensitive: no match is a usage error, not an empty success.
    let none = user
        .chat(&["check", &arg(&dir), "--filter", "typing*"], "")
        .await;
    assert_eq!(none.code, 2, "{none:?}");
    assert!(
        none.stderr
            .contains("no script matches --filter \"typing*\" (of 3)"),
        "{none:?}"
    );
}

/// Three mistakes: a wait of 0 ms, an unknown key, and a variable nothing defines.
const THREE_MISTAKES: &str = r#"name = "three mistakes"
[actors.alice]
username = "USERNAME"

[[steps]]
actor = "alice"
expect = "chat.conversations"
timeout_ms = 0

[[steps]]
actor = "alice"
send = { type = "chat.get_conversations" }
expect_nothing = "chat.typing"

[[steps]]
actor = "alice"
expect = { type = "chat.messages", conversation_id = "{conv}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_script_reports_every_mistake_at_once_and_nothing_runs() {
    let name = unique_name("never");
    let other = unique_name("never");
    let (server, user, dir) = with_scripts(&[
        ("bad.toml", &THREE_MISTAKES.replace("USERNAME", &name)),
        (
            "good.toml",
            &passing("good").replace("[actors.a]", &format!("[actors.a]\nusername = \"{other}\"")),
        ),
    ])
    .await;
    let bad = arg(&dir.join("bad.toml"));
    let junit = user.config.path().join("junit.xml");

    let run = user
        .chat(&["check", &arg(&dir), "--junit", &arg(&junit)], "")
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    let out = &run.stdout;
    for mistake in [
        "ERROR step 1 (line 5): timeout_ms must be between 1 and 120000 ms, not 0",
        "ERROR step 2 (line 10): unknown field `expect_nothing`",
        "ERROR step 3 (line 15): expect: unknown variable {conv} (known here: alice.id, alice.username, run;",
    ] {
        assert!(out.contains(mistake), "missing {mistake:?} in:\n{out}");
    }
    assert!(
        out.contains(&format!(
            "FAIL {bad}: the script is not valid (3 mistake(s))"
        )),
        "{out}"
    );
    assert!(out.contains("check: not run: 1 script(s) are not valid, nothing was run"));
    assert!(!out.contains("  ok "), "nothing may run:\n{out}");
    // Neither script registered its account: both names are still free.
    for free in [&name, &other] {
        let response = post_json(
            &server,
            "/api/register/",
            &credentials(free, "a-long-password"),
        )
        .await;
        assert_eq!(
            response.status(),
            201,
            "{free} was registered by an invalid run"
        );
    }

    let report = junit_report(&junit);
    let cases = cases(&report);
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert_eq!(cases[0].1, "parse");
    assert!(
        cases[0].2.contains("timeout_ms must be") && cases[0].2.contains("{conv}"),
        "{cases:?}"
    );
    assert!(
        cases[1].2.contains("not run: 1 script(s) are not valid"),
        "{cases:?}"
    );

    let json = user.chat(&["--json", "check", &bad], "").await;
    assert_eq!(json.code, 2, "{json:?}");
    let problems = &json.json()["files"][0]["problems"];
    assert_eq!(problems.as_array().map(Vec::len), Some(3), "{problems}");
    assert_eq!(
        problems[2],
        json!({"step": 3, "line": 15, "message": problems[2]["message"]})
    );
}

/// The JUnit file at `path`, parsed.
fn junit_report(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("junit file");
    Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("not JUnit ({e}): {xml}"))
}

/// Every test case: (suite, name, what it says when not a success: "error: …", "failure: …").
fn cases(report: &Report) -> Vec<(String, String, String)> {
    report
        .test_suites
        .iter()
        .flat_map(|suite| {
            suite.test_cases.iter().map(|case| {
                let status = match &case.status {
                    TestCaseStatus::Success { .. } => "success".to_owned(),
                    TestCaseStatus::Skipped { .. } => "skipped".to_owned(),
                    TestCaseStatus::NonSuccess { kind, message, .. } => {
                        let kind = match kind {
                            NonSuccessKind::Error => "error",
                            NonSuccessKind::Failure => "failure",
                        };
                        format!("{kind}: {}", message.as_deref().unwrap_or_default())
                    }
                };
                (suite.name.to_string(), case.name.to_string(), status)
            })
        })
        .collect()
}

/// The example scripts, sorted, and how many steps they have together.
fn examples() -> (PathBuf, usize, usize) {
    let dir = workspace_root().join("examples/checks");
    let mut scripts = 0;
    let mut steps = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/checks") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            scripts += 1;
            let text = std::fs::read_to_string(&path).expect("read");
            steps += text.lines().filter(|l| l.trim() == "[[steps]]").count();
        }
    }
    (dir, scripts, steps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_the_junit_report_has_every_step_as_an_error_with_the_reason() {
    let user = User::at(nowhere());
    let (dir, scripts, steps) = examples();
    let junit = user.config.path().join("junit.xml");

    let run = user
        .chat(&["check", &arg(&dir), "--junit", &arg(&junit)], "")
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot reach the server"), "{run:?}");

    let report = junit_report(&junit);
    assert_eq!(report.test_suites.len(), scripts);
    let cases = cases(&report);
    assert_eq!(cases.len(), steps, "one test case per step");
    for (suite, name, status) in &cases {
        assert!(
            status.starts_with("error: not run: cannot reach the server at http://127.0.0.1:"),
            "{suite} / {name}: {status}"
        );
    }
    assert_eq!(report.errors, steps);
}

/// What must not differ between two runs: times and run ids taken out.
fn normalised(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut line = line.to_owned();
            if let Some(start) = line.find(" (run chk") {
                line.truncate(start);
            }
            if let Some(start) = line.rfind(" ms)") {
                let open = line[..start].rfind('(').unwrap_or(start);
                line.replace_range(open..start + 4, "(N ms)");
            }
            if let Some(start) = line.find(" steps in ") {
                line.truncate(start);
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_4_reports_exactly_what_jobs_1_does() {
    let server = TestServer::start().await;
    let user = User::new(&server);
    let (dir, scripts, _) = examples();
    let mut outcomes = Vec::new();
    for jobs in ["1", "4"] {
        let junit = user.config.path().join(format!("junit-{jobs}.xml"));
        let started = Instant::now();
        let run = user
            .chat(
                &["check", &arg(&dir), "--jobs", jobs, "--junit", &arg(&junit)],
                "",
            )
            .await;
        eprintln!("--jobs {jobs}: {:?}", started.elapsed());
        assert_eq!(run.code, 0, "--jobs {jobs}: {run:?}");
        assert!(
            run.stdout
                .ends_with(&format!("check: {scripts} passed, 0 failed\n")),
            "{}",
            run.stdout
        );
        outcomes.push((normalised(&run.stdout), cases(&junit_report(&junit))));
    }
    assert_eq!(outcomes[0].0, outcomes[1].0, "the text reports differ");
    assert_eq!(outcomes[0].1, outcomes[1].1, "the JUnit reports differ");
}

const TYPING: &str = r#"
[actors.alice]
[actors.bob]

[[steps]]
actor = "alice"
send = { type = "chat.start_conversation", receiver_id = "{bob.id}" }
expect = "chat.conversation_started"

[[steps]]
actor = "alice"
send = { type = "chat.typing", receiver_id = "{bob.id}", is_typing = true }

[[steps]]
actor = "bob"
expect = { type = "chat.typing", sender_id = "{alice.id}", is_typing = true }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_shows_each_frame_sent_and_received_with_its_actor_and_time() {
    let (_server, user, dir) = with_scripts(&[("typing.toml", TYPING)]).await;
    let script = arg(&dir.join("typing.toml"));

    let run = user.chat(&["check", &script, "--trace"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    // A line of ACTOR with ARROW and a frame of type KIND (sent frames have their keys sorted).
    let find = |actor: &str, arrow: &str, kind: &str| {
        let head = format!(" {script} {actor} {arrow} {{");
        let kind = format!(r#""type":"{kind}""#);
        lines
            .iter()
            .find(|l| l.contains(&head) && l.contains(&kind))
            .unwrap_or_else(|| panic!("no {head} {kind} in:\n{}", run.stderr))
            .to_string()
    };
    let sent = find("alice", ">", "chat.typing");
    let received = find("bob", "<", "chat.typing");
    find("bob", ">", "chat.search_user");
    for line in [&sent, &received] {
        // 2026-01-02T03:04:05.678Z FILE ACTOR …
        let time = line.split(' ').next().unwrap_or_default();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{line}"
        );
    }
    assert!(received.contains(r#""is_typing":true"#), "{received}");
    // The report itself stays on standard output, without frames.
    assert!(run.stdout.contains("PASS "), "{run:?}");
    assert!(!run.stdout.contains(r#"{"type""#), "{run:?}");

    let quiet = user.chat(&["check", &script], "").await;
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(!quiet.stderr.contains("chat.typing"), "{quiet:?}");
}

/// Everyone's accounts are deleted at the end, though step 2 fails.
const CLEANUP_ALL: &str = r#"
cleanup = true
[actors.alice]
[actors.alice_phone]
same_as = "alice"
[actors.bob]

[[steps]]
actor = "alice"
send = { type = "chat.start_conversation", receiver_id = "{bob.id}" }
expect = "chat.conversation_started"

[[steps]]
actor = "bob"
expect = "chat.never"
timeout_ms = 200
"#;

/// Only carol's account is deleted.
const CLEANUP_ONE: &str = r#"
[actors.carol]
cleanup = true
[actors.dave]

[[steps]]
actor = "carol"
send = { type = "chat.get_conversations" }
expect = "chat.conversations"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_the_accounts_the_run_registered_even_when_it_fails() {
    let (server, user, dir) =
        with_scripts(&[("all.toml", CLEANUP_ALL), ("one.toml", CLEANUP_ONE)]).await;

    let run = user.chat(&["--json", "check", &arg(&dir)], "").await;
    assert_eq!(run.code, 1, "step 2 of all.toml fails: {run:?}");
    let report = run.json();
    let files = report["files"].as_array().expect("files");
    assert_eq!(files[0]["steps"][1]["status"], "failed", "{report}");
    assert_eq!(files[0]["cleanup_error"], Value::Null, "{report}");
    assert_eq!(files[1]["passed"], true, "{report}");
    let run_of = |i: usize| files[i]["run"].as_str().expect("run").to_owned();
    let (all, one) = (run_of(0), run_of(1));
    assert!(all.starts_with("chk") && one.starts_with("chk"), "{report}");

    let logs_in = |name: String, run: String| {
        let server = &server;
        async move {
            let password = format!("pw-{run}-check");
            let status = post_json(server, "/api/token/", &credentials(&name, &password))
                .await
                .status();
            (name, status.as_u16())
        }
    };
    for (name, status) in [
        logs_in(format!("{all}_alice"), all.clone()).await,
        logs_in(format!("{all}_bob"), all.clone()).await,
        logs_in(format!("{one}_carol"), one.clone()).await,
    ] {
        assert_eq!(status, 401, "{name} can still log in");
    }
    let (dave, status) = logs_in(format!("{one}_dave"), one.clone()).await;
    assert_eq!(status, 200, "{dave} was not to be deleted");

    // Search finds none of the deleted accounts, and still finds dave.
    let searcher = Person::new(&server, "searcher").await;
    let mut ws = searcher.connect(&server).await;
    for (keyword, expected) in [(all.clone(), vec![]), (one.clone(), vec![dave.clone()])] {
        ws.send_raw(&json!({"type": "chat.search_user", "keyword": keyword}).to_string())
            .await;
        let results = loop {
            let frame = ws.recv_json().await;
            if frame["type"] == "chat.search_results" {
                break frame["results"].clone();
            }
        };
        let names: Vec<String> = results
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["username"].as_str().expect("username").to_owned())
            .collect();
        assert_eq!(names, expected, "search for {keyword}");
    }
}
