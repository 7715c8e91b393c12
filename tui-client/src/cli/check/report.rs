//! How `chat check` reports a script: text (one block per script), JSON, and JUnit XML.

use std::fmt::Write as _;
use std::path::PathBuf;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

use super::runner::{Outcome as StepOutcome, ScriptReport};
use super::script::Problem;

/// One script file's result.
pub struct FileReport {
    pub path: PathBuf,
    /// Its `name`, else its path.
    pub name: String,
    pub run: String,
    pub verdict: Verdict,
}

/// What became of a script.
pub enum Verdict {
    /// It cannot be read or is not valid: every mistake found.
    Invalid(Vec<Problem>),
    /// It is valid but was not run (no server, or another script is invalid): why, and its
    /// steps' numbers and titles.
    NotRun {
        reason: String,
        steps: Vec<(usize, String)>,
    },
    Ran(ScriptReport),
}

impl FileReport {
    pub fn passed(&self) -> bool {
        matches!(&self.verdict, Verdict::Ran(script) if script.passed())
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

/// The text report of one script: a header, one line per step, details under a failure.
pub fn text(report: &FileReport) -> String {
    let path = report.path.display();
    let mut out = format!("{path}: {} (run {})\n", report.name, report.run);
    let script = match &report.verdict {
        Verdict::Invalid(problems) => {
            for problem in problems {
                let _ = writeln!(out, "  ERROR {problem}");
            }
            let _ = writeln!(
                out,
                "FAIL {path}: the script is not valid ({} mistake(s))\n",
                problems.len()
            );
            return out;
        }
        Verdict::NotRun { reason, .. } => {
            let _ = writeln!(out, "  ERROR {reason}\n");
            return out;
        }
        Verdict::Ran(script) => script,
    };
    if let Some(e) = &script.setup_error {
        let _ = writeln!(out, "  ERROR setting up actors: {e}");
    }
    let mut failure = None;
    for step in &script.steps {
        let _ = match &step.outcome {
            StepOutcome::Passed => writeln!(
                out,
                "  ok    {:>3} {} ({} ms)",
                step.number,
                step.title,
                step.elapsed.as_millis()
            ),
            StepOutcome::Skipped => writeln!(out, "  skip  {:>3} {}", step.number, step.title),
            StepOutcome::Failed(message) => {
                failure = Some(step);
                writeln!(
                    out,
                    "  FAIL  {:>3} {} ({path}:{})\n{}",
                    step.number,
                    step.title,
                    step.line,
                    indent(message, "          ").trim_end()
                )
            }
        };
    }
    if let Some(e) = &script.cleanup_error {
        let _ = writeln!(out, "  ERROR cleaning up: {e}");
    }
    let _ = match (failure, &script.setup_error, &script.cleanup_error) {
        (Some(step), _, _) => writeln!(
            out,
            "FAIL {path}: step {} of {} (line {}) \"{}\" failed\n",
            step.number,
            script.steps.len(),
            step.line,
            step.title
        ),
        (None, Some(_), _) => writeln!(out, "FAIL {path}: setup failed\n"),
        (None, None, Some(_)) => writeln!(out, "FAIL {path}: cleanup failed\n"),
        (None, None, None) => writeln!(
            out,
            "PASS {path}: {} steps in {} ms\n",
            script.steps.len(),
            script.elapsed.as_millis()
        ),
    };
    out
}

/// The JSON report: `{"passed", "failed", "files": [...]}`.
pub fn json(reports: &[FileReport]) -> serde_json::Value {
    let files: Vec<_> = reports
        .iter()
        .map(|report| {
            let mut file = json!({
                "file": report.path.display().to_string(),
                "name": report.name,
                "run": report.run,
                "passed": report.passed(),
            });
            match &report.verdict {
                Verdict::Invalid(problems) => {
                    file["error"] = json!(
                        problems
                            .iter()
                            .map(Problem::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                    file["problems"] = problems
                        .iter()
                        .map(|p| json!({ "step": p.step, "line": p.line, "message": p.message }))
                        .collect();
                }
                Verdict::NotRun { reason, .. } => file["not_run"] = json!(reason),
                Verdict::Ran(script) => {
                    file["setup_error"] = json!(script.setup_error);
                    file["cleanup_error"] = json!(script.cleanup_error);
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

/// A test case that is an `<error>` with `message`.
fn error_case(name: &str, classname: &str, message: &str) -> TestCase {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_message(message);
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    case
}

/// A step's test case name: `003 bob sees alice stop typing`.
fn case_name(number: usize, title: &str) -> String {
    format!("{number:03} {title}")
}

/// The JUnit report: one `<testsuite>` per script, one `<testcase>` per step.
pub fn junit(reports: &[FileReport]) -> Report {
    let mut report = Report::new("chat check");
    for file in reports {
        let path = file.path.display().to_string();
        let mut suite = TestSuite::new(file.name.as_str());
        match &file.verdict {
            Verdict::Invalid(problems) => {
                let message = problems
                    .iter()
                    .map(Problem::to_string)
                    .collect::<Vec<_>>()
                    .join("\n");
                suite.add_test_case(error_case("parse", &path, &message));
            }
            Verdict::NotRun { reason, steps } => {
                for (number, title) in steps {
                    suite.add_test_case(error_case(&case_name(*number, title), &path, reason));
                }
            }
            Verdict::Ran(script) => {
                suite.set_time(script.elapsed);
                if let Some(e) = &script.setup_error {
                    suite.add_test_case(error_case("setup", &path, e));
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
                    let mut case = TestCase::new(case_name(step.number, &step.title), status);
                    case.set_classname(path.as_str()).set_time(step.elapsed);
                    suite.add_test_case(case);
                }
                if let Some(e) = &script.cleanup_error {
                    suite.add_test_case(error_case("cleanup", &path, e));
                }
            }
        }
        report.add_test_suite(suite);
    }
    report
}
