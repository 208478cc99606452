//! Security gates: run Gitleaks, Trivy, Syft, Checkov and `npm audit` behind one policy.
//!
//! Layout: `exec` runs a tool (timeout, both pipes drained); `scanners` has one file per
//! tool with its command line and the parser that turns its report into the shared finding
//! model (`model`), plus the registry of gates; `run` holds what every gate shares;
//! `policy` applies the gate's thresholds and the allowlist; `output` writes JUnit, SARIF,
//! Markdown and JSON, one file per format. This file runs a set of jobs and sums them up:
//! 0 passed, 7 failed, 8 tool missing or broken, 2 usage. `gate all` runs every gate
//! whatever the others did and exits with the most severe outcome (see
//! [`report::Status::severity`]).

pub mod allowlist;
pub mod exec;
pub mod model;
pub mod output;
pub mod policy;
pub mod report;
pub mod run;
pub mod scanners;
pub mod settings;
pub mod tools;

use crate::error::{Error, Result};
use model::{GateKind, Tool};
use report::{GateReport, Status};
use settings::{Job, Settings};
use std::path::PathBuf;
use std::time::Duration;

/// Failing findings listed in the text summary before it points at the files.
pub const TEXT_LIMIT: usize = 25;

/// What a run of gates produced: one report per gate and the files written for each.
pub struct Outcome {
    pub reports: Vec<GateReport>,
    pub written: Vec<Vec<String>>,
    /// The signal that stopped the run (SIGTERM, SIGINT), if one did.
    pub aborted: Option<i32>,
}

impl Outcome {
    pub fn worst(&self) -> Status {
        run::worst(&self.reports)
    }

    /// The exit code: 128 + the signal after an abort, else the most severe gate's code.
    pub fn exit_code(&self) -> i32 {
        match self.aborted {
            Some(signal) => 128 + signal,
            None => self.worst().exit_code(),
        }
    }
}

/// Runs `jobs` and writes every gate's outputs. With `all`, a gate that cannot start
/// (a usage mistake such as a missing directory) becomes that gate's report instead of
/// costing the others their results.
pub async fn run(settings: Settings, jobs: Vec<Job>, all: bool) -> Result<Outcome> {
    if settings.timeout.is_zero() {
        return Err(Error::Usage("--timeout must be greater than zero".into()));
    }
    if all && jobs.is_empty() {
        return Err(Error::Usage(
            "no gates are configured: add [gates.secrets], [gates.image], [gates.sbom], [gates.iac] or [gates.deps] to the config, or set [gates] run".into(),
        ));
    }
    let allowlist = allowlist::load(&settings.allowlist.path, settings.allowlist.required)?;
    let out_dir = settings.out_dir.clone();
    // From here on SIGTERM/SIGINT no longer kill shipwatch: the running tool's process group
    // is stopped, its temporary directory removed (when the gate returns), and the outputs
    // written for what is known before exiting 128 + the signal.
    let abort = crate::signals::Abort::start()?;
    let ctx = run::Ctx {
        timeout: settings.timeout,
        settings,
        allowlist,
        today: chrono::Local::now().date_naive(),
        out_dir: out_dir.clone(),
        abort,
    };
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    for job in jobs {
        let kind = job.kind();
        let policy = ctx.settings.policy(kind).describe(kind);
        if let Some(signal) = ctx.abort.signal() {
            // The gates that never started still get outputs, so Jenkins shows why.
            let e = Error::Interrupted {
                signal,
                message: run::aborted_message(signal, None),
            };
            reports.push(GateReport::not_run(kind, policy, &e).aborted(signal));
            continue;
        }
        let report = match run_one(&ctx, job).await {
            Ok(r) => r,
            Err(e) if all || ctx.abort.signal().is_some() => {
                tracing::debug!("{kind}: not run: {e}");
                GateReport::not_run(kind, policy, &e)
            }
            Err(e) => return Err(e),
        };
        // A gate that finished before the signal keeps its result; one the signal cut short
        // (its tool stopped, or its error caused by the stop) is marked aborted.
        reports.push(match ctx.abort.signal() {
            Some(signal) if !matches!(report.status, Status::Passed | Status::Failed) => {
                report.aborted(signal)
            }
            _ => report,
        });
    }
    // Plain milliseconds, whatever the duration: scripts/bench-gates.sh reads this line.
    tracing::debug!("gates evaluated after {:.1} ms", ms(started.elapsed()));
    let mut written = Vec::new();
    for r in &reports {
        let files = output::write_all(r, &out_dir)?;
        written.push(
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        );
    }
    tracing::debug!("outputs written after {:.1} ms", ms(started.elapsed()));
    Ok(Outcome {
        reports,
        written,
        aborted: ctx.abort.signal(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The error line printed last in text mode: the most severe gate's problem (so the
/// `(exit N)` it prints is the code shipwatch exits with), naming the other gates that
/// did not pass either.
pub fn final_error(reports: &[GateReport], aborted: Option<i32>) -> Option<Error> {
    let worst = run::worst(reports);
    if worst == Status::Passed {
        return None;
    }
    if worst == Status::Failed {
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| r.status == Status::Failed)
            .map(|r| format!("{} ({})", r.gate, r.summary))
            .collect();
        return Some(Error::GateFailed(failed.join("; ")));
    }
    let r = reports.iter().find(|r| r.status == worst)?;
    let e = r.error.clone()?;
    let others: Vec<String> = reports
        .iter()
        .filter(|o| o.status != Status::Passed && o.gate != r.gate)
        .map(|o| format!("{} {}", o.gate, o.status.label().to_lowercase()))
        .collect();
    let mut message = format!("gate {}: {}", r.gate, e.message);
    if !others.is_empty() {
        message.push_str(&format!(" (also not passed: {})", others.join(", ")));
    }
    Some(match worst {
        Status::Aborted => Error::Interrupted {
            signal: aborted.unwrap_or(crate::signals::SIGTERM),
            message,
        },
        Status::Usage => Error::Usage(message),
        Status::Internal => Error::Io(message),
        _ => Error::Tool {
            tool: r.tool.to_string(),
            message,
            stderr_tail: e.stderr_tail,
        },
    })
}

async fn run_one(ctx: &run::Ctx, job: Job) -> Result<GateReport> {
    scanners::run(ctx, job).await
}

/// One tool's location and version, or why it cannot be used.
#[derive(serde::Serialize)]
pub struct ToolCheck {
    pub tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_via: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `gate --check-tools`: each needed tool's location and version. Needed means the
/// configured gates' tools, or all of them when none is configured.
pub async fn check_tools(settings: &Settings) -> Vec<ToolCheck> {
    let kinds = if settings.configured.is_empty() {
        GateKind::ALL.to_vec()
    } else {
        settings.configured.clone()
    };
    let mut checks = Vec::new();
    for kind in kinds {
        let tool = kind.tool();
        let check = match tools::locate(tool, &settings.tools) {
            Ok(found) => {
                let (version, error) = match tools::version(tool, &found.path).await {
                    Ok(v) => (Some(v), None),
                    Err(e) => (None, Some(e)),
                };
                ToolCheck {
                    tool,
                    path: Some(found.path),
                    found_via: Some(found.via),
                    version,
                    error,
                }
            }
            Err(e) => ToolCheck {
                tool,
                path: None,
                found_via: None,
                version: None,
                error: Some(e),
            },
        };
        checks.push(check);
    }
    checks
}
