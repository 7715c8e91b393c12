//! `chat check FILE...`: runs protocol check scripts and reports as text, JSON or JUnit XML.
//!
//! The format is documented in `docs/cli.md` and in [`script`].

mod pattern;
pub mod runner;
pub mod script;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

use self::runner::{Outcome as StepOutcome, ScriptReport};
use super::Outcome;
use crate::api::Api;

/// One file's result: the parsed name, or why it could not be read or parsed.
struct FileReport {
    path: PathBuf,
    name: String,
    run: String,
    result: Result<ScriptReport, String>,
}

impl FileReport {
    fn passed(&self) -> bool {
        self.result.as_ref().is_ok_and(ScriptReport::passed)
    }
}

/// A value unique to this invocation, so scripts can register fresh users on every run.
fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{millis:x}{:x}", std::process::id())
}

/// Runs every file in order, prints the report, and writes JUnit XML when asked.
pub async fn run_files(
    api: &Api,
    files: &[PathBuf],
    junit: Option<&Path>,
    json: bool,
) -> anyhow::Result<Outcome> {
    // No server is a connection error (exit 2), not a failed check.
    api.reachable().await?;
    let base = run_id();
    let mut reports = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        let run = format!("{base}x{i}");
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| script::parse(&text).map_err(|e| format!("{}: {e}", path.display())));
        let report = match parsed {
            Err(e) => FileReport {
                path: path.clone(),
                name: path.display().to_string(),
                run,
                result: Err(e),
            },
            Ok(script) => {
                let name = script
                    .name
                    .clone()
                    .unwrap_or_else(|| path.display().to_string());
                let result = runner::run(api, &script, &run).await;
                FileReport {
                    path: path.clone(),
                    name,
                    run,
                    result: Ok(result),
                }
            }
        };
        if !json {
            print_text(&report);
        }
        reports.push(report);
    }
    let passed = reports.iter().filter(|r| r.passed()).count();
    let failed = reports.len() - passed;
    if json {
        super::print_json(&json_report(&reports))?;
    } else {
        println!("check: {passed} passed, {failed} failed");
    }
    if let Some(junit) = junit {
        let xml = junit_report(&reports)
            .to_string()
            .context("cannot build the JUnit report")?;
        std::fs::write(junit, xml).with_context(|| format!("cannot write {}", junit.display()))?;
    }
    Ok(if reports.iter().any(|r| r.result.is_err()) {
        Outcome::InvalidScript
    } else if failed == 0 {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn print_text(report: &FileReport) {
    let path = report.path.display();
    println!("{path}: {} (run {})", report.name, report.run);
    let script = match &report.result {
        Err(e) => {
            println!("  ERROR {e}");
            println!("FAIL {path}: the script is not valid\n");
            return;
        }
        Ok(script) => script,
    };
    if let Some(e) = &script.setup_error {
        println!("  ERROR setting up actors: {e}");
    }
    let mut failure = None;
    for step in &script.steps {
        match &step.outcome {
            StepOutcome::Passed => println!(
                "  ok    {:>3} {} ({} ms)",
                step.number,
                step.title,
                step.elapsed.as_millis()
            ),
            StepOutcome::Skipped => println!("  skip  {:>3} {}", step.number, step.title),
            StepOutcome::Failed(message) => {
                println!(
                    "  FAIL  {:>3} {} ({path}:{})",
                    step.number, step.title, step.line
                );
                println!("{}", indent(message, "          "));
                failure = Some(step);
            }
        }
    }
    match (failure, &script.setup_error) {
        (Some(step), _) => println!(
            "FAIL {path}: step {} of {} (line {}) \"{}\" failed\n",
            step.number,
            script.steps.len(),
            step.line,
            step.title
        ),
        (None, Some(_)) => println!("FAIL {path}: setup failed\n"),
        (None, None) => println!(
            "PASS {path}: {} steps in {} ms\n",
            script.steps.len(),
            script.elapsed.as_millis()
        ),
    }
}

fn json_report(reports: &[FileReport]) -> serde_json::Value {
    let files: Vec<_> = reports
        .iter()
        .map(|report| {
            let mut file = json!({
                "file": report.path.display().to_string(),
                "name": report.name,
                "run": report.run,
                "passed": report.passed(),
            });
            match &report.result {
                Err(e) => file["error"] = json!(e),
                Ok(script) => {
                    file["setup_error"] = json!(script.setup_error);
                    file["elapsed_ms"] = json!(script.elapsed.as_millis() as u64);
                    file["steps"] = script
                        .steps
                        .iter()
                        .map(|s| {
                            let (status, message) = match &s.outcome {
                                StepOutcome::Passed => ("passed", None),
                                StepOutcome::Skipped => ("skipped", None),
                                StepOutcome::Failed(m) => ("failed", Some(m.as_str())),
                            };
                            json!({
                                "step": s.number,
                                "line": s.line,
                                "title": s.title,
                                "status": status,
                                "message": message,
                                "elapsed_ms": s.elapsed.as_millis() as u64,
                            })
                        })
                        .collect();
                }
            }
            file
        })
        .collect();
    let passed = reports.iter().filter(|r| r.passed()).count();
    json!({ "passed": passed, "failed": reports.len() - passed, "files": files })
}

fn junit_report(reports: &[FileReport]) -> Report {
    let mut report = Report::new("chat check");
    for file in reports {
        let path = file.path.display().to_string();
        let mut suite = TestSuite::new(file.name.as_str());
        match &file.result {
            Err(e) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(e.as_str());
                let mut case = TestCase::new("parse", status);
                case.set_classname(path.as_str());
                suite.add_test_case(case);
            }
            Ok(script) => {
                suite.set_time(script.elapsed);
                if let Some(e) = &script.setup_error {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status.set_message(e.as_str());
                    let mut case = TestCase::new("setup", status);
                    case.set_classname(path.as_str());
                    suite.add_test_case(case);
                }
                for step in &script.steps {
                    let status = match &step.outcome {
                        StepOutcome::Passed => TestCaseStatus::success(),
                        StepOutcome::Skipped => TestCaseStatus::skipped(),
                        StepOutcome::Failed(message) => {
                            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                            status
                                .set_message(format!(
                                    "step {} (line {}): {}",
                                    step.number,
                                    step.line,
                                    message.lines().next().unwrap_or_default()
                                ))
                                .set_description(format!("{path}:{}\n{message}", step.line));
                            status
                        }
                    };
                    let mut case = TestCase::new(
                        format!("{:03} {}", step.number, step.title).as_str(),
                        status,
                    );
                    case.set_classname(path.as_str()).set_time(step.elapsed);
                    suite.add_test_case(case);
                }
            }
        }
        report.add_test_suite(suite);
    }
    report
}
