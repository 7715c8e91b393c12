//! `chat check PATH...`: runs protocol check scripts and reports as text, JSON or JUnit XML.
//!
//! The order of work: find the script files (a directory means its `*.toml`), read and check
//! every one (all mistakes of all of them, before anything runs), pick those `--filter` names,
//! make sure the server answers, run them (`--jobs` at a time), and report them in the order
//! they were given. The format is documented in `docs/cli.md` and in [`script`].

mod pattern;
mod report;
pub mod runner;
pub mod script;
mod trace;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;

use self::report::{FileReport, Verdict};
use self::script::{Invalid, Problem, Script};
use self::trace::Trace;
use super::Outcome;
use crate::api::Api;

/// What `chat check` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Script files and directories (each meaning the `*.toml` files in it, sorted).
    pub paths: Vec<PathBuf>,
    /// Also write a JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// Run only scripts whose file path or name contains this text.
    pub filter: Option<String>,
    /// How many scripts run at once (at least 1).
    pub jobs: usize,
    /// Print every frame sent and received on standard error.
    pub trace: bool,
    /// Print the report as JSON.
    pub json: bool,
}

/// One script file, read and checked.
struct Loaded {
    path: PathBuf,
    /// Its `name`, else its path.
    name: String,
    script: Result<Script, Vec<Problem>>,
}

/// The prefix of every `{run}` of this invocation: `chk`, then the time and process id, so
/// the accounts a run registers are easy to recognise (and to find, and to delete).
fn invocation_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("chk{millis:x}{:x}", std::process::id())
}

/// Runs the scripts, prints the report, and writes JUnit XML when asked.
pub async fn run_files(api: &Api, options: &Options) -> anyhow::Result<Outcome> {
    let files = script_files(&options.paths)?;
    let loaded: Vec<Loaded> = files.into_iter().map(load).collect();
    let chosen: Vec<Loaded> = match &options.filter {
        None => loaded,
        Some(pattern) => {
            let count = loaded.len();
            let chosen: Vec<Loaded> = loaded
                .into_iter()
                .filter(|l| {
                    l.path.display().to_string().contains(pattern) || l.name.contains(pattern)
                })
                .collect();
            if chosen.is_empty() {
                bail!("no script matches --filter {pattern:?} (of {count})");
            }
            chosen
        }
    };
    let base = invocation_id();
    let runs: Vec<String> = (0..chosen.len()).map(|i| format!("{base}x{i}")).collect();

    // An invalid script stops everything before a connection: nothing half-runs.
    let invalid = chosen.iter().filter(|l| l.script.is_err()).count();
    if invalid > 0 {
        let reason = format!("not run: {invalid} script(s) are not valid");
        let reports = not_run(&chosen, &runs, &reason);
        let shown: Vec<&FileReport> = reports
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Invalid(_)))
            .collect();
        if options.json {
            super::print_json(&report::json(&reports))?;
        } else {
            for report in shown {
                print!("{}", report::text(report));
            }
            println!("check: {reason}, nothing was run");
        }
        write_junit(options.junit.as_deref(), &reports)?;
        return Ok(Outcome::InvalidScript);
    }

    // No server is a connection error (exit 2), not a failed check; the JUnit report still
    // says why each test did not run.
    if let Err(e) = api.reachable().await {
        let reports = not_run(&chosen, &runs, &format!("not run: {e}"));
        write_junit(options.junit.as_deref(), &reports)?;
        return Err(e.into());
    }

    let jobs = chosen.iter().zip(&runs).map(|(loaded, run)| async move {
        let Ok(script) = &loaded.script else {
            unreachable!("invalid scripts stop the run above")
        };
        let trace = if options.trace {
            Trace::to_stderr(&loaded.path.display().to_string())
        } else {
            Trace::off()
        };
        FileReport {
            path: loaded.path.clone(),
            name: loaded.name.clone(),
            run: run.clone(),
            verdict: Verdict::Ran(runner::run(api, script, run, &trace).await),
        }
    });
    // `buffered` runs up to `jobs` scripts at once and yields them in the order given, so
    // each script's lines are printed together and in the same order as with one job.
    let mut running = futures_util::stream::iter(jobs).buffered(options.jobs.max(1));
    let mut reports = Vec::with_capacity(chosen.len());
    while let Some(report) = running.next().await {
        if !options.json {
            let mut out = std::io::stdout().lock();
            out.write_all(report::text(&report).as_bytes())?;
            out.flush()?;
        }
        reports.push(report);
    }

    let passed = reports.iter().filter(|r| r.passed()).count();
    let failed = reports.len() - passed;
    if options.json {
        super::print_json(&report::json(&reports))?;
    } else {
        println!("check: {passed} passed, {failed} failed");
    }
    write_junit(options.junit.as_deref(), &reports)?;
    Ok(if failed == 0 {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

/// The script files `paths` stand for: a file as given, a directory as its `*.toml` files in
/// name order (not its subdirectories).
fn script_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            // Read (or found missing) later, and reported with the other mistakes.
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path)
            .with_context(|| format!("cannot read the directory {}", path.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
            let file = entry.path();
            if file.extension().is_some_and(|e| e == "toml") && file.is_file() {
                found.push(file);
            }
        }
        if found.is_empty() {
            bail!("no *.toml script in the directory {}", path.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Reads and checks one script file.
fn load(path: PathBuf) -> Loaded {
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| Invalid {
            name: None,
            problems: vec![Problem {
                step: None,
                line: None,
                message: format!("cannot read {}: {e}", path.display()),
            }],
        })
        .and_then(|text| script::parse(&text));
    let (name, script) = match parsed {
        Ok(script) => (script.name.clone(), Ok(script)),
        Err(invalid) => (invalid.name, Err(invalid.problems)),
    };
    Loaded {
        name: name.unwrap_or_else(|| path.display().to_string()),
        path,
        script,
    }
}

/// Reports for scripts that were not run: their mistakes, or `reason`.
fn not_run(loaded: &[Loaded], runs: &[String], reason: &str) -> Vec<FileReport> {
    loaded
        .iter()
        .zip(runs)
        .map(|(l, run)| FileReport {
            path: l.path.clone(),
            name: l.name.clone(),
            run: run.clone(),
            verdict: match &l.script {
                Err(problems) => Verdict::Invalid(problems.clone()),
                Ok(script) => Verdict::NotRun {
                    reason: reason.to_owned(),
                    steps: script.steps.iter().map(|s| (s.number, s.title())).collect(),
                },
            },
        })
        .collect()
}

fn write_junit(path: Option<&Path>, reports: &[FileReport]) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    let xml = report::junit(reports)
        .to_string()
        .context("cannot build the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}
